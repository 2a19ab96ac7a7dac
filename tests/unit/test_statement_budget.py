"""How many SQL statements one update costs: a staff press at most 12, a citizen's step at most 4.

Counted on the real SQLite file with an SQLAlchemy `before_cursor_execute` listener around one
`Engine.handle`; the outbox dispatcher's own statements come after and are not the turn's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests.support import Chat, Press
from tests.unit.conftest import STAFF_CHATS, Desk
from tests.unit.test_intake import report_until_summary

STAFF_PRESS_BUDGET = 12
CITIZEN_STEP_BUDGET = 4


@contextmanager
def counted(desk: Desk) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        # BEGIN is not counted: the driver's own is implicit, a write-back's is spelled out
        if not statement.upper().startswith("BEGIN"):
            statements.append(statement.split(None, 1)[0].upper() + " " + statement[:90])

    for engine in desk.db.sync_engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in desk.db.sync_engines:
            event.remove(engine, "before_cursor_execute", count)


async def _handled(desk: Desk, chat: Chat, message: object) -> list[str]:
    incoming = chat.incoming(message)
    with counted(desk) as statements:
        await desk.engine.handle(incoming)
    await desk.dispatcher.drain()
    return statements


async def _submitted(desk: Desk) -> Chat:
    citizen = desk.chat("1001")
    await report_until_summary(citizen)
    await citizen.say(Press("ส่งเรื่อง"))
    return citizen


async def test_a_staff_press_runs_at_most_twelve_statements(desk: Desk) -> None:
    await _submitted(desk)
    await desk.add_staff("501", "personnel")
    officer = desk.chat(STAFF_CHATS["personnel"], chat_type="group", user_id="501")
    officer.look()
    statements = await _handled(desk, officer, Press("รับเรื่อง"))
    assert len(statements) <= STAFF_PRESS_BUDGET, "\n".join(statements)
    assert desk.sender.to(STAFF_CHATS["personnel"])  # the press did its work


async def test_a_citizen_step_runs_at_most_four_statements(desk: Desk) -> None:
    citizen = desk.chat("1001")
    await citizen.say("/start")
    statements = await _handled(desk, citizen, Press("ร้องเรียน/ร้องทุกข์"))
    assert len(statements) <= CITIZEN_STEP_BUDGET, "\n".join(statements)
