"""Case records: exports, statistics and the audit chain."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import (
    LangOption,
    OrgOption,
    app,
    audit_app,
    cases_app,
    check_format,
    emit_table,
    fail,
    load_orgs,
    load_settings,
    pick_org,
    privacy_app,
    with_db,
)
from bot.settings import Settings
from kernel.deadlines import DateError, read_date
from kernel.org_config import OrgConfig
from kernel.org_files import Organisations


async def _rows(settings: Settings, orgs: Organisations, org: OrgConfig, first: date, last: date):  # type: ignore[no-untyped-def]
    from handlers.cases.stats import case_rows
    from kernel.fiscal import local_day_bounds

    start, end = local_day_bounds(first, last, org.tz())
    db, directory, _vault = await with_db(settings, orgs)
    try:
        async with db.session() as session:
            return await case_rows(session, org_id=directory.org_ids[org.code], start=start, end=end)
    finally:
        await db.dispose()


async def _summary(settings: Settings, orgs: Organisations, org: OrgConfig, first: date, last: date):  # type: ignore[no-untyped-def]
    from handlers.cases.stats import fiscal_years_with_cases, summarise
    from kernel.fiscal import local_day_bounds

    start, end = local_day_bounds(first, last, org.tz())
    db, directory, _vault = await with_db(settings, orgs)
    try:
        async with db.session() as session:
            org_id = directory.org_ids[org.code]
            summary = await summarise(session, org, org_id=org_id, start=start, end=end)
            years = (
                [] if summary.total else await fiscal_years_with_cases(session, org_id=org_id, tz=org.tz())
            )
            return summary, years
    finally:
        await db.dispose()


@cases_app.command("export")
def cases_export(
    date_from: Annotated[
        str, typer.Option("--from", help="First day: 2569-10-01 or 1/10/2569 (B.E.), or 2025-10-01.")
    ],
    date_to: Annotated[str, typer.Option("--to", help="Last day, written the same ways.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    lang: LangOption = "th",
    org: OrgOption = None,
) -> None:
    """Cases received in a period, one row each, without personal data."""
    from handlers.cases.stats import export_header, export_row

    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)
    try:
        first, last = read_date(date_from), read_date(date_to)
    except DateError as exc:
        raise fail(f"{exc}. For example: --from 2568-10-01 --to 2569-03-31.") from exc
    if last < first:
        raise fail(f"--to ({last}) is before --from ({first}): the period would be empty.")
    check_format(fmt)
    rows = asyncio.run(_rows(settings, orgs, chosen, first, last))
    table = [export_row(r, chosen, lang) for r in rows]
    path = emit_table(
        fmt,
        output,
        f"cases-{chosen.code}-{first}-{last}",
        export_header(lang),
        table,
        sheet="cases",
        lang=lang,
    )
    if path is not None:
        typer.echo(f"Wrote {len(rows)} case(s) to {path}.")


@cases_app.command("reindex")
def cases_reindex() -> None:
    """Make cases written before the word index findable by their words on the desk (safe to
    run again: words already indexed are skipped)."""
    from handlers.cases.search import index_cases
    from handlers.core.work import Services, Work

    settings = load_settings()
    orgs = load_orgs(settings)

    async def main() -> int:
        db, directory, vault = await with_db(settings, orgs)
        services = Services(db=db, orgs=orgs, directory=directory, vault=vault)
        done, after = 0, 0
        try:
            while True:  # a batch per transaction: a long run holds no lock for long
                async with db.session(write=True) as session:
                    ids = await index_cases(Work(session, services, datetime.now(UTC)), after_id=after)
                    await session.commit()
                if not ids:
                    return done
                done, after = done + len(ids), ids[-1]
        finally:
            await db.dispose()

    typer.echo(f"Indexed the words of {asyncio.run(main())} case(s).")


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
    from handlers.cases.stats import stat_text, summary_table
    from kernel.fiscal import round_period

    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)
    try:
        first, last = round_period(fiscal_year, round_name)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    summary, years = asyncio.run(_summary(settings, orgs, chosen, first, last))
    if not summary.total:  # a year typed wrong (2026 for 2569, or the year before) says so
        held = ", ".join(map(str, years)) if years else "none yet"
        typer.echo(
            f"No cases were received in fiscal year {fiscal_year} ({round_name}); "
            f"fiscal years with cases: {held}.",
            err=True,
        )
    table = summary_table(summary, chosen, lang)
    if fmt == "text":
        section = None
        for name, item, value in table:
            if name != section:
                typer.echo(name if item else f"{name}: {stat_text(value)}")
                section = name
            if item:
                typer.echo(f"  {item}: {stat_text(value)}")
        return
    from kernel.i18n import t

    header = [t(lang, "stats.section"), t(lang, "stats.item"), t(lang, "stats.value")]
    path = emit_table(
        fmt,
        output,
        f"stats-{chosen.code}-{fiscal_year}-{round_name}",
        header,
        table,
        sheet=f"{fiscal_year}-{round_name}",
        lang=lang,
    )
    if path is not None:
        typer.echo(f"Wrote {path}.")


@audit_app.command("verify")
def audit_verify(
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="A head taken outside the database (LENGTH:HASH, from the coordinators' daily message): "
            "the chain must still lead to it.",
        ),
    ] = None,
) -> None:
    """Check the whole audit chain; names the first broken link."""
    from storage.audit import ChainHead, chain_head, verify_against, verify_chain

    try:
        outside = ChainHead.parse(head) if head is not None else None
    except ValueError as exc:
        raise fail(f"--head {head!r}: {exc}, as in the coordinators' daily message.") from exc
    settings = load_settings()
    orgs = load_orgs(settings)

    async def main() -> None:
        db, _directory, vault = await with_db(settings, orgs)
        try:
            async with db.session() as session:
                if outside is None:
                    report = await verify_chain(session, vault)
                else:
                    report = await verify_against(session, vault, outside)
                now = await chain_head(session)
        finally:
            await db.dispose()
        if not report.ok:
            raise fail(f"Audit chain BROKEN at event {report.broken_at}: {report.problem}")
        typer.echo(f"Audit chain intact: {report.length} events; its head is {now}.")
        if outside is not None:
            typer.echo(f"It leads to the head given ({outside.length} events).")

    asyncio.run(main())


@privacy_app.command("purge")
def privacy_purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be erased.")] = False,
    org: OrgOption = None,
) -> None:
    """Erase reporters' personal data from cases closed longer ago than the retention period."""
    from handlers.cases.privacy import due_for_purge, erase_personal_data

    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = [pick_org(orgs, org)] if org or orgs.single else orgs.all

    async def main() -> list[str]:
        from handlers.core.work import Services, Work

        db, directory, vault = await with_db(settings, orgs)
        from storage.files import FileStore

        # the evidence files go with the reporter's data
        files = FileStore(settings.data_dir / "files", vault)
        services = Services(db=db, orgs=orgs, directory=directory, vault=vault, files=files)
        lines = []
        try:
            async with db.session() as session:
                work = Work(session, services, datetime.now(UTC))
                for o in chosen:
                    for case in await due_for_purge(work, o):
                        closed = case.closed_at.date().isoformat() if case.closed_at else "?"
                        lines.append(f"{case.reference}  closed {closed}")
                        if not dry_run:
                            await erase_personal_data(work, case, reason="retention")
                if not dry_run:
                    await session.commit()
        finally:
            await db.dispose()
        return lines

    lines = asyncio.run(main())
    for line in lines:
        typer.echo(line)
    verb = "would be erased" if dry_run else "erased"
    typer.echo(f"{len(lines)} case(s): personal data {verb}.")
