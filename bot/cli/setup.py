"""Running the bot, the schema, organisation files and keys."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from storage.key_ring import Rotated


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
        from bot.app import build_app, on_own_process_started, run_telegram

        application = await build_app(settings)
        try:
            await run_telegram(application, on_started=on_own_process_started(application))
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
    from storage import key_ring
    from storage.audit import convert_history
    from storage.crypto import Vault
    from storage.db import Database
    from storage.evidence import convert_files, convert_names
    from storage.files import FileStore

    db = Database(url)
    vault = Vault(secret_key)
    try:
        async with db.session(write=True) as session:
            await key_ring.load(session, vault)
            notes = await convert_history(session, vault)
            files = await convert_files(session, vault, FileStore(data_dir / "files", vault))
            await convert_names(session, vault)
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
    telegram_polling: Annotated[
        bool,
        typer.Option(
            "--telegram-polling",
            help="Fetch Telegram's updates by long polling in this process instead of a webhook "
            "(one process on SQLite; no TELEGRAM_WEBHOOK_SECRET needed).",
        ),
    ] = False,
) -> None:
    """The web server: POST /telegram/webhook and /line/webhook, the desk, the web chat (/chat/<ORG>),
    /track, /stats/<ORG>, Open311 (/open311/v2), GET /healthz; GET /metrics on
    --metrics-host:--metrics-port (on the public port only with DAMRONGTHAM_METRICS_TOKEN)."""
    settings = load_settings()
    load_orgs(settings)
    try:  # what serving needs beyond the settings' own checks, before starting anything
        settings.resolved_secret_key()
        if settings.telegram_bot_token and not telegram_polling:
            settings.webhook_secret()
        if settings.line_enabled:
            settings.line_credentials()
    except SettingsError as exc:
        raise fail(str(exc)) from exc

    async def main() -> None:
        from bot.app import build_app, on_own_process_started, run_server

        application = await build_app(settings)
        try:
            await run_server(
                application, host=host, port=port, on_started=on_own_process_started(application),
                metrics_host=metrics_host, metrics_port=metrics_port or None,
                telegram_polling=telegram_polling,
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


@secret_app.command("rotate")
def secret_rotate(
    new_key_file: Annotated[
        Path | None,
        typer.Option(
            "--new-key-file",
            help="The new key: read from this file, or generated and written to it first when it does "
            "not exist. Required when DAMRONGTHAM_SECRET_KEY is set in the environment.",
        ),
    ] = None,
) -> None:
    """Keep everything encrypted with DAMRONGTHAM_SECRET_KEY under a new key, in one transaction.

    Stop every process using the database first, and start them again with the new key: until the
    rotation commits the old key reads everything, and after it nothing."""
    from cryptography.fernet import InvalidToken

    settings = load_settings()
    try:
        old_key = settings.resolved_secret_key()
    except SettingsError as exc:
        raise fail(str(exc)) from exc
    key_file = settings.data_dir / "secret.key"
    in_environment = settings.secret_key.strip() == old_key
    if new_key_file is None and in_environment:
        raise fail(
            "DAMRONGTHAM_SECRET_KEY is set in the environment: give --new-key-file FILE, where the new "
            "key is written before anything changes, then set DAMRONGTHAM_SECRET_KEY to it."
        )
    target = new_key_file or settings.data_dir / "secret.key.new"
    if target.exists():
        new_key = target.read_text().strip()
        try:
            Fernet(new_key.encode())
        except (ValueError, TypeError) as exc:
            raise fail(f"{target} does not hold a key; make one with: damrongtham secret generate") from exc
        if new_key == old_key:
            raise fail(f"{target} holds the current key; a rotation needs a new one.")
    else:
        # kept on disk before the database changes: a stop after the commit never loses it
        new_key = Fernet.generate_key().decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(new_key + "\n")
        target.chmod(0o600)
    try:
        rotated, files = asyncio.run(
            _rotate(settings.resolved_database_url(), old_key, new_key, settings.data_dir)
        )
    except InvalidToken as exc:
        raise fail(
            "A stored value cannot be opened with the current key, so nothing was changed. "
            "Check DAMRONGTHAM_SECRET_KEY is the key this database was written with."
        ) from exc
    typer.echo(
        f"Rotated: {rotated.total} values and {files} files are now under the new key; the case "
        "history and the case files, under their cases' own keys, were not rewritten."
    )
    if in_environment:
        typer.echo(
            f"Set DAMRONGTHAM_SECRET_KEY to the key in {target} and start the processes again: "
            "the old key reads nothing now."
        )
    else:
        if new_key_file is None:
            target.replace(key_file)
        else:
            key_file.write_text(new_key + "\n")
        typer.echo(f"The new key is in {key_file}. Start the processes again.")


async def _rotate(url: str, old_key: str, new_key: str, data_dir: Path) -> tuple[Rotated, int]:
    from datetime import UTC, datetime

    from storage import key_ring
    from storage.crypto import Vault
    from storage.db import Database, upgrade_database_async
    from storage.files import FileStore

    await upgrade_database_async(url)
    db = Database(url)
    old, new = Vault(old_key), Vault(new_key)
    files = FileStore(data_dir / "files", old)
    prepared: list[Path] = []
    try:
        async with db.session(write=True) as session:
            await key_ring.load(session, old)
            rotated = await key_ring.rotate(session, old, new, at=datetime.now(UTC))
            # the files kept under the secret key itself (a draft's, not yet a case's), beside them
            prepared = await asyncio.to_thread(files.rotate, new)
            await session.commit()
    except BaseException:
        FileStore.abandon_rotation(prepared)
        raise
    finally:
        await db.dispose()
    FileStore.finish_rotation(prepared)
    return rotated, len(prepared)
