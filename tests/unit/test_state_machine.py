"""A rule-based state machine over the conversation (hypothesis.stateful): text, buttons, photos,
cancel, restart and replays in two chats, with the invariants checked after every step."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from handlers.engine import Engine
from kernel.messages import FileRef, Incoming, Reply
from kernel.org_files import load_organisations
from storage.crypto import Vault
from storage.db import Database, upgrade_database
from storage.models import Case, CaseEvent, Conversation, OutboxMessage
from storage.outbox import queue_message  # noqa: F401  (the outbox rows inspected below)
from tests.conftest import make_services
from tests.support.clock import Clock

ORGS = load_organisations("")
TEMPLATE = Path(tempfile.mkdtemp()) / "template.sqlite3"
upgrade_database(f"sqlite+aiosqlite:///{TEMPLATE}")
CHATS = ("8001", "8002")
TEXTS = ["/start", "/cancel", "/status", "ข้าม", "ถนนเป็นหลุมลึกหลายจุดในหมู่บ้าน", "สวัสดี", "x" * 5000]


class Conversations(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        path = Path(tempfile.mkdtemp()) / "m.sqlite3"
        path.write_bytes(TEMPLATE.read_bytes())
        self.db = Database(f"sqlite+aiosqlite:///{path}")
        self.vault = Vault(Fernet.generate_key().decode())
        self.services = self.loop.run_until_complete(
            make_services(self.db, ORGS, self.vault, Clock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC)))
        )
        self.engine = Engine(self.services)
        self.n = 0
        self.last: dict[str, Incoming] = {}
        self.buttons: dict[str, list[tuple[str, str]]] = {c: [] for c in CHATS}
        self.seen_replies = 0
        self.cases_before: dict[str, tuple[str, str]] = {}

    def _send(self, incoming: Incoming) -> str:
        top = self._query(select(func.max(OutboxMessage.id)))[0][0] or 0
        outcome = self.loop.run_until_complete(self.engine.handle(incoming))
        self.last[incoming.chat_id] = incoming
        for reply in outcome.queued:
            if reply.buttons:
                self.buttons[incoming.chat_id] = [(b.label, b.payload) for row in reply.buttons for b in row]
        # every reply this update queued goes to the chat it came from, never another
        new = self._query(
            select(OutboxMessage.chat_enc).where(OutboxMessage.id > top, OutboxMessage.target == "reply")  # type: ignore[operator]
        )
        assert all(self.vault.decrypt(chat_enc) == incoming.chat_id for (chat_enc,) in new)
        return "\n".join(r.text for r in outcome.queued)

    def _new(self, chat: str, **content: object) -> Incoming:
        self.n += 1
        return Incoming(channel="test", chat_id=chat, user_id=chat, update_key=f"m{self.n}", **content)  # type: ignore[arg-type]

    @rule(chat=st.sampled_from(CHATS), text=st.sampled_from(TEXTS))
    def say(self, chat: str, text: str) -> None:
        self._send(self._new(chat, text=text))

    @rule(chat=st.sampled_from(CHATS), pick=st.integers(min_value=0, max_value=20))
    def press(self, chat: str, pick: int) -> None:
        if self.buttons[chat]:
            self._send(self._new(chat, payload=self.buttons[chat][pick % len(self.buttons[chat])][1]))

    def _press(self, chat: str, label: str) -> str:
        payload = next(p for lab, p in self.buttons[chat] if label in lab)
        return self._send(self._new(chat, payload=payload))

    @rule(chat=st.sampled_from(CHATS))
    def whole_report(self, chat: str) -> None:
        """A citizen going straight through, so submissions happen among the random steps."""
        self._send(self._new(chat, payload="L.th"))  # random presses may have switched to English
        self._send(self._new(chat, text="/cancel"))
        self._send(self._new(chat, text="/cancel"))  # a written draft asks first: a second /cancel confirms
        self._send(self._new(chat, text="/start"))
        for label in ("ร้องเรียน", "ไม่ใช่", "ข้าม / ไม่แน่ใจ", "ถนน"):
            self._press(chat, label)
        self._send(self._new(chat, text="ถนนเป็นหลุมลึกหลายจุดในหมู่บ้าน"))
        self._press(chat, "ข้าม")
        self._send(self._new(chat, text="ข้าม"))
        for label in ("ข้าม", "ข้าม", "ไม่เปิดเผยชื่อ"):
            self._press(chat, label)
        answer = self._press(chat, "ส่งเรื่อง")
        assert "รหัสติดตาม" in answer or "เรื่องต่อวัน" in answer  # submitted, or the daily limit

    @rule(chat=st.sampled_from(CHATS), size=st.integers(min_value=1, max_value=30 * 1024 * 1024))
    def photo(self, chat: str, size: int) -> None:
        self._send(self._new(chat, file=FileRef("photo", f"p{self.n}", None, None, None, size)))

    @rule()
    def restart(self) -> None:
        self.engine = Engine(self.services)  # nothing kept in memory survives

    @rule(chat=st.sampled_from(CHATS))
    def replay(self, chat: str) -> None:
        if chat in self.last:
            self._send(self.last[chat])  # the same delivery again

    def _query(self, stmt):  # type: ignore[no-untyped-def]
        async def run():  # type: ignore[no-untyped-def]
            async with self.db.session() as s:
                return (await s.execute(stmt)).all()

        return self.loop.run_until_complete(run())

    @invariant()
    def one_conversation_per_chat(self) -> None:
        rows = self._query(select(Conversation.chat_key, func.count()).group_by(Conversation.chat_key))
        assert all(count == 1 for _, count in rows) and len(rows) <= len(CHATS)

    @invariant()
    def submitted_cases_change_only_through_events_and_reach_staff(self) -> None:
        cases = self._query(select(Case.id, Case.reference, Case.status, Case.details_enc))
        for case_id, reference, status, details in cases:
            before = self.cases_before.setdefault(reference, (status, details))
            assert (status, details) == before, f"{reference} changed without an event"
            events = self._query(
                select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
            )
            assert events[0][0] == 1
            cards = self._query(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.case_id == case_id,
                    OutboxMessage.kind.in_(("case_card", "alert")),  # type: ignore[attr-defined]
                )
            )
            assert cards[0][0] >= 1, f"{reference} has no staff notification"

    @invariant()
    def replies_go_to_the_chat_they_answer(self) -> None:
        rows = self._query(
            select(OutboxMessage.chat_enc, OutboxMessage.payload_enc).where(OutboxMessage.target == "reply")
        )
        for chat_enc, payload_enc in rows:
            chat = self.vault.decrypt(chat_enc)
            assert chat in CHATS
            if payload_enc:
                Reply.from_dict(self.vault.decrypt(payload_enc))

    def teardown(self) -> None:
        self.loop.run_until_complete(self.db.dispose())
        self.loop.close()


Conversations.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays repeatable
    suppress_health_check=[HealthCheck.too_slow],
)
test_conversation_state_machine = Conversations.TestCase


def test_allowed_answers_whether_the_state_allows_an_action_without_a_note() -> None:
    import pytest

    from kernel import lifecycle

    assert lifecycle.allowed("ask", "accepted").needs_note
    with pytest.raises(lifecycle.TransitionRefused) as refused:
        lifecycle.allowed("accept", "resolved")
    assert refused.value.reason == "lifecycle.not_allowed"
    with pytest.raises(lifecycle.TransitionRefused):
        lifecycle.allowed("fly", "received")
