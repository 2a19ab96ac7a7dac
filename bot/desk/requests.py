"""What every desk request does: its unit of work, who is signed in, a checked form, a page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from handlers.cases.desk_sessions import DeskUser, csrf_matches, desk_user
from handlers.cases.refusals import NotAllowed, Refused
from handlers.core.work import Services, Work
from kernel.i18n import t

log = logging.getLogger(__name__)
SERVICES: web.AppKey[Services] = web.AppKey("desk_services", Services)
SECURE_COOKIE: web.AppKey[bool] = web.AppKey("desk_secure_cookie", bool)
COOKIE = "desk_session"
LANG = "th"  # before signing in: staff of a Thai local government read Thai
# what a page may be asked to say after a redirect; anything else in the address is ignored
NOTICES = ("desk.done", "desk.transferred", "desk.saved", "desk.removed")


@asynccontextmanager
async def unit_of_work(request: web.Request) -> AsyncIterator[Work]:
    """The request's unit of work: committed when the handler returns, rolled back if it raises."""
    services = request.app[SERVICES]
    async with services.db.session(write=True) as session:
        yield Work(session, services, services.clock())
        await session.commit()
    services.on_queued()


async def signed_in(request: web.Request, work: Work, *, second_step: bool = False) -> DeskUser:
    """Who is signed in; a session still owing its second step goes there first (`second_step`:
    this page is that step)."""
    try:
        user = await desk_user(work, token=request.cookies.get(COOKIE, ""))
    except NotAllowed:
        await work.session.commit()  # an ended session stays ended, and is in the sign-in log
        raise web.HTTPSeeOther(request.app.router["signed_out"].url_for()) from None
    if user.second_step_pending and not second_step:
        raise web.HTTPSeeOther(request.app.router["totp"].url_for())
    return user


def same_origin(request: web.Request) -> None:
    """A form posted from another site is refused (with the CSRF token, two locks). Our pages ask
    for no referrer, so a browser sends `Origin: null` with their forms; `Sec-Fetch-Site` still
    tells where a request came from."""
    origin = request.headers.get("Origin", "null")
    fetched_from = request.headers.get("Sec-Fetch-Site", "same-origin")
    foreign_origin = origin != "null" and URL(origin).host != request.url.host
    if foreign_origin or fetched_from not in ("same-origin", "none"):
        log.warning("desk form from another origin refused")
        raise web.HTTPForbidden(text="forbidden")


async def posted_form(request: web.Request, user: DeskUser) -> dict[str, str]:
    """The form's fields, once its origin and CSRF token are checked."""
    same_origin(request)
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not csrf_matches(user, form.get("csrf", "")):
        log.warning("desk form without its CSRF token refused")
        raise web.HTTPForbidden(text="forbidden")
    return form


def notice_of(request: web.Request) -> str:
    notice = request.query.get("notice", "")
    return notice if notice in NOTICES else ""


def page(request: web.Request, template: str, user: DeskUser | None = None, **context: Any) -> web.Response:
    lang = user.member.desk_lang if user is not None else LANG
    return aiohttp_jinja2.render_template(template, request, {"lang": lang, "user": user, **context})


def refused_page(request: web.Request, refused: Refused, user: DeskUser) -> web.Response:
    """Why it cannot be done, in the person's language; nothing was written."""
    lang = user.member.desk_lang
    values = dict(refused.values)
    if "state" in values:
        values["state"] = t(lang, "status." + values["state"])
    if "action" in values:
        values["action"] = t(lang, f"staff.action_{values['action']}")
    return page(request, "refused.html", user, message=t(lang, refused.key, **values))
