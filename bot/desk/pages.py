"""The desk's pages and forms: each request is one unit of work that calls the use cases."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from aiohttp import web

from bot.desk.requests import (
    COOKIE,
    SECURE_COOKIE,
    notice_of,
    page,
    posted_form,
    refused_page,
    same_origin,
    signed_in,
    unit_of_work,
)
from bot.exports import table_bytes
from handlers.cases import staff_cases
from handlers.cases.cards import category_label
from handlers.cases.desk_dashboard import desk_dashboard
from handlers.cases.desk_inbox import DUE_BANDS, STATES, InboxFilters, desk_inbox
from handlers.cases.desk_sessions import DeskUser, set_language, sign_in, sign_out
from handlers.cases.desk_totp import pass_second_step, start_enrolment
from handlers.cases.refusals import BadInput, NotAllowed, NotFound, Refused, WrongState
from handlers.cases.stats import case_rows, export_header, export_row, summarise, summary_table
from handlers.core.work import Work
from handlers.rounds.desk_plan import plan_overview
from handlers.rounds.reporting import PROGRESS_STATUSES, add_progress_note, progress_status, record_progress
from handlers.staff.case_buttons import staff_action
from kernel import lifecycle
from kernel.deadlines import read_date
from kernel.fiscal import fiscal_year_of, local_day_bounds, round_period
from kernel.i18n import t
from kernel.org_config import REPORT_TYPES, Category, OrgConfig

log = logging.getLogger(__name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
routes = web.RouteTableDef()


@routes.get("/login/{link}")
async def login_page(request: web.Request) -> web.Response:
    # a chat app that previews the link fetches it: only the button's POST uses it up
    return page(request, "login.html", link=request.match_info["link"])


@routes.post("/login/{link}")
async def login(request: web.Request) -> web.Response:
    same_origin(request)
    failed: Refused | None = None
    async with unit_of_work(request) as work:
        try:
            signed = await sign_in(work, link=request.match_info["link"], client=request.remote or "")
        except Refused as refused:  # the wrong try is counted: this unit of work still commits
            failed = refused
    if failed is not None:
        return page(request, "signed_out.html", reason=failed.key)
    response = web.HTTPSeeOther(request.app.router["inbox"].url_for())
    response.set_cookie(
        COOKIE, signed.token, httponly=True, samesite="Lax", secure=request.app[SECURE_COOKIE], path="/desk/"
    )
    raise response


@routes.get("/signed-out", name="signed_out")
async def signed_out(request: web.Request) -> web.Response:
    return page(request, "signed_out.html", reason="desk.signed_out")


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    async with unit_of_work(request) as work:
        user = await signed_in(request, work, second_step=True)  # signing out needs no code
        await posted_form(request, user)
        await sign_out(work, token=request.cookies.get(COOKIE, ""))
    response = web.HTTPSeeOther(request.app.router["signed_out"].url_for())
    response.del_cookie(COOKIE, path="/desk/")
    raise response


@routes.get("/", name="inbox")
async def inbox(request: web.Request) -> web.Response:
    async with unit_of_work(request) as work:
        user = await signed_in(request, work)
        org = work.services.org_of(user.member.org_id)
        filters = InboxFilters.from_query(request.query, org)
        listing = await desk_inbox(work, member=user.member, filters=filters)
    ids = work.services.directory.division_ids
    mine = user.member.division_ids
    divisions = [d for d in org.divisions if user.member.oversees or ids[(org.code, d.code)] in mine]
    return page(
        request, "inbox.html", user, org=org, page=listing, filters=filters, divisions=divisions,
        notice=notice_of(request),
        states=STATES, types=REPORT_TYPES, bands=DUE_BANDS, categories=_categories(org),
    )  # fmt: skip


def _categories(org: OrgConfig) -> list[Category]:
    """Every category once (a code shared by two types of report is one filter)."""
    seen: dict[str, Category] = {}
    for report_type in REPORT_TYPES:
        for category in org.categories.for_type(report_type):
            seen.setdefault(category.code, category)
    return list(seen.values())


@routes.get("/case/{reference}", name="case")
async def case_page(request: web.Request) -> web.Response:
    try:
        async with unit_of_work(request) as work:
            user = await signed_in(request, work)
            view = await staff_cases.view_case(
                work, reference=request.match_info["reference"], by=user.account
            )
            org = work.services.org_of(view.case.org_id)
    except (NotFound, NotAllowed):
        # another division's case looks like no case at all; the use case logged the attempt
        raise web.HTTPNotFound(text="not found") from None
    actions = [(name, lifecycle.ACTIONS[name]) for name in lifecycle.staff_actions_for(view.case.status)]
    lang = user.member.desk_lang
    categories = [(code, category_label(org, view.case.report_type, code, lang)) for code in view.categories]
    return page(
        request, "case.html", user, org=org, view=view, case=view.case, actions=actions,
        transfer_targets=view.transfer_targets, categories=categories, notice=notice_of(request),
    )  # fmt: skip


@routes.get("/case/{reference}/file/{number:\\d+}", name="file")
async def case_file(request: web.Request) -> web.Response:
    """A file of the case, to whoever may see the case: a picture inline, anything else downloaded
    (never rendered by the browser as a page of ours)."""
    try:
        async with unit_of_work(request) as work:
            user = await signed_in(request, work)
            held = await staff_cases.open_file(
                work, reference=request.match_info["reference"], number=int(request.match_info["number"]),
                by=user.account,
            )  # fmt: skip
    except (NotFound, NotAllowed):
        raise web.HTTPNotFound(text="not found") from None
    disposition = "inline" if held.image else "attachment"
    return web.Response(
        body=held.data, content_type=held.image or "application/octet-stream",
        headers={"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(held.name)}"},
    )  # fmt: skip


@routes.post("/case/{case_id:\\d+}/{action}")
async def act(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in lifecycle.STAFF_ACTIONS:
        raise web.HTTPNotFound(text="not found")
    try:
        async with unit_of_work(request) as work:
            user = await signed_in(request, work)
            form = await posted_form(request, user)
            changed = await staff_action(
                work, user.account, action, int(request.match_info["case_id"]), form.get("note", "").strip(),
                form.get("to") or None,
            )  # fmt: skip
    except (NotFound, NotAllowed):
        raise web.HTTPNotFound(text="not found") from None
    except (WrongState, BadInput, Refused) as refused:
        return refused_page(request, refused, user)
    if action == "transfer":  # the case may now be another division's: back to the list
        raise web.HTTPSeeOther(request.app.router["inbox"].url_for().with_query(notice="desk.transferred"))
    target = request.app.router["case"].url_for(reference=changed.reference).with_query(notice="desk.done")
    raise web.HTTPSeeOther(target)


@routes.post("/lang")
async def language(request: web.Request) -> web.Response:
    async with unit_of_work(request) as work:
        user = await signed_in(request, work)
        form = await posted_form(request, user)
        try:
            await set_language(work, user=user, lang=form.get("lang", ""))
        except BadInput:
            pass  # an unknown language: nothing changes
    raise web.HTTPSeeOther(request.app.router["inbox"].url_for())


@routes.get("/exports", name="exports")
async def exports_page(request: web.Request) -> web.Response:
    async with unit_of_work(request) as work:
        user, org = await _coordinator(request, work)
    today = work.now.astimezone(org.tz()).date()
    return page(
        request, "exports.html", user, org=org, today=today.isoformat(),
        year_start=today.replace(month=1, day=1).isoformat(), fiscal_year=fiscal_year_of(today),
    )  # fmt: skip


@routes.get("/exports/cases")
async def export_cases(request: web.Request) -> web.StreamResponse:
    """The CLI's `cases export`: one row per case received in the period, no personal data."""
    fmt = _export_format(request)
    async with unit_of_work(request) as work:
        user, org = await _coordinator(request, work)
        try:
            first = read_date(request.query.get("from", ""))
            last = read_date(request.query.get("to", ""))
        except ValueError:
            raise web.HTTPBadRequest(text=t(user.member.desk_lang, "desk.bad_dates")) from None
        start, end = local_day_bounds(first, last, org.tz())
        rows = await case_rows(work.session, org_id=user.member.org_id, start=start, end=end)
    lang = user.member.desk_lang
    body = table_bytes(
        fmt, export_header(lang), [export_row(r, org, lang) for r in rows], sheet="cases", lang=lang
    )
    return _download(body, f"cases-{org.code}-{first}-{last}.{fmt}", fmt)


@routes.get("/exports/stats")
async def export_stats(request: web.Request) -> web.StreamResponse:
    """The CLI's `stats`: the complaint summary of a fiscal year's 6- or 12-month round."""
    fmt = _export_format(request)
    async with unit_of_work(request) as work:
        user, org = await _coordinator(request, work)
        year, name = request.query.get("fiscal_year", ""), request.query.get("round", "12m")
        try:
            first, last = round_period(int(year), name)
        except ValueError:
            raise web.HTTPBadRequest(text=t(user.member.desk_lang, "desk.bad_round")) from None
        start, end = local_day_bounds(first, last, org.tz())
        summary = await summarise(work.session, org, org_id=user.member.org_id, start=start, end=end)
    lang = user.member.desk_lang
    header = [t(lang, "stats.section"), t(lang, "stats.item"), t(lang, "stats.value")]
    body = table_bytes(fmt, header, summary_table(summary, org, lang), sheet=f"{year}-{name}", lang=lang)
    return _download(body, f"stats-{org.code}-{year}-{name}.{fmt}", fmt)


async def _coordinator(request: web.Request, work: Work) -> tuple[DeskUser, OrgConfig]:
    """Exports cover the whole organisation: coordinators and admins only (others: not found)."""
    user = await signed_in(request, work)
    if not user.member.oversees:
        log.warning("desk export refused")
        raise web.HTTPNotFound(text="not found")
    return user, work.services.org_of(user.member.org_id)


def _export_format(request: web.Request) -> str:
    return "xlsx" if request.query.get("format") == "xlsx" else "csv"


def _download(body: bytes, filename: str, fmt: str) -> web.Response:
    kind = XLSX if fmt == "xlsx" else "text/csv; charset=utf-8"
    return web.Response(
        body=body, headers={"Content-Type": kind, "Content-Disposition": f'attachment; filename="{filename}"'}
    )


@routes.get("/dashboard", name="dashboard")
async def dashboard(request: web.Request) -> web.Response:
    async with unit_of_work(request) as work:
        user = await signed_in(request, work)
        org = work.services.org_of(user.member.org_id)
        board = await desk_dashboard(work, member=user.member)
    return page(request, "dashboard.html", user, org=org, board=board, filters=InboxFilters())


@routes.get("/plan", name="plan")
async def plan_page(request: web.Request) -> web.Response:
    year = request.query.get("fiscal_year", "")
    async with unit_of_work(request) as work:
        user = await signed_in(request, work)
        org = work.services.org_of(user.member.org_id)
        overview = await plan_overview(
            work, member=user.member, fiscal_year=int(year) if year.isdigit() else None,
            round_name=request.query.get("round"),
        )  # fmt: skip
    return page(
        request, "plan.html", user, org=org, plan=overview, statuses=PROGRESS_STATUSES,
        notice=notice_of(request),
    )  # fmt: skip


@routes.post("/plan/report")
async def plan_report(request: web.Request) -> web.Response:
    """The same use case as `/progress` in the chat: a status, and a note if one is given."""
    async with unit_of_work(request) as work:
        user = await signed_in(request, work)
        form = await posted_form(request, user)
        status, round_name = progress_status(form.get("status", "")), form.get("round", "")
        try:
            if status is None or not form.get("item", "").isdigit():
                raise BadInput("errors.stale_button")
            recorded = await record_progress(
                work, item_id=int(form["item"]), fiscal_year=int(form.get("fiscal_year", "0") or 0),
                round_name=round_name, status=status, by=user.account,
            )  # fmt: skip
            if form.get("note", "").strip():
                await add_progress_note(
                    work, report_id=recorded.report_id, by=user.account, note=form["note"]
                )
        except (NotFound, NotAllowed):
            raise web.HTTPNotFound(text="not found") from None
        except Refused as refused:
            failed: Refused | None = refused
        else:
            failed = None
    if failed is not None:
        return refused_page(request, failed, user)
    query = {"fiscal_year": form.get("fiscal_year", ""), "round": round_name, "notice": "desk.saved"}
    raise web.HTTPSeeOther(request.app.router["plan"].url_for().with_query(query))


@routes.get("/totp", name="totp")
async def totp_page(request: web.Request) -> web.Response:
    """The second step: the code from the person's app, or first the enrolment (a QR code)."""
    async with unit_of_work(request) as work:
        user = await signed_in(request, work, second_step=True)
        enrolment = None
        if not user.member.totp_enrolled:
            try:
                enrolment = await start_enrolment(work, user=user)
            except NotAllowed:
                raise web.HTTPNotFound(text="not found") from None
    qr = _qr_data_uri(enrolment.uri) if enrolment else None
    return page(request, "totp.html", user, enrolment=enrolment, qr=qr, error="")


@routes.post("/totp")
async def totp_check(request: web.Request) -> web.Response:
    failed: Refused | None = None
    async with unit_of_work(request) as work:
        user = await signed_in(request, work, second_step=True)
        form = await posted_form(request, user)
        try:
            await pass_second_step(
                work, user=user, token=request.cookies.get(COOKIE, ""), code=form.get("code", "")
            )
        except Refused as refused:  # the wrong code is counted: this unit of work still commits
            failed = refused
    if failed is not None:
        return page(request, "totp.html", user, enrolment=None, qr=None, error=failed.key)
    raise web.HTTPSeeOther(request.app.router["inbox"].url_for())


def _qr_data_uri(uri: str) -> str:
    """The key as a QR code, an SVG inside the page (no request to anyone else)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode()
