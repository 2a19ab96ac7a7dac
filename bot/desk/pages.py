"""The desk's pages and forms: each request is one unit of work that calls the use cases."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from handlers.cases import staff_cases
from handlers.cases.desk_sessions import DeskUser, csrf_matches, desk_user, sign_in, sign_out
from handlers.cases.refusals import BadInput, NotAllowed, NotFound, Refused, WrongState
from handlers.core.work import Services, Work
from handlers.staff.case_buttons import staff_action
from kernel import lifecycle
from kernel.i18n import t
from storage import cases as case_repo

log = logging.getLogger(__name__)
SERVICES: web.AppKey[Services] = web.AppKey("desk_services", Services)
SECURE_COOKIE: web.AppKey[bool] = web.AppKey("desk_secure_cookie", bool)
COOKIE = "desk_session"
LANG = "th"  # staff of a Thai local government read Thai; an English switch comes with the desk's settings
INBOX_LIMIT = 200
routes = web.RouteTableDef()


@asynccontextmanager
async def _work(request: web.Request) -> AsyncIterator[Work]:
    """The request's unit of work: committed when the handler returns, rolled back if it raises."""
    services = request.app[SERVICES]
    async with services.db.session(write=True) as session:
        yield Work(session, services, services.clock())
        await session.commit()
    services.on_queued()


async def _user(request: web.Request, work: Work) -> DeskUser:
    try:
        return await desk_user(work, token=request.cookies.get(COOKIE, ""))
    except NotAllowed:
        raise web.HTTPSeeOther(request.app.router["signed_out"].url_for()) from None


def _same_origin(request: web.Request) -> None:
    """A form posted from another site is refused (with the CSRF token, two locks). Our pages ask
    for no referrer, so a browser sends `Origin: null` with their forms; `Sec-Fetch-Site` still
    tells where a request came from."""
    origin = request.headers.get("Origin", "null")
    fetched_from = request.headers.get("Sec-Fetch-Site", "same-origin")
    foreign_origin = origin != "null" and URL(origin).host != request.url.host
    if foreign_origin or fetched_from not in ("same-origin", "none"):
        log.warning("desk form from another origin refused")
        raise web.HTTPForbidden(text="forbidden")


async def _form(request: web.Request, user: DeskUser) -> dict[str, str]:
    _same_origin(request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not csrf_matches(user, form.get("csrf", "")):
        log.warning("desk form without its CSRF token refused")
        raise web.HTTPForbidden(text="forbidden")
    return form


def _page(request: web.Request, template: str, **context: Any) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, {"lang": LANG, **context})


@routes.get("/login/{link}")
async def login_page(request: web.Request) -> web.Response:
    # a chat app that previews the link fetches it: only the button's POST uses it up
    return _page(request, "login.html", link=request.match_info["link"])


@routes.post("/login/{link}")
async def login(request: web.Request) -> web.Response:
    _same_origin(request)
    try:
        async with _work(request) as work:
            signed = await sign_in(work, link=request.match_info["link"])
    except NotFound:
        return _page(request, "signed_out.html", reason="desk.link_invalid")
    response = web.HTTPSeeOther(request.app.router["inbox"].url_for())
    response.set_cookie(
        COOKIE, signed.token, httponly=True, samesite="Lax", secure=request.app[SECURE_COOKIE], path="/desk/"
    )
    raise response


@routes.get("/signed-out", name="signed_out")
async def signed_out(request: web.Request) -> web.Response:
    return _page(request, "signed_out.html", reason="desk.signed_out")


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    async with _work(request) as work:
        user = await _user(request, work)
        await _form(request, user)
        await sign_out(work, token=request.cookies.get(COOKIE, ""))
    response = web.HTTPSeeOther(request.app.router["signed_out"].url_for())
    response.del_cookie(COOKIE, path="/desk/")
    raise response


@routes.get("/", name="inbox")
async def inbox(request: web.Request) -> web.Response:
    async with _work(request) as work:
        user = await _user(request, work)
        member = user.member
        divisions = None if member.oversees else set(member.division_ids)
        found = await case_repo.open_cases(work.session, org_id=member.org_id, division_ids=divisions)
        org = work.services.org_of(member.org_id)
    rows = found[:INBOX_LIMIT]
    return _page(
        request, "inbox.html", user=user, org=org, cases=rows, more=len(found) - len(rows), now=work.now
    )


@routes.get("/case/{reference}", name="case")
async def case_page(request: web.Request) -> web.Response:
    try:
        async with _work(request) as work:
            user = await _user(request, work)
            view = await staff_cases.view_case(
                work, reference=request.match_info["reference"], by=user.account
            )
            org = work.services.org_of(view.case.org_id)
    except (NotFound, NotAllowed):
        # another division's case looks like no case at all; the use case logged the attempt
        raise web.HTTPNotFound(text="not found") from None
    actions = [(name, lifecycle.ACTIONS[name]) for name in lifecycle.staff_actions_for(view.case.status)]
    return _page(
        request, "case.html", user=user, org=org, view=view, case=view.case, actions=actions,
        transfer_targets=view.transfer_targets, notice=request.query.get("notice", ""),
    )  # fmt: skip


@routes.post("/case/{case_id:\\d+}/{action}")
async def act(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in lifecycle.STAFF_ACTIONS:
        raise web.HTTPNotFound(text="not found")
    try:
        async with _work(request) as work:
            user = await _user(request, work)
            form = await _form(request, user)
            changed = await staff_action(
                work, user.account, action, int(request.match_info["case_id"]), form.get("note", "").strip(),
                form.get("to") or None,
            )  # fmt: skip
    except (NotFound, NotAllowed):
        raise web.HTTPNotFound(text="not found") from None
    except (WrongState, BadInput, Refused) as refused:
        return await _refused(request, refused)
    target = request.app.router["case"].url_for(reference=changed.reference).with_query(notice="desk.done")
    raise web.HTTPSeeOther(target)


async def _refused(request: web.Request, refused: Refused) -> web.Response:
    values = dict(refused.values)
    if "state" in values:
        values["state"] = t(LANG, "status." + values["state"])
    if "action" in values:
        values["action"] = t(LANG, f"staff.action_{values['action']}")
    return _page(request, "refused.html", message=t(LANG, refused.key, **values))
