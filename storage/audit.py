"""The hash-chained audit log: every case event is appended, never updated or deleted.

Each event's hash covers the previous hash and the event's content, so changing, removing or
reordering any row breaks the chain from that row on; `verify_chain` finds the first break. The
hash is keyed (an HMAC with a key derived from DAMRONGTHAM_SECRET_KEY, which the database never
holds), so whoever can write to the database but has not the key cannot recompute the chain after
a change; and the head (length and last hash) is published every day outside the database
(handlers/cases/anchors.py), so not even the key's holder can rewrite history unseen:
`verify_against` checks the chain against a head taken from outside.

The free text of an event (its notes) is stored sealed under the case's own key
(storage/case_keys.py), and the hash covers the sealed text: destroying the key erases the text
and leaves the chain verifiable.

Appending moves the chain's head row (its length and last hash) in its first statement, which
serialises appenders from the start: a row lock on PostgreSQL, the write lock on SQLite.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from kernel.lifecycle import EVENT_KINDS
from storage.case_keys import SEALED, CaseCipher, cipher_for
from storage.crypto import Vault
from storage.models import AuditAnchor, AuditHead, CaseEvent
from storage.upsert import insert_once

log = logging.getLogger(__name__)

GENESIS = "0" * 64
# 1: notes in clear; 2: notes sealed under the case's key; 3: and every link keyed
CHAIN_FORMAT = 3
KEYED = 3
_HASHED = ("seq", "case_id", "org_id", "kind", "actor", "status", "public_note", "internal_note")

_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_TAKE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(length=_HEAD.c.length + 1)
    .returning(_HEAD.c.length, _HEAD.c.last_hash, _HEAD.c.format)
)
_INSERT_EVENT = insert(CaseEvent.__table__)  # type: ignore[attr-defined]
# the first statement of a conversion: it holds the head (and so every append) until it commits
_LOCK_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(format=_HEAD.c.format).returning(_HEAD.c.format)
_SET_LAST_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=bindparam("last_hash"))


def event_hash(prev_hash: str, event: CaseEvent | Mapping[str, Any], key: bytes | None = None) -> str:
    """The hash of an event (a row, or the values of one being written) after `prev_hash`: keyed
    with `key` (format 3), or a plain SHA-256 that anyone could recompute (formats 1 and 2)."""
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
    message = (prev_hash + json.dumps(body, sort_keys=True, ensure_ascii=False)).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def link_key(vault: Vault, chain_format: int) -> bytes | None:
    """The key the links of a chain in this format are made with (None: unkeyed, older formats)."""
    return vault.chain_key if chain_format >= KEYED else None


async def append_event(
    session: AsyncSession,
    vault: Vault,
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
    """Append an event: its notes sealed under the case's key, its link keyed."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown case event kind {kind!r}: add it to lifecycle.EVENT_KINDS and the texts")
    if public_note is not None or internal_note is not None:
        cipher = await cipher_for(session, vault, case_id, writing=True)
        public_note, internal_note = cipher.seal(public_note), cipher.seal(internal_note)
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
    seq, prev, chain_format = (await session.execute(_TAKE_HEAD)).one()
    _follow(event, int(seq) - 1, str(prev), link_key(vault, chain_format))
    await session.execute(_INSERT_EVENT, event)
    await session.execute(_SET_LAST_HASH, {"last_hash": event["hash"]})


def _follow(event: dict[str, Any], length: int, last_hash: str, key: bytes | None) -> None:
    """Make `event` the next one after a head of `length` events ending in `last_hash`."""
    event["seq"], event["prev_hash"] = length + 1, last_hash
    event["hash"] = event_hash(last_hash, event, key)


@dataclass(frozen=True)
class ChainReport:
    length: int
    broken_at: int | None  # the seq of the first bad event
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class ChainHead:
    """The chain's end: how many events, and the last one's hash. Written as `LENGTH:HASH`."""

    length: int
    hash: str

    def __str__(self) -> str:
        return f"{self.length}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        length, _, digest = text.strip().partition(":")
        if not length.isdigit() or len(length) > 12 or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("a head is LENGTH:HASH, the number of events and 64 hex digits")
        return cls(int(length), digest)


async def chain_head(session: AsyncSession) -> ChainHead:
    head = await session.get(AuditHead, 1)
    return ChainHead(head.length, head.last_hash) if head else ChainHead(0, GENESIS)


async def anchored(session: AsyncSession, day: date) -> bool:
    """Whether the head was published on `day` already."""
    return await session.get(AuditAnchor, day) is not None


async def record_anchor(session: AsyncSession, day: date, head: ChainHead, now: datetime) -> bool:
    """Keep the head published on `day`; False when that day's is kept already."""
    values = {"day": day, "length": head.length, "hash": head.hash, "published_at": now}
    return await insert_once(session, AuditAnchor, values)


async def verify_chain(session: AsyncSession, vault: Vault) -> ChainReport:
    head = await session.get(AuditHead, 1)
    key = link_key(vault, head.format if head else CHAIN_FORMAT)
    prev, expected_seq, count = GENESIS, 1, 0
    stmt = select(CaseEvent).order_by(col(CaseEvent.seq))
    for event in (await session.execute(stmt)).scalars():
        count += 1
        if event.seq != expected_seq:
            return ChainReport(count, expected_seq, f"event {expected_seq} is missing (found {event.seq})")
        if event.prev_hash != prev:
            return ChainReport(count, event.seq, f"event {event.seq} does not follow event {event.seq - 1}")
        if event.hash != event_hash(prev, event, key):
            return ChainReport(count, event.seq, f"event {event.seq} was changed after it was written")
        prev, expected_seq = event.hash, expected_seq + 1
    if head is None or head.length != count or head.last_hash != prev:
        return ChainReport(count, count + 1, "the chain's end does not match: events were removed at the end")
    return ChainReport(count, None, None)


async def verify_against(session: AsyncSession, vault: Vault, outside: ChainHead) -> ChainReport:
    """The chain checked, and checked against a head taken outside the database (a published
    daily head): a history rewritten even with the key no longer leads to it."""
    report = await verify_chain(session, vault)
    if not report.ok:
        return report
    if outside.length > report.length:
        problem = f"the chain has {report.length} events, the head {outside.length}: events were removed"
        return ChainReport(report.length, report.length + 1, problem)
    found = (
        await session.execute(select(col(CaseEvent.hash)).where(col(CaseEvent.seq) == outside.length))
    ).scalar_one_or_none()
    if (found or GENESIS) != outside.hash:
        problem = f"event {outside.length} is not the one the head names: the history up to it was rewritten"
        return ChainReport(report.length, outside.length, problem)
    return report


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


@dataclass(frozen=True)
class HistoryEntry:
    """An event as it is read: its notes opened. `erased`: it had a note that was erased."""

    kind: str
    actor: str
    status: str
    at: datetime
    public_note: str | None
    internal_note: str | None
    erased: bool = False


async def case_history(session: AsyncSession, vault: Vault, case_id: int) -> list[HistoryEntry]:
    """A case's events in the order they were appended, their notes opened."""
    stmt = select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.seq))
    events = list((await session.execute(stmt)).scalars())
    cipher = CaseCipher(None)
    if any(e.public_note or e.internal_note for e in events):
        cipher = await cipher_for(session, vault, case_id, writing=False)
    return [_opened(e, cipher) for e in events]


def _opened(event: CaseEvent, cipher: CaseCipher) -> HistoryEntry:
    public, internal = cipher.open(event.public_note), cipher.open(event.internal_note)
    lost = (public is None and bool(event.public_note)) or (internal is None and bool(event.internal_note))
    return HistoryEntry(
        kind=event.kind, actor=event.actor, status=event.status, at=event.at,
        public_note=public, internal_note=internal, erased=lost,
    )  # fmt: skip


async def convert_history(session: AsyncSession, vault: Vault) -> int:
    """Bring a chain written in an older format to the current one (once: the caller commits):
    notes kept in clear are sealed under their case's key, and the chain is hashed again, keyed,
    from the first event that changed. A broken chain is not converted. The number of notes sealed."""
    head = (await session.execute(_LOCK_HEAD)).one_or_none()
    if head is None or head.format >= CHAIN_FORMAT:
        return 0
    report = await verify_chain(session, vault)
    if not report.ok:
        # converting would hash the change in as if it were history: left as it is, to be seen
        log.error(
            "the audit chain is broken at event %s (%s); it is left in format %d, not converted. "
            "Run 'damrongtham audit verify' and restore the database from a backup.",
            report.broken_at, report.problem, head.format,
        )  # fmt: skip
        return 0
    sealed, first_changed = 0, 1 if head.format < KEYED else None
    events = list((await session.execute(select(CaseEvent).order_by(col(CaseEvent.seq)))).scalars())
    for event in events:
        if head.format < 2 and _in_clear(event):
            cipher = await cipher_for(session, vault, event.case_id, writing=True)
            event.public_note = cipher.seal(event.public_note)
            event.internal_note = cipher.seal(event.internal_note)
            sealed += bool(event.public_note) + bool(event.internal_note)
            first_changed = first_changed or event.seq
    if first_changed is not None:
        prev = GENESIS
        for event in events:
            if (event.seq or 0) >= first_changed:
                event.prev_hash, event.hash = prev, event_hash(prev, event, vault.chain_key)
            prev = event.hash or GENESIS
        await session.execute(_SET_LAST_HASH, {"last_hash": prev})
        log.warning(
            "the case history was converted to format %d: %d notes sealed under their cases' keys, "
            "the chain hashed again from event %d",
            CHAIN_FORMAT, sealed, first_changed,
        )  # fmt: skip
    await session.execute(update(_HEAD).where(_HEAD.c.id == 1).values(format=CHAIN_FORMAT))
    return sealed


def _in_clear(event: CaseEvent) -> bool:
    """A note written before notes were sealed (one written since, by this version, is sealed)."""
    notes = [n for n in (event.public_note, event.internal_note) if n]
    return any(not n.startswith(SEALED) for n in notes)
