"""Running the bot, the schema, organisation files and keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.fernet import Fernet

from bot.cli.common import (
    app,
    config_app,
    db_app,
    fail,
    load_orgs,
    load_settings,
    run_async,
    secret_app,
)
from bot.org_config import ConfigError, load_org_file, load_organisations
from bot.settings import Settings


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
        from bot.app import build_app, run_telegram

        application = await build_app(settings)
        try:
            await run_telegram(application)
        finally:
            await application.close()

    run_async(main())


@app.command()
def console() -> None:
    """Talk to the bot in this terminal (no Telegram token needed)."""
    settings = load_settings()
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
    from storage.db import upgrade_database

    settings = load_settings()
    upgrade_database(settings.resolved_database_url())
    typer.echo("Database is up to date.")


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


@secret_app.command("generate")
def secret_generate() -> None:
    """Print a new key for DAMRONGTHAM_SECRET_KEY."""
    typer.echo(Fernet.generate_key().decode())
