"""INSERT … ON CONFLICT, which both databases have and spell alike, through each dialect's insert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(dialect: str) -> Callable[[Any], Any]:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _insert(session: AsyncSession, table: Any) -> Any:
    return insert_for(session.get_bind().dialect.name)(table)


async def insert_once(session: AsyncSession, model: Any, values: dict[str, Any]) -> bool:
    """Insert unless the primary key exists; True when this call inserted it."""
    result = await session.execute(_insert(session, model).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_new(session: AsyncSession, model: Any, rows: list[dict[str, Any]], *, key: Any) -> set[Any]:
    """Insert the rows whose unique key is not there yet, in one statement; the keys inserted."""
    table = model.__table__
    stmt = _insert(session, table).on_conflict_do_nothing().returning(table.c[key.name])
    return set((await session.execute(stmt, rows)).scalars())
