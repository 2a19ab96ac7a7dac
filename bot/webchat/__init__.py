"""The web chat under /chat/<org>: the same conversation as Telegram and LINE, on our own site.

No account, no phone number, no e-mail. No cookie until the citizen first sends something; then
one random, HttpOnly conversation cookie, which is also the conversation's chat id. The address and
user agent are never stored or logged: the address is a key of the in-memory rate limits only.

Each step is a plain form (works without JavaScript: post, then the page again); htmx, when it
runs, swaps the conversation in place, and chat.js asks for the browser's location only when the
citizen presses that button. Nothing is loaded from another origin.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import replace
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.webchat import figures, track
from bot.webchat.forms import ChatForm, TooLarge, file_kind, read_form
from bot.webchat.limits import WebLimits
from bot.webchat.pages import LIMITS, SECURE_COOKIE, SERVICES, add_static, asked_lang, org_of, public_app
from handlers.core.work import Services
from handlers.engine import Engine
from kernel.i18n import t
from kernel.messages import WEB_CHANNEL, Button, FileRef, Incoming, Reply, on_earth
from kernel.org_config import OrgConfig
from storage import web_chat
from storage.conversations import get_conversation

log = logging.getLogger(__name__)
ENGINE: web.AppKey[Engine] = web.AppKey("chat_engine", Engine)
COOKIE = "conversation"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")
# the receipt in the bot's confirmation: a case reference, then its tracking code
RECEIPT_RE = re.compile(r"\b([A-Z][A-Z0-9]{1,9}-\d{4}-\d{6})\b\D{1,80}?\b(\d{4}(?: \d{4}){3,})\b")

routes = web.RouteTableDef()


def _chat_id(request: web.Request) -> str | None:
    token = request.cookies.get(COOKIE, "")
    return token if TOKEN_RE.fullmatch(token) else None


@routes.get("/{org}", name="chat")
async def chat_page(request: web.Request) -> web.StreamResponse:
    return await _page(request, org_of(request), _chat_id(request))


async def _page(
    request: web.Request,
    org: OrgConfig,
    chat_id: str | None,
    *,
    notice: str | None = None,
    notice_args: dict[str, Any] | None = None,
    kept: str = "",
    status: int = 200,
) -> web.StreamResponse:
    services = request.app[SERVICES]
    lang = asked_lang(request) or "th"
    lines: list[web_chat.WebLine] = []
    if chat_id is not None:
        async with services.db.session(inline=True) as session:
            lines = await web_chat.transcript(session, services.vault, chat_id)
            convo = await get_conversation(
                session, WEB_CHANNEL, services.vault.lookup_key(WEB_CHANNEL, chat_id)
            )
        lang = convo.lang if convo is not None else lang
    context = {
        "lang": lang,
        "org": org,
        "lines": lines,
        "buttons": _live_buttons(lines),
        "receipt": _receipt(lines),
        "nonce": secrets.token_urlsafe(12),
        "notice": t(lang, notice, **(notice_args or {})) if notice else "",
        "kept": kept,
        "started": chat_id is not None,
        "max_mb": org.intake.max_file_mb,
    }
    return aiohttp_jinja2.render_template("chat.html", request, context, status=status)


def _receipt(lines: list[web_chat.WebLine]) -> tuple[str, str] | None:
    """The newest reference and tracking code the bot gave in this conversation, for the receipt."""
    for line in reversed(lines):
        found = RECEIPT_RE.search(line.reply.text) if line.author == "bot" else None
        if found:
            return found.group(1), found.group(2)
    return None


def _live_buttons(lines: list[web_chat.WebLine]) -> list[Button]:
    """The buttons of the bot's last message, unless the citizen has sent something since; the
    contact button is left out (a web page cannot share a phone number: it is typed)."""
    if not lines or lines[-1].author != "bot":
        return []
    for line in reversed(lines):
        if line.author != "bot":
            return []
        if line.reply.buttons:
            return [b for row in line.reply.buttons for b in row if b.kind != "contact"]
    return []


@routes.post("/{org}")
async def chat_post(request: web.Request) -> web.StreamResponse:
    org = org_of(request)
    app, services = request.app, request.app[SERVICES]
    chat_id = _chat_id(request)
    limits, address = app[LIMITS], request.remote or "-"
    try:
        form = await read_form(request, org.intake.max_file_mb * 1024 * 1024)
    except TooLarge as too_large:
        return await _page(
            request, org, chat_id, notice="errors.file_too_large", notice_args={"mb": org.intake.max_file_mb},
            kept=too_large.typed, status=413,
        )  # fmt: skip
    allowed = limits.per_address.allow(address) and (
        limits.per_conversation.allow(chat_id) if chat_id else limits.new_per_address.allow(address)
    )
    if not allowed:
        return await _page(
            request, org, chat_id, notice="webchat.slow_down", kept=form.get("text"), status=429
        )
    new = chat_id is None
    chat_id = chat_id or secrets.token_urlsafe(24)
    incoming, said = await _incoming(services, form, chat_id)
    if incoming is None:
        return await _page(request, org, None if new else chat_id, notice="webchat.empty")
    engine = app[ENGINE]
    if new:
        start = Incoming(
            WEB_CHANNEL, chat_id, chat_id, text=f"/start {org.code}", chosen_lang=form.get("lang") or None
        )
        await engine.handle(start)
    # the form's own nonce is the update's key: a double tap posts it twice and is handled once
    nonce = form.get("nonce")[:40]
    await engine.handle(replace(incoming, echo=said, update_key=f"{chat_id}.{nonce}" if nonce else None))
    # htmx swaps the conversation in from this very answer; a plain form posts, then loads the page
    swapped = request.headers.get("HX-Request") == "true"
    response = await _page(request, org, chat_id) if swapped else _after_post(request, org)
    if new:
        response.set_cookie(
            COOKIE, chat_id, path=f"/chat/{org.code}", httponly=True, samesite="Lax",
            secure=app[SECURE_COOKIE], max_age=90 * 86400,
        )  # fmt: skip
    return response


def _after_post(request: web.Request, org: OrgConfig) -> web.StreamResponse:
    """Post, then the page again (its newest message in view): a reload never posts twice."""
    return web.Response(status=303, headers={"Location": f"/chat/{org.code}#latest"})


async def _incoming(services: Services, form: ChatForm, chat_id: str) -> tuple[Incoming | None, str]:
    """What the form says as the engine takes it, and how the page shows what the citizen sent."""
    base = Incoming(WEB_CHANNEL, chat_id, chat_id)
    text = form.get("text")
    if form.file_data is not None and services.files is not None:
        data, files = form.file_data, services.files
        sha = await asyncio.to_thread(files.put, data)
        kind = file_kind(data, form.file_type)
        ref = FileRef(kind, f"web:{sha}", None, form.file_name, form.file_type, len(data), sha256=sha)
        return replace(base, file=ref, caption=text or None), f"📎 {form.file_name}" + (
            f"\n{text}" if text else ""
        )
    press = form.get("press")
    if press:
        payload, _, label = press.partition(" ")
        return replace(base, payload=payload), label or "✓"
    lat, lon = _number(form.get("lat")), _number(form.get("lon"))
    if lat is not None and lon is not None and on_earth(lat, lon):
        return replace(base, location=(lat, lon)), f"📍 {lat:.5f}, {lon:.5f}"
    if text:
        return replace(base, text=text), text
    return None, ""


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _shown(reply: Reply) -> str:
    """A message as the page writes it: its text, or what its media is."""
    media = reply.media
    if media is None:
        return reply.text
    if media.kind == "location":
        return f"📍 {media.latitude:.5f}, {media.longitude:.5f}"
    return f"📎 {media.caption or ''}".strip()


def webchat_app(services: Services, limits: WebLimits, *, secure_cookie: bool) -> web.Application:
    """The web chat as an aiohttp sub-application, to be added under /chat/."""
    app = public_app(services, limits, secure_cookie=secure_cookie, shown=_shown)
    app[ENGINE] = Engine(services)
    add_static(app)
    app.add_routes(routes)
    return app


def public_apps(services: Services, *, secure_cookie: bool) -> list[tuple[str, web.Application]]:
    """The public pages by their address: the web chat, tracking and the open figures, sharing
    one set of rate limits."""
    limits = WebLimits()
    tracking = public_app(services, limits, secure_cookie=secure_cookie)
    tracking.add_routes(track.routes)
    open_figures = public_app(services, limits, secure_cookie=secure_cookie)
    open_figures.add_routes(figures.routes)
    return [
        ("/chat/", webchat_app(services, limits, secure_cookie=secure_cookie)),
        ("/track", tracking),
        ("/stats", open_figures),
    ]
