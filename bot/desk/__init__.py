"""The web desk under /desk/: staff and coordinators work their cases from a browser.

Server-rendered pages (aiohttp-jinja2, autoescaped) that work without JavaScript. Every page and
form goes through the same use cases as the chat's buttons, with the same authorisation: a press
here is the same audit event, reporter message and card edit as the button in the group.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from fontpkg_sarabun import ROOT as SARABUN

from bot.desk import admin, pages
from bot.desk.requests import SECURE_COOKIE, SERVICES
from handlers.cases.cards import category_label
from handlers.core.work import Services
from kernel.deadlines import format_date, format_datetime
from kernel.i18n import t

log = logging.getLogger(__name__)

# no inline script or style, nothing from another origin, never framed
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as http:  # redirects, 404s, 403s: as they are, with the headers
        http.headers.update(HEADERS)
        raise
    except Exception:
        # never a bare "500": a polite page, and the error logged with what it was (not who)
        resource = request.match_info.route.resource
        log.exception("desk page failed", extra={"route": resource.canonical if resource else "?"})
        response = aiohttp_jinja2.render_template(
            "error.html", request, {"lang": "th", "user": None}, status=500
        )
    response.headers.update(HEADERS)
    return response


def desk_app(services: Services, *, secure_cookie: bool) -> web.Application:
    """The desk as an aiohttp sub-application, to be added under /desk/."""
    app = web.Application(middlewares=[_security_headers])
    app[SERVICES], app[SECURE_COOKIE] = services, secure_cookie
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("bot.desk", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined,
    )  # fmt: skip
    env.globals.update(t=t, when=_when, when_day=_when_day, category_label=category_label)
    app.add_routes(pages.routes)
    app.add_routes(admin.routes)
    app.router.add_static("/static/", path=str(_static_dir()), name="static")
    # Sarabun, the typeface of Thai government documents, from its package: no font from elsewhere
    app.router.add_static("/fonts/", path=str(SARABUN / "files"), name="fonts")
    return app


def _when(moment: datetime | None, lang: str, tz: Any) -> str:
    return format_datetime(moment, lang=lang, tz=tz) if moment else "—"


def _when_day(day: date, lang: str, tz: Any) -> str:
    return format_date(datetime.combine(day, time(12), tz), lang=lang, tz=tz)


def _static_dir() -> Any:
    from importlib import resources

    return resources.files("bot.desk") / "static"
