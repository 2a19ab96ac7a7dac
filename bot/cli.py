"""The `damrongtham` command line (Typer)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from cryptography.fernet import Fernet

from bot.logs import setup_logging
from bot.org_config import ConfigError, Organisations, OrgConfig, load_org_file, load_organisations
from bot.settings import Settings, SettingsError
from handlers.bindings import binding_conflict
from storage.staff import ROLES, add_staff, create_code, deactivate_staff, list_staff

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

OrgOption = Annotated[str | None, typer.Option("--org", help="Organisation code (needed with several).")]
ChannelOption = Annotated[str, typer.Option("--channel", help="Chat platform.")]
ChatIdOption = Annotated[str, typer.Option("--chat-id", help="The chat's id on that platform.")]


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _settings() -> Settings:
    settings = Settings()
    setup_logging(settings.log_level)
    return settings


def _orgs(settings: Settings) -> Organisations:
    try:
        return load_organisations(settings.config_path)
    except ConfigError as exc:
        raise _fail(f"Organisation file error in {exc}") from exc


def _pick_org(orgs: Organisations, code: str | None) -> OrgConfig:
    if code is None:
        if orgs.single is None:
            raise _fail(
                "Several organisations are configured: add --org CODE "
                f"({', '.join(o.code for o in orgs.all)})."
            )
        return orgs.single
    org = orgs.get(code)
    if org is None:
        raise _fail(f"Unknown organisation {code!r}; configured: {', '.join(o.code for o in orgs.all)}.")
    return org


@app.command()
def run() -> None:
    """Run the bot on Telegram (long polling). Upgrades the database first."""
    settings = _settings()
    if not settings.telegram_bot_token:
        raise _fail(
            "TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather and set it in the environment "
            "or .env, or try the bot in the terminal with: damrongtham console"
        )
    _orgs(settings)

    async def main() -> None:
        from bot.app import build_app, run_telegram

        application = await build_app(settings)
        try:
            await run_telegram(application)
        finally:
            await application.close()

    _run(main())


@app.command()
def console() -> None:
    """Talk to the bot in this terminal (no Telegram token needed)."""
    settings = _settings()
    _orgs(settings)

    async def main() -> None:
        from bot.app import build_app
        from bot.channels.console import run_console

        application = await build_app(settings)
        try:
            await run_console(application)
        finally:
            await application.close()

    _run(main())


def _run(coro: object) -> None:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except SettingsError as exc:
        raise _fail(str(exc)) from exc
    except KeyboardInterrupt:
        pass


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from storage.db import upgrade_database

    settings = _settings()
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
        raise _fail(f"Organisation file error in {exc}") from exc
    for org in orgs:
        typer.echo(
            f"OK {org.code}: {org.name_en} — {len(org.divisions)} divisions, {len(org.routing)} routing rules"
        )


async def _with_db(settings: Settings, orgs: Organisations):  # type: ignore[no-untyped-def]
    from storage import repositories as repo
    from storage.crypto import Vault
    from storage.db import Database, upgrade_database_async

    url = settings.resolved_database_url()
    await upgrade_database_async(url)
    db = Database(url)
    async with db.session() as session:
        directory = await repo.sync_organisations(session, orgs)
        await session.commit()
    return db, directory, Vault(settings.resolved_secret_key())


def _bind(org_code: str | None, target_code: str | None, channel: str, chat_id: str) -> None:
    settings = _settings()
    orgs = _orgs(settings)
    org = _pick_org(orgs, org_code)
    if target_code is not None and target_code not in org.division_codes():
        raise _fail(f"Unknown division {target_code!r}; known: {', '.join(org.division_codes())}.")
    if channel not in ("telegram", "console"):
        raise _fail(f"Unknown channel {channel!r}; use telegram.")
    target = f"division:{target_code}" if target_code else "coordinators"

    async def main() -> int:
        from storage import repositories as repo

        db, directory, vault = await _with_db(settings, orgs)
        try:
            async with db.session() as session:
                org_id = directory.org_ids[org.code]
                others = {
                    b.target
                    for b in await repo.bindings_of_chat(session, channel, chat_id)
                    if b.org_id == org_id
                }
                if binding_conflict(org, target, others):
                    raise _fail(
                        "Refused: this chat would receive both general grievances and corruption tip-offs. "
                        "Corruption tip-offs need a chat of their own."
                    )
                released = await repo.bind_chat(
                    session,
                    org_id=org_id,
                    target=target,
                    division_id=directory.division_ids[(org.code, target_code)] if target_code else None,
                    channel=channel,
                    chat_id=chat_id,
                    vault=vault,
                )
                await session.commit()
                return released
        finally:
            await db.dispose()

    released = asyncio.run(main())
    typer.echo(
        f"Bound {target} of {org.code} to {channel} chat {chat_id}; {released} waiting message(s) released."
    )


@division_app.command("bind")
def division_bind(
    code: str, chat_id: ChatIdOption, channel: ChannelOption = "telegram", org: OrgOption = None
) -> None:
    """Send a division's cases to a chat (its staff group)."""
    _bind(org, code, channel, chat_id)


@coordinators_app.command("bind")
def coordinators_bind(
    chat_id: ChatIdOption, channel: ChannelOption = "telegram", org: OrgOption = None
) -> None:
    """Send coordinators' alerts and conflict-of-interest cases to a chat."""
    _bind(org, None, channel, chat_id)


@division_app.command("list")
def division_list(org: OrgOption = None) -> None:
    """Divisions and their bound chats."""
    settings = _settings()
    orgs = _orgs(settings)
    chosen = [_pick_org(orgs, org)] if org or orgs.single else orgs.all

    async def main() -> None:
        from storage import repositories as repo

        db, directory, _vault = await _with_db(settings, orgs)
        try:
            async with db.session() as session:
                for o in chosen:
                    bindings = await repo.all_bindings(session, directory.org_ids[o.code])
                    by_target: dict[str, list[str]] = {}
                    for b in bindings:
                        by_target.setdefault(b.target, []).append(f"{b.channel}:{b.chat_id}")
                    typer.echo(f"{o.code} {o.name_en}")
                    for d in o.divisions:
                        chats = ", ".join(by_target.get(f"division:{d.code}", [])) or "(no chat bound)"
                        typer.echo(f"  {d.code:<12} {d.name_th} / {d.name_en}  →  {chats}")
                    coord = ", ".join(by_target.get("coordinators", [])) or "(no chat bound)"
                    typer.echo(f"  {'coordinators':<12} →  {coord}")
        finally:
            await db.dispose()

    asyncio.run(main())


CODE_TTL = timedelta(days=7)


def _staff_target(org: OrgConfig, division: str | None, role: str) -> str:
    if role not in ROLES:
        raise _fail(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    if division is None:
        if role == "staff":
            raise _fail("Staff need a division: add --division CODE (coordinators and admins need none).")
        return "none"
    if division not in org.division_codes():
        raise _fail(f"Unknown division {division!r}; known: {', '.join(org.division_codes())}.")
    return f"division:{division}"


@staff_app.command("add")
def staff_add(
    user_id: Annotated[str, typer.Option("--user-id", help="The person's user id on the platform.")],
    channel: ChannelOption = "telegram",
    division: Annotated[str | None, typer.Option("--division", help="Division code.")] = None,
    role: Annotated[str, typer.Option("--role", help="staff, coordinator or admin.")] = "staff",
    name: Annotated[str | None, typer.Option("--name", help="Name shown on case cards.")] = None,
    org: OrgOption = None,
) -> None:
    """Register a staff member (or add a division to one)."""
    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)
    target = _staff_target(chosen, division, role)

    async def main() -> None:
        db, directory, _vault = await _with_db(settings, orgs)
        try:
            async with db.session() as session:
                await add_staff(
                    session, org_id=directory.org_ids[chosen.code], channel=channel, user_id=user_id,
                    role=role, display_name=name,
                    division_id=directory.division_ids[(chosen.code, division)] if division else None,
                )  # fmt: skip
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(main())
    typer.echo(f"Added {role} {channel}:{user_id} to {chosen.code} ({target.removeprefix('division:')}).")


@staff_app.command("remove")
def staff_remove(
    user_id: Annotated[str, typer.Option("--user-id")],
    channel: ChannelOption = "telegram",
    org: OrgOption = None,
) -> None:
    """Deactivate a staff member: their buttons stop working at once; history keeps their name."""
    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)

    async def main() -> bool:
        db, directory, _vault = await _with_db(settings, orgs)
        try:
            async with db.session() as session:
                done = await deactivate_staff(
                    session, org_id=directory.org_ids[chosen.code], channel=channel, user_id=user_id
                )
                await session.commit()
                return done
        finally:
            await db.dispose()

    if not asyncio.run(main()):
        raise _fail(f"No active staff member {channel}:{user_id} in {chosen.code}.")
    typer.echo(f"Removed {channel}:{user_id} from {chosen.code}.")


@staff_app.command("list")
def staff_list(org: OrgOption = None) -> None:
    """Staff with their roles and divisions."""
    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)

    async def main() -> None:
        db, directory, _vault = await _with_db(settings, orgs)
        try:
            async with db.session() as session:
                for member, divisions in await list_staff(session, directory.org_ids[chosen.code]):
                    state = "active" if member.active else "removed"
                    typer.echo(
                        f"{member.channel}:{member.user_id}  {member.role:<11} {state:<8} "
                        f"{','.join(divisions) or '-'}  {member.display_name or ''}".rstrip()
                    )
        finally:
            await db.dispose()

    asyncio.run(main())


def _issue_code(org_code: str | None, purpose: str, target_of: str | None, role: str) -> str:
    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org_code)
    if purpose == "join":
        target = _staff_target(chosen, target_of, role)
    elif target_of == "coordinators":
        target = "coordinators"
    else:
        target = _staff_target(chosen, target_of, "staff")

    async def main() -> str:
        db, directory, _vault = await _with_db(settings, orgs)
        try:
            async with db.session() as session:
                code = await create_code(
                    session, org_id=directory.org_ids[chosen.code], purpose=purpose, target=target, role=role,
                    now=datetime.now(UTC), ttl=CODE_TTL,
                )  # fmt: skip
                await session.commit()
                return code
        finally:
            await db.dispose()

    return asyncio.run(main())


@staff_app.command("invite")
def staff_invite(
    division: Annotated[str | None, typer.Option("--division", help="Division code.")] = None,
    role: Annotated[str, typer.Option("--role")] = "staff",
    org: OrgOption = None,
) -> None:
    """Print a one-time code; the person sends `/join CODE` to the bot in a private chat."""
    code = _issue_code(org, "join", division, role)
    typer.echo(f"One-time code (valid 7 days): {code}\nThe person sends to the bot: /join {code}")


@division_app.command("bind-code")
def division_bind_code(code: str, org: OrgOption = None) -> None:
    """Print a one-time code; send `/bind CODE` in the group that should receive the division's cases."""
    once = _issue_code(org, "bind", code, "staff")
    typer.echo(f"One-time code (valid 7 days): {once}\nSend in the division's group chat: /bind {once}")


@coordinators_app.command("bind-code")
def coordinators_bind_code(org: OrgOption = None) -> None:
    """Print a one-time code; send `/bind CODE` in the coordinators' group."""
    once = _issue_code(org, "bind", "coordinators", "staff")
    typer.echo(f"One-time code (valid 7 days): {once}\nSend in the coordinators' group chat: /bind {once}")


LangOption = Annotated[str, typer.Option("--lang", help="th or en.")]


def _output(fmt: str, output: Path | None, stem: str) -> Path:
    if fmt not in ("csv", "xlsx"):
        raise _fail(f"Unknown format {fmt!r}; use csv or xlsx.")
    return output or Path(f"{stem}.{fmt}")


async def _rows(settings: Settings, orgs: Organisations, org: OrgConfig, first: date, last: date):  # type: ignore[no-untyped-def]
    from handlers.fiscal import local_day_bounds
    from handlers.stats import case_rows

    start, end = local_day_bounds(first, last, org.tz())
    db, directory, _vault = await _with_db(settings, orgs)
    try:
        async with db.session() as session:
            return await case_rows(session, org_id=directory.org_ids[org.code], start=start, end=end)
    finally:
        await db.dispose()


@cases_app.command("export")
def cases_export(
    date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (Gregorian).")],
    date_to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    lang: LangOption = "th",
    org: OrgOption = None,
) -> None:
    """Cases received in a period, one row each, without personal data."""
    from bot.exports import write_table
    from handlers.stats import export_header, export_row

    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)
    try:
        first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
    except ValueError as exc:
        raise _fail("Dates are YYYY-MM-DD, e.g. --from 2025-10-01 --to 2026-03-31.") from exc
    path = _output(fmt, output, f"cases-{chosen.code}-{first}-{last}")
    rows = asyncio.run(_rows(settings, orgs, chosen, first, last))
    write_table(path, export_header(lang), [export_row(r, chosen, lang) for r in rows], sheet="cases")
    typer.echo(f"Wrote {len(rows)} case(s) to {path}.")


@app.command()
def stats(
    fiscal_year: Annotated[int, typer.Option("--fiscal-year", help="B.E. fiscal year, e.g. 2569.")],
    round_name: Annotated[str, typer.Option("--round", help="6m (Oct-Mar) or 12m (Oct-Sep).")] = "12m",
    fmt: Annotated[str, typer.Option("--format", help="text, csv or xlsx.")] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    lang: LangOption = "th",
    org: OrgOption = None,
) -> None:
    """The complaint summary for a fiscal year's 6- or 12-month round."""
    from bot.exports import write_table
    from handlers.fiscal import round_period
    from handlers.stats import summarise, summary_table

    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)
    try:
        first, last = round_period(fiscal_year, round_name)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    table = summary_table(
        summarise(asyncio.run(_rows(settings, orgs, chosen, first, last)), chosen), chosen, lang
    )
    if fmt == "text":
        section = None
        for name, item, value in table:
            if name != section:
                typer.echo(name if item else f"{name}: {value}")
                section = name
            if item:
                typer.echo(f"  {item}: {value}")
        return
    path = _output(fmt, output, f"stats-{chosen.code}-{fiscal_year}-{round_name}")
    from bot.i18n import t

    header = [t(lang, "stats.section"), t(lang, "stats.item"), t(lang, "stats.value")]
    write_table(path, header, table, sheet=f"{fiscal_year}-{round_name}")
    typer.echo(f"Wrote {path}.")


def _run_with_db(settings: Settings, orgs: Organisations, work: Callable[..., Awaitable[T]]) -> T:
    """Run `work(session, directory, db)` in one transaction that commits when it returns."""

    async def main() -> T:
        db, directory, _vault = await _with_db(settings, orgs)
        try:
            async with db.session() as session:
                result = await work(session, directory, db)
                await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(main())


@plan_app.command("import")
def plan_import(file: Path, org: OrgOption = None) -> None:
    """Load plan items from CSV or XLSX (code,title_th,title_en,dimension,division,fiscal_years,budget).

    Idempotent by code; with any invalid row nothing is stored and every problem is listed.
    """
    from handlers.plan_import import ImportError_, parse_plan
    from storage.plan import upsert_item

    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)
    if not file.exists():
        raise _fail(f"No such file: {file}")
    try:
        rows = parse_plan(file, chosen)
    except ImportError_ as exc:
        raise _fail(
            f"{file.name}: nothing imported, please fix:\n" + "\n".join(f"  - {p}" for p in exc.problems)
        ) from exc

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        org_id, new = directory.org_ids[chosen.code], 0
        for r in rows:
            values = {
                "title_th": r.title_th, "title_en": r.title_en, "dimension": r.dimension,
                "division_id": directory.division_ids[(chosen.code, r.division)],
                "fiscal_years": ",".join(map(str, r.fiscal_years)), "budget": r.budget,
            }  # fmt: skip
            new += await upsert_item(
                session, org_id=org_id, code=r.code, values=values, now=datetime.now(UTC)
            )
        return new

    new = _run_with_db(settings, orgs, work)
    typer.echo(f"Imported {len(rows)} item(s) into {chosen.code}: {new} new, {len(rows) - new} updated.")


@plan_app.command("list")
def plan_list(
    fiscal_year: Annotated[int | None, typer.Option("--fiscal-year")] = None, org: OrgOption = None
) -> None:
    """Plan items by dimension, with their division and years."""
    from storage.plan import items_of, years_of

    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        codes = {v: k[1] for k, v in directory.division_ids.items() if k[0] == chosen.code}
        return await items_of(session, directory.org_ids[chosen.code]), codes

    items, codes = _run_with_db(settings, orgs, work)
    shown = [i for i in items if fiscal_year is None or fiscal_year in years_of(i)]
    for item in sorted(shown, key=lambda i: (i.dimension, i.code)):
        years = ",".join(sorted(map(str, years_of(item))))
        budget = f"{item.budget:,.0f}" if item.budget is not None else "-"
        division = codes.get(item.division_id, "?")
        typer.echo(
            f"{item.dimension}  {item.code:<10} {division:<12} {years:<15} {budget:>12}  {item.title_th}"
        )
    typer.echo(f"{len(shown)} item(s).")


RoundArg = Annotated[str, typer.Argument(help="6m or 12m.")]


def _check_round(fiscal_year: int, round_name: str) -> None:
    if round_name not in ("6m", "12m"):
        raise _fail(f"Unknown round {round_name!r}; use 6m or 12m.")
    if not 2500 <= fiscal_year <= 2700:
        raise _fail(f"{fiscal_year} is not a B.E. fiscal year (e.g. 2569).")


@progress_app.command("import")
def progress_import(
    file: Path,
    fiscal_year: Annotated[int, typer.Option("--fiscal-year", help="B.E., e.g. 2569.")],
    round_name: Annotated[str, typer.Option("--round", help="6m or 12m.")],
    reported_on: Annotated[
        str | None, typer.Option("--reported-on", help="YYYY-MM-DD the reports were made (default: now).")
    ] = None,
    org: OrgOption = None,
) -> None:
    """Load progress in bulk from CSV or XLSX (code,status,note); status done, in_progress or not_started.

    The latest report before a round's due date counts, so a spreadsheet kept during the year is
    imported with the date it was reported on.
    """
    from handlers.plan_import import ImportError_, parse_progress
    from storage.plan import add_report, items_in_year, reports_for

    _check_round(fiscal_year, round_name)
    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)
    at = datetime.now(UTC)
    if reported_on is not None:
        try:
            at = datetime.combine(date.fromisoformat(reported_on), datetime.min.time(), chosen.tz()).replace(
                hour=12
            )
        except ValueError as exc:
            raise _fail("--reported-on is YYYY-MM-DD, e.g. 2026-09-25.") from exc

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        items = {i.code: i for i in await items_in_year(session, directory.org_ids[chosen.code], fiscal_year)}
        rows = parse_progress(file, set(items))
        latest = {
            r.item_id: r
            for r in await reports_for(session, [i.id or 0 for i in items.values()], fiscal_year, round_name)
        }
        changed = 0
        for row in rows:
            item = items[row.code]
            last = latest.get(item.id or 0)
            if last is not None and (last.status, last.note) == (row.status, row.note):
                continue  # importing the same file again adds no history
            await add_report(
                session, item=item, fiscal_year=fiscal_year, round_name=round_name, status=row.status,
                note=row.note, evidence=None, actor="import", at=at,
            )  # fmt: skip
            changed += 1
        return len(rows), changed

    if not file.exists():
        raise _fail(f"No such file: {file}")
    try:
        total, changed = _run_with_db(settings, orgs, work)
    except ImportError_ as exc:
        raise _fail(
            f"{file.name}: nothing imported, please fix:\n" + "\n".join(f"  - {p}" for p in exc.problems)
        ) from exc
    typer.echo(f"Read {total} row(s); recorded {changed} report(s) for {fiscal_year} {round_name}.")


@round_app.command("list")
def round_list(
    around: Annotated[
        int | None, typer.Option("--around", help="B.E. fiscal year (default: today's).")
    ] = None,
    org: OrgOption = None,
) -> None:
    """Rounds of the previous, current and next fiscal years with their due dates and reporting."""
    from handlers.fiscal import round_period, rounds_around
    from handlers.plan_rounds import due_date, unreported
    from storage.plan import items_in_year

    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)
    today = datetime.now(chosen.tz()).date()
    pivot = today if around is None else date(around - 543, 3, 1)

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        org_id, lines = directory.org_ids[chosen.code], []
        for fy, name in rounds_around(pivot):
            start, end = round_period(fy, name)
            due = await due_date(session, chosen, org_id, fy, name)
            total = len(await items_in_year(session, org_id, fy))
            missing = sum(len(v) for v in (await unreported(session, org_id, fy, name)).values())
            state = "overdue" if due < today else "open" if start <= today else "future"
            lines.append(
                f"{fy} {name:<4} {start} .. {end}  due {due}  {state:<8} reported {total - missing}/{total}"
            )
        return lines

    for line in _run_with_db(settings, orgs, work):
        typer.echo(line)


@round_app.command("set-due")
def round_set_due(
    fiscal_year: int,
    round_name: RoundArg,
    due: Annotated[str, typer.Argument(help="YYYY-MM-DD")],
    org: OrgOption = None,
) -> None:
    """Override one year's due date (the commission sometimes extends E-Plan entry)."""
    from handlers.fiscal import round_period
    from storage.plan import set_due

    _check_round(fiscal_year, round_name)
    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)
    try:
        day = date.fromisoformat(due)
    except ValueError as exc:
        raise _fail("The due date is YYYY-MM-DD (Gregorian), e.g. 2026-04-20.") from exc
    if day <= round_period(fiscal_year, round_name)[1]:
        raise _fail("The due date must fall after the round's period ends.")

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        await set_due(session, directory.org_ids[chosen.code], fiscal_year, round_name, day)

    _run_with_db(settings, orgs, work)
    typer.echo(f"Due date of {fiscal_year} {round_name} for {chosen.code}: {day}.")


@round_app.command("summary")
def round_summary(
    fiscal_year: int,
    round_name: RoundArg,
    fmt: Annotated[str, typer.Option("--format", help="text, csv or xlsx.")] = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    lang: LangOption = "th",
    thai_digits: Annotated[bool, typer.Option("--thai-digits", help="Write numbers in Thai digits.")] = False,
    org: OrgOption = None,
) -> None:
    """Per dimension the share of items done (two decimals) and overall, as in the seed's overview."""
    from bot.exports import write_table
    from handlers.plan_rounds import build_summary
    from handlers.progress_summary import THAI_DIGITS, summary_rows, summary_text

    _check_round(fiscal_year, round_name)
    settings = _settings()
    orgs = _orgs(settings)
    chosen = _pick_org(orgs, org)

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        codes = {v: k[1] for k, v in directory.division_ids.items() if k[0] == chosen.code}
        return await build_summary(
            session, chosen, directory.org_ids[chosen.code], codes, fiscal_year, round_name, datetime.now(UTC)
        )

    summary = _run_with_db(settings, orgs, work)
    if fmt == "text":
        typer.echo(summary_text(summary, chosen, lang, thai_digits=thai_digits))
        return
    from bot.i18n import t

    rows = summary_rows(summary, chosen, lang)
    if thai_digits:
        rows = [[cell.translate(THAI_DIGITS) for cell in row] for row in rows]
    header = [t(lang, f"plan.col_{c}") for c in ("dimension", "name", "items", "done", "percent")]
    path = _output(fmt, output, f"plan-summary-{chosen.code}-{fiscal_year}-{round_name}")
    write_table(path, header, rows, sheet=f"{fiscal_year}-{round_name}")
    typer.echo(f"Wrote {path}.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the whole audit chain; names the first broken link."""
    from storage.audit import verify_chain

    settings = _settings()
    orgs = _orgs(settings)

    async def main() -> None:
        db, _directory, _vault = await _with_db(settings, orgs)
        try:
            async with db.session() as session:
                report = await verify_chain(session)
        finally:
            await db.dispose()
        if not report.ok:
            raise _fail(f"Audit chain BROKEN at event {report.broken_at}: {report.problem}")
        typer.echo(f"Audit chain intact: {report.length} events.")

    asyncio.run(main())


@secret_app.command("generate")
def secret_generate() -> None:
    """Print a new key for DAMRONGTHAM_SECRET_KEY."""
    typer.echo(Fernet.generate_key().decode())


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        sys.exit(2)
