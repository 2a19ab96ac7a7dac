"""Tracking codes are hashed while the citizen writes, so pressing "submit" does not wait for scrypt."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading

import pytest
from sqlalchemy import event

from handlers.core.tracking_codes import TrackingCodes
from storage.crypto import verify_tracking_code
from tests.support.inputs import Press
from tests.unit.conftest import Desk
from tests.unit.test_intake import report_until_summary


async def _until_ready(codes: TrackingCodes, count: int) -> None:
    for _ in range(500):
        if codes.ready >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {codes.ready} of {count} codes prepared")


async def test_prepared_codes_are_new_and_verify_against_their_hash() -> None:
    codes = TrackingCodes(limit=3)
    for _ in range(5):  # more asks than the limit: the extra ones cost nothing
        codes.prepare()
    await _until_ready(codes, 3)
    await asyncio.sleep(0.1)
    assert codes.ready == 3
    pairs = [await codes.take() for _ in range(4)]  # the fourth is hashed on the spot
    assert codes.ready == 0
    assert len({code for code, _ in pairs}) == 4
    for code, hashed in pairs:
        assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
        assert hashed.startswith("scrypt$") and code.replace(" ", "") not in hashed
        assert verify_tracking_code(code, hashed)


async def test_a_serving_process_keeps_spares_ready_and_hashes_them_again_once_the_takes_pause() -> None:
    """A burst of reports takes codes hashed before it, with no hashing beside it: the spares are
    made again once no code was taken for a while."""
    codes = TrackingCodes(limit=2, quiet=0.4)
    codes.keep_ready(3)  # more than the limit for report starts: the limit follows
    await _until_ready(codes, 3)
    await asyncio.sleep(0.1)
    assert codes.ready == 3  # no more than asked
    taken = [await codes.take() for _ in range(2)]
    for _ in range(5):  # report starts ask for nothing beside a standing pool
        codes.prepare()
    await asyncio.sleep(0.2)
    assert codes.ready == 1  # the takes have not paused long enough yet
    await _until_ready(codes, 3)  # hashed again
    await asyncio.sleep(0.1)
    assert codes.ready == 3
    assert all(verify_tracking_code(code, hashed) for code, hashed in taken)


async def test_spares_running_low_are_hashed_again_at_once() -> None:
    codes = TrackingCodes(quiet=60.0)  # takes never pause long enough in this test
    codes.keep_ready(8)
    await _until_ready(codes, 8)
    for _ in range(6):
        await codes.take()
    await asyncio.sleep(0.2)
    assert codes.ready == 2  # a quarter left: still waiting for the takes to pause
    await codes.take()  # fewer than a quarter
    await _until_ready(codes, 8)


async def test_a_submit_takes_the_code_prepared_when_the_report_began(desk: Desk) -> None:
    codes = desk.services.codes
    chat = desk.chat()
    await report_until_summary(chat)  # choosing "report corruption" asked for one
    await _until_ready(codes, 1)
    answer = await chat.say(Press("ส่งเรื่อง"))
    assert codes.ready == 0
    found = re.search(r"เลขที่เรื่อง: (\S+).*รหัสติดตาม: (\d{4} \d{4} \d{4} \d{4})", answer, re.S)
    assert found
    # the code shown works from any account
    other = desk.chat("2002")
    reply = await other.say(f"/status {found.group(1)} {found.group(2)}")
    assert found.group(1) in reply and "ไม่พบ" not in reply


async def test_a_submit_uses_one_code_though_its_turn_runs_twice(desk: Desk) -> None:
    """The turn is tried on a session that only reads, stops at the case counter and runs again as
    a whole: the code taken the first time is the one given, the second spare stays spare."""
    codes = desk.services.codes
    chat = desk.chat()
    await report_until_summary(chat)
    codes.prepare()
    await _until_ready(codes, 2)
    answer = await chat.say(Press("ส่งเรื่อง"))
    assert "รหัสติดตาม" in answer
    assert codes.ready == 1


async def test_a_kept_code_goes_to_the_same_tasks_next_take_only() -> None:
    codes = TrackingCodes(limit=1)
    code, hashed = await codes.take()
    codes.keep(code, hashed)
    assert await asyncio.create_task(codes.take()) != (code, hashed)  # another task: a new one
    assert await codes.take() == (code, hashed)
    assert await codes.take() != (code, hashed)  # once
    await codes.reserve()
    reserved = await codes.take()
    codes.keep(*reserved)
    await codes.reserve()  # already has one: nothing more hashed
    assert await codes.take() == reserved


async def test_takes_with_none_spare_are_hashed_one_at_a_time_on_their_own_thread() -> None:
    codes = TrackingCodes(limit=4)
    codes.prepare()  # a spare on its way meanwhile, on the spares' thread
    first, given_up, third = (asyncio.create_task(codes.take()) for _ in range(3))
    await asyncio.sleep(0)
    given_up.cancel()
    pairs = [await first, await third]
    assert len({code for code, _ in pairs}) == 2
    assert all(verify_tracking_code(code, hashed) for code, hashed in pairs)
    await _until_ready(codes, 1)
    assert (await codes.take()) not in pairs
    names = {thread.name.rsplit("_", 1)[0] for thread in threading.enumerate()}
    assert {"tracking-codes", "tracking-codes-now"} <= names


async def test_a_code_reserved_and_not_used_is_a_spare_again_when_its_task_ends() -> None:
    codes = TrackingCodes(limit=1)

    async def a_press_that_did_not_send() -> None:
        await codes.reserve()

    await asyncio.create_task(a_press_that_did_not_send())
    await asyncio.sleep(0)  # the task's done callbacks
    assert codes.ready == 1
    reserved = await codes.take()
    assert verify_tracking_code(*reserved)


async def test_a_press_that_sends_takes_its_code_before_the_turns_first_statement(desk: Desk) -> None:
    """So a code hashed on the spot (none spare) waits with no connection held and no writer."""
    codes = desk.services.codes
    chat = desk.chat()
    await report_until_summary(chat)
    await _until_ready(codes, 1)
    spares_at_first_statement: list[int] = []

    def seen(*_args: object) -> None:
        if not spares_at_first_statement:
            spares_at_first_statement.append(codes.ready)

    for engine in desk.db.sync_engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = await chat.say(Press("ส่งเรื่อง"))
    finally:
        for engine in desk.db.sync_engines:
            event.remove(engine, "before_cursor_execute", seen)
    assert "รหัสติดตาม" in answer
    assert spares_at_first_statement == [0]


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own scheduling policy is Linux's")
async def test_spares_are_hashed_only_on_a_core_nothing_else_wants() -> None:
    codes = TrackingCodes(limit=1)
    codes.prepare()
    await _until_ready(codes, 1)
    spares = [t for t in threading.enumerate() if t.name.startswith("tracking-codes_")]
    assert spares and all(t.native_id is not None for t in spares)
    assert {os.sched_getscheduler(t.native_id or 0) for t in spares} == {os.SCHED_IDLE}
