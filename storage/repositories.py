"""Reads and writes over a session. Callers own the transaction (they commit)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from kernel.org_config import Organisations
from storage.crypto import Vault
from storage.models import (
    AccessAttempt,
    Case,
    CaseCounter,
    CaseDivision,
    ChatBinding,
    Conversation,
    Division,
    Organisation,
    OutboxMessage,
    ProcessedUpdate,
)


def insert_for(dialect: str) -> Callable[[Any], Any]:
    """The dialect's INSERT, which knows ON CONFLICT (both databases have it, spelled alike)."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _insert(session: AsyncSession, model: Any) -> Any:
    return insert_for(session.get_bind().dialect.name)(model)


def _built_once(build: Callable[[Callable[[Any], Any]], Any]) -> Callable[[AsyncSession], Any]:
    """A statement of every step's path, built once per dialect from `build(insert)`: building one
    (and the ORM's handling of one named by its model) cost more than running it."""
    built: dict[str, Any] = {}

    def get(session: AsyncSession) -> Any:
        name = session.get_bind().dialect.name
        if name not in built:
            built[name] = build(insert_for(name))
        return built[name]

    return get


_CLAIM_UPDATE = _built_once(
    lambda insert: insert(ProcessedUpdate.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]
)
_CONVERSATION = select(Conversation).where(
    col(Conversation.channel) == bindparam("channel"), col(Conversation.chat_key) == bindparam("chat_key")
)
_COUNTERS = CaseCounter.__table__  # type: ignore[attr-defined]
_NEXT_CASE_NUMBER = _built_once(
    lambda insert: (
        insert(_COUNTERS)
        .values(last_seq=1)
        .on_conflict_do_update(
            index_elements=["org_id", "be_year"], set_={"last_seq": _COUNTERS.c.last_seq + 1}
        )
        .returning(_COUNTERS.c.last_seq)
    )
)
_ORG_CHATS = (
    select(col(ChatBinding.target), col(ChatBinding.channel), col(ChatBinding.chat_id))
    .where(col(ChatBinding.org_id) == bindparam("org_id"))
    .order_by(col(ChatBinding.target))
)
_TARGET_BINDINGS = select(ChatBinding).where(
    col(ChatBinding.org_id) == bindparam("org_id"), col(ChatBinding.target) == bindparam("target")
)


# --- organisations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Directory:
    """Database ids of the configured organisations and divisions."""

    org_ids: dict[str, int]
    division_ids: dict[tuple[str, str], int]

    def org_code(self, org_id: int) -> str:
        return next(code for code, oid in self.org_ids.items() if oid == org_id)

    def division_code(self, division_id: int) -> str:
        return next(code for (_, code), did in self.division_ids.items() if did == division_id)


async def sync_organisations(session: AsyncSession, orgs: Organisations) -> Directory:
    """Create or rename organisations and divisions from the files; never deletes rows."""
    org_ids: dict[str, int] = {}
    division_ids: dict[tuple[str, str], int] = {}
    for cfg in orgs.all:
        org = (
            await session.execute(select(Organisation).where(col(Organisation.code) == cfg.code))
        ).scalar_one_or_none()
        if org is None:
            org = Organisation(code=cfg.code, name_th=cfg.name_th, name_en=cfg.name_en)
            session.add(org)
            await session.flush()
        else:
            org.name_th, org.name_en = cfg.name_th, cfg.name_en
        assert org.id is not None
        org_ids[cfg.code] = org.id
        existing = {
            d.code: d
            for d in (await session.execute(select(Division).where(col(Division.org_id) == org.id))).scalars()
        }
        for div_cfg in cfg.divisions:
            div = existing.get(div_cfg.code)
            if div is None:
                div = Division(
                    org_id=org.id, code=div_cfg.code, name_th=div_cfg.name_th, name_en=div_cfg.name_en
                )
                session.add(div)
                await session.flush()
            else:
                div.name_th, div.name_en, div.active = div_cfg.name_th, div_cfg.name_en, True
            assert div.id is not None
            division_ids[(cfg.code, div_cfg.code)] = div.id
    return Directory(org_ids, division_ids)


# --- updates and conversations -----------------------------------------------------------


async def claim_update(
    session: AsyncSession, channel: str, update_key: str, *, now: datetime | None = None
) -> bool:
    """Record an update as handled; False when it was handled before (a redelivery)."""
    values = {"channel": channel, "update_key": update_key, "processed_at": now or datetime.now(UTC)}
    result = await session.execute(_CLAIM_UPDATE(session), values)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_once(session: AsyncSession, model: Any, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; True when this call inserted it."""
    result = await session.execute(_insert(session, model).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_new(session: AsyncSession, model: Any, rows: list[dict[str, Any]], *, key: Any) -> set[Any]:
    """Insert the rows whose unique key is not there yet, in one statement; the keys inserted."""
    stmt = _insert_new(session.get_bind().dialect.name, model.__table__, key.name)
    return set((await session.execute(stmt, rows)).scalars())


@functools.cache
def _insert_new(dialect: str, table: Any, key: str) -> Any:
    # built once, on the table; SQLAlchemy sends the rows as one multi-row INSERT
    return insert_for(dialect)(table).on_conflict_do_nothing().returning(table.c[key])


async def get_conversation(session: AsyncSession, channel: str, chat_key: str) -> Conversation | None:
    """The chat's conversation, detached: the turn changes it freely and `store_conversation` puts it
    back once, so a query in the middle of the turn never writes it early."""
    found = (
        await session.execute(_CONVERSATION, {"channel": channel, "chat_key": chat_key})
    ).scalar_one_or_none()
    if found is not None:
        session.expunge(found)
    return found


def store_conversation(session: AsyncSession, convo: Conversation) -> None:
    """Write the conversation at the commit: a new one is inserted, a loaded one updated."""
    session.add(convo)


# --- cases -------------------------------------------------------------------------------


async def next_case_number(session: AsyncSession, org_id: int, be_year: int) -> int:
    """The next number in an organisation's year; the row lock serialises concurrent submits."""
    # one upsert: the year's first case creates the row, later ones add one under its lock
    result = await session.execute(_NEXT_CASE_NUMBER(session), {"org_id": org_id, "be_year": be_year})
    return int(result.scalar_one())


def primary_divisions_text(division_ids: Iterable[int]) -> str | None:
    """`Case.primary_division_ids` for these primary divisions: ids ascending, comma-joined; None for
    none (a case the coordinators handle)."""
    return ",".join(str(i) for i in sorted(set(division_ids))) or None


async def sync_primary_divisions(session: AsyncSession, case: Case) -> None:
    """Copy the case's primary divisions from case_divisions onto the case row. Call after every
    change to its primary rows (a transfer; a new case sets it from its routing without the read):
    the statistics count from the copy."""
    await session.flush()  # rows added or deleted so far are what the query must see
    ids = await session.execute(
        select(CaseDivision.division_id).where(
            col(CaseDivision.case_id) == case.id, col(CaseDivision.role) == "primary"
        )
    )
    case.primary_division_ids = primary_divisions_text(ids.scalars())


async def case_to_change(session: AsyncSession, case_id: int) -> Case | None:
    """A case read in order to act on it. On PostgreSQL its row stays locked until the commit, so two
    chats acting on one case at once (their turns run side by side) take turns instead of the later
    commit undoing the earlier; SQLite's single writer already serialises them."""
    return await session.get(Case, case_id, with_for_update=True)


async def cases_of_reporter(session: AsyncSession, reporter_key: str, limit: int = 10) -> Sequence[Case]:
    stmt = (
        select(Case)
        .where(col(Case.reporter_key) == reporter_key)
        .order_by(col(Case.created_at).desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def case_by_reference(session: AsyncSession, reference: str) -> Case | None:
    stmt = select(Case).where(col(Case.reference) == reference.upper())
    return (await session.execute(stmt)).scalar_one_or_none()


# --- chat bindings -----------------------------------------------------------------------


async def bindings_for(session: AsyncSession, org_id: int, target: str) -> Sequence[ChatBinding]:
    return (await session.execute(_TARGET_BINDINGS, {"org_id": org_id, "target": target})).scalars().all()


async def bindings_of_chat(session: AsyncSession, channel: str, chat_id: str) -> Sequence[ChatBinding]:
    stmt = select(ChatBinding).where(col(ChatBinding.channel) == channel, col(ChatBinding.chat_id) == chat_id)
    return (await session.execute(stmt)).scalars().all()


class BoundChat(NamedTuple):
    """Where a binding points (read as plain rows: cheaper than the ORM's objects)."""

    target: str
    channel: str
    chat_id: str


async def all_bindings(session: AsyncSession, org_id: int) -> list[BoundChat]:
    rows = await session.execute(_ORG_CHATS, {"org_id": org_id})
    return [BoundChat(*row) for row in rows]


async def bind_chat(
    session: AsyncSession,
    *,
    org_id: int,
    target: str,
    division_id: int | None,
    channel: str,
    chat_id: str,
    vault: Vault,
) -> int:
    """Point `target` at a chat and release the messages that waited for it; returns their count."""
    existing = (
        await session.execute(
            select(ChatBinding).where(
                col(ChatBinding.org_id) == org_id,
                col(ChatBinding.target) == target,
                col(ChatBinding.channel) == channel,
            )
        )
    ).scalar_one_or_none()
    if existing is None:
        session.add(
            ChatBinding(
                org_id=org_id, target=target, division_id=division_id, channel=channel, chat_id=chat_id
            )
        )
    else:
        existing.chat_id = chat_id
    result = await session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.org_id) == org_id,
            col(OutboxMessage.target) == target,
            col(OutboxMessage.status) == "waiting_binding",
        )
        .values(
            status="pending",
            channel=channel,
            chat_enc=vault.encrypt(chat_id),
            chat_key=vault.lookup_key("outbox", channel, chat_id),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- tracking-code attempts --------------------------------------------------------------

FREE_ATTEMPTS = 3
MAX_LOCK = timedelta(hours=24)


async def locked_until(session: AsyncSession, key: str, now: datetime) -> datetime | None:
    row = await session.get(AccessAttempt, key)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return row.locked_until


async def record_failed_attempt(session: AsyncSession, key: str, now: datetime) -> None:
    """Past a few free tries, each wrong code doubles the wait: 1, 2, 4 ... minutes."""
    row = await session.get(AccessAttempt, key)
    if row is None:
        row = AccessAttempt(key=key, failures=0)
        session.add(row)
    row.failures += 1
    row.updated_at = now
    if row.failures >= FREE_ATTEMPTS:
        row.locked_until = now + min(timedelta(minutes=2 ** (row.failures - FREE_ATTEMPTS)), MAX_LOCK)


async def clear_attempts(session: AsyncSession, key: str) -> None:
    row = await session.get(AccessAttempt, key)
    if row is not None:
        await session.delete(row)
