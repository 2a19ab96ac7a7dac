"""Progress reporting in chat: `/progress` for division staff, `/summary` for coordinators.

Buttons: `p.i.<item>.<year>.<round>` opens an item, `p.s.<item>.<year>.<round>.<d|i|n>` records
its status, `p.l.<year>.<round>` lists again, `p.x.0` finishes the note. Each press is authorised
again from the staff registry.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import date, datetime, time

from handlers.core.turn import Turn, reply_with
from handlers.plan.chart import bar_chart
from handlers.plan.rounds import Round, build_summary, due_date, open_rounds, unreported
from handlers.plan.summary import summary_text
from kernel.deadlines import format_date
from kernel.i18n import t
from kernel.messages import Button, Media, Reply
from kernel.org_config import OrgConfig
from storage import plan as plan_repo
from storage import staff as staff_repo
from storage.models import PlanItem, ProgressReport, Staff

log = logging.getLogger(__name__)
PROGRESS_COMMANDS = {"progress", "summary"}
STATUS_CODES = {"d": "done", "i": "in_progress", "n": "not_started"}
STATUS_ICON = {"done": "✅", "in_progress": "🟡", "not_started": "⬜", None: "▫️"}


async def _member(turn: Turn) -> tuple[OrgConfig, int, Staff] | None:
    inc = turn.incoming
    for org in turn.services.orgs.all:
        org_id = turn.services.directory.org_ids[org.code]
        staff = await staff_repo.active_staff(
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
    divisions = await staff_repo.staff_division_ids(turn.session, staff.id or 0)
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
        [Button(f"{STATUS_ICON[s]} {i.code} {_title(i, turn.lang)}"[:60], f"p.i.{i.id}.{fiscal_year}.{name}")]
        for i, s in rows
    ]
    turn.replies.append(reply_with(header, *buttons))


def _due_text(org: OrgConfig, due: date, lang: str) -> str:
    return format_date(datetime.combine(due, time(12), org.tz()), lang=lang, tz=org.tz())


def _title(item: PlanItem, lang: str) -> str:
    return item.title_en if lang == "en" else item.title_th


async def _item_for(turn: Turn, item_id: str) -> tuple[PlanItem, Staff] | None:
    item = await turn.session.get(PlanItem, int(item_id)) if item_id.isdigit() else None
    if item is None:
        turn.say("staff.case_not_found")
        return None
    inc = turn.incoming
    staff = await staff_repo.active_staff(
        turn.session, org_id=item.org_id, channel=inc.channel, user_id=inc.user_id
    )
    allowed = staff is not None and (
        staff.role in ("coordinator", "admin")
        or item.division_id in await staff_repo.staff_division_ids(turn.session, staff.id or 0)
    )
    if not allowed or staff is None:
        log.warning("progress report refused")
        turn.say("staff.not_allowed")
        return None
    return item, staff


async def press(turn: Turn) -> None:
    parts = (turn.incoming.payload or "").split(".")
    kind = parts[1] if len(parts) > 1 else ""
    if kind == "x":
        turn.state.pop("progress_note", None)
        return turn.say("plan.report_saved")
    if kind == "l" and len(parts) == 4 and parts[2].isdigit() and parts[3] in ("6m", "12m"):
        member = await _member(turn)
        if member is None:
            return
        org, org_id, staff = member
        divisions = await staff_repo.staff_division_ids(turn.session, staff.id or 0)
        return await _list(turn, org, org_id, divisions, int(parts[2]), parts[3])
    if kind not in ("i", "s") or len(parts) < 5 or not parts[3].isdigit() or parts[4] not in ("6m", "12m"):
        return turn.say("errors.stale_button")
    found = await _item_for(turn, parts[2])
    if found is None:
        return
    item, staff = found
    fiscal_year, name = int(parts[3]), parts[4]
    if fiscal_year not in plan_repo.years_of(item):
        return turn.say("errors.stale_button")
    if kind == "i":
        rows = [
            [Button(turn.text(f"plan.status_{s}"), f"p.s.{item.id}.{fiscal_year}.{name}.{code}")]
            for code, s in STATUS_CODES.items()
        ]
        rows.append([Button(turn.text("plan.back"), f"p.l.{fiscal_year}.{name}")])
        return turn.replies.append(reply_with(f"{item.code} {_title(item, turn.lang)}", *rows))
    status = STATUS_CODES.get(parts[5] if len(parts) > 5 else "")
    if status is None:
        return turn.say("errors.stale_button")
    report = await plan_repo.add_report(
        turn.session, item=item, fiscal_year=fiscal_year, round_name=name, status=status, note=None,
        evidence=None, actor=f"staff:{staff.id}", at=turn.now,
    )  # fmt: skip
    turn.state["progress_note"] = report.id
    turn.replies.append(
        reply_with(
            turn.text("plan.status_saved", code=item.code, status=turn.text(f"plan.status_{status}")),
            [Button(turn.text("answer.done"), "p.x.0")],
            [Button(turn.text("plan.back"), f"p.l.{fiscal_year}.{name}")],
        )
    )
    turn.replies.append(Reply(text=turn.text("staff.reply_here"), force_reply=True))


async def note_or_evidence(turn: Turn) -> None:
    """After a status: a text becomes the report's note, a photo or document its evidence."""
    report = await turn.session.get(ProgressReport, turn.state.get("progress_note") or 0)
    if report is None:
        turn.state.pop("progress_note", None)
        return
    inc = turn.incoming
    if inc.file is not None:
        evidence = json.loads(report.evidence_json) if report.evidence_json else []
        evidence.append({"kind": inc.file.kind, "file_id": inc.file.file_id, "channel": inc.channel})
        report.evidence_json = json.dumps(evidence)
        return turn.say("plan.evidence_saved", count=len(evidence))
    text = (inc.text or "").strip()
    if not text or inc.command:
        return turn.say("plan.note_expected")
    report.note = text[:2000]
    turn.state.pop("progress_note", None)
    turn.say("plan.note_saved")


async def _summary(turn: Turn, org: OrgConfig, org_id: int, staff: Staff, args: list[str]) -> None:
    if staff.role not in ("coordinator", "admin"):
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
