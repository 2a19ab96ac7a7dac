"""`cases export` and `stats`: the 6- and 12-month complaint summaries, from real cases."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, date, datetime, timedelta

from openpyxl import load_workbook
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import Settings
from handlers.cases.staff_cases import accept_case, close_case
from handlers.cases.submit import ReporterInfo, submit_report
from handlers.core.work import StaffAccount, Work
from kernel.draft import Draft
from kernel.fiscal import fiscal_year_of, round_period
from kernel.org_files import load_organisations
from storage.crypto import Vault
from storage.db import Database, upgrade_database
from storage.staff import add_staff
from tests.conftest import make_services
from tests.support.clock import Clock

runner = CliRunner()
OFFICER = StaffAccount("test", "901")


async def _seed() -> None:
    """Five cases in fiscal year 2569: three in the first half, two in the second; some handled."""
    settings = Settings()
    url = settings.resolved_database_url()
    await asyncio.to_thread(upgrade_database, url)
    db = Database(url)
    orgs = load_organisations("")
    org = orgs.single
    assert org is not None
    clock = Clock(datetime(2025, 11, 3, 3, 0, tzinfo=UTC))
    services = await make_services(db, orgs, Vault(settings.resolved_secret_key()), clock)
    async with db.session() as s:  # the officer who handles the cases coordinates them all
        await add_staff(s, org_id=services.directory.org_ids[org.code], channel=OFFICER.channel,
                        user_id=OFFICER.user_id, role="coordinator", division_id=None)  # fmt: skip
        await s.commit()
    plans = [
        (datetime(2025, 11, 3, 3, 0, tzinfo=UTC), "grievance", "roads", 1, 10),
        (datetime(2025, 12, 15, 3, 0, tzinfo=UTC), "grievance", "water", 3, None),
        (datetime(2026, 2, 2, 3, 0, tzinfo=UTC), "corruption", "bribery", None, None),
        (datetime(2026, 5, 4, 3, 0, tzinfo=UTC), "information", "budget", 2, 4),
        (datetime(2026, 10, 5, 3, 0, tzinfo=UTC), "grievance", "roads", None, None),  # fiscal year 2570
    ]
    try:
        for i, (when, rtype, category, ack_days, close_days) in enumerate(plans):
            async with db.session() as s:
                draft = Draft.from_dict(
                    {"type": rtype, "concerns": "no", "category": category, "description": "รายละเอียดเรื่อง"}
                )
                reporter = ReporterInfo(channel="test", chat_id=str(i), user_id=str(i), lang="th")
                result = await submit_report(s, services, org=org, draft=draft, reporter=reporter, now=when)
                if ack_days is not None:
                    work = Work(s, services, when + timedelta(days=ack_days))
                    await accept_case(work, case_id=result.case_id, by=OFFICER)
                if close_days is not None:
                    work = Work(s, services, when + timedelta(days=close_days))
                    await close_case(work, case_id=result.case_id, by=OFFICER, outcome="resolved",
                                     public_note="ซ่อมแล้ว")  # fmt: skip
                await s.commit()
    finally:
        await db.dispose()


def test_fiscal_years_and_rounds() -> None:
    assert fiscal_year_of(date(2025, 9, 30)) == 2568 and fiscal_year_of(date(2025, 10, 1)) == 2569
    assert round_period(2569, "6m") == (date(2025, 10, 1), date(2026, 3, 31))
    assert round_period(2569, "12m") == (date(2025, 10, 1), date(2026, 9, 30))


def test_stats_for_the_6_and_12_month_rounds() -> None:
    asyncio.run(_seed())
    half = runner.invoke(app, ["stats", "--fiscal-year", "2569", "--round", "6m"])
    assert half.exit_code == 0, half.output
    assert "จำนวนเรื่องทั้งหมด: 3" in half.output
    assert "ร้องเรียน/ร้องทุกข์: 2" in half.output and "แจ้งเบาะแสการทุจริต: 1" in half.output
    assert "พ.ย. 2568: 1" in half.output and "ธ.ค. 2568: 1" in half.output and "ก.พ. 2569: 1" in half.output
    assert "ดำเนินการแล้วเสร็จ: 1" in half.output
    assert "ค่ามัธยฐานจำนวนวันถึงการตอบรับ: 2.00" in half.output  # 1 and 3 days
    assert "ค่ามัธยฐานจำนวนวันถึงการยุติเรื่อง: 10.00" in half.output
    year = runner.invoke(app, ["stats", "--fiscal-year", "2569", "--round", "12m", "--lang", "en"])
    assert "Cases received: 4" in year.output and "Information request: 1" in year.output
    assert "Median days to close: 7.00" in year.output  # 10 and 4 days
    bad = runner.invoke(app, ["stats", "--fiscal-year", "2569", "--round", "9m"])
    assert bad.exit_code == 2 and "6m, 12m" in bad.output


def test_exports_open_cleanly_as_csv_and_xlsx() -> None:
    asyncio.run(_seed())
    result = runner.invoke(
        app, ["cases", "export", "--from", "2025-10-01", "--to", "2026-09-30", "-o", "c.csv"]
    )
    assert result.exit_code == 0 and "Wrote 4 case(s)" in result.output
    raw = open("c.csv", "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads Thai from UTF-8 only with a BOM
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:3] == ["เลขที่เรื่อง", "วันที่รับเรื่อง", "ประเภท"] and len(rows) == 5
    # a real date and a real number, which Excel reads as such (issue 17, point 4)
    assert rows[1][0] == "CM-2568-000001" and rows[1][1] == "2025-11-03" and rows[1][11] == "10.0"
    assert "รายละเอียดเรื่อง" not in raw.decode("utf-8-sig")  # no complaint text or identities
    result = runner.invoke(
        app,
        ["cases", "export", "--from", "2025-10-01", "--to", "2026-03-31", "--format", "xlsx", "--lang", "en"],
    )
    assert result.exit_code == 0
    sheet = load_workbook("cases-CM-2025-10-01-2026-03-31.xlsx").active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "Reference" and len(values) == 4
    assert values[1][1] == datetime(2025, 11, 3) and sheet["B2"].number_format == "d mmm yyyy"
    assert values[1][6] == "resolved" and values[1][11] == 10.0  # a translated label, a number
    thai = runner.invoke(
        app,
        ["cases", "export", "--from", "2568-10-01", "--to", "2569-03-31", "--format", "xlsx", "-o", "t.xlsx"],
    )
    assert thai.exit_code == 0 and "bbbb" in load_workbook("t.xlsx").active["B2"].number_format  # B.E. shown
    assert runner.invoke(app, ["stats", "--fiscal-year", "2569", "--format", "xlsx"]).exit_code == 0
    assert load_workbook("stats-CM-2569-12m.xlsx").active.max_row > 5
    bad = runner.invoke(app, ["cases", "export", "--from", "1.10.2025", "--to", "x"])
    assert bad.exit_code == 2 and "2569-12-01" in bad.output
    # issue 17, point 4: a Buddhist-era date, as a Thai clerk types it, was read as the year 2569
    thai = runner.invoke(app, ["cases", "export", "--from", "2568-10-01", "--to", "30/9/2569", "-o", "t.csv"])
    assert thai.exit_code == 0 and "Wrote 4 case(s)" in thai.output
    ambiguous = runner.invoke(app, ["cases", "export", "--from", "1/10/68", "--to", "2569-09-30"])
    assert ambiguous.exit_code == 2 and "year in full" in ambiguous.output
    backwards = runner.invoke(app, ["cases", "export", "--from", "2569-09-30", "--to", "2568-10-01"])
    assert backwards.exit_code == 2 and "before --from" in backwards.output


def test_stats_for_a_year_without_cases_says_which_years_have_them() -> None:
    asyncio.run(_seed())
    empty = runner.invoke(app, ["stats", "--fiscal-year", "2567"])
    assert empty.exit_code == 0 and "fiscal years with cases: 2569, 2570" in empty.output
