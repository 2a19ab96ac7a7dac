"""`submit_report`: a draft becomes a case, and its notifications are queued in the same transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.cases import cards
from handlers.cases.delivery import COORDINATORS, deliver_card, division_target
from handlers.cases.search import terms
from handlers.cases.staff_view import CaseFile, case_for_staff
from handlers.core.work import Services
from kernel.deadlines import buddhist_year
from kernel.draft import Draft
from kernel.org_config import OrgConfig
from kernel.routing import route_report
from storage import case_keys, evidence
from storage import cases as case_repo
from storage import chats as chat_repo
from storage import search as search_repo
from storage.audit import append_event
from storage.models import Attachment, Case, CaseDivision
from storage.types import fit

log = logging.getLogger(__name__)
_INSERT_DIVISIONS = insert(CaseDivision.__table__)  # type: ignore[attr-defined]
_INSERT_ATTACHMENTS = insert(Attachment.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ReporterInfo:
    channel: str
    chat_id: str
    user_id: str
    lang: str


@dataclass(frozen=True)
class Submitted:
    case_id: int
    reference: str
    tracking_code: str


@dataclass
class Ahead:
    """A submit's slow parts, done before its transaction: the case key its held files are sealed
    under, and the search terms of its description. A citizen's submit is first tried on a session
    that only reads, which stops at the case counter (handlers/engine.py): made then, they are
    kept for the same task's whole run, so SQLite's writer is not held meanwhile (under load,
    sealing a photo in a thread took 3.8 ms at the median with the transaction open, and cutting
    the description into words 1.5 ms)."""

    description: str | None
    shas: frozenset[str]
    key: bytes
    terms: set[str]
    sealed: dict[str, Path]  # a held file's SHA-256 -> its copy under `key`, waiting for the case
    placed: bool = False  # some went into a case's folder: not for another try


_AHEAD: WeakKeyDictionary[asyncio.Task[Any], Ahead] = WeakKeyDictionary()


async def prepare_submit(services: Services, draft: Draft) -> None:
    """The submit's slow parts (`Ahead`) done now, before its first write, and kept for this task's
    `submit_report`; the summary step calls it before anything that stops a read-only try."""
    task = _task()
    shas = frozenset(f.sha256 for f in draft.files if f.sha256)
    kept = _AHEAD.pop(task, None)
    if kept is not None:
        if kept.description == draft.description and kept.shas == shas:
            _keep(task, kept)
            return
        _discard(kept)
    key = case_keys.new_key()
    sealed: dict[str, Path] = {}
    if services.files is not None and shas:
        cipher = case_keys.CaseCipher(key)
        sealed = await asyncio.to_thread(evidence.seal_ahead, services.files, cipher, sorted(shas))
    _keep(task, Ahead(draft.description, shas, key, terms(services.vault, draft.description or ""), sealed))


async def _ahead(services: Services, draft: Draft) -> Ahead:
    """This task's, made for this draft (the try), else made now."""
    await prepare_submit(services, draft)
    return _AHEAD.pop(_task())


def _keep(task: asyncio.Task[Any], ahead: Ahead) -> None:
    _AHEAD[task] = ahead
    task.add_done_callback(_unused)


@contextmanager
def _kept_unless_used(ahead: Ahead) -> Iterator[None]:
    """The block uses it; if it raises (a read-only try stops), the task's next submit gets it."""
    try:
        yield
    except BaseException:
        if ahead.placed:  # under a case number rolled back: a next try seals under a key of its own
            _discard(ahead)
        else:
            _keep(_task(), ahead)
        raise


def _unused(task: asyncio.Task[Any]) -> None:
    ahead = _AHEAD.pop(task, None)
    if ahead is not None:
        _discard(ahead)


def _discard(ahead: Ahead) -> None:
    # sealed under a key never stored: unreadable by anyone, removed all the same
    for path in ahead.sealed.values():
        path.unlink(missing_ok=True)


def _task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None, "a report is submitted in a task"
    return task


def format_reference(org_code: str, be_year: int, seq: int) -> str:
    return f"{org_code}-{be_year}-{seq:06d}"


async def submit_report(
    session: AsyncSession,
    services: Services,
    *,
    org: OrgConfig,
    draft: Draft,
    reporter: ReporterInfo,
    now: datetime,
) -> Submitted:
    if draft.type is None or draft.category is None:
        raise ValueError("a draft without its report type or category cannot be submitted")
    # scrypt is slow by design: usually hashed while the citizen wrote (handlers/tracking_codes.py),
    # else now, but always before taking the case counter's row lock. A turn tried first on a
    # session that only reads stops at the counter and runs again as a whole: its code, never shown
    # or stored, is kept for that second run rather than hashed again with the writer held.
    ahead = await _ahead(services, draft)
    code, tracking_hash = await services.codes.take()
    with services.codes.kept_unless_used(code, tracking_hash), _kept_unless_used(ahead):
        vault, directory = services.vault, services.directory
        org_id = directory.org_ids[org.code]
        be_year = buddhist_year(now, org.tz())
        seq = await case_repo.next_case_number(session, org_id, be_year)
        reference = format_reference(org.code, be_year, seq)
        named, anonymous = draft.named_division, draft.anonymous
        identity: dict[str, Any] = {"chat_id": reporter.chat_id}
        if not anonymous:
            identity.update(
                user_id=reporter.user_id, name=draft.name, phone=draft.phone, contact=draft.contact
            )
        details = {
            "description": draft.description,
            "when": draft.when,
            "where": draft.where,
            "location": list(draft.location) if draft.location else None,
            "people": draft.people,
            "wanted": draft.wanted,
        }
        deadlines, office = org.deadlines, org.office()
        case = Case(
            org_id=org_id,
            reference=reference,
            be_year=be_year,
            seq=seq,
            report_type=draft.type,
            concerns_personnel=draft.concerns or "unsure",
            named_division_id=directory.division_ids[(org.code, named)] if named else None,
            category=draft.category,
            anonymous=anonymous,
            lang=reporter.lang,
            details_enc=vault.encrypt(details),
            reporter_enc=vault.encrypt(identity),
            reporter_channel=reporter.channel,
            reporter_key=vault.lookup_key(reporter.channel, reporter.user_id),
            tracking_hash=tracking_hash,
            created_at=now,
            # every deadline ends at a working day's close: none falls due while the office is shut
            ack_due_at=office.after_working_days(now, deadlines.acknowledge_working_days),
            reply_due_at=office.close_of(now + timedelta(days=deadlines.reply_days)),
            update_due_at=office.close_of(now + timedelta(days=deadlines.update_every_days)),
        )
        route = route_report(
            org,
            report_type=case.report_type,
            concerns_personnel=case.concerns_personnel,
            named_division=named,
        )
        # the rows below, copied onto the case as sync_primary_divisions would, without reading them back
        case.primary_division_ids = case_repo.primary_divisions_text(
            directory.division_ids[(org.code, code)] for code in route.primary
        )
        session.add(case)
        await session.flush()
        assert case.id is not None
        divisions = [
            {"case_id": case.id, "division_id": directory.division_ids[(org.code, div_code)], "role": role}
            for role, codes in (("primary", route.primary), ("informed", route.informed))
            for div_code in codes
        ]
        if divisions:
            await session.execute(_INSERT_DIVISIONS, divisions)
        files = [
            {
                "case_id": case.id,
                "org_id": org_id,
                "kind": f.kind,
                "channel": reporter.channel,
                "file_id": f.file_id,
                "file_unique_id": f.file_unique_id,
                "file_name": evidence.seal_name(services.vault, f.file_name),
                "mime_type": fit(f.mime_type, 100),
                "size": f.size,
                "sha256": f.sha256,
            }
            for f in draft.files
        ]
        if files:
            await session.execute(_INSERT_ATTACHMENTS, files)
        if services.files is not None:  # the files we hold go under the case's own key
            if ahead.sealed:
                await case_keys.adopt(session, vault, case.id, ahead.key)
            for sha in sorted(ahead.shas):
                placed = ahead.sealed.pop(sha, None)
                if placed is not None:
                    ahead.placed = True
                    evidence.place_sealed(session, services.files, placed, case_id=case.id, sha=sha)
                else:  # not held as a draft's file (another case's already): looked for further
                    await evidence.seal(session, vault, services.files, case_id=case.id, sha=sha)
        await append_event(
            session,
            services.vault,
            case_id=case.id,
            org_id=org_id,
            kind="received",
            actor="reporter",
            status="received",
            at=now,
        )
        await search_repo.add_terms(
            session,
            case_id=case.id,
            org_id=org_id,
            terms=ahead.terms,
        )

        view = case_for_staff(
            case, services.vault, [CaseFile.of(f.kind, f.file_id, name=f.file_name) for f in draft.files]
        )
        card = cards.case_card(org, view, route=route)
        bound = await chat_repo.all_bindings(session, org_id)
        for role, codes in (("primary", route.primary), ("informed", route.informed)):
            for div_code in codes:
                await deliver_card(
                    session, services, org, case, card, target=division_target(div_code), role=role, now=now,
                    bound=bound,
                )  # fmt: skip
        if route.coordinators:
            await deliver_card(
                session, services, org, case, card, target=COORDINATORS, role="conflict", now=now, bound=bound
            )
        log.info("case submitted", extra={"reference": reference, "route": route.divisions})
        return Submitted(case.id, reference, code)
