"""What every public page (the web chat, tracking, the open figures) shares: its headers and files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

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
STATIC = Path(__file__).with_name("static")
HTMX = Path(__file__).parents[1] / "desk" / "static" / "htmx.min.js"


async def _htmx(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(HTMX, headers={"Cache-Control": "public, max-age=86400"})


def add_static(app: web.Application) -> None:
    """The page's own style and script, and htmx (vendored once, for the desk)."""
    app.router.add_get("/static/htmx.min.js", _htmx)
    app.router.add_static("/static/", path=str(STATIC), name="static")
