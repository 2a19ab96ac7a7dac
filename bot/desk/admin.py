"""The desk's admin page: staff, invitations, removal, chat bindings, the set-up check and the
sign-in log. Admins only; to anyone else the page does not exist."""

from __future__ import annotations

from aiohttp import web

from bot.desk.requests import notice_of, page, posted_form, refused_page, signed_in, unit_of_work
from handlers.cases.desk_admin import admin_overview, invite, remove_staff
from handlers.cases.desk_sessions import DeskUser
from handlers.cases.refusals import NotAllowed, NotFound, Refused
from handlers.core.work import Work
from storage.staff import ROLES

routes = web.RouteTableDef()


@routes.get("/admin", name="admin")
async def admin_page(request: web.Request) -> web.Response:
    async with unit_of_work(request) as work:
        user = await signed_in(request, work)
        return await _overview(request, work, user, notice=notice_of(request))


@routes.post("/admin/invite")
async def admin_invite(request: web.Request) -> web.Response:
    """The code is shown on this page once, never put in an address."""
    failed: Refused | None = None
    async with unit_of_work(request) as work:
        user = await signed_in(request, work)
        form = await posted_form(request, user)
        try:
            code = await invite(
                work, user=user, role=form.get("role", ""), division=form.get("division") or None
            )
        except (NotFound, NotAllowed):
            raise web.HTTPNotFound(text="not found") from None
        except Refused as refused:
            failed = refused
        else:
            return await _overview(request, work, user, code=code)
    return refused_page(request, failed, user)


@routes.post("/admin/staff/{staff_id:\\d+}/remove")
async def admin_remove(request: web.Request) -> web.Response:
    failed: Refused | None = None
    async with unit_of_work(request) as work:
        user = await signed_in(request, work)
        await posted_form(request, user)
        try:
            await remove_staff(work, user=user, staff_id=int(request.match_info["staff_id"]))
        except (NotFound, NotAllowed):
            raise web.HTTPNotFound(text="not found") from None
        except Refused as refused:
            failed = refused
    if failed is not None:
        return refused_page(request, failed, user)
    raise web.HTTPSeeOther(request.app.router["admin"].url_for().with_query(notice="desk.removed"))


async def _overview(
    request: web.Request, work: Work, user: DeskUser, *, notice: str = "", code: str = ""
) -> web.Response:
    try:
        overview = await admin_overview(work, user=user)
    except NotAllowed:
        raise web.HTTPNotFound(text="not found") from None
    org = work.services.org_of(user.member.org_id)
    return page(
        request, "admin.html", user, org=org, admin=overview, roles=ROLES, notice=notice, code=code,
        tz=org.tz(),
    )  # fmt: skip
