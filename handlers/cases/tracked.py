"""A case followed by its reference and tracking code, from any device: no account, the code is the key.

A right code gives a short-lived pass (signed, holding only the case's id and when it ends), so the
code is checked slowly once and not kept anywhere; the pass lets its holder read the case's public
history and act on it as its reporter (answer, add information, withdraw, rate). Wrong codes are
counted per chat account with the growing wait of every code (DESIGN.md rule 9), or limited per
address in memory on the web, and get the same answer as an unknown reference.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers.cases.refusals import NotAllowed
from handlers.core.work import Work
from kernel import lifecycle
from kernel.messages import WEB_CHANNEL
from storage import access as access_repo
from storage import cases as case_repo
from storage.audit import case_history
from storage.crypto import verify_tracking_code
from storage.models import Case

log = logging.getLogger(__name__)
PASS_LIFETIME = timedelta(minutes=30)
REFERENCE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}-\d{4}-\d{6}$")
# what the reporter sees of a case's history: what was done with it, and what they did
PUBLIC_KINDS = ("received", *(name for name, a in lifecycle.ACTIONS.items() if a.public), "rating")
BY_REPORTER = ("withdraw", "reply", "add_info", "rating")
# what the tracking page may be asked to say after one of the reporter's actions
NOTICES = ("track.added", "track.withdrawn", "track.rated")


@dataclass(frozen=True)
class TrackPass:
    """Proof that its holder gave this case's reference and tracking code a short while ago;
    `channel`: the door they act through (a file they add is kept as from there)."""

    token: str
    channel: str = WEB_CHANNEL


@dataclass(frozen=True)
class LookUp:
    """A look-up's outcome: a pass, or why not (locked until a moment, or not found)."""

    proof: TrackPass | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class PublicEntry:
    kind: str
    at: datetime
    note: str | None
    by_reporter: bool


@dataclass(frozen=True)
class PublicCase:
    case_id: int
    org_id: int
    reference: str
    report_type: str
    category: str
    status: str
    created_at: datetime
    anonymous: bool
    rating: int | None
    entries: tuple[PublicEntry, ...]

    @property
    def is_open(self) -> bool:
        return lifecycle.is_open(self.status)

    @property
    def may_rate(self) -> bool:
        return self.status in lifecycle.TERMINAL_STATES and self.status != "withdrawn" and self.rating is None


async def look_up(work: Work, *, reference: str, code: str, counted_as: str | None = None) -> LookUp:
    """Check a reference and code (the caller commits: a wrong code is counted). `counted_as`: the
    keyed hash of the account asking (a chat), whose wrong codes make its next try wait; the web
    has no account, and keeps no address: its tries are limited in memory (bot/webchat/limits.py).
    Wrong codes are not counted per reference: anyone could then lock a reporter out of their case."""
    if counted_as is not None and (
        locked := await access_repo.locked_until(work.session, counted_as, work.now)
    ):
        return LookUp(locked_until=locked)
    reference = reference.strip().upper()
    case = (
        await case_repo.case_by_reference(work.session, reference) if REFERENCE_RE.match(reference) else None
    )
    stored = case.tracking_hash if case else None
    if case is None or case.id is None or not await asyncio.to_thread(verify_tracking_code, code, stored):
        if counted_as is not None:
            await access_repo.record_failed_attempt(work.session, counted_as, work.now)
        log.info("tracking look-up refused")
        return LookUp()
    if counted_as is not None:
        await access_repo.clear_attempts(work.session, counted_as)
    return LookUp(proof=issue_pass(work, case.id))


def issue_pass(work: Work, case_id: int) -> TrackPass:
    ends = int((work.now + PASS_LIFETIME).timestamp())
    return TrackPass(f"{case_id}.{ends}.{_signature(work, case_id, ends)}")


def case_of(work: Work, proof: TrackPass) -> int:
    """The case a pass opens; `NotAllowed` when it is forged or has ended."""
    case_id, ends, signature = [*proof.token.split("."), "", "", ""][:3]
    if not (case_id.isdigit() and ends.isdigit()):
        raise NotAllowed("track.expired")
    expected = _signature(work, int(case_id), int(ends))
    if not hmac.compare_digest(signature, expected) or int(ends) < work.now.timestamp():
        raise NotAllowed("track.expired")
    return int(case_id)


def _signature(work: Work, case_id: int, ends: int) -> str:
    return work.services.vault.lookup_key("track-pass", str(case_id), str(ends))


async def public_case(work: Work, proof: TrackPass) -> PublicCase:
    """The case as its reporter may see it: status, and each public step with its public note."""
    case_id = case_of(work, proof)
    case = await work.session.get(Case, case_id)
    if case is None:
        raise NotAllowed("track.expired")
    history = await case_history(work.session, work.services.vault, case_id)
    entries = tuple(
        PublicEntry(e.kind, e.at, e.public_note, e.kind in BY_REPORTER)
        for e in history
        if e.kind in PUBLIC_KINDS
    )
    return PublicCase(
        case_id, case.org_id, case.reference, case.report_type, case.category, case.status, case.created_at,
        case.anonymous, case.rating, entries,
    )  # fmt: skip
