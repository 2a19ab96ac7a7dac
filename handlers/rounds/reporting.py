"""The plan's use case: a division reports an item's progress in a round (seed Part 3), with a note
and evidence. Like the case use cases, every door calls it with who acts, and it decides."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Literal

from handlers.cases.refusals import BadInput, NotAllowed, NotFound, WrongState
from handlers.core.work import StaffAccount, Work
from kernel.messages import FileRef
from storage import plan as plan_repo
from storage.models import PlanItem, ProgressReport
from storage.staff import StaffMember, staff_member

log = logging.getLogger(__name__)
ProgressStatus = Literal["done", "in_progress", "not_started"]
PROGRESS_STATUSES: tuple[ProgressStatus, ...] = ("done", "in_progress", "not_started")


def progress_status(value: str) -> ProgressStatus | None:
    """A status as a form or button gives it, if it is one."""
    return next((s for s in PROGRESS_STATUSES if s == value), None)


ROUNDS = ("6m", "12m")
NOTE_MAX = 2000


@dataclass(frozen=True)
class ProgressRecorded:
    report_id: int
    item_code: str
    status: str


async def record_progress(
    work: Work, *, item_id: int, fiscal_year: int, round_name: str, status: ProgressStatus, by: StaffAccount
) -> ProgressRecorded:
    """A new report for the item in the round (the latest made by the due date counts)."""
    item = await plan_item(work, item_id=item_id, by=by)
    if fiscal_year not in plan_repo.years_of(item) or round_name not in ROUNDS:
        raise WrongState("errors.stale_button")
    if status not in ("done", "in_progress", "not_started"):
        raise BadInput("errors.stale_button")
    staff = await _member(work, item, by)
    report = await plan_repo.add_report(
        work.session, item=item, fiscal_year=fiscal_year, round_name=round_name, status=status, note=None,
        evidence=None, actor=staff.label, at=work.now,
    )  # fmt: skip
    assert report.id is not None
    return ProgressRecorded(report.id, item.code, status)


async def add_progress_note(work: Work, *, report_id: int, by: StaffAccount, note: str) -> None:
    report = await _report(work, report_id, by)
    text = note.strip()
    if not text:
        raise BadInput("plan.note_expected")
    report.note = text[:NOTE_MAX]


async def add_progress_evidence(work: Work, *, report_id: int, by: StaffAccount, file: FileRef) -> int:
    """A photo or document as evidence of the report; how many it now has."""
    report = await _report(work, report_id, by)
    evidence = json.loads(report.evidence_json) if report.evidence_json else []
    evidence.append({"kind": file.kind, "file_id": file.file_id, "channel": by.channel})
    report.evidence_json = json.dumps(evidence)
    return len(evidence)


async def plan_item(work: Work, *, item_id: int, by: StaffAccount) -> PlanItem:
    """The item, if `by` may report on it: staff of its division, or a coordinator."""
    item = await work.session.get(PlanItem, item_id)
    if item is None:
        raise NotFound("staff.case_not_found")
    await _member(work, item, by)
    return item


async def _member(work: Work, item: PlanItem, by: StaffAccount) -> StaffMember:
    staff = await staff_member(work.session, org_id=item.org_id, channel=by.channel, user_id=by.user_id)
    if staff is None or not (staff.oversees or item.division_id in staff.division_ids):
        log.warning("progress report refused")
        raise NotAllowed("staff.not_allowed")
    return staff


async def _report(work: Work, report_id: int, by: StaffAccount) -> ProgressReport:
    report = await work.session.get(ProgressReport, report_id)
    if report is None:
        raise NotFound("staff.case_not_found")
    staff = await staff_member(work.session, org_id=report.org_id, channel=by.channel, user_id=by.user_id)
    if staff is None or staff.label != report.actor:  # only who reported adds to it
        log.warning("progress note refused")
        raise NotAllowed("staff.not_allowed")
    return report
