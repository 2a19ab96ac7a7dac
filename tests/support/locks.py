"""PostgreSQL advisory locks as several processes hold them, for the tests of replicas."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

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
