"""INSERT … ON CONFLICT, which both databases have and spell alike, through each dialect's insert."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(dialect: str) -> Callable[[Any], Any]:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


@cache
def _skipping(dialect: str, table: Any, returning: str | None = None) -> Any:
    """INSERT … ON CONFLICT DO NOTHING on the table itself, built once: on the model it would take
    the ORM's bulk path, and built at each call it costs more than the insert (these run in every
    conversation turn, inside SQLite's single writer's turn)."""
    stmt = insert_for(dialect)(table).on_conflict_do_nothing()
    return stmt if returning is None else stmt.returning(table.c[returning])


def insert_once_on(connection: Connection, model: Any, values: dict[str, Any]) -> bool:
    """`insert_once` on a plain connection (storage.db.Database.write_short)."""
    result = connection.execute(_skipping(connection.dialect.name, model.__table__), values)
    return bool(result.rowcount)


async def insert_once(session: AsyncSession, model: Any, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; True when this call inserted it."""
    stmt = _skipping(session.get_bind().dialect.name, model.__table__)
    result = await session.execute(stmt, values)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def insert_new_on(connection: Connection, model: Any, rows: list[dict[str, Any]], *, key: Any) -> set[Any]:
    """`insert_new` on a plain connection (storage.db.Database.write_short)."""
    stmt = _skipping(connection.dialect.name, model.__table__, key.name)
    return set(connection.execute(stmt, rows).scalars())


async def insert_new(session: AsyncSession, model: Any, rows: list[dict[str, Any]], *, key: Any) -> set[Any]:
    """Insert the rows whose unique key is not there yet, in one statement; the keys inserted."""
    stmt = _skipping(session.get_bind().dialect.name, model.__table__, key.name)
    return set((await session.execute(stmt, rows)).scalars())
