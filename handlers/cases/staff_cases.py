"""Staff use cases on a case: accept, investigate, ask the reporter, update them, transfer, close, note,
correct its category.

Every door (a chat group's buttons, the web desk, a script) calls these with who acts; each loads
the case's context once, checks that the actor may act and that the case's state allows it, then
records the change. A refusal raises a `Refused` and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from handlers.cases.actions import Actor, CaseChanged, current_card, named_division, record_change, staff_view
from handlers.cases.delivery import COORDINATORS, deliver_card, division_target
from handlers.cases.refusals import BadInput, NotAllowed, NotFound, WrongState
from handlers.cases.staff_view import CaseForStaff
from handlers.core.work import Services, StaffAccount, Work
from kernel import lifecycle
from kernel.messages import Reply
from kernel.org_config import OrgConfig
from storage import evidence
from storage.audit import HistoryEntry, append_event, case_history, recorded_since
from storage.case_context import CaseContext, hand_over, load_case_context
from storage.cases import case_by_reference
from storage.files import image_type
from storage.staff import StaffMember, province_coordinator, staff_member

log = logging.getLogger(__name__)
NOTE_MAX = 2000
FILE_OPENING_REMEMBERED = timedelta(hours=12)
Outcome = Literal["resolved", "forwarded", "closed_no_action"]
_CLOSING: dict[Outcome, str] = {"resolved": "resolve", "forwarded": "forward", "closed_no_action": "close"}


@dataclass(frozen=True)
class ActionCheck:
    """What a door needs before it asks for a note: the action is allowed, and what it takes."""

    case_id: int
    reference: str
    org_code: str
    needs_note: bool
    public: bool
    # for a transfer: the divisions the case may move to
    transfer_targets: tuple[str, ...] = ()
    # for a change of category: the case's kind of report, and its other categories
    report_type: str = ""
    categories: tuple[str, ...] = ()


async def check_action(work: Work, *, case_id: int, by: StaffAccount, action: str) -> ActionCheck:
    """May `by` take `action` on the case now? Raises a refusal when not; changes nothing."""
    if action not in lifecycle.STAFF_ACTIONS:
        raise NotFound("staff.case_not_found")
    ctx, _staff, org, act = await _open(work, case_id, by, action)
    targets = tuple(transfer_targets(work.services, org, ctx)) if action == "transfer" else ()
    categories = tuple(other_categories(org, ctx)) if action == "recategorise" else ()
    return ActionCheck(
        ctx.case_id, ctx.case.reference, org.code, act.needs_note, act.public, targets,
        ctx.case.report_type, categories,
    )  # fmt: skip


async def accept_case(work: Work, *, case_id: int, by: StaffAccount) -> CaseChanged:
    return await _act(work, case_id, by, "accept")


async def start_investigation(work: Work, *, case_id: int, by: StaffAccount) -> CaseChanged:
    return await _act(work, case_id, by, "investigate")


async def ask_reporter(work: Work, *, case_id: int, by: StaffAccount, question: str) -> CaseChanged:
    return await _act(work, case_id, by, "ask", note=question)


async def send_update(work: Work, *, case_id: int, by: StaffAccount, message: str) -> CaseChanged:
    return await _act(work, case_id, by, "update", note=message)


async def close_case(
    work: Work, *, case_id: int, by: StaffAccount, outcome: Outcome, public_note: str
) -> CaseChanged:
    """Resolved, forwarded to another agency, or closed without action; the reporter reads the note."""
    return await _act(work, case_id, by, _CLOSING[outcome], note=public_note)


async def add_internal_note(work: Work, *, case_id: int, by: StaffAccount, note: str) -> CaseChanged:
    """A note for staff only: it never reaches the reporter."""
    return await _act(work, case_id, by, "note", note=note)


async def transfer_case(work: Work, *, case_id: int, by: StaffAccount, to: str, reason: str) -> CaseChanged:
    """The acting division hands the case to division `to` (a coordinator hands over every
    responsible division); the new division gets the card, the reporter the reason."""
    ctx, staff, org, act = await _open(work, case_id, by, "transfer")
    reason = _note(reason)
    if to not in org.division_codes():
        raise BadInput("staff.unknown_division")
    if ctx.case.report_type == "corruption" and to == org.general_grievance_division:
        raise BadInput("staff.no_corruption_to_general")
    if to in ctx.primary():
        raise BadInput("staff.already_assigned")
    if to not in transfer_targets(work.services, org, ctx):
        raise BadInput("staff.conflict_of_interest")
    giving = list(ctx.primary())
    if not staff.oversees:
        giving = [c for c in giving if ctx.division_ids[c] in staff.division_ids]
    to_id = work.services.directory.division_ids[(org.code, to)]
    await hand_over(work.session, ctx, giving=giving, to=to, to_id=to_id)
    card = current_card(work.services, org, ctx)
    await deliver_card(
        work.session, work.services, org, ctx.case, card, target=division_target(to), role="primary",
        now=work.now,
    )  # fmt: skip
    return await record_change(
        work, org, ctx, action=act, actor=_actor(staff), note=reason, data={"to": to, "from": giving},
        transfer_to=to,
    )  # fmt: skip


async def recategorise_case(work: Work, *, case_id: int, by: StaffAccount, category: str) -> CaseChanged:
    """Staff correct the category the reporter confirmed, within its kind of report. The change is
    in the case's history (from, to) and is the label the suggestion rules are measured against;
    the reporter is not told."""
    ctx, staff, org, act = await _open(work, case_id, by, "recategorise")
    if category not in other_categories(org, ctx):
        raise BadInput("staff.unknown_category")
    before, ctx.case.category = ctx.case.category, category
    return await record_change(
        work, org, ctx, action=act, actor=_actor(staff), data={"from": before, "to": category}
    )


def other_categories(org: OrgConfig, ctx: CaseContext) -> list[str]:
    case = ctx.case
    return [c.code for c in org.categories.for_type(case.report_type) if c.code != case.category]


def transfer_targets(services: Services, org: OrgConfig, ctx: CaseContext) -> list[str]:
    """Divisions a case may move to: never the one the report is about (conflict of interest), never
    the general grievance chat for a corruption tip, never one already responsible."""
    case = ctx.case
    named = named_division(services, ctx)
    return [
        d.code
        for d in org.divisions
        if d.code not in ctx.primary()
        and d.code != named
        and not (case.report_type == "corruption" and d.code == org.general_grievance_division)
    ]


@dataclass(frozen=True)
class StaffCaseView:
    """A case as a staff member may see it: the card with its attachments, and its history."""

    case: CaseForStaff
    card: list[Reply]
    history: list[HistoryEntry]
    # where a transfer may send it (a door lists these only)
    transfer_targets: tuple[str, ...] = ()
    # the categories it may be changed to
    categories: tuple[str, ...] = ()
    # False for a province coordinator looking at another organisation's case: they only see it
    may_act: bool = True


async def view_case(
    work: Work, *, reference: str, by: StaffAccount, group: Collection[tuple[int, str]] | None = None
) -> StaffCaseView:
    """The case with its history; a coordinator's look at an anonymous case is audited.

    `group`: shown in a group chat, what that chat is bound to as (organisation id, target); the case
    is shown there only in a chat of one of its divisions or of the coordinators."""
    found = await case_by_reference(work.session, reference)
    if found is None or found.id is None:
        raise NotFound("staff.case_not_found")
    ctx, staff, org = await _authorised(work, found.id, by, "view")
    if group is not None:
        shown_to = {division_target(c) for c in ctx.divisions()} | {COORDINATORS}
        if not {target for org_id, target in group if org_id == ctx.case.org_id} & shown_to:
            raise NotAllowed("staff.case_here_only")
    card = current_card(work.services, org, ctx)
    history = await case_history(work.session, work.services.vault, ctx.case_id)
    if ctx.case.anonymous and staff.oversees:
        await _audit_view(work, ctx, staff)
    movable = tuple(transfer_targets(work.services, org, ctx))
    return StaffCaseView(
        staff_view(work.services, ctx), card, history, movable, tuple(other_categories(org, ctx)),
        may_act=staff.org_id == ctx.case.org_id,
    )  # fmt: skip


@dataclass(frozen=True)
class HeldFile:
    """A case's file as a door serves it: `image` is set only when the bytes are a picture a
    browser may show inline; anything else is downloaded."""

    name: str
    image: str | None
    data: bytes


async def open_file(work: Work, *, reference: str, number: int, by: StaffAccount) -> HeldFile:
    """One of the case's files we hold, to a person who may see the case; each opening is in the
    case's history."""
    found = await case_by_reference(work.session, reference)
    if found is None or found.id is None:
        raise NotFound("staff.case_not_found")
    ctx, staff, _org = await _authorised(work, found.id, by, "view")
    attachment = next((a for a in ctx.attachments if a.id == number), None)
    files = work.services.files
    sha = attachment.sha256 if attachment is not None else None
    data = (
        await evidence.read_held(work.session, work.services.vault, files, sha, case_id=ctx.case_id)
        if files is not None and sha
        else None
    )
    if attachment is None or data is None:
        raise NotFound("desk.file_not_held")
    # in the history once per person, file and working day: the case page shows photos inline
    opened = {"file": number}
    if not await recorded_since(
        work.session, case_id=ctx.case_id, kind="file_opened", actor=staff.label, data=opened,
        since=work.now - FILE_OPENING_REMEMBERED,
    ):  # fmt: skip
        await append_event(
            work.session,
            work.services.vault,
            case_id=ctx.case_id,
            org_id=ctx.case.org_id,
            kind="file_opened",
            actor=staff.label,
            status=ctx.case.status,
            at=work.now,
            data=opened,
        )
    image = image_type(data)
    extension = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}
    name = (
        evidence.open_name(work.services.vault, attachment.file_name)
        or f"{ctx.case.reference}-{number}{extension.get(image or '', '')}"
    )
    return HeldFile(name, image, data)


async def _audit_view(work: Work, ctx: CaseContext, staff: StaffMember) -> None:
    await append_event(
        work.session,
        work.services.vault,
        case_id=ctx.case_id,
        org_id=ctx.case.org_id,
        kind="viewed",
        actor=staff.label,
        status=ctx.case.status,
        at=work.now,
    )


async def _act(
    work: Work, case_id: int, by: StaffAccount, action: str, *, note: str | None = None
) -> CaseChanged:
    ctx, staff, org, act = await _open(work, case_id, by, action)
    if act.needs_note:
        note = _note(note)
    return await record_change(work, org, ctx, action=act, actor=_actor(staff), note=note)


async def _open(
    work: Work, case_id: int, by: StaffAccount, action: str
) -> tuple[CaseContext, StaffMember, OrgConfig, lifecycle.Action]:
    ctx, staff, org = await _authorised(work, case_id, by, action)
    try:
        act = lifecycle.allowed(action, ctx.case.status)
    except lifecycle.TransitionRefused as refused:
        raise WrongState(refused.reason, **refused.values) from None
    return ctx, staff, org, act


async def _authorised(
    work: Work, case_id: int, by: StaffAccount, action: str
) -> tuple[CaseContext, StaffMember, OrgConfig]:
    """Active staff of a division responsible for the case, or a coordinator or admin of its
    organisation; a division only informed of a case sees it but does not act on it."""
    ctx = await load_case_context(work.session, case_id)
    if ctx is None:
        raise NotFound("staff.case_not_found")
    staff = await staff_member(work.session, org_id=ctx.case.org_id, channel=by.channel, user_id=by.user_id)
    if staff is None and action == "view":  # a province coordinator sees other organisations' cases
        staff = await province_coordinator(work.session, channel=by.channel, user_id=by.user_id)
    if staff is None or not (staff.oversees or staff.division_ids & ctx.primary_ids()):
        log.warning("staff action refused", extra={"action": action, "reference": ctx.case.reference})
        raise NotAllowed("staff.not_allowed")
    return ctx, staff, work.services.org_of(ctx.case.org_id)


def _note(note: str | None) -> str:
    text = (note or "").strip()
    if not text:
        raise BadInput("lifecycle.note_required")
    if len(text) > NOTE_MAX:
        raise BadInput("errors.too_long", max=str(NOTE_MAX), length=str(len(text)))
    return text


def _actor(staff: StaffMember) -> Actor:
    return Actor(staff.label, staff.name, is_staff=True)
