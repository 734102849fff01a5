"""Stock export (CSV, Excel) and the Excel stock-count import with a preview.

The export and the count sheet are the same table: a depot's stock by item and lot, with an
empty "counted" column. Filled in and uploaded, it becomes a *preview*: per lot, what the book
says now, what was counted, and the gain or loss move each difference would post. Applying the
preview runs one adjustment use case per changed lot (``supplies.service.adjust_stock``) in one
transaction, after re-checking under the ledger's locks that the book has not changed since
the preview; if it has, nothing is written and the changed lots are listed.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from pydantic import BaseModel
from sqlalchemy.orm import Session

from relief.platform.errors import Conflict, InvalidInput, NotFound
from relief.platform.exports import csv_row, xlsx_append
from relief.platform.principal import Principal
from supplies import ledger, reports, service
from supplies.ledger import MoveContext
from supplies.models import Depot
from supplies.models.operations import AdjustmentIn
from web.i18n import Translator

# (key, label key) of the export columns; the import recognises keys and labels of any language.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("depot", "col.depot"),
    ("item", "col.item"),
    ("item_name", "col.item_name"),
    ("unit", "col.unit"),
    ("lot", "col.lot"),
    ("expiry", "col.expiry"),
    ("quality", "col.quality"),
    ("on_hand", "col.on_hand"),
    ("reserved", "col.reserved"),
    ("available", "col.available"),
    ("counted", "col.counted"),
)
MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
# Checked before openpyxl parses anything (a 230 KB sheet used to take 2.2 GB of memory: the
# check was on the compressed size only): the unpacked size of the whole file and of its shared
# strings, then, while the sheet streams in read-only mode, the columns read, the cells and the
# length of each text.
MAX_UNPACKED_BYTES = 40 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 10 * 1024 * 1024
MAX_ZIP_MEMBERS = 100
MAX_COLUMNS = 40
MAX_CELLS = 100_000  # the exported sheet of 5,000 lots has 55,011
MAX_CELL_CHARS = 1000


def depot_stock(session: Session, *, depot: str, today: date) -> list[reports.StockRow]:
    """Every lot the depot holds (on hand > 0), by item and expiry."""
    rows, _ = reports.stock_rows(session, today=today,
                                 filters=reports.StockFilter(depot=depot),
                                 limit=MAX_ROWS, offset=0)
    return rows


def _cells(row: reports.StockRow, tr: Translator) -> list[Any]:
    return [row.depot, row.item, row.item_name, row.unit, row.lot,
            row.expiry.isoformat() if row.expiry else "", tr.label("quality", row.quality),
            row.on_hand, row.reserved, row.available, ""]


def to_csv(rows: Iterable[reports.StockRow], tr: Translator) -> str:
    """The stock as CSV, with a BOM so spreadsheet programs read the Chinese names right."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([tr(label) for _, label in COLUMNS])
    for row in rows:
        writer.writerow(csv_row(_cells(row, tr)))
    return out.getvalue()


def to_xlsx(rows: Sequence[reports.StockRow], tr: Translator, *, depot: str, depot_name: str,
            today: date) -> bytes:
    """The stock as an Excel workbook; its "counted" column is the count sheet."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = tr("xlsx.sheet")
    sheet.append([tr(label) for _, label in COLUMNS])
    expiry_col = [name for name, _ in COLUMNS].index("expiry") + 1
    for row in rows:
        xlsx_append(sheet, _cells(row, tr))
        if row.expiry:  # a real date cell, so the spreadsheet sorts and filters it as a date
            cell = sheet.cell(row=sheet.max_row, column=expiry_col)
            cell.value = row.expiry
            cell.number_format = "yyyy-mm-dd"
    bold = Font(bold=True)
    counted = len(COLUMNS)
    for cell in sheet[1]:
        cell.font = bold
        cell.alignment = Alignment(vertical="center")
    fill = PatternFill("solid", fgColor="FFF4CC")
    for r in range(1, len(rows) + 2):
        sheet.cell(row=r, column=counted).fill = fill
    widths = [12, 10, 26, 6, 18, 12, 10, 10, 10, 10, 10]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    notes = book.create_sheet(tr("xlsx.notes_sheet"))
    for line in (tr("xlsx.note.title", depot=depot, name=depot_name, date=today.isoformat()),
                 tr("xlsx.note.fill"), tr("xlsx.note.blank"), tr("xlsx.note.preview")):
        xlsx_append(notes, [line])
    notes.column_dimensions["A"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Import


class CountFileError(Exception):
    """The uploaded file is not a readable count sheet; the message says why."""


@dataclass(frozen=True)
class CountLine:
    """One counted lot read from the sheet (``row`` is the spreadsheet row number)."""

    row: int
    item: str
    lot: str
    counted: int


@dataclass(frozen=True)
class SheetProblem:
    """A row of the sheet that cannot be used, and why."""

    row: int
    message: str


def _header_map(tr_all: Sequence[Translator], header: Sequence[Any]) -> dict[str, int]:
    names: dict[str, str] = {}
    for key, label in COLUMNS:
        names[key] = key
        for tr in tr_all:
            names[tr(label).strip().lower()] = key
    found = {}
    for index, value in enumerate(header):
        key = names.get(str(value or "").strip().lower())
        if key is not None and key not in found:
            found[key] = index
    return found


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != int(value):
            raise ValueError(value)
        return int(value)
    text = str(value).strip().replace(",", "")
    if text == "":
        return None
    return int(text)


def check_unpacked(data: bytes) -> None:
    """Refuse an .xlsx whose parts would unpack to more than the limits, before parsing it
    (the zip directory states each part's size; the parser is bounded by them too, since a
    part that inflates past its stated size fails the zip's check)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CountFileError("file.not_xlsx") from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise CountFileError("file.unpacked_too_big", {"mb": MAX_UNPACKED_BYTES // 2**20})
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES or any(
            m.filename.lower().endswith("sharedstrings.xml")
            and m.file_size > MAX_SHARED_STRINGS_BYTES for m in members):
        raise CountFileError("file.unpacked_too_big", {"mb": MAX_UNPACKED_BYTES // 2**20})


def _bounded(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The sheet's rows as they stream in, refused past :data:`MAX_CELLS` cells or a text
    longer than :data:`MAX_CELL_CHARS`."""
    cells = 0
    for values in rows:
        cells += len(values)
        if cells > MAX_CELLS:
            raise CountFileError("file.too_many_cells", {"max": MAX_CELLS})
        for value in values:
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise CountFileError("file.cell_too_long", {"max": MAX_CELL_CHARS})
        yield values


def read_count(data: bytes, translators: Sequence[Translator]
               ) -> tuple[list[CountLine], list[SheetProblem]]:
    """The counted lots of an uploaded workbook (first sheet), and the rows that are unusable.

    Rows with an empty "counted" cell were not counted and are skipped.
    """
    if len(data) > MAX_BYTES:
        raise CountFileError("file.too_big")
    check_unpacked(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not xlsx
        raise CountFileError("file.not_xlsx") from exc
    try:
        sheet = book.worksheets[0]
        rows = _bounded(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS))
        header = next(rows, None)
        if header is None:
            raise CountFileError("file.empty")
        columns = _header_map(translators, header)
        missing = [k for k in ("item", "lot", "counted") if k not in columns]
        if missing:
            raise CountFileError("file.columns")
        lines: list[CountLine] = []
        problems: list[SheetProblem] = []
        seen: dict[tuple[str, str], int] = {}
        for number, values in enumerate(rows, start=2):
            if number > MAX_ROWS + 1:
                raise CountFileError("file.too_many_rows")

            def cell(key: str, values: tuple[Any, ...] = values) -> Any:
                index = columns[key]
                return values[index] if index < len(values) else None

            raw_counted = cell("counted")
            item = str(cell("item") or "").strip()
            lot = str(cell("lot") or "").strip()
            if raw_counted is None or str(raw_counted).strip() == "":
                continue
            try:
                counted = _integer(raw_counted)
            except ValueError:
                problems.append(SheetProblem(number, "row.counted_not_integer"))
                continue
            if counted is None:
                continue
            if counted < 0:
                problems.append(SheetProblem(number, "row.counted_negative"))
                continue
            if not item or not lot:
                problems.append(SheetProblem(number, "row.item_lot_missing"))
                continue
            if (item, lot) in seen:
                problems.append(SheetProblem(number, "row.duplicate"))
                continue
            seen[(item, lot)] = number
            lines.append(CountLine(row=number, item=item, lot=lot, counted=counted))
        return lines, problems
    finally:
        book.close()


class PreviewLine(BaseModel):
    """One counted lot: the book now, the count, and the move the difference would post."""

    row: int
    item: str
    item_name: str
    item_name_en: str = ""
    unit: str
    lot: str
    expiry: date | None
    on_hand: int
    reserved: int
    counted: int
    delta: int
    move: str  # adjustment_gain | adjustment_loss | none
    problem: str | None = None  # i18n key: the line cannot be applied


class Preview(BaseModel):
    """What applying a count would do."""

    depot: str
    lines: list[PreviewLine]
    problems: list[dict[str, Any]] = []

    @property
    def applicable(self) -> list[PreviewLine]:
        """Lines that would post a move."""
        return [x for x in self.lines if x.problem is None and x.delta != 0]

    @property
    def blocked(self) -> bool:
        """True when a line cannot be applied (the whole count is refused)."""
        return bool(self.problems) or any(x.problem for x in self.lines)


def _book(session: Session, depot: Depot, today: date) -> dict[tuple[str, str], tuple[int, int]]:
    """(item, lot) -> (on hand, reserved) of every quant of the depot, empty ones included."""
    rows, _ = reports.stock_rows(session, today=today,
                                 filters=reports.StockFilter(depot=depot.code,
                                                             include_empty=True),
                                 limit=100_000, offset=0)
    return {(r.item, r.lot): (r.on_hand, r.reserved) for r in rows}


def preview(session: Session, *, principal: Principal, depot_code: str, today: date,
            lines: Sequence[CountLine], problems: Sequence[SheetProblem] = ()) -> Preview:
    """The preview of a count: current book against counted, per lot."""
    depot = service.get_depot(session, depot_code)
    principal.require_depot(depot.code)
    book = _book(session, depot, today)
    location = ledger.depot_location(session, depot)
    out: list[PreviewLine] = []
    items: dict[str, Any] = {}
    for line in lines:
        problem = None
        item = items.get(line.item)
        if item is None:
            try:
                item = items[line.item] = service.get_item(session, line.item)
            except NotFound:
                item = None
        lot = None
        if item is None:
            problem = "row.unknown_item"
        else:
            held = ledger.lots_at(session, location=location, item=item, lot_number=line.lot)
            if len(held) == 1:
                lot = held[0]
            else:
                problem = "row.ambiguous_lot" if held else "row.unknown_lot"
        on_hand, reserved = book.get((line.item, line.lot), (0, 0))
        delta = line.counted - on_hand
        if problem is None and line.counted < reserved:
            problem = "row.below_reserved"
        out.append(PreviewLine(
            row=line.row, item=line.item, item_name=item.name_zh if item else "",
            item_name_en=item.name_en if item else "",
            unit=item.unit if item else "", lot=line.lot, expiry=lot.expiry if lot else None,
            on_hand=on_hand, reserved=reserved, counted=line.counted, delta=delta,
            move=("none" if delta == 0 else "adjustment_gain" if delta > 0
                  else "adjustment_loss"),
            problem=problem))
    return Preview(depot=depot.code, lines=out,
                   problems=[asdict(p) for p in problems])


class BookChanged(Conflict):
    """The book moved since the preview; ``details["changes"]`` lists the lots (409)."""

    code = "book_changed"


class CountApplied(BaseModel):
    """What an applied count posted."""

    depot: str
    moves: int
    gains: int
    losses: int
    at: datetime


def apply(session: Session, *, principal: Principal, depot_code: str,
          expected: Sequence[PreviewLine], reason: str, ctx: MoveContext) -> CountApplied:
    """Post the previewed count in the caller's transaction, or raise :class:`BookChanged`.

    The lots' quants are locked first (in the ledger's order: item by item at this depot), the
    book is compared with the preview, and only then are the adjustment use cases run.
    """
    depot = service.get_depot(session, depot_code)
    principal.require_depot(depot.code)
    if not reason.strip():
        raise InvalidInput.of("count.reason_required", field="reason")
    location = ledger.depot_location(session, depot)
    resolved = []
    for line in expected:
        item = service.get_item(session, line.item)
        lot = service.get_lot(session, item, line.lot, depot=depot)
        resolved.append((item, lot, line))
    for item_id in sorted({item.id or 0 for item, _, _ in resolved}):
        lot_ids = [lot.id or 0 for item, lot, _ in resolved if item.id == item_id]
        ledger.lock_stock(session, location, item_id, lot_ids)
    book = _book(session, depot, ctx.today)
    changes = []
    for item, lot, line in resolved:
        now = book.get((item.code, lot.lot_number), (0, 0))[0]
        if now != line.on_hand:
            changes.append({"item": item.code, "item_name": item.name_zh, "lot": lot.lot_number,
                            "at_preview": line.on_hand, "now": now})
    if changes:
        raise BookChanged.of("count.book_changed", lines=len(changes),
                             details={"changes": changes})
    gains = losses = moves = 0
    for item, lot, line in resolved:
        if line.counted == line.on_hand:
            continue
        result = service.adjust_stock(session, principal=principal, data=AdjustmentIn(
            depot=depot.code, item=item.code, lot=lot.lot_number,
            counted_quantity=line.counted, reason=reason), ctx=ctx)
        moves += len(result.moves)
        if line.counted > line.on_hand:
            gains += 1
        else:
            losses += 1
    return CountApplied(depot=depot.code, moves=moves, gains=gains, losses=losses,
                        at=datetime.now().astimezone())
