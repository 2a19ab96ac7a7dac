"""Which process handles a chat's incoming events, when several serve one PostgreSQL database.

A process claims a chat (a "lane" of the inbox) with a session advisory lock held by one of its
connections: while it holds the claim no other process handles that chat's events, so each event
is handled once and each chat's in order. The process lets the claim go once the chat's events are
handled and marked. When the process dies its connection goes, and PostgreSQL lets all its claims
go at once: another process takes the chats over at its next read, with no lease to run out.

SQLite is served by one process per platform (`storage.db.one_server`): every claim is granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database

# "DAMC": chat claims are two-key advisory locks under this first key, a key space apart from the
# one-key locks of the scheduler and the Telegram poller
CLAIM_SPACE = 0x44414D43
_CLAIM = text(
    "SELECT k, pg_try_advisory_lock(CAST(:space AS integer), k) FROM unnest(CAST(:keys AS integer[])) AS k"
)
_RELEASE = text(
    "SELECT pg_advisory_unlock(CAST(:space AS integer), k) FROM unnest(CAST(:keys AS integer[])) AS k"
)


class ClaimsLost(Exception):
    """The connection holding this process's claims failed: they are all gone (or were let go)."""


def lock_key(lane: str) -> int:
    """The advisory lock's second key for a lane. Two lanes sharing one (a 1 in 4 billion chance
    per pair) are only handled one after the other, never at once."""
    return int.from_bytes(hashlib.blake2b(lane.encode(), digest_size=4).digest(), "big", signed=True)


class ChatClaims:
    """This process's claims on lanes. Called from one task at a time (the inbox's loop)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._locking = db.dialect == "postgresql"
        self._holder: AsyncConnection | None = None  # the connection holding the claims
        self._lanes: dict[str, int] = {}  # held lane -> its lock key
        self._keys: dict[int, set[str]] = {}  # held lock key -> the lanes holding it
        self._guard = asyncio.Lock()

    @property
    def held(self) -> set[str]:
        return set(self._lanes)

    @property
    def exclusive(self) -> bool:
        """Whether a claim keeps other processes off the lane (PostgreSQL); on SQLite one process
        serves the platform and every claim is granted."""
        return self._locking

    async def claim(self, lanes: Iterable[str]) -> set[str]:
        """Of `lanes`, those this process holds now: held already, or claimed here and now."""
        wanted = {lane: lock_key(lane) for lane in lanes}
        async with self._guard:
            new = sorted({key for key in wanted.values() if key not in self._keys})
            for key in await self._lock(new) if new else ():
                self._keys[key] = set()
            granted = {lane for lane, key in wanted.items() if key in self._keys}
            for lane in granted:
                self._lanes[lane] = wanted[lane]
                self._keys[wanted[lane]].add(lane)
            await self._return_if_idle()
            return granted

    async def release(self, lanes: Iterable[str]) -> None:
        """Let lanes go (their events are handled and marked): other processes may claim them."""
        async with self._guard:
            free: list[int] = []
            for lane in lanes:
                key = self._lanes.pop(lane, None)
                if key is None:
                    continue
                self._keys[key].discard(lane)
                if not self._keys[key]:
                    del self._keys[key]
                    free.append(key)
            if free:
                await self._unlock(free)
            await self._return_if_idle()

    async def close(self) -> None:
        """Let every claim go (the inbox stops)."""
        await self.release(list(self._lanes))

    async def _lock(self, keys: list[int]) -> set[int]:
        if not self._locking:
            return set(keys)
        try:
            if self._holder is None:
                self._holder = await self.db.engine.connect()
            rows = (await self._holder.execute(_CLAIM, {"space": CLAIM_SPACE, "keys": keys})).all()
            await self._holder.commit()
        except Exception as exc:
            await self._lose()
            raise ClaimsLost("the connection holding the chat claims failed") from exc
        return {key for key, got in rows if got}

    async def _unlock(self, keys: list[int]) -> None:
        if not self._locking or self._holder is None:
            return
        try:
            await self._holder.execute(_RELEASE, {"space": CLAIM_SPACE, "keys": keys})
            await self._holder.commit()
        except Exception as exc:
            await self._lose()
            raise ClaimsLost("the connection holding the chat claims failed") from exc

    async def _return_if_idle(self) -> None:
        """Nothing held: the connection goes back to the pool until the next claim."""
        if self._holder is not None and not self._keys:
            conn, self._holder = self._holder, None
            await conn.close()

    async def _lose(self) -> None:
        """Close the connection for good (not back to the pool, where it would keep its locks):
        the server lets every claim go with it."""
        self._lanes.clear()
        self._keys.clear()
        conn, self._holder = self._holder, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a dead connection cannot be closed politely
                await conn.invalidate()
                await conn.close()
