"""The reporter's use cases on their own case: answer a question, add information, withdraw, rate.

Whichever door they come through, the reporter is the account the case was reported from (its keyed
hash is on the case), or whoever holds a pass from its reference and tracking code (/track, any
device): anyone else is refused, and a refusal writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from handlers.cases.actions import REPORTER, STAFF_LANG, CaseChanged, record_change
from handlers.cases.delivery import notify_divisions
from handlers.cases.refusals import BadInput, NotAllowed, WrongState
from handlers.cases.search import index_text
from handlers.cases.tracked import TrackPass, case_of
from handlers.core.work import ReporterAccount, Work
from kernel import lifecycle
from kernel.i18n import t
from kernel.messages import FileRef, Media, Reply, acceptable_evidence
from storage import evidence
from storage.audit import append_event
from storage.case_context import CaseContext, add_attachment, load_case_context

log = logging.getLogger(__name__)
COMMENT_MAX = 1000
# whoever may act as a case's reporter: the account it was reported from, or a pass from its code
Reporter = ReporterAccount | TrackPass


@dataclass(frozen=True)
class ReporterCase:
    case_id: int
    reference: str
    status: str


async def own_case(work: Work, *, case_id: int, by: Reporter, open_only: bool = True) -> ReporterCase:
    """The reporter's case as they may act on it (open, unless `open_only` is False)."""
    ctx = await _own(work, case_id, by)
    if open_only and not lifecycle.is_open(ctx.case.status):
        raise WrongState("reporter.case_closed")
    return ReporterCase(ctx.case_id, ctx.case.reference, ctx.case.status)


async def answer(
    work: Work, *, case_id: int, by: Reporter, text: str | None = None, file: FileRef | None = None
) -> CaseChanged:
    """The answer to the question staff asked: the case goes back to investigation."""
    ctx = await _own(work, case_id, by)
    if ctx.case.status != "awaiting_info":
        raise WrongState("lifecycle.not_allowed", state=ctx.case.status, action="reply")
    return await _to_divisions(work, ctx, "reply", text, file, by.channel)


async def add_information(
    work: Work, *, case_id: int, by: Reporter, text: str | None = None, file: FileRef | None = None
) -> CaseChanged:
    """Text, a photo or a document added to an open case; while staff wait for an answer, it is one."""
    ctx = await _own(work, case_id, by)
    if not lifecycle.is_open(ctx.case.status):
        raise WrongState("reporter.case_closed")
    action = "reply" if ctx.case.status == "awaiting_info" else "add_info"
    return await _to_divisions(work, ctx, action, text, file, by.channel)


async def withdraw(work: Work, *, case_id: int, by: Reporter) -> CaseChanged:
    ctx = await _own(work, case_id, by)
    act = _allowed("withdraw", ctx)
    org = work.services.org_of(ctx.case.org_id)
    changed = await record_change(work, org, ctx, action=act, actor=REPORTER)
    text = t(STAFF_LANG, "staff.withdrawn", reference=ctx.case.reference)
    await notify_divisions(
        work.session, work.services, ctx.case, ctx.divisions(), [Reply(text=text)], now=work.now
    )
    return changed


async def rate(work: Work, *, case_id: int, by: Reporter, score: int) -> ReporterCase:
    """From 1 to 5, once, for a case that was closed by staff (not withdrawn)."""
    ctx = await _own(work, case_id, by)
    case = ctx.case
    if case.status not in lifecycle.TERMINAL_STATES or case.status == "withdrawn":
        raise WrongState("errors.stale_button")
    if case.rating is not None:
        raise WrongState("reporter.already_rated")
    if score not in range(1, 6):
        raise BadInput("errors.stale_button")
    case.rating = score
    await _rating_event(work, ctx, score, None)
    return ReporterCase(ctx.case_id, case.reference, case.status)


async def comment_rating(work: Work, *, case_id: int, by: Reporter, comment: str) -> None:
    """A comment after the stars, kept beside the score in the case's history."""
    ctx = await _own(work, case_id, by)
    if ctx.case.rating is None:
        raise WrongState("errors.stale_button")
    text = comment.strip()
    if not text or len(text) > COMMENT_MAX:
        raise BadInput("errors.too_long", max=str(COMMENT_MAX), length=str(len(text)))
    await _rating_event(work, ctx, ctx.case.rating, text)


async def _rating_event(work: Work, ctx: CaseContext, score: int, comment: str | None) -> None:
    await append_event(
        work.session,
        work.services.vault,
        case_id=ctx.case_id,
        org_id=ctx.case.org_id,
        kind="rating",
        actor=REPORTER.label,
        status=ctx.case.status,
        public_note=comment,
        data={"score": score},
        at=work.now,
    )


async def _to_divisions(
    work: Work, ctx: CaseContext, action: str, text: str | None, file: FileRef | None, channel: str
) -> CaseChanged:
    case = ctx.case
    org = work.services.org_of(case.org_id)
    act = _allowed(action, ctx)
    header = t(STAFF_LANG, f"staff.reporter_{action}", reference=case.reference)
    if file is not None:
        if file.size is not None and file.size > org.intake.max_file_mb * 1024 * 1024:
            raise BadInput("errors.file_too_large", mb=str(org.intake.max_file_mb))
        if not acceptable_evidence(file):
            raise BadInput("errors.file_type")
        add_attachment(work.session, ctx, file, channel=channel, vault=work.services.vault)
        files = work.services.files
        if file.sha256 and files is not None:
            await evidence.seal(
                work.session, work.services.vault, files, case_id=ctx.case_id, sha=file.sha256
            )
        message = Reply(media=Media(kind=file.kind, file_id=file.file_id, caption=header))
        note = t(STAFF_LANG, "staff.file_from_reporter")
    else:
        note = (text or "").strip()
        if not note:
            raise BadInput("errors.empty")
        if len(note) > org.intake.description_max_chars:
            raise BadInput(
                "errors.too_long", max=str(org.intake.description_max_chars), length=str(len(note))
            )
        message = Reply(text=f"{header}\n{note}")
        await index_text(work, case_id=ctx.case_id, org_id=case.org_id, text=note)
    codes = ctx.divisions()
    changed = await record_change(work, org, ctx, action=act, actor=REPORTER, note=note)
    await notify_divisions(work.session, work.services, case, codes, [message], now=work.now)
    return changed


async def _own(work: Work, case_id: int, by: Reporter) -> CaseContext:
    ctx = await load_case_context(work.session, case_id)
    if isinstance(by, TrackPass):
        theirs = ctx is not None and case_of(work, by) == case_id
    else:
        theirs = ctx is not None and ctx.case.reporter_key == work.services.vault.lookup_key(
            by.channel, by.user_id
        )
    if ctx is None or not theirs:
        log.warning("reporter action on a case that is not theirs refused")
        raise NotAllowed("reporter.not_yours")
    return ctx


def _allowed(action: str, ctx: CaseContext) -> lifecycle.Action:
    try:
        return lifecycle.allowed(action, ctx.case.status)
    except lifecycle.TransitionRefused as refused:
        raise WrongState(refused.reason, **refused.values) from None
