"""The web server (aiohttp): Telegram's and LINE's webhooks, the web desk (/desk/), health and metrics.

Deliveries are checked (secret compared in constant time), size-limited, stored in the inbox and
answered at once; the inbox worker handles them afterwards.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhooks import Event
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from bot.desk import desk_app
from bot.inbox import Inbox
from bot.logs import Outage
from bot.webchat import open311, public_apps
from handlers.cases.delivery import held_file
from handlers.core.work import Services
from storage.files import image_type
from storage.models import HealthProbe, OutboxMessage

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # 1 MB
BODY_SECONDS = 5.0  # a webhook body arrives whole within this (real ones take milliseconds)
UNSIGNED_BYTES = 32 * MAX_BODY  # LINE bodies read at once before their signature is checked
SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
INBOX: web.AppKey[Inbox] = web.AppKey("inbox", Inbox)
SCHEDULER_ALIVE: web.AppKey[Callable[[], bool]] = web.AppKey("scheduler_alive", Callable[[], bool])  # type: ignore[arg-type]
TELEGRAM_SECRET: web.AppKey[str] = web.AppKey("telegram_secret", str)
LINE_PARSER: web.AppKey[WebhookParser] = web.AppKey("line_parser", WebhookParser)
STORE_OUTAGE: web.AppKey[Outage] = web.AppKey("store_outage", Outage)
BODY_BUDGET: web.AppKey[BodyBudget] = web.AppKey("body_budget")


class BodyBudget:
    """The bytes of webhook bodies being read before anything could vouch for them (LINE signs
    the body itself), counted as declared: bounded, so senders that never finish a body cannot
    pin the server's memory. Real deliveries are a few kilobytes and read in milliseconds."""

    def __init__(self, limit: int = UNSIGNED_BYTES) -> None:
        self.limit, self.taken = limit, 0

    def take(self, size: int) -> bool:
        if self.taken + size > self.limit:
            return False
        self.taken += size
        return True

    def give(self, size: int) -> None:
        self.taken -= size


async def _read_body(request: web.Request, budget: BodyBudget | None = None) -> bytes | web.Response:
    """The whole raw body; 413 past 1 MB (checked before reading when the length is declared),
    408 when it does not arrive within BODY_SECONDS, 503 when the budget for unvouched bodies is
    spent (the platform delivers again)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.json_response({"error": "body too large"}, status=413)
    size = request.content_length if request.content_length is not None else MAX_BODY
    if budget is not None and not budget.take(size):
        return web.json_response({"error": "busy, deliver again"}, status=503, headers={"Retry-After": "5"})
    try:
        async with asyncio.timeout(BODY_SECONDS):
            return await request.read()  # aiohttp stops at client_max_size
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"error": "body too large"}, status=413)
    except TimeoutError:
        return web.json_response({"error": "body not received in time"}, status=408)
    except ConnectionResetError:
        # the sender went away mid-body: nobody is left to answer, and it is no error of ours
        log.debug("a webhook sender closed the connection before its body was complete")
        return web.json_response({"error": "connection lost"}, status=400)
    finally:
        if budget is not None:
            budget.give(size)


async def _read_json(request: web.Request) -> dict[str, Any] | web.Response:
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested 200,000 deep
        return web.json_response({"error": "malformed JSON"}, status=400)
    if not isinstance(data, dict):
        return web.json_response({"error": "expected a JSON object"}, status=400)
    return data


async def telegram_webhook(request: web.Request) -> web.Response:
    expected = request.app[TELEGRAM_SECRET]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning("telegram webhook refused: bad or missing secret")
        return web.json_response({"error": "forbidden"}, status=403)
    data = await _read_json(request)
    if isinstance(data, web.Response):
        return data
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):  # true is an int to Python
        return web.json_response({"error": "update_id missing"}, status=400)
    return await _stored(request, "telegram", [(str(update_id), data)])


async def line_webhook(request: web.Request) -> web.Response:
    if not request.headers.get("X-Line-Signature"):  # refused before its body costs anything
        log.warning("line webhook refused: bad or missing signature")
        return web.json_response({"error": "bad signature"}, status=401)
    body = await _read_body(request, request.app[BODY_BUDGET])
    if isinstance(body, web.Response):
        return body
    try:
        # checks the signature over the raw body before parsing anything
        events = request.app[LINE_PARSER].parse(body.decode(), request.headers.get("X-Line-Signature", ""))
    except InvalidSignatureError:
        log.warning("line webhook refused: bad or missing signature")
        return web.json_response({"error": "bad signature"}, status=401)
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        RecursionError,
    ):  # not UTF-8 or JSON, no "events"
        return web.json_response({"error": "malformed body"}, status=400)
    # kinds this SDK does not know are left out: there is nothing we would do with them
    keyed = [(e.webhook_event_id, e.to_dict()) for e in events if isinstance(e, Event)]
    return await _stored(request, "line", keyed)


async def _stored(
    request: web.Request, channel: str, events: list[tuple[str, dict[str, Any]]]
) -> web.Response:
    """Keep the deliveries and say so; when the database cannot take them, 503, and the platform
    delivers them again later. An outage is logged once, not once per delivery."""
    outage = request.app[STORE_OUTAGE]
    try:
        await request.app[INBOX].store_many(channel, events)
    except (SQLAlchemyError, OSError):
        outage.failed()
        return web.json_response({"error": "briefly unavailable, deliver again"}, status=503)
    outage.ended()
    return web.json_response({"ok": True})


def signed_file_url(services: Services, public_url: str, sha: str, *, days: int = 30) -> str:
    expires = int(time.time()) + days * 86400
    signature = services.vault.lookup_key("file", sha, str(expires))
    return f"{public_url.rstrip('/')}/files/{sha}?exp={expires}&sig={signature}"


async def stored_file(request: web.Request) -> web.StreamResponse:
    """Evidence we hold, for LINE's image messages: only with a valid, unexpired signature."""
    sha = request.match_info["sha"]
    expires, signature = request.query.get("exp", ""), request.query.get("sig", "")
    expected = request.app[SERVICES].vault.lookup_key("file", sha, expires)
    if not (expires.isdigit() and int(expires) > time.time() and hmac.compare_digest(signature, expected)):
        return web.json_response({"error": "forbidden"}, status=403)
    data = await held_file(request.app[SERVICES], sha)
    if data is None:
        return web.json_response({"error": "not found"}, status=404)
    return web.Response(body=data, content_type=image_type(data) or "application/octet-stream")


async def _write_probe(services: Services) -> None:
    """A committed write: a full disk or a read-only database answers reads and refuses writes,
    and every delivery with them (a read alone said "ok" through 25 seconds of "disk full")."""
    async with services.db.session(write=True) as session:
        await session.execute(
            update(HealthProbe).where(col(HealthProbe.id) == 1).values(checked_at=services.clock())
        )
        await session.commit()


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    status: dict[str, Any] = {"database": "ok"}
    healthy = True
    try:
        await _write_probe(services)
        backlog, oldest = await _outbox_backlog(services)
        waiting, set_aside = await _inbox_backlog(services)
        status.update(
            outbox_backlog=backlog,
            outbox_oldest_seconds=oldest,
            inbox_backlog=waiting,
            inbox_set_aside=set_aside,
        )
    except Exception as exc:
        healthy = False
        status["database"] = f"unreachable: {type(exc).__name__}"
    alive = request.app[SCHEDULER_ALIVE]()
    status["scheduler"] = "running" if alive else "stopped"
    healthy = healthy and alive
    return web.json_response(
        {"status": "ok" if healthy else "degraded", **status}, status=200 if healthy else 503
    )


async def _inbox_backlog(services: Services) -> tuple[int, int]:
    """Webhook events waiting to be handled, and those set aside after failing (dead letters)."""
    from bot.inbox import MAX_ATTEMPTS
    from storage.models import InboxEvent

    async with services.db.session() as session:
        waiting = (
            await session.execute(
                select(func.count()).where(
                    col(InboxEvent.processed_at).is_(None), col(InboxEvent.attempts) < MAX_ATTEMPTS
                )
            )
        ).scalar_one()
        dead = (
            await session.execute(select(func.count()).where(col(InboxEvent.attempts) >= MAX_ATTEMPTS))
        ).scalar_one()
    return int(waiting), int(dead)


async def _outbox_backlog(services: Services) -> tuple[int, float]:
    async with services.db.session() as session:
        await session.execute(text("SELECT 1"))
        pending = col(OutboxMessage.status).in_(("pending", "sending"))
        count, oldest = (
            await session.execute(select(func.count(), func.min(OutboxMessage.created_at)).where(pending))
        ).one()
    age = 0.0
    if oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
    return int(count), age


async def public_metrics(request: web.Request) -> web.Response:
    """/metrics on the public port: only with the bearer token DAMRONGTHAM_METRICS_TOKEN; without
    one configured it is not there (the metrics port, `serve --metrics-port`, serves it)."""
    token = request.app[METRICS_TOKEN]
    if not token:
        raise web.HTTPNotFound(text="not found")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise web.HTTPUnauthorized(text="unauthorized", headers={"WWW-Authenticate": "Bearer"})
    return await metrics(request)


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    gauges: dict[str, float] = {}
    try:
        backlog, oldest = await _outbox_backlog(services)
        waiting, set_aside = await _inbox_backlog(services)
        gauges.update(
            outbox_backlog=backlog,
            outbox_oldest_age_seconds=oldest,
            inbox_backlog=waiting,
            inbox_set_aside=set_aside,
        )
    except Exception:
        services.metrics.errors["metrics"] += 1
    gauges["up_seconds"] = time.monotonic() - request.app[STARTED]
    gauges["tracking_codes_ready"] = services.codes.ready
    return web.Response(text=services.metrics.render(gauges), content_type="text/plain", charset="utf-8")


STARTED: web.AppKey[float] = web.AppKey("started", float)
METRICS_TOKEN: web.AppKey[str] = web.AppKey("metrics_token", str)


def build_metrics_app(services: Services) -> web.Application:
    """/metrics alone, for a bind address only the monitoring reaches (127.0.0.1 by default)."""
    app = web.Application()
    app[SERVICES], app[STARTED] = services, time.monotonic()
    app.router.add_get("/metrics", metrics)
    return app


class RouteAccessLogger(AbstractAccessLogger):
    """Each request by its route's pattern, never its path: a path can carry a secret (a desk
    sign-in link, a signed file URL) or an identifier."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        route = request.match_info.route.resource if isinstance(request, web.Request) else None
        pattern = route.canonical if route is not None else "(no route)"
        self.logger.info("%s %s %d %.3fs", request.method, pattern, response.status, time)


def build_web_app(
    services: Services,
    inbox: Inbox,
    *,
    telegram_secret: str = "",
    line_secret: str = "",
    scheduler_alive: Callable[[], bool] = lambda: True,
    secure_cookie: bool = False,
    metrics_token: str = "",
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app.add_subapp("/desk/", desk_app(services, secure_cookie=secure_cookie))
    for prefix, public in public_apps(services, secure_cookie=secure_cookie):
        app.add_subapp(prefix, public)
    app.add_subapp("/open311/v2", open311.open311_app(services))
    app[SERVICES], app[INBOX], app[TELEGRAM_SECRET] = services, inbox, telegram_secret
    app[STORE_OUTAGE] = Outage(log, "storing webhook deliveries")
    if services.files is not None:
        app.router.add_get("/files/{sha}", stored_file)
    app[SCHEDULER_ALIVE], app[STARTED] = scheduler_alive, time.monotonic()
    if telegram_secret:
        app.router.add_post("/telegram/webhook", telegram_webhook)
    if line_secret:
        app[LINE_PARSER], app[BODY_BUDGET] = WebhookParser(line_secret), BodyBudget()
        app.router.add_post("/line/webhook", line_webhook)
    app.router.add_get("/healthz", healthz)
    app[METRICS_TOKEN] = metrics_token
    app.router.add_get("/metrics", public_metrics)
    return app
