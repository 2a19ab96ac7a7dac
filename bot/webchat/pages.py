"""What every public page (the web chat, tracking, the open figures) shares: its headers, its
templates, the organisation in its address, and the in-memory rate limits."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from fontpkg_sarabun import ROOT as SARABUN

from bot.desk.requests import same_origin
from bot.webchat.limits import WebLimits
from handlers.core.work import Services
from kernel.i18n import LANGUAGES, t
from kernel.org_config import OrgConfig

log = logging.getLogger(__name__)

# nothing from another origin, no inline script or style; the browser's location only for this
# site, and only when the citizen presses the button that asks for it
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SERVICES: web.AppKey[Services] = web.AppKey("public_services", Services)
LIMITS: web.AppKey[WebLimits] = web.AppKey("public_limits", WebLimits)
SECURE_COOKIE: web.AppKey[bool] = web.AppKey("public_secure_cookie", bool)
STATIC = Path(__file__).with_name("static")
HTMX = Path(__file__).parents[1] / "desk" / "static" / "htmx.min.js"
__all__ = [
    "HEADERS",
    "LIMITS",
    "SECURE_COOKIE",
    "SERVICES",
    "asked_lang",
    "org_of",
    "public_app",
    "same_origin",
]


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as http:
        http.headers.update(HEADERS)
        raise
    except Exception:
        # never a bare "500": a polite page, and the error logged with its route (never the path)
        resource = request.match_info.route.resource
        log.exception("public page failed", extra={"route": resource.canonical if resource else "?"})
        response = aiohttp_jinja2.render_template("chat_error.html", request, {"lang": "th"}, status=500)
    response.headers.update(HEADERS)
    return response


def org_of(request: web.Request) -> OrgConfig:
    """The organisation named in the address; a polite 404 page for an unknown one."""
    org = request.app[SERVICES].orgs.get(request.match_info["org"].upper())
    if org is None:
        page = aiohttp_jinja2.render_string("chat_error.html", request, {"lang": "th", "missing": True})
        raise web.HTTPNotFound(text=page, content_type="text/html")
    return org


def asked_lang(request: web.Request) -> str | None:
    lang = request.query.get("lang")
    return lang if lang in LANGUAGES else None


async def _htmx(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(HTMX, headers={"Cache-Control": "public, max-age=86400"})


def public_app(
    services: Services, limits: WebLimits, *, secure_cookie: bool, **globals_: object
) -> web.Application:
    """A public sub-application: its headers, its templates, the shared limits."""
    app = web.Application(middlewares=[_headers])
    app[SERVICES], app[LIMITS], app[SECURE_COOKIE] = services, limits, secure_cookie
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("bot.webchat", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined,
    )  # fmt: skip
    env.globals.update(t=t, **globals_)
    return app


def add_static(app: web.Application) -> None:
    """The pages' own style and script, htmx (vendored once, for the desk), and Sarabun from its
    package for a device without a Thai typeface (a phone has one, and then never fetches it)."""
    app.router.add_get("/static/htmx.min.js", _htmx)
    app.router.add_static("/static/", path=str(STATIC), name="static")
    app.router.add_static("/fonts/", path=str(SARABUN / "files"), name="fonts")
