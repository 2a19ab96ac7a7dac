"""Database.write_short: a short write as one transaction, on SQLite run on the event loop's own
thread (never waiting there for another process), and a turn's write-back all or nothing."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, make_url, select
from sqlalchemy.engine import Connection
from sqlmodel import col

from kernel.messages import Reply
from storage import conversations as convo_repo
from storage.crypto import Vault
from storage.db import CHECKPOINT_EVERY_S, Database
from storage.models import Conversation, OutboxMessage, ProcessedUpdate, WebMessage
from storage.outbox import message_rows
from tests.support.locks import another_process_with_writers_queued, another_process_writing

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _add(connection: Connection, key: str = "k") -> str:
    connection.execute(insert(Conversation).values(channel="test", chat_key=key, step="idle"))
    return connection.dialect.driver


async def _count(database: Database, model: object) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


async def test_a_short_write_is_committed_and_on_sqlite_runs_without_aiosqlite(database: Database) -> None:
    driver = await database.write_short(_add)
    assert driver == ("pysqlite" if database.dialect == "sqlite" else "asyncpg")
    assert await _count(database, Conversation) == 1


async def test_a_short_write_that_raises_leaves_nothing(database: Database) -> None:
    def half(connection: Connection) -> None:
        _add(connection)
        raise RuntimeError("given up")

    with pytest.raises(RuntimeError):
        await database.write_short(half)
    assert await _count(database, Conversation) == 0
    await database.write_short(_add)  # and the next one goes ahead
    assert await _count(database, Conversation) == 1


async def test_another_process_writing_is_waited_for_without_stopping_the_loop(
    sqlite_database: Database,
) -> None:
    async with another_process_writing(sqlite_database) as held:
        writing = asyncio.create_task(sqlite_database.write_short(_add))
        await asyncio.sleep(0.3)
        assert not writing.done() and held.ticks >= 10  # waiting, and the loop went on meanwhile
        held.let_go()
        # on the loop's own connection still, as soon as the other let go
        assert await asyncio.wait_for(writing, 10) == "pysqlite"
    assert await _count(sqlite_database, Conversation) == 1
    assert await sqlite_database.write_short(lambda c: _add(c, "k2")) == "pysqlite"  # on the loop again


def _write_back(
    vault: Vault, *, key: str, read_state: str | None, convo_id: int | None
) -> convo_repo.WriteBack:
    convo = Conversation(
        id=convo_id, channel="test", chat_key="chat", step="menu", state_enc=vault.encrypt({})
    )
    messages = message_rows(
        vault, org_id=None, case_id=None, kind="reply", target="reply", channel="test", chat_id="1",
        reply=Reply(text="next question"), now=NOW,
    )  # fmt: skip
    message_rows(
        vault, org_id=None, case_id=None, kind="reply", target="reply", channel="web", chat_id="w1",
        reply=Reply(text="on the page"), now=NOW, into=messages,
    )  # fmt: skip
    return convo_repo.WriteBack("test", key, NOW, convo, read_state, messages)


async def test_a_write_back_is_written_whole_or_not_at_all(database: Database, vault: Vault) -> None:
    first = _write_back(vault, key="u1", read_state=None, convo_id=None)
    await database.write_short(lambda c: convo_repo.write_back(c, first))
    counts = [await _count(database, m) for m in (ProcessedUpdate, Conversation, OutboxMessage, WebMessage)]
    assert counts == [1, 1, 1, 1]
    async with database.session() as session:
        stored = await convo_repo.get_conversation(session, "test", "chat")
    assert stored is not None and stored.id is not None

    # the same update again: dropped, nothing written
    with pytest.raises(convo_repo.NotWrittenBack) as again:
        await database.write_short(lambda c: convo_repo.write_back(c, first))
    assert again.value.handled_before
    # a new update, but someone wrote the conversation since it was read: its claim goes back too
    stale = _write_back(vault, key="u2", read_state="an older state", convo_id=stored.id)
    with pytest.raises(convo_repo.NotWrittenBack) as changed:
        await database.write_short(lambda c: convo_repo.write_back(c, stale))
    assert not changed.value.handled_before
    counts = [await _count(database, m) for m in (ProcessedUpdate, Conversation, OutboxMessage, WebMessage)]
    assert counts == [1, 1, 1, 1]
    # read as it is now, it goes in
    fresh = _write_back(vault, key="u2", read_state=stored.state_enc, convo_id=stored.id)
    await database.write_short(lambda c: convo_repo.write_back(c, fresh))
    counts = [await _count(database, m) for m in (ProcessedUpdate, Conversation, OutboxMessage, WebMessage)]
    assert counts == [2, 1, 2, 2]


async def test_a_process_with_writers_queued_lets_another_processs_waiting_writer_go_between_them(
    sqlite_database: Database,
) -> None:
    """SQLite has no queue at its write lock: it goes to whoever asks the moment it is free, and a
    process with writers queued asked again within microseconds of letting it go, while the other
    asked once a millisecond and waited out the whole queue (up to 70 ms for a Telegram update
    behind a burst of web submits). A waiting process now says so, and the busy one lets it go
    before its next writer."""
    async with another_process_with_writers_queued(sqlite_database, count=40, hold=0.005):
        await sqlite_database.write_short(lambda c: _add(c, "mine"))
    async with sqlite_database.session() as session:
        keys = list(await session.scalars(select(col(Conversation.chat_key)).order_by(col(Conversation.id))))
    assert len(keys) == 41
    assert keys.index("mine") <= 2, keys  # right after the writer holding the lock as it asked


async def test_with_no_other_process_waiting_a_writer_does_not_wait(sqlite_database: Database) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    for n in range(20):
        await sqlite_database.write_short(lambda c, n=n: _add(c, f"k{n}"))  # type: ignore[misc]
    assert loop.time() - began < 0.5  # well under GIVE_WAY_S (50 ms) each
    assert await _count(sqlite_database, Conversation) == 20


async def test_rows_written_on_the_loops_connection_reach_the_database_file(
    sqlite_database: Database,
) -> None:
    """The loop's connection leaves checkpoints to another thread; with every write on it nothing
    else copied the log into the database file, and the log grew without end (300 MB in a
    benchmark's half minute). A reader of the file alone (no log) sees the rows once it is copied."""
    path = make_url(sqlite_database.url).database
    assert path

    def in_the_file() -> int:
        # immutable: the database file as it is, the write-ahead log not read
        with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as file:
            return int(file.execute("SELECT count(*) FROM conversations").fetchone()[0])

    for n in range(30):
        await sqlite_database.write_short(lambda c, n=n: _add(c, f"k{n}"))  # type: ignore[misc]
    await asyncio.sleep(CHECKPOINT_EVERY_S)
    await sqlite_database.write_short(lambda c: _add(c, "last"))
    for _ in range(100):
        if in_the_file() == 31:
            break
        await asyncio.sleep(0.05)
    assert in_the_file() == 31
