"""Shared pieces of the command line: the Typer apps, options and helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.logs import setup_logging
from bot.settings import Settings, SettingsError
from kernel.org_config import ConfigError, OrgConfig
from kernel.org_files import Organisations, load_organisations
from storage.db import AlreadyServed

T = TypeVar("T")

app = typer.Typer(
    help="Damrongtham: a chat desk for grievances and corruption tip-offs.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Organisation files.", no_args_is_help=True)
division_app = typer.Typer(help="Divisions and the chats that receive their cases.", no_args_is_help=True)
coordinators_app = typer.Typer(help="The coordinators' chat.", no_args_is_help=True)
secret_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff, coordinators and administrators.", no_args_is_help=True)
cases_app = typer.Typer(help="Case records.", no_args_is_help=True)
plan_app = typer.Typer(help="The anti-corruption action plan's items.", no_args_is_help=True)
progress_app = typer.Typer(help="Progress reports on plan items.", no_args_is_help=True)
telegram_app = typer.Typer(help="Telegram webhook set-up.", no_args_is_help=True)
line_app = typer.Typer(help="LINE Official Account set-up.", no_args_is_help=True)
privacy_app = typer.Typer(help="PDPA: retention of personal data.", no_args_is_help=True)
round_app = typer.Typer(help="Reporting rounds (6- and 12-month) and their summaries.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(division_app, name="division")
app.add_typer(coordinators_app, name="coordinators")
app.add_typer(secret_app, name="secret")
app.add_typer(audit_app, name="audit")
app.add_typer(staff_app, name="staff")
app.add_typer(cases_app, name="cases")
app.add_typer(plan_app, name="plan")
app.add_typer(progress_app, name="progress")
app.add_typer(round_app, name="round")
app.add_typer(telegram_app, name="telegram")
app.add_typer(line_app, name="line")
app.add_typer(privacy_app, name="privacy")
desk_app = typer.Typer(
    help="The web desk (served by `damrongtham serve` under /desk/).", no_args_is_help=True
)
app.add_typer(desk_app, name="desk")

OrgOption = Annotated[str | None, typer.Option("--org", help="Organisation code (needed with several).")]
ChannelOption = Annotated[str, typer.Option("--channel", help="Chat platform.")]
ChatIdOption = Annotated[str, typer.Option("--chat-id", help="The chat's id on that platform.")]


def fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def load_settings() -> Settings:
    """The settings, every one checked: a bad or missing one stops the command here, named."""
    try:
        settings = Settings()
    except SettingsError as exc:
        raise fail(str(exc)) from exc
    setup_logging(settings.log_level)
    return settings


def load_orgs(settings: Settings) -> Organisations:
    try:
        return load_organisations(settings.config_path)
    except ConfigError as exc:
        raise fail(f"Organisation file error in {exc}") from exc


def pick_org(orgs: Organisations, code: str | None) -> OrgConfig:
    if code is None:
        if orgs.single is None:
            raise fail(
                "Several organisations are configured: add --org CODE "
                f"({', '.join(o.code for o in orgs.all)})."
            )
        return orgs.single
    org = orgs.get(code)
    if org is None:
        raise fail(f"Unknown organisation {code!r}; configured: {', '.join(o.code for o in orgs.all)}.")
    return org


def run_async(coro: object) -> None:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except (SettingsError, AlreadyServed) as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt:
        pass


async def with_db(settings: Settings, orgs: Organisations):  # type: ignore[no-untyped-def]
    from storage import key_ring
    from storage import organisations as org_repo
    from storage.audit import convert_history
    from storage.crypto import Vault
    from storage.db import Database, upgrade_database_async
    from storage.evidence import convert_names

    url = settings.resolved_database_url()
    await upgrade_database_async(url)
    db = Database(url)
    vault = Vault(settings.resolved_secret_key())
    async with db.session(write=True) as session:
        directory = await org_repo.sync_organisations(session, orgs)
        await key_ring.load(session, vault)
        await convert_history(session, vault)
        await convert_names(session, vault)
        await session.commit()
    return db, directory, vault


LangOption = Annotated[str, typer.Option("--lang", help="th or en.")]


def check_format(fmt: str) -> None:
    if fmt not in ("csv", "xlsx"):
        raise fail(f"Unknown format {fmt!r}; use csv or xlsx.")


def emit_table(
    fmt: str,
    output: Path | None,
    stem: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    sheet: str,
    lang: str = "th",
) -> Path | None:
    """The table as every command writes one: CSV to standard output unless `-o` names a file;
    XLSX, a workbook, to `-o` or `<stem>.xlsx`. The file written, if any."""
    from bot.exports import table_bytes, write_table

    check_format(fmt)
    if fmt == "csv" and output is None:
        typer.echo(table_bytes("csv", header, rows, sheet=sheet, lang=lang).decode("utf-8-sig"), nl=False)
        return None
    path = output or Path(f"{stem}.{fmt}")
    write_table(path, header, rows, sheet=sheet, lang=lang)
    return path


def run_with_db(settings: Settings, orgs: Organisations, work: Callable[..., Awaitable[T]]) -> T:
    """Run `work(session, directory, db)` in one transaction that commits when it returns."""

    async def main() -> T:
        db, directory, _vault = await with_db(settings, orgs)
        try:
            async with db.session() as session:
                result = await work(session, directory, db)
                await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(main())


RoundArg = Annotated[str, typer.Argument(help="6m or 12m.")]


def check_round(fiscal_year: int, round_name: str) -> None:
    if round_name not in ("6m", "12m"):
        raise fail(f"Unknown round {round_name!r}; use 6m or 12m.")
    if not 2500 <= fiscal_year <= 2700:
        raise fail(f"{fiscal_year} is not a B.E. fiscal year (e.g. 2569).")
