"""Webhook deliveries: stored first (so a crash loses nothing), answered, then handled in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from bot.metrics import Metrics
from storage import repositories as repo
from storage.crypto import Vault
from storage.db import Database
from storage.models import INBOX_MAX_ATTEMPTS, InboxEvent

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[None]]
MAX_ATTEMPTS = INBOX_MAX_ATTEMPTS


class Inbox:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        handlers: dict[str, Handler] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db, self.vault = db, vault
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self._wake = asyncio.Event()
        self.metrics = metrics or Metrics()
        self.failures = 0  # consecutive: the run loop backs off while an event keeps failing
        # handled (answered, if only with "please try again") but not marked: the database went away
        self._unmarked: set[int] = set()

    async def store(self, channel: str, event_key: str, payload: dict[str, Any]) -> bool:
        """Keep a delivery; False when the same event was stored before (a redelivery)."""
        async with self.db.session() as session:
            stored = await repo.insert_once(
                session,
                InboxEvent,
                {
                    "channel": channel,
                    "event_key": event_key,
                    "payload_enc": self.vault.encrypt(payload),
                    "received_at": datetime.now(UTC),
                },
            )
            await session.commit()
        if stored:
            self._wake.set()
        return stored

    async def handle_pending(self) -> int:
        """Handle stored deliveries oldest first, one at a time, so each chat keeps its order."""
        for row_id in sorted(self._unmarked):  # marked now, never handled a second time
            await self._mark(row_id, processed=True)
            self._unmarked.discard(row_id)
        async with self.db.session() as session:
            rows = list(
                (
                    await session.execute(
                        select(InboxEvent)
                        .where(
                            col(InboxEvent.processed_at).is_(None), col(InboxEvent.attempts) < MAX_ATTEMPTS
                        )
                        .order_by(col(InboxEvent.id))
                        .limit(100)
                    )
                ).scalars()
            )
        done = 0
        for row in rows:
            handler = self.handlers.get(row.channel)
            if handler is None:
                continue
            try:
                await handler(self.vault.decrypt(row.payload_enc))
            except Exception:
                self.failures += 1
                self.metrics.errors["inbox"] += 1
                if row.attempts + 1 >= MAX_ATTEMPTS:
                    # a poison event must not hold every later one back for ever: set it aside
                    log.error(
                        "webhook event set aside after %d attempts",
                        MAX_ATTEMPTS,
                        extra={"channel": row.channel},
                    )
                    await self._mark(row.id, processed=True, dead=True)
                    continue
                log.exception("webhook event failed; it will be tried again", extra={"channel": row.channel})
                await self._mark(row.id, processed=False)
                break  # later events wait, so each chat keeps its order
            self.failures = 0
            try:
                await self._mark(row.id, processed=True)
            except Exception:
                assert row.id is not None
                self._unmarked.add(row.id)
                raise
            done += 1
        return done

    async def _mark(self, row_id: int | None, *, processed: bool, dead: bool = False) -> None:
        async with self.db.session() as session:
            row = await session.get(InboxEvent, row_id)
            assert row is not None
            if dead:
                row.attempts = MAX_ATTEMPTS
            if processed:
                row.processed_at = datetime.now(UTC)
                row.payload_enc = self.vault.encrypt({})  # handled: keep no message content
            else:
                row.attempts += 1
            await session.commit()

    async def run(self, *, idle_seconds: float = 1.0) -> None:
        streak = 0  # passes failed in a row: an outage is logged once with its traceback, then briefly
        while True:
            try:
                handled = await self.handle_pending()
                streak = 0
                if handled and not self.failures:
                    continue
            except Exception:
                streak += 1
                if streak == 1:
                    log.exception("inbox pass failed; retrying shortly")
                elif streak % 60 == 0:
                    log.warning("inbox passes still failing (%d in a row)", streak)
            wait = min(2.0**self.failures, 60.0) if self.failures else idle_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait() if not self.failures else asyncio.sleep(wait), timeout=wait
                )
            self._wake.clear()
