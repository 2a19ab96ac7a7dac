"""The action plan: items, progress, rounds and their summary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import (
    LangOption,
    OrgOption,
    RoundArg,
    check_round,
    emit_table,
    fail,
    load_orgs,
    load_settings,
    pick_org,
    plan_app,
    progress_app,
    round_app,
    run_with_db,
)
from kernel.deadlines import DateError, read_date


@plan_app.command("import")
def plan_import(file: Path, org: OrgOption = None) -> None:
    """Load plan items from CSV or XLSX (code,title_th,title_en,dimension,division,fiscal_years,budget).

    Idempotent by code; with any invalid row nothing is stored and every problem is listed.
    """
    from handlers.rounds.importer import PlanFileError, parse_plan
    from storage.plan import upsert_item

    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)
    if not file.exists():
        raise fail(f"No such file: {file}")
    try:
        rows = parse_plan(file, chosen)
    except PlanFileError as exc:
        raise fail(
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

    new = run_with_db(settings, orgs, work)
    typer.echo(f"Imported {len(rows)} item(s) into {chosen.code}: {new} new, {len(rows) - new} updated.")


@plan_app.command("list")
def plan_list(
    fiscal_year: Annotated[int | None, typer.Option("--fiscal-year")] = None, org: OrgOption = None
) -> None:
    """Plan items by dimension, with their division and years."""
    from storage.plan import items_of, years_of

    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        codes = {v: k[1] for k, v in directory.division_ids.items() if k[0] == chosen.code}
        return await items_of(session, directory.org_ids[chosen.code]), codes

    items, codes = run_with_db(settings, orgs, work)
    shown = [i for i in items if fiscal_year is None or fiscal_year in years_of(i)]
    for item in sorted(shown, key=lambda i: (i.dimension, i.code)):
        years = ",".join(sorted(map(str, years_of(item))))
        budget = f"{item.budget:,.0f}" if item.budget is not None else "-"
        division = codes.get(item.division_id, "?")
        typer.echo(
            f"{item.dimension}  {item.code:<10} {division:<12} {years:<15} {budget:>12}  {item.title_th}"
        )
    typer.echo(f"{len(shown)} item(s).")


@progress_app.command("import")
def progress_import(
    file: Path,
    fiscal_year: Annotated[int, typer.Option("--fiscal-year", help="B.E., e.g. 2569.")],
    round_name: Annotated[str, typer.Option("--round", help="6m or 12m.")],
    reported_on: Annotated[
        str | None,
        typer.Option(
            "--reported-on",
            help="The day the reports were made: 2569-09-25 (B.E.) or 2026-09-25 (default: now).",
        ),
    ] = None,
    org: OrgOption = None,
) -> None:
    """Load progress in bulk from CSV or XLSX (code,status,note); status done, in_progress or not_started.

    The latest report before a round's due date counts, so a spreadsheet kept during the year is
    imported with the date it was reported on.
    """
    from handlers.rounds.importer import PlanFileError, parse_progress
    from handlers.rounds.periods import cutoff as round_cutoff
    from handlers.rounds.periods import due_date
    from storage.plan import add_report, items_in_year, reports_for

    check_round(fiscal_year, round_name)
    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)
    at = datetime.now(UTC)
    if reported_on is not None:
        try:
            at = datetime.combine(read_date(reported_on), datetime.min.time(), chosen.tz()).replace(hour=12)
        except DateError as exc:
            raise fail(f"--reported-on: {exc}.") from exc

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        items = {i.code: i for i in await items_in_year(session, directory.org_ids[chosen.code], fiscal_year)}
        rows = parse_progress(file, set(items))
        latest = {
            r.item_id: r
            for r in await reports_for(session, [i.id or 0 for i in items.values()], fiscal_year, round_name)
        }
        due = await due_date(session, chosen, directory.org_ids[chosen.code], fiscal_year, round_name)
        end_of_due = round_cutoff(chosen, due, datetime.max.replace(tzinfo=UTC))
        changed = 0
        for row in rows:
            item = items[row.code]
            last = latest.get(item.id or 0)
            if (
                last is not None
                and (last.status, last.note) == (row.status, row.note)
                and (last.reported_at <= end_of_due or at > end_of_due)
            ):
                continue  # importing the same file again adds no history, unless it now counts
            await add_report(
                session, item=item, fiscal_year=fiscal_year, round_name=round_name, status=row.status,
                note=row.note, evidence=None, actor="import", at=at,
            )  # fmt: skip
            changed += 1
        return len(rows), changed, due

    if not file.exists():
        raise fail(f"No such file: {file}")
    try:
        total, changed, due = run_with_db(settings, orgs, work)
    except PlanFileError as exc:
        raise fail(
            f"{file.name}: nothing imported, please fix:\n" + "\n".join(f"  - {p}" for p in exc.problems)
        ) from exc
    typer.echo(f"Read {total} row(s); recorded {changed} report(s) for {fiscal_year} {round_name}.")
    if changed and round_cutoff(chosen, due, at) < at:
        typer.echo(
            f"Warning: the {round_name} round of {fiscal_year} was due on {due}; reports recorded on "
            f"{at.astimezone(chosen.tz()).date()} do not count for it. If they were made on time, import "
            f"the file again with --reported-on and the day they were made (e.g. --reported-on {due}).",
            err=True,
        )


@round_app.command("list")
def round_list(
    around: Annotated[
        int | None, typer.Option("--around", help="B.E. fiscal year (default: today's).")
    ] = None,
    org: OrgOption = None,
) -> None:
    """Rounds of the previous, current and next fiscal years with their due dates and reporting."""
    from handlers.rounds.periods import due_date, unreported
    from kernel.fiscal import round_period, rounds_around
    from storage.plan import items_in_year

    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)
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

    for line in run_with_db(settings, orgs, work):
        typer.echo(line)


@round_app.command("set-due")
def round_set_due(
    fiscal_year: int,
    round_name: RoundArg,
    due: Annotated[str, typer.Argument(help="2569-04-20 (B.E.) or 2026-04-20")],
    org: OrgOption = None,
) -> None:
    """Override one year's due date (the commission sometimes extends E-Plan entry)."""
    from kernel.fiscal import round_period
    from storage.plan import set_due

    check_round(fiscal_year, round_name)
    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)
    try:
        day = read_date(due)
    except DateError as exc:
        raise fail(f"The due date: {exc}.") from exc
    if day <= round_period(fiscal_year, round_name)[1]:
        raise fail("The due date must fall after the round's period ends.")

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        await set_due(session, directory.org_ids[chosen.code], fiscal_year, round_name, day)

    run_with_db(settings, orgs, work)
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
    from handlers.rounds.periods import build_summary
    from handlers.rounds.summary import THAI_DIGITS, summary_rows, summary_text

    check_round(fiscal_year, round_name)
    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)

    async def work(session, directory, _db):  # type: ignore[no-untyped-def]
        codes = {v: k[1] for k, v in directory.division_ids.items() if k[0] == chosen.code}
        return await build_summary(
            session, chosen, directory.org_ids[chosen.code], codes, fiscal_year, round_name, datetime.now(UTC)
        )

    summary = run_with_db(settings, orgs, work)
    if fmt == "text":
        typer.echo(summary_text(summary, chosen, lang, thai_digits=thai_digits))
        return
    from kernel.i18n import t

    rows = summary_rows(summary, chosen, lang)
    if thai_digits:  # Thai digits are text: the numbers become words a spreadsheet shows as written
        rows = [[_thai(cell).translate(THAI_DIGITS) for cell in row] for row in rows]
    header = [t(lang, f"plan.col_{c}") for c in ("dimension", "name", "items", "done", "percent")]
    stem = f"plan-summary-{chosen.code}-{fiscal_year}-{round_name}"
    path = emit_table(fmt, output, stem, header, rows, sheet=f"{fiscal_year}-{round_name}", lang=lang)
    if path is not None:
        typer.echo(f"Wrote {path}.")


def _thai(cell: str | int | float) -> str:
    return f"{cell:.2f}" if isinstance(cell, float) else str(cell)
