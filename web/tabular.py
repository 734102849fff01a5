"""Tables as CSV and Excel downloads, written like the stock export (``web.stockio``): a UTF-8
BOM so spreadsheet programs read the Chinese right, a bold frozen header row, column widths.

Text that a spreadsheet would run as a formula is written as text by the project's one rule
(``relief.platform.exports``: a leading ``'`` in CSV; a quote-prefixed string cell in xlsx).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from relief.platform import exports

Cell = str | int | float | date | datetime | None


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """The table as CSV text (BOM first)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(exports.csv_row(header))
    for row in rows:
        writer.writerow(exports.csv_row("" if v is None else v for v in row))
    return out.getvalue()


def to_xlsx(title: str, header: Sequence[str], rows: Iterable[Sequence[Cell]], *,
            widths: Sequence[int] = (), notes: Sequence[str] = (), notes_title: str = ""
            ) -> bytes:
    """The table as an Excel workbook (one sheet, plus a sheet ``notes_title`` with
    ``notes`` when given)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    exports.xlsx_append(sheet, header)
    for row in rows:
        exports.xlsx_append(sheet, (_xlsx_value(v) for v in row))
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
        cell.alignment = Alignment(vertical="center")
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    if notes:
        extra = book.create_sheet(notes_title[:31] or "notes")
        for line in notes:
            exports.xlsx_append(extra, [line])
        extra.column_dimensions["A"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value: Cell) -> Cell:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)  # Excel has no time zones: local clock time
    return value
