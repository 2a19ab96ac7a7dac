"""Locks as other processes hold them: PostgreSQL's advisory locks (the tests of replicas), and
SQLite's write lock (the tests of writes on the event loop's thread)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url, text

from storage.db import Database


async def kill_lock_holders(db: Database, space: int) -> None:
    """What a process's death does to its advisory locks under the first key `space`: the
    connections holding them end (here the server ends them, asked from `db`, another process)."""
    async with db.engine.connect() as conn:
        pids = list(
            (
                await conn.execute(
                    text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :space "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"space": space},
                )
            ).scalars()
        )
        assert pids
        await conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS integer[])) AS pid"),
            {"pids": pids},
        )
        await conn.commit()
        for _ in range(100):  # the backend is told to end; it ends a moment later
            alive = (
                await conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:pids AS integer[]))"),
                    {"pids": pids},
                )
            ).scalar()
            await conn.commit()
            if not alive:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the connections holding the locks did not end")


@dataclass
class HeldLock:
    other: sqlite3.Connection  # another process's connection, in a write transaction
    ticks: int = 0  # rounds of a 10 ms timer on this event loop meanwhile

    def let_go(self) -> None:
        self.other.execute("COMMIT")


@contextlib.asynccontextmanager
async def another_process_writing(db: Database) -> AsyncIterator[HeldLock]:
    """SQLite's write lock held by another connection to the file until `let_go()`, and a timer
    on this loop counting its rounds, to show the loop went on while something waited."""
    path = make_url(db.url).database
    assert path
    held = HeldLock(sqlite3.connect(path, isolation_level=None))
    held.other.execute("BEGIN IMMEDIATE")

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.01)
            held.ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        yield held
    finally:
        ticker.cancel()
        held.other.close()


# Another process whose writers queue for SQLite's write lock: `count` write sessions, each holding
# the lock `hold` seconds, one after another as its queue hands it on; its first row is written
# before the rest queue. Its rows are conversations keyed "other0", "other1", ...
_QUEUED_WRITERS = """
import asyncio, sys, time
from sqlalchemy import insert
from storage.db import Database
from storage.models import Conversation

async def main(url, count, hold):
    db = Database(url)
    async def one(n):
        async with db.session(write=True, inline=True) as session:
            row = {"channel": "test", "chat_key": f"other{n}", "step": "idle"}
            await session.execute(insert(Conversation).values(**row))
            time.sleep(hold)  # its work, the lock held
            await session.commit()
    await one(0)
    print("queued", flush=True)
    await asyncio.gather(*(one(n) for n in range(1, count)))
    await db.dispose()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
"""


@contextlib.asynccontextmanager
async def another_process_with_writers_queued(
    db: Database, count: int, hold: float
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A real second process writing to `db`'s file (see _QUEUED_WRITERS), once its queue starts."""
    root = Path(__file__).parents[2]  # the checkout, for `storage`
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _QUEUED_WRITERS, db.url, str(count), str(hold),
        cwd=root, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"queued\n"
        yield proc
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
