"""Spreadsheet exports that carry no live formula (OWASP "CSV injection").

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken by
Excel, LibreOffice and others as a formula (``=HYPERLINK(...)`` in a lot number would become a
live link, ``=cmd|...`` worse). Every CSV and xlsx export writes such text as text:

* CSV: the cell is prefixed with a single quote (``'=HYPERLINK(...)``), OWASP's rule; the csv
  module quotes separators and quotes themselves;
* xlsx: the cell is a string cell (never a formula) with the quote-prefix style, so the
  spreadsheet shows the text as it is and keeps it text when edited; the value stays the same,
  so a count sheet read back finds its lots.

Numbers, dates and empty cells are written as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value: object) -> bool:
    """True for text a spreadsheet would evaluate."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value: Any) -> Any:
    """``value`` safe for a CSV cell."""
    return "'" + value if is_formula_like(value) else value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """A CSV row with every cell made safe."""
    return [csv_cell(v) for v in values]


class _Cell(Protocol):
    value: Any
    data_type: str
    quotePrefix: bool


def xlsx_text(cell: _Cell) -> None:
    """Make an openpyxl cell whose text looks like a formula a plain text cell."""
    if is_formula_like(cell.value):
        cell.data_type = "s"
        cell.quotePrefix = True


def xlsx_append(sheet: Any, values: Iterable[Any]) -> None:
    """Append a row to an openpyxl sheet, its formula-like texts written as text."""
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        xlsx_text(cell)
