"""Wrong tracking codes, and wrong /join and /bind codes: counted per account, with a growing wait
(DESIGN.md rule 9)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AccessAttempt

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
