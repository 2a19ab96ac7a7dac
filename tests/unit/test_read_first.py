"""A turn is worked out on a session that only reads, then written back only if its conversation
is as it was read (handlers/engine.py): two messages of one chat at the same moment are both
taken, one after the other, and a turn that writes more runs again whole in a write session."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, func, select

from storage.models import Case, Conversation
from tests.support import Press
from tests.unit.conftest import Desk
from tests.unit.test_intake import report_until_summary, tip_off_until_when


async def test_two_messages_at_once_are_taken_one_after_the_other(desk: Desk) -> None:
    chat = desk.chat()
    await tip_off_until_when(chat)
    # each text fits both the "when" question and the next one, "where"; read at the same moment,
    # the second written back must be worked out again on the first's result, not overwrite it
    first, second = chat.incoming("เมื่อวันจันทร์ที่แล้ว"), chat.incoming("หน้าที่ว่าการอำเภอ")
    handled = [asyncio.create_task(desk.engine.handle(m)) for m in (first, second)]
    async with desk.db.session(write=True):  # another writer's turn: both are read meanwhile
        await asyncio.sleep(1)
    await asyncio.gather(*handled)
    await desk.dispatcher.drain()
    async with desk.db.session() as session:
        steps = (await session.execute(select(Conversation.step))).scalars().all()
    assert steps == ["people"]
    answers = [r.text for r in desk.sender.to(chat.chat_id)[-2:]]
    assert any("เกิดขึ้นที่ใด" in a for a in answers) and any("มีผู้เกี่ยวข้อง" in a for a in answers)


async def test_a_citizen_step_reads_before_it_takes_the_writer(desk: Desk) -> None:
    chat = desk.chat()
    await chat.say("/start")
    seen: list[str] = []  # every statement of the step, by its kind

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    for engine in desk.db.sync_engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        await desk.engine.handle(chat.incoming(Press("ร้องเรียน/ร้องทุกข์")))
    finally:
        for engine in desk.db.sync_engines:
            event.remove(engine, "before_cursor_execute", record)
    # the conversation read first; then, in the writer's turn (on SQLite taken at BEGIN), claimed,
    # moved on and answered
    assert [kind for kind in seen if kind != "BEGIN"] == ["SELECT", "INSERT", "UPDATE", "INSERT"]


async def test_a_submit_writes_in_one_go_after_its_read_only_try(desk: Desk) -> None:
    chat = desk.chat()
    await report_until_summary(chat)
    await chat.play([(Press("ส่งเรื่อง"), "เลขที่เรื่อง")])
    async with desk.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 1
