"""Reading plan items and bulk progress from CSV or XLSX, validating every row and column."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from kernel.org_config import OrgConfig

PLAN_HEADER = ("code", "title_th", "title_en", "dimension", "division", "fiscal_years", "budget")
PROGRESS_HEADER = ("code", "status", "note")
STATUSES = ("done", "in_progress", "not_started")
YEARS_RANGE = re.compile(r"^(\d{4})\s*-\s*(\d{4})$")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$")


class PlanFileError(ValueError):
    """Rows that cannot be imported; nothing was stored. `problems` name row and column."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class PlanRow:
    code: str
    title_th: str
    title_en: str
    dimension: int
    division: str
    fiscal_years: tuple[int, ...]
    budget: Decimal | None


@dataclass(frozen=True)
class ProgressRow:
    code: str
    status: str
    note: str | None


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows as dicts of stripped strings; the header is checked by the callers."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True, data_only=True).active
        assert sheet is not None
        values = [
            ["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)
        ]
    else:
        text = path.read_bytes().decode("utf-8-sig")
        values = [[v.strip() for v in row] for row in csv.reader(io.StringIO(text))]
    # number rows as a spreadsheet shows them, blank lines included
    numbered = [(i, row) for i, row in enumerate(values, 1) if any(row)]
    if not numbered:
        raise PlanFileError([f"{path.name}: the file is empty"])
    header = [h.strip().lower() for h in numbered[0][1]]
    return [{"__row__": str(i), **dict(zip(header, row, strict=False))} for i, row in numbered[1:]]


def _check_header(rows: list[dict[str, str]], expected: tuple[str, ...], path: Path) -> None:
    present = set(rows[0]) if rows else set()
    missing = [c for c in expected if c not in present]
    if rows and missing:
        hint = f"hint: the header is {','.join(expected)}"
        raise PlanFileError([f"{path.name}: missing column(s) {', '.join(missing)} ({hint})"])


def parse_years(text: str) -> tuple[int, ...]:
    """`2568-2570` or `2569;2570` (B.E.)."""
    m = YEARS_RANGE.match(text)
    if m:
        first, last = int(m.group(1)), int(m.group(2))
        if first > last:
            raise ValueError("the range runs backwards")
        years = tuple(range(first, last + 1))
    else:
        years = tuple(int(y) for y in re.split(r"\s*[;,]\s*", text) if y)
    if not years or any(not 2500 <= y <= 2700 for y in years):
        raise ValueError("use B.E. years like 2568-2570 or 2569;2570")
    return years


def parse_plan(path: Path, org: OrgConfig) -> list[PlanRow]:
    rows = read_table(path)
    _check_header(rows, PLAN_HEADER, path)
    problems: list[str] = []
    out: list[PlanRow] = []
    seen: dict[str, str] = {}
    dims = [d.number for d in org.plan.dimensions]
    for r in rows:
        where = f"row {r['__row__']}"
        bad = len(problems)
        code = r.get("code", "")
        if not CODE.match(code):
            problems.append(f"{where}, column code: {code!r} is not a valid code (letters, digits, . _ -)")
        elif code in seen:
            problems.append(f"{where}, column code: {code!r} repeats row {seen[code]}")
        seen.setdefault(code, r["__row__"])
        if not r.get("title_th"):
            problems.append(f"{where}, column title_th: the Thai title is empty")
        dim_text = r.get("dimension", "")
        if not (dim_text.isdigit() and int(dim_text) in dims):
            problems.append(
                f"{where}, column dimension: {dim_text!r} is not one of {', '.join(map(str, dims))}"
            )
        division = r.get("division", "")
        if division not in org.division_codes():
            problems.append(
                f"{where}, column division: unknown division {division!r} "
                f"(known: {', '.join(org.division_codes())})"
            )
        try:
            years = parse_years(r.get("fiscal_years", ""))
        except ValueError as exc:
            problems.append(f"{where}, column fiscal_years: {r.get('fiscal_years', '')!r}: {exc}")
            years = ()
        budget: Decimal | None = None
        raw_budget = r.get("budget", "").replace(",", "")
        if raw_budget:
            try:
                budget = Decimal(raw_budget)
                if budget < 0:
                    raise InvalidOperation
            except InvalidOperation:
                problems.append(f"{where}, column budget: {r.get('budget')!r} is not an amount in baht")
        if len(problems) == bad:
            out.append(
                PlanRow(
                    code,
                    r["title_th"],
                    r.get("title_en") or r["title_th"],
                    int(dim_text),
                    division,
                    years,
                    budget,
                )
            )
    if problems:
        raise PlanFileError(problems)
    return out


def parse_progress(path: Path, known_codes: set[str]) -> list[ProgressRow]:
    rows = read_table(path)
    _check_header(rows, PROGRESS_HEADER, path)
    problems: list[str] = []
    out: list[ProgressRow] = []
    for r in rows:
        where = f"row {r['__row__']}"
        code, status = r.get("code", ""), r.get("status", "").lower()
        if code not in known_codes:
            problems.append(f"{where}, column code: no plan item {code!r} in this fiscal year")
        if status not in STATUSES:
            problems.append(
                f"{where}, column status: {r.get('status')!r} is not one of {', '.join(STATUSES)}"
            )
        if code in known_codes and status in STATUSES:
            out.append(ProgressRow(code, status, r.get("note") or None))
    if problems:
        raise PlanFileError(problems)
    return out
