"""Composition root: settings → organisations → database → engine, outbox and channels."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from bot.logs import log_failed_pass
from bot.outbox import OutboxDispatcher
from bot.outbox.dispatcher import default_instance
from bot.scheduler import build_scheduler
from bot.settings import Settings
from bot.throttle import Throttle
from handlers.cases.delivery import alert_coordinators, alert_undeliverable, held_file
from handlers.core.work import Services
from handlers.engine import Engine
from kernel.org_files import Organisations, load_organisations
from storage import key_ring
from storage import organisations as org_repo
from storage.audit import convert_history
from storage.crypto import Vault
from storage.db import Database, one_server, upgrade_database_async
from storage.evidence import convert_files, convert_names
from storage.files import FileStore
from storage.outbox import OutboxRow

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.channels.line import LineChannel
    from bot.inbox import Inbox

log = logging.getLogger(__name__)
# "DAMP": the advisory lock of the replica that fetches Telegram's updates (PostgreSQL)
POLLING_KEY = 0x44414D50
ELECTION_EVERY = 2.0  # seconds between a waiting replica's tries to become the poller


@dataclass
class App:
    settings: Settings
    orgs: Organisations
    db: Database
    services: Services
    engine: Engine
    dispatcher: OutboxDispatcher
    files: FileStore

    async def close(self) -> None:
        await self.db.dispose()


async def build_app(settings: Settings, *, upgrade: bool = True) -> App:
    orgs = load_organisations(settings.config_path)
    url = settings.resolved_database_url()
    if upgrade:
        await upgrade_database_async(url)
    db = Database(url)
    vault = Vault(settings.resolved_secret_key())
    files = FileStore(settings.data_dir / "files", vault)
    await asyncio.to_thread(files.sweep_ahead)  # a submit's, left by a process that ended mid-turn
    async with db.session(write=True) as session:
        directory = await org_repo.sync_organisations(session, orgs)
        await key_ring.load(session, vault)
        await convert_history(session, vault)
        await convert_files(session, vault, files)
        await convert_names(session, vault)
        await session.commit()
    services = Services(db=db, orgs=orgs, directory=directory, vault=vault, files=files)
    if settings.public_url:
        services.public_url = settings.public_url
    services.config_path = settings.config_path
    # the suggestion rules cut Thai words with a dictionary loaded once per process: loaded now, not
    # on the first citizen's words
    await asyncio.to_thread(lambda: [services.triage(org) for org in orgs.all])
    learned(services, settings.data_dir)
    # one clock for the conversations, the jobs and the outbox
    dispatcher = OutboxDispatcher(
        db,
        vault,
        clock=lambda: services.clock(),
        metrics=services.metrics,
        instance=settings.instance or None,
    )
    services.on_queued = dispatcher.kick

    async def undeliverable(row: OutboxRow) -> None:
        await alert_undeliverable(services, row, services.clock())

    dispatcher.on_undeliverable = undeliverable
    return App(settings, orgs, db, services, Engine(services), dispatcher, files)


def learned(services: Services, data_dir: Path) -> None:
    """An organisation's suggestion model, where `damrongtham triage train` kept one (scikit-learn
    is loaded only then)."""
    from kernel.triage import LearnedTriage, Triage
    from storage.triage_models import load_model, model_path

    for org in services.orgs.all:
        model = load_model(model_path(data_dir, org.code))
        if model is not None:
            services.triages[org.code] = LearnedTriage(Triage(org), model)
            log.info(
                "the suggestion uses the model fitted on the organisation's cases", extra={"org": org.code}
            )


async def run_telegram(
    app: App, *, stop: asyncio.Event | None = None, on_started: Callable[[], None] = lambda: None
) -> None:
    """Long polling (`_run_telegram`), refused at start-up when another process already serves
    Telegram from the same SQLite database."""
    with one_server(app.db.url, "telegram"):
        await _run_telegram(app, stop=stop, on_started=on_started)


async def _run_telegram(app: App, *, stop: asyncio.Event | None, on_started: Callable[[], None]) -> None:
    """Long polling until SIGINT/SIGTERM (or `stop` is set).

    Our own polling loop rather than python-telegram-bot's Updater: each update is stored in the
    inbox before the next getUpdates confirms it, so a process killed mid-update loses nothing
    (the Updater confirms updates it has fetched but not yet handled).
    """
    from bot.channels import telegram as tg
    from bot.inbox import Inbox

    application = _telegram(app)
    signals: list[signal.Signals] = []
    if stop is None:
        stop, signals = _signal_stop()
    inbox = Inbox(app.db, app.services.vault, metrics=app.services.metrics)
    inbox.attach(tg.CHANNEL, _telegram_handler(application), tg.lane)
    await application.initialize()
    tasks: list[asyncio.Task[None]] = []
    scheduler = build_scheduler(app.services)
    try:
        await tg.register_commands(application)
        await application.bot.delete_webhook(drop_pending_updates=False)
        await app.dispatcher.recover()
        tasks = [
            asyncio.create_task(app.dispatcher.run(), name="outbox"),
            asyncio.create_task(inbox.run(), name="inbox"),
            asyncio.create_task(_poll(application, inbox, app.db), name="polling"),
        ]
        scheduler.start()
        on_started()
        log.info("telegram polling started as @%s", application.bot.username)
        await stop.wait()
    finally:
        await scheduler.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig in signals:
            asyncio.get_running_loop().remove_signal_handler(sig)
        await application.shutdown()


async def _poll(application: Application, inbox: Inbox, db: Database) -> None:  # type: ignore[type-arg]
    """Telegram's updates by long polling, fetched by one process at a time: two getUpdates
    terminate each other. On PostgreSQL, where several replicas may run, an advisory lock elects
    the one that polls; the others try again every ELECTION_EVERY seconds, so when the poller dies
    (its connection, and with it the lock, goes) another takes over within that."""
    while db.dialect != "postgresql":  # one process on SQLite: polls, unless Telegram says another does
        await _fetch_updates(application, inbox)
        await asyncio.sleep(ELECTION_EVERY)
    streak = 0  # elections failed in a row (the database out of reach)
    while True:
        try:
            async with db.engine.connect() as conn:
                elected = (
                    await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": POLLING_KEY})
                ).scalar()
                await conn.commit()
                streak = 0
                if elected:
                    log.info("this process fetches Telegram's updates")
                    try:
                        await _fetch_updates(application, inbox)
                    finally:
                        with contextlib.suppress(Exception):  # a dead connection has let go already
                            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": POLLING_KEY})
                            await conn.commit()
        except Exception:
            # updates wait at Telegram (for a day) until a replica is elected again
            streak += 1
            log_failed_pass(log, "polling election", streak)
        await asyncio.sleep(ELECTION_EVERY)


async def _fetch_updates(application: Application, inbox: Inbox) -> None:  # type: ignore[type-arg]
    """Poll until another poller takes over (Telegram answers Conflict), storing each batch."""
    from telegram.error import Conflict, NetworkError, TimedOut

    offset: int | None = None
    while True:
        try:
            updates = await application.bot.get_updates(offset=offset, timeout=25, read_timeout=35)
        except Conflict as exc:  # another poller took over, or a webhook is set
            log.warning("Telegram refused getUpdates (%s); this process pauses polling", exc.message)
            return
        except (TimedOut, NetworkError) as exc:
            log.warning("getUpdates failed (%s); polling again shortly", type(exc).__name__)
            await asyncio.sleep(1)
            continue
        if not updates:
            continue
        # stored (in one transaction) before the next getUpdates, with the new offset, confirms
        # them to Telegram
        try:
            await inbox.store_many("telegram", [(str(u.update_id), u.to_dict()) for u in updates])
        except Exception:
            # The database is out of reach: handled at once instead, the engine answers "please
            # try again in a moment" (straight through the Bot API, as the outbox is out of reach
            # too) and nothing of the drafts changes.
            log.exception("updates not stored; answering them directly", extra={"channel": "telegram"})
            for update in updates:
                await application.process_update(update)
        offset = updates[-1].update_id + 1


def _telegram_handler(application: Application) -> Callable[[dict[str, Any]], Awaitable[None]]:  # type: ignore[type-arg]
    from telegram import Update

    async def handle(payload: dict[str, Any]) -> None:
        await application.process_update(Update.de_json(payload, application.bot))

    return handle


def _telegram(app: App) -> Application:  # type: ignore[type-arg]
    """The Telegram application wired to the engine, and its throttled sender in the outbox."""
    from bot.channels import telegram as tg

    s = app.settings
    application = tg.build_application(
        s.telegram_bot_token, base_url=s.telegram_api_base_url, base_file_url=s.telegram_file_base_url
    )
    tg.attach_engine(application, app.engine, app.files)
    overall, private, group = s.rate_limits()
    throttle = Throttle(overall=overall, private=private, group=group)
    app.dispatcher.senders[tg.CHANNEL] = tg.TelegramSender(
        application, throttle, held=lambda sha: held_file(app.services, sha)
    )
    return application


async def run_server(
    app: App,
    *,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    on_started: Callable[[], None] = lambda: None,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    telegram_polling: bool = False,
) -> None:
    """The web server (`_run_server`), refused at start-up when another process already serves the
    same platform's chats (Telegram, LINE) from the same SQLite database."""
    s = app.settings
    with contextlib.ExitStack() as held:
        for platform, on in (("telegram", bool(s.telegram_bot_token)), ("line", s.line_enabled)):
            if on:
                held.enter_context(one_server(app.db.url, platform))
        await _run_server(
            app, host=host, port=port, stop=stop, ready=ready, on_started=on_started,
            metrics_host=metrics_host, metrics_port=metrics_port, telegram_polling=telegram_polling,
        )  # fmt: skip


async def _run_server(
    app: App,
    *,
    host: str,
    port: int,
    stop: asyncio.Event | None,
    ready: asyncio.Event | None,
    on_started: Callable[[], None],
    metrics_host: str,
    metrics_port: int | None,
    telegram_polling: bool,
) -> None:
    """The web server: Telegram's webhook (when a token is set), LINE's, the desk, the web chat and
    the public pages, health; /metrics on `metrics_host:metrics_port` (and on the public port only
    with DAMRONGTHAM_METRICS_TOKEN). `telegram_polling`: Telegram's updates are fetched by long
    polling in this process instead of a webhook (one process on SQLite, no webhook to set up)."""
    from aiohttp import web

    from bot.channels import telegram as tg
    from bot.inbox import Inbox
    from bot.web import RouteAccessLogger, build_metrics_app, build_web_app

    s = app.settings
    inbox = Inbox(app.db, app.services.vault, metrics=app.services.metrics)
    application = None
    secret = ""
    if s.telegram_bot_token:
        secret = "" if telegram_polling else s.webhook_secret()
        application = _telegram(app)
        await application.initialize()
        await tg.register_commands(application)
        if telegram_polling:
            await application.bot.delete_webhook(drop_pending_updates=False)
        # a webhook's updates are stored as they came and parsed in their lane
        inbox.attach(tg.CHANNEL, _telegram_handler(application), tg.lane)
    line = _attach_line(app, inbox) if s.line_enabled else None
    line_secret = s.line_credentials()[0] if line is not None else ""
    scheduler = build_scheduler(app.services)
    web_app = build_web_app(
        app.services,
        inbox,
        telegram_secret=secret,
        line_secret=line_secret,
        scheduler_alive=lambda: scheduler.running,
        secure_cookie=s.public_url.startswith("https://"),
        metrics_token=s.metrics_token,
    )
    # a body refused unread (late, or too large) is drained for a second at most, then the
    # connection closes, instead of aiohttp's ten
    runner = web.AppRunner(web_app, access_log_class=RouteAccessLogger, lingering_time=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    runners = [runner]
    if metrics_port is not None:
        metrics_runner = web.AppRunner(build_metrics_app(app.services), access_log=None)
        await metrics_runner.setup()
        await web.TCPSite(metrics_runner, metrics_host, metrics_port).start()
        runners.append(metrics_runner)
    if not s.instance:  # several servers may share a machine: each is known by its port too
        app.dispatcher.instance = f"{default_instance()}:{port}"
    await app.dispatcher.recover()
    tasks = [
        asyncio.create_task(app.dispatcher.run(), name="outbox"),
        asyncio.create_task(inbox.run(), name="inbox"),
    ]
    if telegram_polling and application is not None:
        tasks.append(asyncio.create_task(_poll(application, inbox, app.db), name="polling"))
    scheduler.start()
    on_started()
    if stop is None:
        stop, _signals = _signal_stop()
    log.info("serving on http://%s:%d", host, port)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await scheduler.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for each in runners:
            await each.cleanup()
        if application is not None:
            await application.shutdown()
        if line is not None:
            await line.close()


def _attach_line(app: App, inbox: Inbox) -> LineChannel:
    """LINE events go through the inbox to the engine; the outbox sends through LINE's API."""
    from linebot.v3.webhooks import Event

    from bot.channels.line import CHANNEL, LineChannel, lane
    from bot.web import signed_file_url

    s = app.settings
    _secret, token = s.line_credentials()

    async def quota_spent() -> None:
        await alert_coordinators(app.services, "alerts.line_quota")

    line = LineChannel(
        access_token=token,
        api_base_url=s.line_api_base_url,
        data_api_base_url=s.line_data_api_base_url,
        files=app.files,
        db=app.db,
        vault=app.services.vault,
        on_quota=quota_spent,
        file_url=(lambda sha: signed_file_url(app.services, s.public_url, sha))
        if s.public_url
        else (lambda _: None),
    )
    app.dispatcher.senders[CHANNEL] = line

    async def handle_line(event: dict[str, Any]) -> None:
        incoming = await line.to_incoming(Event.from_dict(event))
        if incoming is None:
            return
        outcome = await app.engine.handle(incoming)
        for reply in outcome.undelivered:
            await line.send(incoming.chat_id, reply)

    inbox.attach(CHANNEL, handle_line, lane)
    return line


def on_own_process_started(app: App) -> Callable[[], None]:
    """What the bot's own process (the CLI's `run` and `serve`; not a test's) does once it serves:
    what start-up loaded is frozen (`freeze_startup_objects`), and spare tracking codes are hashed
    from then on (DAMRONGTHAM_TRACKING_CODES_AHEAD), while it has little else to do."""

    def started() -> None:
        freeze_startup_objects()
        app.services.codes.keep_ready(app.settings.tracking_codes_ahead)

    return started


def freeze_startup_objects() -> None:
    """Move everything loaded at start-up (modules, settings, the organisations) out of the garbage
    collector's sight: it lives for the whole run, and each full collection walked all of it, a
    pause of ~35 ms on a small server in the middle of some citizen's turn. For the bot's own
    process only (the CLI): in a test process it would keep earlier tests' objects for good."""
    gc.collect()
    gc.freeze()


def _signal_stop() -> tuple[asyncio.Event, list[signal.Signals]]:
    """An event set by SIGINT or SIGTERM, and the signals it took over."""
    stop, taken = asyncio.Event(), []
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
            loop.add_signal_handler(sig, stop.set)
            taken.append(sig)
    return stop, taken
