"""Plan and progress imports, round due dates and the round summary, through the command line."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).parents[1] / "examples" / "plan-cm-pao.csv"


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_the_round_summary_reproduces_the_seeds_12_month_figures() -> None:
    _ok("plan", "import", str(FIXTURES / "seed-2561-plan.csv"))
    _ok("progress", "import", str(FIXTURES / "seed-2561-progress-12m.csv"), "--fiscal-year", "2561",
        "--round", "12m", "--reported-on", "2018-09-28")  # fmt: skip
    text = _ok("round", "summary", "2561", "12m")
    assert "มิติที่ 1 การสร้างสังคมที่ไม่ทนต่อการทุจริต: ดำเนินการแล้ว 25 จาก 26 รายการ คิดเป็นร้อยละ 96.15" in text
    assert "ดำเนินการแล้ว 18 จาก 19 รายการ คิดเป็นร้อยละ 94.74" in text
    assert "ดำเนินการแล้ว 28 จาก 28 รายการ คิดเป็นร้อยละ 100.00" in text
    assert "ดำเนินการแล้ว 32 จาก 32 รายการ คิดเป็นร้อยละ 100.00" in text
    assert "รวมทุกมิติ: ดำเนินการแล้ว 103 จาก 105 รายการ คิดเป็นร้อยละ 98.10" in text
    assert "คิดเป็นร้อยละ ๙๘.๑๐" in _ok("round", "summary", "2561", "12m", "--thai-digits")
    english = _ok("round", "summary", "2561", "12m", "--lang", "en")
    assert "All dimensions: 103 of 105 items done, 98.10%" in english
    _ok("round", "summary", "2561", "12m", "--format", "xlsx", "-o", "s.xlsx")
    rows = list(load_workbook("s.xlsx").active.iter_rows(values_only=True))
    assert rows[0] == ("มิติ", "ชื่อมิติ", "จำนวนรายการ", "ดำเนินการแล้ว", "ร้อยละ")
    assert rows[-1][2:] == (105, 103, 98.1)  # numbers a spreadsheet can sum


def test_a_report_after_the_due_date_does_not_count_for_the_round() -> None:
    _ok("plan", "import", str(FIXTURES / "seed-2561-plan.csv"))
    _ok("progress", "import", str(FIXTURES / "seed-2561-progress-12m.csv"), "--fiscal-year", "2561",
        "--round", "12m", "--reported-on", "2018-10-11")  # one day after the due date  # fmt: skip
    assert "รวมทุกมิติ: ดำเนินการแล้ว 0 จาก 105" in _ok("round", "summary", "2561", "12m")
    _ok("round", "set-due", "2561", "12m", "2018-10-20")  # the commission extended E-Plan entry
    assert "รวมทุกมิติ: ดำเนินการแล้ว 103 จาก 105" in _ok("round", "summary", "2561", "12m")


def test_plan_import_is_idempotent_by_code_and_ships_a_realistic_sample() -> None:
    first = _ok("plan", "import", str(EXAMPLE))
    assert "71 new" in first
    again = _ok("plan", "import", str(EXAMPLE))
    assert "0 new, 71 updated" in again
    listing = _ok("plan", "list", "--fiscal-year", "2569")
    assert "71 item(s)." in listing
    dims = {line.split()[0] for line in listing.splitlines() if line[:1].isdigit() and "item(s)" not in line}
    assert dims == {"1", "2", "3", "4"}


def test_import_errors_name_row_and_column_and_store_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,title_th,title_en,dimension,division,fiscal_years,budget\n"
        "1.1.01,โครงการอบรม,Training,1,office,2568-2570,50000\n"
        "1.1.01,ซ้ำ,Dup,5,nobody,2570-2568,abc\n"
        "2.1.01,,x,2,finance,2569,\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["plan", "import", str(bad)])
    assert result.exit_code == 2
    out = result.output
    assert "row 3, column code: '1.1.01' repeats row 2" in out
    assert "row 3, column dimension: '5' is not one of 1, 2, 3, 4" in out
    assert "row 3, column division: unknown division 'nobody'" in out
    assert "row 3, column fiscal_years: '2570-2568': the range runs backwards" in out
    assert "row 3, column budget: 'abc' is not an amount in baht" in out
    assert "row 4, column title_th: the Thai title is empty" in out
    assert "0 item(s)." in _ok("plan", "list")
    missing = tmp_path / "missing.csv"
    missing.write_text("code,title_th,dimension\n1,x,1\n", encoding="utf-8")
    out = runner.invoke(app, ["plan", "import", str(missing)]).output
    assert "missing column(s) title_en, division, fiscal_years, budget" in out


def test_xlsx_import_and_progress_errors(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["code", "title_th", "title_en", "dimension", "division", "fiscal_years", "budget"])
    ws.append(["3.1.01", "เวทีประชาคม", "Public forum", 3, "office", "2569;2570", "1,200,000"])
    wb.save(tmp_path / "plan.xlsx")
    assert "1 new" in _ok("plan", "import", str(tmp_path / "plan.xlsx"))
    assert "1,200,000" in _ok("plan", "list")
    progress = tmp_path / "p.csv"
    progress.write_text("code,status,note\n3.1.01,finished,\n9.9.99,done,\n", encoding="utf-8")
    result = runner.invoke(
        app, ["progress", "import", str(progress), "--fiscal-year", "2569", "--round", "6m"]
    )
    assert result.exit_code == 2
    assert "row 2, column status: 'finished' is not one of done, in_progress, not_started" in result.output
    assert "row 3, column code: no plan item '9.9.99' in this fiscal year" in result.output
    assert (
        runner.invoke(
            app, ["progress", "import", str(progress), "--fiscal-year", "2569", "--round", "9m"]
        ).exit_code
        == 2
    )


def test_round_list_and_set_due() -> None:
    _ok("plan", "import", str(EXAMPLE))
    _ok("round", "set-due", "2570", "6m", "2027-04-20")
    listing = _ok("round", "list", "--around", "2570")
    assert "2570 6m   2026-10-01 .. 2027-03-31  due 2027-04-20" in listing
    assert "2570 12m  2026-10-01 .. 2027-09-30  due 2027-10-10" in listing
    early = runner.invoke(app, ["round", "set-due", "2570", "6m", "2027-03-01"])
    assert early.exit_code == 2 and "after the round's period ends" in early.output


def test_row_numbers_count_blank_lines_as_a_spreadsheet_does(tmp_path: Path) -> None:
    bad = tmp_path / "gaps.csv"
    bad.write_text(
        "code,title_th,title_en,dimension,division,fiscal_years,budget\n\n\n"
        "1.1.01,ก,a,1,office,2569,\n1.1.02,ข,b,7,office,2569,\n",
        encoding="utf-8",
    )
    assert "row 5, column dimension" in runner.invoke(app, ["plan", "import", str(bad)]).output


def test_an_import_after_the_due_date_warns_and_the_summary_counts_the_late_reports() -> None:
    """Issue 17, point 4: reports imported after a round's due date silently did not count."""
    _ok("plan", "import", str(FIXTURES / "seed-2561-plan.csv"))
    late = runner.invoke(app, ["progress", "import", str(FIXTURES / "seed-2561-progress-12m.csv"),
                               "--fiscal-year", "2561", "--round", "12m"])  # fmt: skip
    assert late.exit_code == 0 and "do not count" in late.output and "--reported-on 2018-10-10" in late.output
    summary = _ok("round", "summary", "2561", "12m")
    assert "ดำเนินการแล้ว 0 จาก 105" in summary and "มีรายงาน 105 รายการที่บันทึกหลังวันครบกำหนด" in summary
    on_time = _ok("progress", "import", str(FIXTURES / "seed-2561-progress-12m.csv"), "--fiscal-year", "2561",
                  "--round", "12m", "--reported-on", "2561-09-28")  # a Buddhist-era date  # fmt: skip
    assert "do not count" not in on_time
    assert "รวมทุกมิติ: ดำเนินการแล้ว 103 จาก 105" in _ok("round", "summary", "2561", "12m")


def test_a_csv_summary_goes_to_standard_output_unless_a_file_is_named() -> None:
    _ok("plan", "import", str(FIXTURES / "seed-2561-plan.csv"))
    printed = _ok("round", "summary", "2561", "12m", "--format", "csv")
    assert printed.splitlines()[0] == "มิติ,ชื่อมิติ,จำนวนรายการ,ดำเนินการแล้ว,ร้อยละ"
    assert not list(Path().glob("plan-summary-*"))
    assert "Wrote s.csv" in _ok("round", "summary", "2561", "12m", "--format", "csv", "-o", "s.csv")
    assert Path("s.csv").read_bytes().startswith(b"\xef\xbb\xbf")
