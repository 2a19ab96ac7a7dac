"""Which process sends a channel's messages, when several serve one PostgreSQL database.

One process at a time sends each channel's messages (Telegram's, LINE's): the one holding that
channel's advisory lock. We chose one elected sender over a budget shared through the database:
Telegram's limits are per bot and per chat (30 a second in all, 20 a minute to a group, a burst to
a private chat), so a shared budget would cost a round trip to the database for every message and
every chat's window; the elected process's own throttle (bot/throttle.py) holds them for the whole
deployment at no cost, each chat's order is kept without a race between two claims, and one
process sends far more than Telegram takes. The others try for the lock every ELECTION_EVERY
seconds, so when the sender dies (its connection, and with it the lock, goes) another takes over
within that, and first hands back to the queue what the dead one had claimed and not sent.

A message queued by any process wakes the sender through PostgreSQL's NOTIFY (a trigger on the
outbox, migration 0022), so a reply handled by another process is not held until the sender's
next idle pass. On SQLite one process serves each platform and sends its messages itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.logs import log_failed_pass
from storage.db import Database

log = logging.getLogger("bot.outbox")

# "DAMO": the senders' locks are two-key advisory locks under this first key
SENDER_SPACE = 0x44414D4F
NOTIFY_CHANNEL = "damrongtham_outbox"  # what the outbox's trigger notifies (migration 0022)
ELECTION_EVERY = 2.0  # seconds between a waiting process's tries for the lock
ALIVE_EVERY = 2.0  # seconds between the sender's checks that its lock's connection still stands
_TRY = text("SELECT pg_try_advisory_lock(CAST(:space AS integer), CAST(:key AS integer))")
_LET_GO = text("SELECT pg_advisory_unlock(CAST(:space AS integer), CAST(:key AS integer))")


def sender_key(channel: str) -> int:
    return int.from_bytes(hashlib.blake2b(channel.encode(), digest_size=4).digest(), "big", signed=True)


async def stand_for(
    db: Database,
    channel: str,
    elected: set[str],
    *,
    wake: Callable[[], None],
    hand_back: Callable[[], Awaitable[int]],
) -> None:
    """Until cancelled: try for `channel`'s lock. Once won: `hand_back()` (what another sender had
    claimed and not confirmed: it died, or lost its lock), then `channel` is in `elected` and every
    notice of a queued message calls `wake`, while the lock's connection stands."""
    streak = 0  # tries failed in a row (the database out of reach)
    key = {"space": SENDER_SPACE, "key": sender_key(channel)}

    def notified(*_: Any) -> None:
        wake()

    async def serve(conn: AsyncConnection) -> None:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection  # asyncpg's connection: LISTEN is its own API
        assert driver is not None  # a connection checked out is open
        await driver.add_listener(NOTIFY_CHANNEL, notified)
        try:
            log.info("this process sends the %s messages (%d handed back)", channel, await hand_back())
            elected.add(channel)
            wake()
            while True:
                await asyncio.sleep(ALIVE_EVERY)
                await conn.execute(text("SELECT 1"))
                await conn.commit()
        finally:
            elected.discard(channel)
            with contextlib.suppress(Exception):  # a dead connection has let go already
                await driver.remove_listener(NOTIFY_CHANNEL, notified)
                await conn.execute(_LET_GO, key)
                await conn.commit()

    while True:
        try:
            async with db.engine.connect() as conn:
                won = (await conn.execute(_TRY, key)).scalar()
                await conn.commit()
                streak = 0
                if won:
                    await serve(conn)
        except Exception:
            streak += 1
            log_failed_pass(log, f"{channel} sender election", streak)
        await asyncio.sleep(ELECTION_EVERY)
