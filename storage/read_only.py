"""Sessions that only read, and say so the moment they are asked to write.

A conversation turn is first worked out on such a session (handlers/engine.py): most turns only
move their own conversation on, and that result is written back in a short write of its own. A
turn that writes anything else (a report, a staff action, a tracking attempt) is stopped at its
first write by `WritesNeeded`, before it has done anything that lasts, and runs again as a whole
inside a write session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

_READ_ONLY = "read_only"  # the session's `info` key


class WritesNeeded(Exception):
    """A read-only session was asked to write: the work must run again in a write session."""


class GuardedSession(Session):
    """The synchronous session under every unit of work (storage.db), which checks the mark."""


def mark_read_only(session: AsyncSession) -> None:
    session.info[_READ_ONLY] = True


def refuse_writes(session: AsyncSession | Session) -> None:
    """Raise `WritesNeeded` if the session only reads: called before anything that will write."""
    if session.info.get(_READ_ONLY):
        raise WritesNeeded


@event.listens_for(GuardedSession, "do_orm_execute")
def _no_statement_writes(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        refuse_writes(state.session)


@event.listens_for(GuardedSession, "before_flush")
def _no_flushed_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        refuse_writes(session)


def check_nothing_written(session: AsyncSession) -> None:
    """At the end of read-only work: objects added or changed but never flushed count as writes."""
    if session.new or session.dirty or session.deleted:
        refuse_writes(session)
