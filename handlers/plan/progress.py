"""Progress reporting in chat: `/progress` for division staff, `/summary` for coordinators.

Buttons (kernel.payloads): `ProgressItem` opens an item, `ProgressStatus` records its status
(d, i or n), `ProgressList` lists again, `ProgressDone` finishes the note. The use case
(handlers.cases.progress) authorises each press again from the staff registry.
"""

from __future__ import annotations

import base64
import logging
from datetime import date, datetime, time

from handlers.cases.refusals import Refused
from handlers.core.turn import Turn, clean_text, reply_with
from handlers.core.work import StaffAccount
from handlers.rounds import reporting as progress_cases
from handlers.rounds.chart import bar_chart
from handlers.rounds.periods import Round, build_summary, due_date, open_rounds, unreported
from handlers.rounds.summary import summary_text
from kernel import payloads
from kernel.deadlines import format_date
from kernel.i18n import t
from kernel.messages import Button, Media, Reply
from kernel.org_config import OrgConfig
from storage import plan as plan_repo
from storage import staff as staff_repo
from storage.models import PlanItem
from storage.staff import StaffMember

log = logging.getLogger(__name__)
PROGRESS_COMMANDS = {"progress", "summary"}
STATUS_CODES: dict[str, progress_cases.ProgressStatus] = {"d": "done", "i": "in_progress", "n": "not_started"}
STATUS_ICON = {"done": "✅", "in_progress": "🟡", "not_started": "⬜", None: "▫️"}


async def _member(turn: Turn) -> tuple[OrgConfig, int, StaffMember] | None:
    inc = turn.incoming
    for org in turn.services.orgs.all:
        org_id = turn.services.directory.org_ids[org.code]
        staff = await staff_repo.staff_member(
            turn.session, org_id=org_id, channel=inc.channel, user_id=inc.user_id
        )
        if staff is not None:
            return org, org_id, staff
    log.warning("progress command refused")
    turn.say("staff.not_allowed")
    return None


def _round_from_args(args: list[str]) -> tuple[int, str] | None:
    if len(args) >= 2 and args[0].isdigit() and args[1] in ("6m", "12m"):
        return int(args[0]), args[1]
    return None


async def _pick_round(
    turn: Turn, org: OrgConfig, org_id: int, args: list[str], divisions: set[int] | None
) -> Round | None:
    chosen = _round_from_args(args)
    if chosen is not None:
        due = await due_date(turn.session, org, org_id, *chosen)
        return Round(chosen[0], chosen[1], due)
    rounds = await open_rounds(turn.session, org, org_id, turn.now.astimezone(org.tz()).date())
    for r in rounds:  # the earliest open round that still waits for these divisions
        if await unreported(turn.session, org_id, r.fiscal_year, r.name, divisions):
            return r
    if rounds:
        return rounds[0]
    turn.say("plan.no_open_round")
    return None


async def command(turn: Turn, name: str, args: list[str]) -> None:
    member = await _member(turn)
    if member is None:
        return
    if name == "summary":
        return await _summary(turn, *member, args)
    org, org_id, staff = member
    divisions = set(staff.division_ids)
    if not divisions:
        return turn.say("plan.no_division")
    r = await _pick_round(turn, org, org_id, args, divisions)
    if r is not None:
        await _list(turn, org, org_id, divisions, r.fiscal_year, r.name)


async def _items_with_status(
    turn: Turn, org_id: int, divisions: set[int], fiscal_year: int, name: str
) -> list[tuple[PlanItem, str | None]]:
    items = [
        i
        for i in await plan_repo.items_in_year(turn.session, org_id, fiscal_year)
        if i.division_id in divisions
    ]
    latest: dict[int, str] = {}
    for report in await plan_repo.reports_for(turn.session, [i.id or 0 for i in items], fiscal_year, name):
        latest[report.item_id] = report.status
    return [(i, latest.get(i.id or 0)) for i in items]


async def _list(
    turn: Turn, org: OrgConfig, org_id: int, divisions: set[int], fiscal_year: int, name: str
) -> None:
    rows = await _items_with_status(turn, org_id, divisions, fiscal_year, name)
    if not rows:
        return turn.say("plan.no_items", year=fiscal_year)
    due = await due_date(turn.session, org, org_id, fiscal_year, name)
    reported = sum(1 for _, s in rows if s is not None)
    header = turn.text(
        "plan.progress_title", year=fiscal_year, round=turn.text(f"plan.round_{name}"),
        due=_due_text(org, due, turn.lang), reported=reported, items=len(rows),
    )  # fmt: skip
    buttons = [
        [
            Button(
                f"{STATUS_ICON[s]} {i.code} {_title(i, turn.lang)}"[:60],
                payloads.ProgressItem(i.id or 0, fiscal_year, name).data,
            )
        ]
        for i, s in rows
    ]
    turn.replies.append(reply_with(header, *buttons))


def _due_text(org: OrgConfig, due: date, lang: str) -> str:
    return format_date(datetime.combine(due, time(12), org.tz()), lang=lang, tz=org.tz())


def _title(item: PlanItem, lang: str) -> str:
    return item.title_en if lang == "en" else item.title_th


async def press(turn: Turn) -> None:
    pressed = payloads.parse(turn.incoming.payload or "")
    if isinstance(pressed, payloads.ProgressDone):
        turn.state.pop("progress_note", None)
        return turn.say("plan.report_saved")
    if isinstance(pressed, payloads.ProgressList):
        member = await _member(turn)
        if member is None:
            return
        org, org_id, staff = member
        return await _list(turn, org, org_id, set(staff.division_ids), pressed.fiscal_year, pressed.round)
    work, by = turn.work, StaffAccount(turn.incoming.channel, turn.incoming.user_id)
    try:
        if isinstance(pressed, payloads.ProgressItem):
            item = await progress_cases.plan_item(work, item_id=pressed.item_id, by=by)
            if pressed.fiscal_year not in plan_repo.years_of(item):
                return turn.say("errors.stale_button")
            return _statuses(turn, item, pressed.fiscal_year, pressed.round)
        if not isinstance(pressed, payloads.ProgressStatus) or pressed.status not in STATUS_CODES:
            return turn.say("errors.stale_button")
        recorded = await progress_cases.record_progress(
            work, item_id=pressed.item_id, fiscal_year=pressed.fiscal_year, round_name=pressed.round,
            status=STATUS_CODES[pressed.status], by=by,
        )  # fmt: skip
    except Refused as refused:
        return turn.say(refused.key, **refused.values)
    turn.state["progress_note"] = recorded.report_id
    back = payloads.ProgressList(pressed.fiscal_year, pressed.round).data
    turn.replies.append(
        reply_with(
            turn.text(
                "plan.status_saved",
                code=recorded.item_code,
                status=turn.text(f"plan.status_{recorded.status}"),
            ),
            [Button(turn.text("answer.done"), payloads.ProgressDone().data)],
            [Button(turn.text("plan.back"), back)],
        )
    )
    turn.replies.append(Reply(text=turn.text("staff.reply_here"), force_reply=True))


def _statuses(turn: Turn, item: PlanItem, fiscal_year: int, name: str) -> None:
    assert item.id is not None
    rows = [
        [
            Button(
                turn.text(f"plan.status_{s}"), payloads.ProgressStatus(item.id, fiscal_year, name, code).data
            )
        ]
        for code, s in STATUS_CODES.items()
    ]
    rows.append([Button(turn.text("plan.back"), payloads.ProgressList(fiscal_year, name).data)])
    turn.replies.append(reply_with(f"{item.code} {_title(item, turn.lang)}", *rows))


async def note_or_evidence(turn: Turn) -> None:
    """After a status: a text becomes the report's note, a photo or document its evidence."""
    inc = turn.incoming
    work, by = turn.work, StaffAccount(inc.channel, inc.user_id)
    report_id = turn.state.get("progress_note") or 0
    try:
        if inc.file is not None:
            count = await progress_cases.add_progress_evidence(
                work, report_id=report_id, by=by, file=inc.file
            )
            return turn.say("plan.evidence_saved", count=count)
        text = clean_text(inc.text or "")
        if not text or inc.command:
            return turn.say("plan.note_expected")
        await progress_cases.add_progress_note(work, report_id=report_id, by=by, note=text)
    except Refused:
        turn.state.pop("progress_note", None)
        return None
    turn.state.pop("progress_note", None)
    turn.say("plan.note_saved")


async def _summary(turn: Turn, org: OrgConfig, org_id: int, staff: StaffMember, args: list[str]) -> None:
    if not staff.oversees:
        log.warning("summary refused")
        return turn.say("plan.coordinators_only")
    lang = "en" if "en" in args else turn.lang
    r = await _pick_round(turn, org, org_id, args, None)
    if r is None:
        return
    directory = turn.services.directory
    codes = {div_id: code for (oc, code), div_id in directory.division_ids.items() if oc == org.code}
    summary = await build_summary(turn.session, org, org_id, codes, r.fiscal_year, r.name, turn.now)
    turn.replies.append(Reply(text=summary_text(summary, org, lang, thai_digits="thai" in args)))
    bars = [
        (
            t(lang, "plan.dimension_label", number=d.number, name=org.plan.dimension(d.number).name(lang)),
            d.percent,
        )
        for d in summary.dimensions
    ]
    title = t(
        lang,
        "plan.summary_title",
        year=r.fiscal_year,
        round=t(lang, f"plan.round_{r.name}"),
        org=org.name(lang),
    )
    png = bar_chart(title, bars, (t(lang, "plan.overall"), summary.percent))
    media = Media(kind="photo", data_b64=base64.b64encode(png).decode(), file_name=f"summary-{r.key}.png")
    turn.replies.append(Reply(media=media))
