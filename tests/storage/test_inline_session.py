"""Database.session(write=True, inline=True): on SQLite a write session whose statements run on the
event loop's own thread (the loop does not go round between them), whole or not at all, and when
another process holds SQLite's write lock, waiting for it without stopping the loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import OperationalError

from storage.db import Database
from storage.models import Conversation
from tests.support.locks import another_process_writing


async def _count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Conversation)) or 0)


@contextlib.asynccontextmanager
async def _rounds() -> AsyncIterator[list[str]]:
    """The rounds of the event loop while the block runs, one "round" each, as another task sees them."""
    rounds: list[str] = []

    async def other_task() -> None:
        while True:
            rounds.append("round")
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    rounds.clear()
    try:
        yield rounds
    finally:
        ticker.cancel()


async def _write(database: Database, key: str, *, fail: bool = False) -> list[str]:
    """Two statements and a commit in an inline write session; the loop's rounds counted meanwhile."""
    async with _rounds() as rounds:
        async with database.session(write=True, inline=True) as session:
            session.add(Conversation(channel="test", chat_key=key, step="idle"))
            await session.flush()
            await session.scalar(select(func.count()).select_from(Conversation))
            if fail:
                raise RuntimeError("given up")
            await session.commit()
    return rounds


async def test_an_inline_write_session_commits_without_the_loop_going_round(database: Database) -> None:
    rounds = await _write(database, "k1")
    assert await _count(database) == 1
    if database.dialect == "sqlite":
        assert rounds == []  # no statement waited for another thread
    else:
        assert rounds  # PostgreSQL's statements go over the network, as every session's


async def test_an_inline_write_session_that_raises_leaves_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError):
        await _write(database, "k1", fail=True)
    assert await _count(database) == 0
    await _write(database, "k2")  # and the next one goes ahead
    assert await _count(database) == 1


async def test_an_inline_session_takes_sqlites_write_lock_at_its_start(sqlite_database: Database) -> None:
    seen: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement.split()[0].upper() + (" IMMEDIATE" if "IMMEDIATE" in statement else ""))

    for engine in sqlite_database.sync_engines:
        event.listen(engine, "before_cursor_execute", before)
    try:
        await _write(sqlite_database, "k1")
    finally:
        for engine in sqlite_database.sync_engines:
            event.remove(engine, "before_cursor_execute", before)
    assert seen[0] == "BEGIN IMMEDIATE" and "INSERT" in seen


async def test_another_process_writing_is_waited_for_a_millisecond_at_a_time(
    sqlite_database: Database,
) -> None:
    inline: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        inline.append(statement.split()[0].upper())

    inline_engine = sqlite_database.sync_engines[-1]  # the inline sessions' engine
    event.listen(inline_engine, "before_cursor_execute", seen)
    try:
        async with another_process_writing(sqlite_database) as held:
            writing = asyncio.create_task(_write(sqlite_database, "k1"))
            await asyncio.sleep(0.3)
            assert not writing.done() and held.ticks >= 10  # waiting, and the loop went on meanwhile
            assert inline.count("BEGIN") >= 30  # asked again and again, a millisecond or so apart
            held.let_go()
            await asyncio.wait_for(writing, 10)
    finally:
        event.remove(inline_engine, "before_cursor_execute", seen)
    assert "INSERT" in inline  # on the loop's own connection once the other let go
    assert await _count(sqlite_database) == 1
    assert await _write(sqlite_database, "k2") == []  # and the next one without waiting
    assert await _count(sqlite_database) == 2


async def test_an_inline_read_session_reads_without_the_loop_going_round(database: Database) -> None:
    """A small read on the loop's own thread: under load each of aiosqlite's trips to its thread
    and back waited for a busy loop (a Telegram turn's read took 5-8 ms at the median)."""
    await _write(database, "k1")
    async with _rounds() as rounds:
        async with database.session(inline=True) as first, database.session(inline=True) as second:
            counts = [await s.scalar(select(func.count()).select_from(Conversation)) for s in (first, second)]
            meanwhile = len(rounds)  # (closing a session, after, takes rounds of its own)
    assert counts == [1, 1]
    if database.dialect == "sqlite":
        assert meanwhile == 0  # two at once, neither waited for another thread


async def test_an_inline_read_session_sees_one_snapshot_and_never_writes(sqlite_database: Database) -> None:
    await _write(sqlite_database, "k1")
    async with sqlite_database.session(inline=True) as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1
        await _write(sqlite_database, "k2")  # written meanwhile
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 1
        with pytest.raises(OperationalError, match="readonly"):
            await session.execute(insert(Conversation).values(channel="test", chat_key="k3", step="idle"))
    assert await _count(sqlite_database) == 2
