"""The questions of a report, in the order they are asked, each a prompt and a handler for the answer.

A handler either stores the answer in the draft and moves on (`advance`), or says what was wrong
and asks the same question again. The place and the evidence are in `intake_evidence`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from handlers.citizen.intake_files import keep_file
from handlers.core.turn import Step, Turn, clean_text, reply_with, take_text
from kernel.draft import ReportType
from kernel.messages import Button, Reply, text_units

TOO_LONG = "too_long"  # the conversation's state: a description over the limit, kept
SPLIT_AT = 4000  # UTF-16 units: a message this long is most likely a piece the app cut
CONTINUED_WITHIN = timedelta(seconds=3)

NAME_MAX = 100
PHONE_RE = re.compile(r"^\+?[0-9 ()-]{6,20}$")

NEXT = {
    "category": "description",
    "description": "when",
    "when": "where",
    "where": "people",
    "people": "evidence",
    "evidence": "identity",
    "identity": "summary",
    "contact": "summary",
}
# A report begun in the citizen's own words asks only what is still missing: after the suggestion
# is confirmed, one question of its type, then place and evidence together, then the summary.
QUICK_NEXT = {
    "description": "suggest",
    "who_when": "place",
    "place": "summary",
    "wanted": "summary",
    "evidence": "summary",
    "identity": "summary",
    "contact": "summary",
}
# what a tip-off, a grievance and a request each ask first once their kind is confirmed
QUICK_DETAILS: dict[ReportType, str] = {
    "corruption": "who_when", "grievance": "place", "information": "wanted",
}  # fmt: skip
# the last step of each thing the summary's edit menu can change
CHAIN_ENDS = {
    "category", "description", "when", "where", "people", "evidence", "identity", "contact",
    "who_when", "place", "wanted",
}  # fmt: skip


def advance(turn: Turn, done: str, note: str | None = None) -> None:
    """The next question after `done`, with `note` (what was just taken) in the same message."""
    draft = turn.draft
    if draft.editing and done in CHAIN_ENDS:
        draft.editing = False
        return turn.go("summary", note)
    if draft.quick and done == "category":
        return turn.go(QUICK_DETAILS[_report_type(turn)], note)
    turn.go(QUICK_NEXT[done] if draft.quick and done in QUICK_NEXT else NEXT[done], note)


def leave_keyboard_step(turn: Turn, step: str, note: str = "intake.noted") -> None:
    """Acknowledge in the next question's message (one message an action) and move on. The
    share-location or phone keyboard hides itself once one of its buttons is used; a typed answer
    leaves it up until the next message that has no buttons of its own takes it away."""
    advance(turn, step, turn.text(note))
    if not turn.replies[-1].buttons:
        turn.replies[-1].remove_keyboard = True


# --- what the report is about -------------------------------------------------------------


def prompt_personnel(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.personnel", org=turn.org.name(turn.lang)),
        [turn.button("answer.yes", "yes"), turn.button("answer.no", "no")],
        [turn.button("answer.unsure", "unsure")],
    )


async def handle_personnel(turn: Turn) -> None:
    match turn.pressed:
        case "yes" | "no" | "unsure" as answer:
            turn.draft.concerns = answer
            turn.go("division")
        case _:
            turn.fail("errors.use_buttons")


def prompt_division(turn: Turn) -> Reply:
    rows = [[Button(d.name(turn.lang), turn.payload(f"d:{d.code}"))] for d in turn.org.divisions]
    return reply_with(turn.text("intake.division"), *rows, [turn.button("answer.skip_unsure", "skip")])


async def handle_division(turn: Turn) -> None:
    pressed = turn.pressed or ""
    if pressed == "skip":
        turn.draft.named_division = None
    elif pressed.startswith("d:") and pressed[2:] in turn.org.division_codes():
        turn.draft.named_division = pressed[2:]
    else:
        return turn.fail("errors.use_buttons")
    # in the citizen's own words, the division was changed on the suggestion: it is shown again
    turn.go("suggest" if turn.draft.quick else "category")


def _report_type(turn: Turn) -> ReportType:
    assert turn.draft.type is not None, "the category is asked once the type is chosen"
    return turn.draft.type


def prompt_category(turn: Turn) -> Reply:
    cats = turn.org.categories.for_type(_report_type(turn))
    rows = [[Button(c.label(turn.lang), turn.payload(f"c:{c.code}"))] for c in cats]
    return reply_with(turn.text("intake.category"), *rows)


async def handle_category(turn: Turn) -> None:
    code = (turn.pressed or "").removeprefix("c:")
    codes = [c.code for c in turn.org.categories.for_type(_report_type(turn))]
    if not (turn.pressed or "").startswith("c:") or code not in codes:
        return turn.fail("errors.use_buttons")
    turn.draft.category = code
    advance(turn, "category")


# --- free text ---------------------------------------------------------------------------


def prompt_description(turn: Turn) -> Reply:
    limits = turn.org.intake
    return reply_with(
        turn.text(
            "intake.description",
            min=limits.description_min_chars,
            max=limits.description_max_chars,
        )
    )


async def handle_description(turn: Turn) -> None:
    limits = turn.org.intake
    kept = turn.state.get(TOO_LONG)
    if turn.pressed == "cut" and isinstance(kept, dict):
        turn.state.pop(TOO_LONG, None)
        turn.draft.description = str(kept["text"])[: limits.description_max_chars]
        return advance(turn, "description")
    inc, note = turn.incoming, None
    if inc.file is not None:
        # a photo sent instead of the words is kept; its caption, if any, is the description
        if (note := keep_file(turn)) is None:
            return None
        if not clean_text(inc.caption or ""):
            return turn.reprompt(note)
    typed = inc.text if inc.file is None else inc.caption
    piece = clean_text(typed or "")
    if piece and isinstance(kept, dict) and _continues(kept, turn.now):
        piece = f"{kept['text']}\n{piece}"  # the rest of a paste the app cut into messages
    if len(piece) > limits.description_max_chars:
        return _keep_too_long(turn, piece, cut=text_units(typed or "") >= SPLIT_AT)
    turn.state.pop(TOO_LONG, None)
    text = take_text(
        turn, min_chars=limits.description_min_chars, max_chars=limits.description_max_chars, typed=typed
    )
    if text is not None:
        turn.draft.description = text
        advance(turn, "description", note)


def _continues(kept: dict[str, object], now: datetime) -> bool:
    """Whether this message is the next piece of the kept text: Telegram cuts a long paste into
    messages of 4,096 characters and sends them a moment apart."""
    at = datetime.fromisoformat(str(kept.get("at")))
    return bool(kept.get("cut")) and now - at <= CONTINUED_WITHIN


def _keep_too_long(turn: Turn, text: str, *, cut: bool) -> None:
    """A text over the limit is kept (nothing the citizen sends is lost): they are told by how much
    to shorten it, and may take its first part instead."""
    most = turn.org.intake.description_max_chars
    turn.state[TOO_LONG] = {"text": text, "at": turn.now.isoformat(), "cut": cut}
    prompt = prompt_description(turn)
    note = turn.text("errors.too_long_kept", length=len(text), max=most, over=len(text) - most)
    buttons = [[turn.button("answer.use_first", "cut", max=most)], *prompt.buttons]
    turn.replies.append(Reply(text=f"{note}\n\n{prompt.text}", buttons=buttons))


def optional_text_step(key: Literal["when", "people"]) -> Step:
    """A free-text question that may be skipped."""

    def store(turn: Turn, value: str | None) -> None:
        if key == "when":
            turn.draft.when = value
        else:
            turn.draft.people = value

    def prompt(turn: Turn) -> Reply:
        return reply_with(turn.text(f"intake.{key}"), [turn.button("answer.skip", "skip")])

    async def handle(turn: Turn) -> None:
        if turn.pressed == "skip":
            store(turn, None)
            return advance(turn, key)
        text = take_text(turn, min_chars=1, max_chars=turn.org.intake.detail_max_chars)
        if text is not None:
            store(turn, text)
            advance(turn, key)

    return Step(prompt, handle)


# --- who is reporting --------------------------------------------------------------------


def prompt_identity(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.identity"),
        [turn.button("answer.anonymous", "anon")],
        [turn.button("answer.named", "named")],
    )


async def handle_identity(turn: Turn) -> None:
    draft = turn.draft
    if turn.pressed == "anon":
        draft.anonymous, draft.name, draft.phone, draft.contact = True, None, None, None
        return advance(turn, "identity")
    if turn.pressed == "named":
        draft.anonymous = False
        return turn.go("name")
    turn.fail("errors.use_buttons")


def prompt_name(turn: Turn) -> Reply:
    return reply_with(turn.text("intake.name"))


async def handle_name(turn: Turn) -> None:
    text = take_text(turn, min_chars=2, max_chars=NAME_MAX)
    if text is not None:
        turn.draft.name = text
        turn.go("contact")


def prompt_contact(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.contact"),
        [Button(turn.text("answer.share_phone"), turn.payload("phone"), kind="contact")],
        [turn.button("answer.skip", "skip")],
    )


async def handle_contact(turn: Turn) -> None:
    inc, draft = turn.incoming, turn.draft
    if turn.pressed == "skip":
        draft.phone, draft.contact = None, None
        return leave_keyboard_step(turn, "contact", "intake.skipped")
    if inc.contact_phone is not None:
        if not inc.contact_is_own:
            return turn.fail("errors.contact_not_own")
        draft.phone, draft.contact = inc.contact_phone, None
        return leave_keyboard_step(turn, "contact")
    text = take_text(turn, min_chars=3, max_chars=turn.org.intake.detail_max_chars)
    if text is not None:
        phone = PHONE_RE.match(text) is not None
        draft.phone, draft.contact = (text, None) if phone else (None, text)
        leave_keyboard_step(turn, "contact")
