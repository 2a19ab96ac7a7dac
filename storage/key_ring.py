"""Rotating DAMRONGTHAM_SECRET_KEY: everything kept under the old key is kept under the new one, in
one transaction, so the old key reads everything until the rotation commits, and the new key after.

What the secret key encrypts directly is re-wrapped token by token: the case keys (so the
history's notes and the evidence files, sealed under them, are not touched at all), the case
details and reporters, the documents' names, the drafts, the inbox and outbox, the desk's
second-step secrets. The keys derived from the secret key cannot change without the data they
hash (a chat id is kept only as its keyed hash; the chain's links are keyed): the first key's are
carried over, wrapped by the new key, in `key_ring`, and every process loads them (`load`)
before it uses its vault.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.crypto import Vault
from storage.evidence import NAME_SEALED
from storage.models import Attachment, Case, CaseKey, Conversation, InboxEvent, KeyRing, OutboxMessage, Staff
from storage.upsert import insert_once

_BATCH = 500

# every column holding a token of the secret key itself, with its table's key column and the
# prefix the token follows
_WRAPPED: tuple[tuple[Any, str, str, str], ...] = (
    (CaseKey, "case_id", "wrapped", ""),
    (Case, "id", "details_enc", ""),
    (Case, "id", "reporter_enc", ""),
    (Attachment, "id", "file_name", NAME_SEALED),
    (Conversation, "id", "state_enc", ""),
    (InboxEvent, "id", "payload_enc", ""),
    (OutboxMessage, "id", "chat_enc", ""),
    (OutboxMessage, "id", "payload_enc", ""),
    (Staff, "id", "totp_secret_enc", ""),
)


@dataclass(frozen=True)
class Rotated:
    """How many tokens were re-wrapped, by table and column."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def load(session: AsyncSession, vault: Vault) -> None:
    """After a rotation, the vault hashes and links with the first key's derived keys."""
    ring = await session.get(KeyRing, 1)
    if ring is not None:
        vault.adopt(_open(vault, ring.index_key), _open(vault, ring.chain_key))


async def rotate(session: AsyncSession, old: Vault, new: Vault, *, at: datetime) -> Rotated:
    """Re-wrap every token of `old` as a token of `new` (the caller commits, or rolls back and
    nothing changed). `old` has its ring loaded; `new` takes the same derived keys. A token `old`
    cannot open stops the rotation (cryptography's InvalidToken)."""
    index_key, chain_key = old.derived_keys
    ring = {"index_key": _wrap(new, index_key), "chain_key": _wrap(new, chain_key), "rotated_at": at}
    if not await insert_once(session, KeyRing, {"id": 1, **ring}):
        await session.execute(update(KeyRing).where(col(KeyRing.id) == 1).values(**ring))
    new.adopt(index_key, chain_key)
    counts: dict[str, int] = {}
    for model, key_name, name, prefix in _WRAPPED:
        table: Table = model.__table__
        key: Column[Any] = table.c[key_name]
        column: Column[Any] = table.c[name]
        wrapped = column.like(prefix + "%") if prefix else column.is_not(None)
        rows = (await session.execute(select(key, column).where(wrapped))).all()
        change = update(table).where(key == bindparam("row_key")).values({name: bindparam("token")})
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            values = [
                {"row_key": row_key, "token": prefix + new.rewrap(token[len(prefix) :], old)}
                for row_key, token in batch
            ]
            await session.execute(change, values)
        counts[f"{table.name}.{name}"] = len(rows)
    return Rotated(counts)


def _wrap(vault: Vault, key: bytes) -> str:
    return vault.encrypt(base64.b64encode(key).decode())


def _open(vault: Vault, stored: str) -> bytes:
    return base64.b64decode(str(vault.decrypt(stored)))
