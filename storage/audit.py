"""The hash-chained audit log: every case event is appended, never updated or deleted.

Each event's hash covers the previous hash and the event's content, so changing, removing or
reordering any row breaks the chain from that row on; `verify_chain` finds the first break.

Appending moves the chain's head row (its length and last hash) in its first statement, which
serialises appenders from the start: a row lock on PostgreSQL, the write lock on SQLite.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from kernel.lifecycle import EVENT_KINDS
from storage.models import AuditHead, CaseEvent

GENESIS = "0" * 64
_HASHED = ("seq", "case_id", "org_id", "kind", "actor", "status", "public_note", "internal_note")

_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_TAKE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(length=_HEAD.c.length + 1)
    .returning(_HEAD.c.length, _HEAD.c.last_hash)
)
_INSERT_EVENT = insert(CaseEvent.__table__)  # type: ignore[attr-defined]
_SET_LAST_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=bindparam("last_hash"))


def event_hash(prev_hash: str, event: CaseEvent | Mapping[str, Any]) -> str:
    """The hash of an event (a row, or the values of one being written) after `prev_hash`."""
    fields = (
        event
        if isinstance(event, Mapping)
        else {name: getattr(event, name) for name in (*_HASHED, "at", "data_json")}
    )
    at: datetime = fields["at"]
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    body = {name: fields[name] for name in _HASHED}
    body["at"] = at.isoformat()
    body["data"] = json.loads(fields["data_json"]) if fields["data_json"] else None
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
) -> None:
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown case event kind {kind!r}: add it to lifecycle.EVENT_KINDS and the texts")
    event: dict[str, Any] = {
        "case_id": case_id,
        "org_id": org_id,
        "kind": kind,
        "actor": actor,
        "status": status,
        "public_note": public_note,
        "internal_note": internal_note,
        "data_json": json.dumps(data, ensure_ascii=False, sort_keys=True) if data else None,
        "at": at,
    }
    seq, prev = (await session.execute(_TAKE_HEAD)).one()
    _follow(event, int(seq) - 1, str(prev))
    await session.execute(_INSERT_EVENT, event)
    await session.execute(_SET_LAST_HASH, {"last_hash": event["hash"]})


def _follow(event: dict[str, Any], length: int, last_hash: str) -> None:
    """Make `event` the next one after a head of `length` events ending in `last_hash`."""
    event["seq"], event["prev_hash"] = length + 1, last_hash
    event["hash"] = event_hash(last_hash, event)


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


async def recorded_since(
    session: AsyncSession, *, case_id: int, kind: str, actor: str, data: dict[str, Any], since: datetime
) -> bool:
    """Has this very event (same kind, actor and data) been appended to the case after `since`?"""
    stmt = select(col(CaseEvent.id)).where(
        col(CaseEvent.case_id) == case_id,
        col(CaseEvent.kind) == kind,
        col(CaseEvent.actor) == actor,
        col(CaseEvent.data_json) == json.dumps(data, ensure_ascii=False, sort_keys=True),
        col(CaseEvent.at) > since,
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def case_history(session: AsyncSession, case_id: int) -> list[CaseEvent]:
    """A case's events in the order they were appended."""
    stmt = select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.seq))
    return list((await session.execute(stmt)).scalars())
