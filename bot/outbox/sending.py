"""Sending one chat's claimed messages in order, and recording what became of each: sent (a few
at a time, see `bot/outbox/dispatcher.py`), to wait, failed for good, or moved to a new chat id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, bindparam, update
from sqlalchemy.engine import Connection
from sqlmodel import col

from bot.channels.base import ChatMoved, PermanentFailure, RetryLater, Sender
from handlers.core.metrics import Metrics
from kernel.messages import Reply
from storage.crypto import Vault
from storage.db import Database
from storage.models import CardMessage, ChatBinding
from storage.outbox import OUTBOX, OutboxRow
from storage.upsert import insert_for

log = logging.getLogger("bot.outbox")

MARK_EVERY = 10
MARK_WITHIN = 0.5  # seconds
SENDING_AT_ONCE = 8  # sends under way at a time, each to a different chat
# transient failures are retried this long (LINE keeps a retry key for 24 hours); then coordinators hear
GIVE_UP_AFTER = timedelta(hours=24)


def remember_card_statement(dialect: str) -> Insert:
    table = CardMessage.__table__  # type: ignore[attr-defined]
    upsert = insert_for(dialect)(table)
    statement: Insert = upsert.on_conflict_do_update(
        index_elements=["case_id", "channel", "chat_id"], set_={"message_id": upsert.excluded.message_id}
    )
    return statement


# The payload may hold a tracking code: keep it no longer than needed.
_RECORD_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sent", sent_at=bindparam("now"), payload_enc=None)
)


@dataclass
class Delivered:
    """A message the platform accepted, not yet recorded as sent."""

    row: OutboxRow
    chat_id: str
    card_message_id: str | None  # a case card's message, edited in place by later actions
    at: float  # time.monotonic() of the delivery


class Delivery:
    """The sending half of the dispatcher; `OutboxDispatcher` sets this state up."""

    db: Database
    vault: Vault
    clock: Callable[[], datetime]
    metrics: Metrics
    senders: dict[str, Sender]
    on_undeliverable: Callable[[OutboxRow], Awaitable[None]] | None
    _missed: dict[int, dict[str, object]]
    _delivered: list[Delivered]
    _remember_card: Insert
    _slots: asyncio.Semaphore
    _mark_every: int

    async def _send_chat(self, rows: list[OutboxRow]) -> int:
        """One chat's messages, in order; how many went."""
        held: set[tuple[str, str]] = set()  # a failure: the chat's later messages wait, keeping order
        sent = 0
        for row in rows:
            async with self._slots:
                try:
                    sent += await self._send_one(row, held)
                except Exception:
                    # One bad row (unreadable, or its outcome not recorded) must not stop the others;
                    # its lease brings it back later.
                    self.metrics.errors["outbox"] += 1
                    log.exception("outbox row could not be handled", extra={"outbox_id": row.id})
            delivered = self._delivered
            if delivered and (
                len(delivered) >= self._mark_every or time.monotonic() - delivered[0].at >= MARK_WITHIN
            ):
                await self._mark_sent()
        return sent

    async def _send_one(self, row: OutboxRow, held: set[tuple[str, str]]) -> int:
        assert row.channel is not None
        try:
            chat_id: str = self.vault.decrypt(row.chat_enc or "")
            reply = Reply.from_dict(self.vault.decrypt(row.payload_enc or ""))
            reply.idempotency_key = f"outbox-{row.id}"
            reply.answering = row.kind == "reply"
        except Exception as exc:
            await self._update(row, status="failed", last_error=f"unreadable: {type(exc).__name__}")
            log.error("outbox row unreadable; marked failed", extra={"outbox_id": row.id})
            return 0
        if (row.channel, chat_id) in held:
            await self._update(row, status="pending", next_attempt_at=self.clock())
            return 0
        try:
            message_id = await self.senders[row.channel].send(chat_id, reply)
        except ChatMoved as moved:
            await self._move_chat(row.channel, chat_id, moved.new_chat_id)
            row.chat_enc = self.vault.encrypt(moved.new_chat_id)
            row.chat_key = self.vault.lookup_key("outbox", row.channel, moved.new_chat_id)
            await self._update(row, chat_enc=row.chat_enc, chat_key=row.chat_key)
            return await self._send_one(row, held)
        except RetryLater as exc:
            held.add((row.channel, chat_id))
            wait = self.clock() + timedelta(seconds=exc.seconds)
            await self._update(row, status="pending", next_attempt_at=wait)
            if not exc.ours:
                log.warning("platform asked to wait %.1fs", exc.seconds, extra={"outbox_id": row.id})
            return 0
        except PermanentFailure as exc:
            await self._update(row, status="failed", last_error=str(exc)[:300])
            log.error("outbox message refused for good", extra={"outbox_id": row.id, "kind": row.kind})
            if self.on_undeliverable is not None:
                await self.on_undeliverable(row)
            return 0
        except Exception as exc:
            held.add((row.channel, chat_id))
            attempts = row.attempts + 1
            give_up = self.clock() - row.created_at > GIVE_UP_AFTER
            await self._update(
                row,
                status="failed" if give_up else "pending",
                attempts=attempts,
                next_attempt_at=self.clock() + timedelta(seconds=min(2**attempts, 300)),
                last_error=f"{type(exc).__name__}: {exc}"[:300],
            )
            log.warning("outbox send failed (attempt %d)", attempts, extra={"outbox_id": row.id})
            if give_up:
                self.metrics.errors["outbox_gave_up"] += 1
                if self.on_undeliverable is not None:
                    await self.on_undeliverable(row)
            return 0
        self.metrics.messages_sent[row.channel] += 1
        card = row.kind == "case_card" and reply.media is None and message_id and row.case_id
        self._delivered.append(Delivered(row, chat_id, message_id if card else None, time.monotonic()))
        return 1

    async def _mark_sent(self) -> None:
        """Record the deliveries not yet recorded, in one transaction of their own; if that fails
        they are kept, and the next pass records them before claiming more."""
        batch, self._delivered = self._delivered, []
        if not batch:
            return
        now = self.clock()
        try:
            await self.db.write_short(lambda connection: self._record_sent(connection, batch, now))
        except Exception:
            self.metrics.errors["outbox"] += 1
            log.exception("deliveries could not be recorded", extra={"outbox_ids": [d.row.id for d in batch]})
            self._delivered[:0] = batch
            return
        self._recorded(batch, now)

    def _record_sent(self, connection: Connection, batch: list[Delivered], now: datetime) -> None:
        connection.execute(_RECORD_SENT, {"ids": [d.row.id for d in batch], "now": now})
        self._remember_cards(connection, batch)

    @staticmethod
    def _recorded(batch: list[Delivered], now: datetime) -> None:
        for d in batch:
            d.row.status, d.row.sent_at, d.row.payload_enc = "sent", now, None

    async def _move_chat(self, channel: str, old: str, new: str) -> None:
        """A group became a supergroup: its bindings and posted cards follow it."""
        async with self.db.session(write=True) as session:
            await session.execute(
                update(ChatBinding)
                .where(col(ChatBinding.channel) == channel, col(ChatBinding.chat_id) == old)
                .values(chat_id=new)
            )
            await session.execute(
                update(CardMessage)
                .where(col(CardMessage.channel) == channel, col(CardMessage.chat_id) == old)
                .values(chat_id=new)
            )
            await session.commit()
        log.warning("a bound chat moved to a new id; bindings updated")

    def _remember_cards(self, connection: Connection, batch: list[Delivered]) -> None:
        """Where each case card is, so later actions edit it in place (one upsert for the batch)."""
        cards = {
            (d.row.case_id, d.row.channel, d.chat_id): d.card_message_id
            for d in batch
            if d.card_message_id is not None
        }  # a card sent twice in one batch: the later one counts
        if not cards:
            return
        connection.execute(
            self._remember_card,
            [
                {"case_id": case_id, "channel": channel, "chat_id": chat_id, "message_id": message_id}
                for (case_id, channel, chat_id), message_id in cards.items()
            ],
        )

    async def _update(self, row: OutboxRow, **values: object) -> None:
        """Record an outcome with one UPDATE by primary key (no read first)."""
        try:
            await self._write(row.id, values)
        except Exception:
            self._missed.setdefault(row.id, {}).update(values)  # the next pass writes it
            raise
        for key, value in values.items():
            setattr(row, key, value)

    async def _write(self, row_id: int | None, values: dict[str, object]) -> None:
        statement = update(OUTBOX).where(OUTBOX.c.id == row_id).values(**values)
        await self.db.write_short(lambda connection: connection.execute(statement))

    async def _record_missed(self) -> None:
        """Outcomes the database missed (it went away after the send), written before anything new
        is claimed: left to the lease, those rows would hold their chats back for the whole lease
        (every later reply to the citizen waiting behind them) and then go out a second time."""
        for row_id in list(self._missed):
            await self._write(row_id, self._missed[row_id])
            del self._missed[row_id]
