"""The hash-chained audit log: every case event is appended, never updated or deleted.

Each event's hash covers the previous hash and the event's content, so changing, removing or
reordering any row breaks the chain from that row on; `verify_chain` finds the first break.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import AuditHead, CaseEvent

GENESIS = "0" * 64


def event_hash(prev_hash: str, event: CaseEvent) -> str:
    at = event.at.astimezone(UTC) if event.at.tzinfo else event.at.replace(tzinfo=UTC)
    body = {
        "seq": event.seq,
        "case_id": event.case_id,
        "org_id": event.org_id,
        "kind": event.kind,
        "actor": event.actor,
        "status": event.status,
        "public_note": event.public_note,
        "internal_note": event.internal_note,
        "at": at.isoformat(),
        "data": json.loads(event.data_json) if event.data_json else None,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


async def append_event(
    session: AsyncSession,
    *,
    case_id: int,
    org_id: int,
    kind: str,
    actor: str,
    status: str,
    at: datetime,
    public_note: str | None = None,
    internal_note: str | None = None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    # Taking the head row first serialises appenders: a row lock on PostgreSQL, the write lock on SQLite.
    head = (
        await session.execute(
            update(AuditHead)
            .where(col(AuditHead.id) == 1)
            .values(length=col(AuditHead.length) + 1)
            .returning(col(AuditHead.length), col(AuditHead.last_hash))
        )
    ).one()
    seq, prev = int(head[0]), str(head[1])
    event = CaseEvent(
        case_id=case_id,
        org_id=org_id,
        kind=kind,
        actor=actor,
        status=status,
        public_note=public_note,
        internal_note=internal_note,
        data_json=json.dumps(data, ensure_ascii=False, sort_keys=True) if data else None,
        at=at,
        seq=seq,
        prev_hash=prev,
    )
    event.hash = event_hash(prev, event)
    session.add(event)
    await session.execute(update(AuditHead).where(col(AuditHead.id) == 1).values(last_hash=event.hash))
    return event


@dataclass(frozen=True)
class ChainReport:
    length: int
    broken_at: int | None  # the seq of the first bad event
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


async def verify_chain(session: AsyncSession) -> ChainReport:
    head = await session.get(AuditHead, 1)
    prev, expected_seq, count = GENESIS, 1, 0
    stmt = select(CaseEvent).order_by(col(CaseEvent.seq))
    for event in (await session.execute(stmt)).scalars():
        count += 1
        if event.seq != expected_seq:
            return ChainReport(count, expected_seq, f"event {expected_seq} is missing (found {event.seq})")
        if event.prev_hash != prev:
            return ChainReport(count, event.seq, f"event {event.seq} does not follow event {event.seq - 1}")
        if event.hash != event_hash(prev, event):
            return ChainReport(count, event.seq, f"event {event.seq} was changed after it was written")
        prev, expected_seq = event.hash, expected_seq + 1
    if head is None or head.length != count or head.last_hash != prev:
        return ChainReport(count, count + 1, "the chain's end does not match: events were removed at the end")
    return ChainReport(count, None, None)
