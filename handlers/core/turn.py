"""One incoming event being handled: the conversation row, its draft and the replies so far."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.work import Services, Work
from kernel.deadlines import format_datetime
from kernel.draft import DRAFT_KEYS, Draft
from kernel.i18n import normalise_lang, t
from kernel.messages import Button, Incoming, Reply
from kernel.org_config import OrgConfig
from kernel.payloads import StepPress
from storage.models import Conversation
from storage.read_only import refuse_writes


@dataclass
class Step:
    prompt: Callable[[Turn], Reply]
    handle: Callable[[Turn], Awaitable[None]]
    # the draft is incomplete while the chat is at this step (/start offers to resume)
    drafting: bool = True


@dataclass
class Turn:
    services: Services
    session: AsyncSession
    incoming: Incoming
    convo: Conversation
    # what the conversation keeps besides the draft (organisation, the step to resume, …)
    state: dict[str, Any]
    now: datetime
    steps: dict[str, Step]
    replies: list[Reply] = field(default_factory=list)
    # the value of a pressed button (or a typed button label) for the current step
    pressed: str | None = None
    draft: Draft = field(default_factory=Draft)

    def restore(self, stored: dict[str, Any]) -> None:
        """Take the state as stored (decrypted): the draft's keys become `draft`, the rest `state`."""
        self.draft = Draft.from_dict(stored)
        self.state = {k: v for k, v in stored.items() if k not in DRAFT_KEYS}

    def to_store(self) -> dict[str, Any]:
        return {**self.state, **self.draft.to_dict()}

    @property
    def lang(self) -> str:
        return normalise_lang(self.convo.lang)

    @property
    def org(self) -> OrgConfig:
        code = self.state.get("org")
        org = self.services.orgs.get(code) if code else self.services.orgs.single
        assert org is not None, "organisation not chosen"
        return org

    @property
    def org_chosen(self) -> bool:
        return bool(self.state.get("org")) or self.services.orgs.single is not None

    def local_time(self, at: datetime) -> str:
        """A time as this person reads it: their organisation's time zone (the first one's before
        they chose), in their language."""
        org = self.org if self.org_chosen else self.services.orgs.all[0]
        return format_datetime(at, lang=self.lang, tz=org.tz())

    @property
    def work(self) -> Work:
        """The turn's unit of work, for the use cases it calls (the engine commits it). Use cases
        change things: a turn worked out read-only (handlers/engine.py) runs again as a write."""
        refuse_writes(self.session)
        return Work(self.session, self.services, self.now)

    def text(self, key: str, **values: Any) -> str:
        return t(self.lang, key, **values)

    def say(self, key: str, **values: Any) -> None:
        self.replies.append(Reply(text=self.text(key, **values)))

    def button(self, key: str, value: str, **values: Any) -> Button:
        return Button(self.text(key, **values), self.payload(value))

    def payload(self, value: str) -> str:
        # The prompt number lets a press on an older message be recognised as stale.
        return StepPress(self.convo.prompt_no, value).data

    def go(self, step: str, note: str | None = None) -> None:
        """Ask the next question; `note` (what was just taken) goes before it in the same message."""
        self.convo.step = step
        self.convo.prompt_no += 1
        prompt = self.steps[step].prompt(self)
        if note:
            prompt.text = f"{note}\n\n{prompt.text}"
        self.replies.append(prompt)

    def reprompt(self, note: str | None = None) -> None:
        """Ask the current step's question again, after `note` in the same message."""
        prompt = self.steps[self.convo.step].prompt(self)
        if note:
            prompt.text = f"{note}\n\n{prompt.text}"
        self.replies.append(prompt)

    def fail(self, key: str, **values: Any) -> None:
        """A polite error and the same question again, in one message: nothing entered is lost."""
        self.reprompt(self.text(key, **values))


def reply_with(text: str, *rows: list[Button]) -> Reply:
    return Reply(text=text, buttons=[row for row in rows if row])


def clean_text(text: str) -> str:
    # Control characters would garble staff cards and logs; keep line breaks and tabs.
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()


def take_text(turn: Turn, *, min_chars: int, max_chars: int, typed: str | None = None) -> str | None:
    """The typed answer (`typed`, else the message's text), or None after telling the user what to
    send instead."""
    raw = typed if typed is not None else turn.incoming.text
    if raw is None:
        turn.fail("errors.text_expected")
        return None
    text = clean_text(raw)
    if not text:
        turn.fail("errors.empty")
        return None
    if len(text) < min_chars:
        turn.fail("errors.too_short", min=min_chars, length=len(text))
        return None
    if len(text) > max_chars:
        turn.fail("errors.too_long", max=max_chars, length=len(text))
        return None
    return text
