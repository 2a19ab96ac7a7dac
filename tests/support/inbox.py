"""The inbox's stored events, as the inbox tests read them."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select

from storage.db import Database
from storage.models import InboxEvent


def by_chat(event: dict[str, Any]) -> str:
    """The lane of the tests' made-up events."""
    return str(event["chat"])


async def inbox_rows(db: Database) -> list[InboxEvent]:
    async with db.session() as session:
        return list((await session.execute(select(InboxEvent).order_by(col(InboxEvent.id)))).scalars())


async def all_marked(db: Database) -> bool:
    """Whether every stored event is marked handled within 5 s (marks go in batches)."""
    for _ in range(100):
        if all(r.processed_at is not None for r in await inbox_rows(db)):
            return True
        await asyncio.sleep(0.05)
    return False
