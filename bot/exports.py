"""Writing tables as CSV (UTF-8 with BOM, so Excel shows Thai) or XLSX (openpyxl)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

# a date cell as a Thai office reads it: day, month and Buddhist-era year ("bbbb"), in Thai
DATE_FORMATS = {"th": "[$-th-TH]d mmm bbbb", "en": "d mmm yyyy"}


def write_table(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], *, sheet: str, lang: str = "th"
) -> None:
    fmt = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
    path.write_bytes(table_bytes(fmt, header, rows, sheet=sheet, lang=lang))


def table_bytes(
    fmt: str, header: Sequence[str], rows: Sequence[Sequence[Any]], *, sheet: str, lang: str = "th"
) -> bytes:
    """The table as an XLSX workbook (`fmt` "xlsx") or as CSV in UTF-8 with a BOM. Numbers stay
    numbers and dates dates: in the workbook as typed cells, in CSV as digits and YYYY-MM-DD, which
    a spreadsheet reads as a date."""
    if fmt == "xlsx":
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = sheet[:31]
        ws.append(list(header))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(list(row))
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, date | datetime):
                    cell.number_format = DATE_FORMATS.get(lang, DATE_FORMATS["en"])
        for column in ws.columns:
            width = max(len(str(c.value or "")) for c in column)
            ws.column_dimensions[column[0].column_letter].width = min(60, max(10, width + 2))
        ws.freeze_panes = "A2"
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([_csv_value(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else value
