"""Writing tables as CSV (UTF-8 with BOM, so Excel shows Thai) or XLSX (openpyxl)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font


def write_table(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], *, sheet: str) -> None:
    fmt = "xlsx" if path.suffix.lower() == ".xlsx" else "csv"
    path.write_bytes(table_bytes(fmt, header, rows, sheet=sheet))


def table_bytes(fmt: str, header: Sequence[str], rows: Sequence[Sequence[Any]], *, sheet: str) -> bytes:
    """The table as an XLSX workbook (`fmt` "xlsx") or as CSV in UTF-8 with a BOM."""
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
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")
