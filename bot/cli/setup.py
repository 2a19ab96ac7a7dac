"""Running the bot, the schema, organisation files and keys."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import Annotated

import typer
from cryptography.fernet import Fernet

from bot.cli.common import (
    app,
    config_app,
    db_app,
    fail,
    line_app,
    load_orgs,
    load_settings,
    run_async,
    secret_app,
    telegram_app,
)
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError
from kernel.org_config import ConfigError
from kernel.org_files import load_org_file, load_organisations


@app.command()
def run() -> None:
    """Run the bot on Telegram (long polling). Upgrades the database first."""
    settings = load_settings()
    if not settings.telegram_bot_token:
        raise fail(
            "TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather and set it in the environment "
            "or .env, or try the bot in the terminal with: damrongtham console"
        )
    load_orgs(settings)

    async def main() -> None:
        from bot.app import build_app, freeze_startup_objects, run_telegram

        application = await build_app(settings)
        try:
            await run_telegram(application, on_started=freeze_startup_objects)
        finally:
            await application.close()

    run_async(main())


@app.command()
def console() -> None:
    """Talk to the bot in this terminal (no Telegram token needed)."""
    settings = load_settings()
    log_file = settings.data_dir / "console.log"
    setup_logging(settings.log_level, file=log_file)  # the chat keeps the screen; warnings still show
    logging.getLogger(__name__).info("console chat started")
    load_orgs(settings)

    async def main() -> None:
        from bot.app import build_app
        from bot.channels.console import run_console

        application = await build_app(settings)
        try:
            await run_console(application)
        finally:
            await application.close()

    run_async(main())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from storage.db import schema_revision, upgrade_database

    settings = load_settings()
    url = settings.resolved_database_url()
    before = asyncio.run(schema_revision(url))
    upgrade_database(url)
    after = asyncio.run(schema_revision(url))
    if before is None:
        typer.echo(f"Created the database schema (revision {after}).")
    elif before != after:
        typer.echo(f"Upgraded the database schema from revision {before} to {after}.")
    else:
        typer.echo(f"The database schema is already up to date (revision {after}).")
    notes, files = asyncio.run(_convert_history(url, settings.resolved_secret_key(), settings.data_dir))
    if notes:
        typer.echo(f"Encrypted {notes} notes of the case history, each under its case's own key.")
    if files:
        typer.echo(f"Encrypted {files} evidence files, each under its case's own key.")


async def _convert_history(url: str, secret_key: str, data_dir: Path) -> tuple[int, int]:
    from storage.audit import convert_history
    from storage.crypto import Vault
    from storage.db import Database
    from storage.evidence import convert_files
    from storage.files import FileStore

    db = Database(url)
    vault = Vault(secret_key)
    try:
        async with db.session(write=True) as session:
            notes = await convert_history(session, vault)
            files = await convert_files(session, vault, FileStore(data_dir / "files", vault))
            await session.commit()
            return notes, files
    finally:
        await db.dispose()


@config_app.command("check")
def config_check(
    path: Annotated[Path | None, typer.Argument(help="File to check (default: DAMRONGTHAM_CONFIG).")] = None,
) -> None:
    """Validate organisation files without starting anything."""
    try:
        orgs = [load_org_file(path)] if path else load_organisations(Settings().config_path).all
    except ConfigError as exc:
        raise fail(f"Organisation file error in {exc}") from exc
    for org in orgs:
        typer.echo(
            f"OK {org.code}: {org.name_en} — {len(org.divisions)} divisions, {len(org.routing)} routing rules"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Where /metrics answers (keep it private).")
    ] = "127.0.0.1",
    metrics_port: Annotated[int, typer.Option("--metrics-port", help="Its port (0: none).")] = 9464,
) -> None:
    """The web server: POST /telegram/webhook and /line/webhook, the desk, GET /healthz; GET /metrics
    on --metrics-host:--metrics-port (on the public port only with DAMRONGTHAM_METRICS_TOKEN)."""
    settings = load_settings()
    load_orgs(settings)
    try:  # what serving needs beyond the settings' own checks, before starting anything
        settings.resolved_secret_key()
        if settings.telegram_bot_token:
            settings.webhook_secret()
        if settings.line_enabled:
            settings.line_credentials()
    except SettingsError as exc:
        raise fail(str(exc)) from exc

    async def main() -> None:
        from bot.app import build_app, freeze_startup_objects, run_server

        application = await build_app(settings)
        try:
            await run_server(
                application, host=host, port=port, on_started=freeze_startup_objects,
                metrics_host=metrics_host, metrics_port=metrics_port or None,
            )  # fmt: skip
        finally:
            await application.close()

    run_async(main())


@telegram_app.command("set-webhook")
def telegram_set_webhook(url: str) -> None:
    """Register URL (https://…/telegram/webhook) with Telegram, with TELEGRAM_WEBHOOK_SECRET."""
    settings = load_settings()
    if not settings.telegram_bot_token:
        raise fail("TELEGRAM_BOT_TOKEN is not set.")
    try:
        secret = settings.webhook_secret()
    except SettingsError as exc:
        raise fail(str(exc)) from exc

    async def main() -> None:
        from telegram import Bot

        bot = Bot(settings.telegram_bot_token, base_url=settings.telegram_api_base_url)
        async with bot:
            await bot.set_webhook(url, secret_token=secret, drop_pending_updates=False)

    run_async(main())
    typer.echo(f"Webhook set to {url}.")


@line_app.command("setup")
def line_setup() -> None:
    """Create the LINE rich menu (report corruption, file a grievance, track my case, language)."""
    from importlib import resources

    from bot.channels.line_setup import setup_rich_menu

    settings = load_settings()
    try:
        _secret, token = settings.line_credentials()
    except SettingsError as exc:
        raise fail(str(exc)) from exc
    image = (resources.files("bot") / "assets" / "richmenu.png").read_bytes()
    menu_id = asyncio.run(
        setup_rich_menu(
            access_token=token,
            api_base_url=settings.line_api_base_url,
            data_api_base_url=settings.line_data_api_base_url,
            image=image,
        )
    )
    typer.echo(f"Rich menu {menu_id} created and set as the default.")


@secret_app.command("generate")
def secret_generate(
    webhook: Annotated[bool, typer.Option("--webhook", help="A TELEGRAM_WEBHOOK_SECRET instead.")] = False,
) -> None:
    """Print a new key for DAMRONGTHAM_SECRET_KEY (or a webhook secret)."""
    if webhook:
        typer.echo(secrets.token_urlsafe(32))
        return
    typer.echo(Fernet.generate_key().decode())
