"""A turn is worked out on a session that only reads, then written back only if its conversation
is as it was read (handlers/engine.py): two messages of one chat at the same moment are both
taken, one after the other, and a turn that writes more runs again whole in a write session."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import event, func, select

from handlers.cases.submit import ReporterInfo, submit_report
from kernel.draft import Draft
from storage.evidence import read_held
from storage.files import AHEAD
from storage.models import Case, Conversation
from storage.read_only import WritesNeeded
from tests.support import Location, Photo, Press
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


async def test_a_submit_with_a_held_photo_holds_the_writer_for_no_round_of_the_loop(desk: Desk) -> None:
    """A submit's slow parts (its photo sealed under the case's new key, its description cut into
    search terms) are done in its read-only try, before the writer is taken: in the transaction
    the photo is a rename, and nothing waits for another thread with SQLite's writer held."""
    files = desk.services.files
    assert files is not None
    sha = await asyncio.to_thread(files.put, b"\x89PNG\r\n\x1a\n a photo of the receipt")
    chat = desk.chat()
    await tip_off_until_when(chat)
    await chat.play([("เมื่อวันจันทร์ที่แล้ว", "เกิดขึ้นที่ใด"), (Location(18.7883, 98.9853), "มีผู้เกี่ยวข้อง"),
                     ("นาย ก. เจ้าหน้าที่ฝ่ายอนุญาต", "หลักฐาน")])  # fmt: skip
    photo = chat.incoming(Photo("held-photo"))
    assert photo.file is not None
    kept = replace(photo, file=replace(photo.file, sha256=sha))  # as a channel keeps what it downloaded
    await chat.play([(kept, "ได้รับไฟล์แล้ว"), (Press("เสร็จแล้ว"), "ไม่เปิดเผยชื่อ"),
                     (Press("ไม่เปิดเผยชื่อ"), "สรุปเรื่องที่จะแจ้ง")])  # fmt: skip

    rounds, held = 0, []  # rounds of the loop; those each write transaction of the turn took
    began: list[int] = []

    async def ticker() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await asyncio.sleep(0)

    inline_writes = desk.db.sync_engines[-1]  # the write sessions' engine
    listeners = {
        "begin": lambda _c: began.append(rounds),
        "commit": lambda _c: held.append(rounds - began.pop()),
    }
    for name, listener in listeners.items():
        event.listen(inline_writes, name, listener)
    counting = asyncio.create_task(ticker())
    try:
        answer = await chat.say(Press("ส่งเรื่อง"))
    finally:
        counting.cancel()
        for name, listener in listeners.items():
            event.remove(inline_writes, name, listener)
    assert "เลขที่เรื่อง" in answer
    assert held == [0]  # the submit's one transaction, with not one round of the loop inside it
    async with desk.db.session() as session:
        case_id = await session.scalar(select(Case.id))
        assert case_id is not None
        held_bytes = await read_held(session, desk.services.vault, files, sha, case_id=case_id)
    assert held_bytes == b"\x89PNG\r\n\x1a\n a photo of the receipt"  # under the case's own key
    assert files.staged() == [] and list((files.root / AHEAD).iterdir()) == []


async def test_files_sealed_ahead_for_a_submit_that_never_ran_whole_are_removed(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    files = desk.services.files
    assert files is not None
    sha = await asyncio.to_thread(files.put, b"a photo")
    draft = Draft.from_dict({"type": "grievance", "category": "roads", "description": "ถนนพัง",
                             "files": [{"kind": "photo", "file_id": "p", "sha256": sha}]})  # fmt: skip
    info = ReporterInfo(channel="test", chat_id="1", user_id="1", lang="th")

    async def tried() -> None:
        async with desk.db.session(read_only=True) as session:
            with pytest.raises(WritesNeeded):  # stopped at the case counter
                await submit_report(session, desk.services, org=desk.services.orgs.single, draft=draft,
                                    reporter=info, now=clock())  # fmt: skip
        assert len(list((files.root / AHEAD).iterdir())) == 1  # sealed ahead, kept for the whole run

    await asyncio.create_task(tried())  # a turn whose whole run never came
    await asyncio.sleep(0)
    assert list((files.root / AHEAD).iterdir()) == []
    assert files.staged() == [sha]  # the draft's own copy stays


async def test_a_submit_that_failed_after_its_files_went_in_leaves_nothing_behind_when_tried_again(
    desk: Desk, clock
) -> None:  # type: ignore[no-untyped-def]
    """Its transaction rolled back after the files were renamed into the case's folder: the next
    try (the same task) seals them afresh under a key of its own, and the draft's first copies go
    once it commits."""
    files = desk.services.files
    assert files is not None
    shas = [await asyncio.to_thread(files.put, data) for data in (b"photo one", b"photo two")]
    draft = Draft.from_dict({"type": "grievance", "category": "roads", "description": "ถนนพัง",
                             "files": [{"kind": "photo", "file_id": f"p{n}", "sha256": sha}
                                       for n, sha in enumerate(shas)]})  # fmt: skip
    info = ReporterInfo(channel="test", chat_id="1", user_id="1", lang="th")
    failing = [True]

    def fail_once(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if failing and statement.startswith("INSERT INTO case_events"):
            failing.clear()
            raise RuntimeError("the disk is full")  # after the files went into the case's folder

    writes = desk.db.sync_engines[-1]
    event.listen(writes, "before_cursor_execute", fail_once)
    try:
        for attempt in range(2):
            async with desk.db.session(write=True, inline=True) as session:
                try:
                    await submit_report(session, desk.services, org=desk.services.orgs.single, draft=draft,
                                        reporter=info, now=clock())  # fmt: skip
                except RuntimeError:
                    assert attempt == 0
                    continue
                await session.commit()
    finally:
        event.remove(writes, "before_cursor_execute", fail_once)
    async with desk.db.session() as session:
        case_id = await session.scalar(select(Case.id))
        assert case_id is not None
        opened = [await read_held(session, desk.services.vault, files, sha, case_id=case_id) for sha in shas]
    assert opened == [b"photo one", b"photo two"]
    assert files.staged() == [] and list((files.root / AHEAD).iterdir()) == []
