"""Issue 16, files: exports carry no live formula (OWASP CSV injection), count-sheet uploads are
bounded before they are parsed (rejected import records: tests/exchange/test_rejection_cap.py)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable

import pytest
from openpyxl import Workbook, load_workbook

from relief.platform.exports import csv_row
from tests.web.conftest import Console
from tests.world import TENT, World
from web import stockio

MakeConsole = Callable[[str | None], Console]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULAS = ['=HYPERLINK("http://evil.example/x","点我")', "+1+2", "-3+4", "@SUM(A1:A2)"]


def test_csv_cells_that_look_like_formulas_are_written_as_text() -> None:
    """OWASP's rule: = + - @ tab and carriage return at the start get a leading quote; numbers
    and ordinary text are untouched."""
    assert csv_row(["=1+1", "+1", "-1", "@x", "\tx", "\rx", "a=b", -5, 3.5, None, ""]) == [
        "'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "a=b", -5, 3.5, None, ""]


def test_exports_neutralise_formulas(world: World, console: MakeConsole) -> None:
    """Lots named like formulas: the CSV export carries them quoted-as-text, the Excel export as
    string cells with the quote prefix (no formula element at all), the value unchanged."""
    for i, lot in enumerate(FORMULAS):
        world.receive("CTY", TENT, 1 + i, lot=lot)
    c = console(world.manager.token)
    text = c.get("/console/depots/CTY/stock.csv").content.decode("utf-8-sig")
    lots = [row[4] for row in csv.reader(io.StringIO(text))][1:]
    assert sorted(lots) == sorted("'" + lot for lot in FORMULAS)
    data = c.get("/console/depots/CTY/stock.xlsx").content
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [row[4] for row in sheet.iter_rows(min_row=2)]
    assert sorted(cell.value for cell in cells) == sorted(FORMULAS)
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in cells)


def _upload(c: Console, data: bytes) -> str:
    response = c.client.post("/console/depots/CTY/count", data={"csrf_token": c.csrf},
                             files={"file": ("count.xlsx", data, XLSX)}, follow_redirects=False)
    assert response.status_code == 422, response.text[-1000:]
    return response.text


def _sheet(rows: int, cols: int, text: str = "x") -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["物资编码", "批次", "盘点数"] + [f"c{i}" for i in range(cols - 3)])
    for _ in range(rows):
        sheet.append([text] * cols)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_bomb_xlsx_is_refused_from_its_unpacked_size(world: World, console: MakeConsole) -> None:
    """A small upload that unpacks to 60 MB (a zip bomb) is refused before parsing."""
    small = io.BytesIO(_sheet(1, 3))
    with zipfile.ZipFile(small, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"<sst>" + b" " * (60 * 2**20) + b"</sst>")
    data = small.getvalue()
    assert len(data) < 1_000_000
    with pytest.raises(stockio.CountFileError) as refused:
        stockio.check_unpacked(data)
    assert refused.value.args[0] == "file.unpacked_too_big"
    assert "解压后超过" in _upload(console(world.manager.token), data)


def test_too_many_cells_and_too_long_cells_are_refused(world: World, console: MakeConsole
                                                       ) -> None:
    """Cells are counted and measured while the sheet streams (read-only mode)."""
    c = console(world.manager.token)
    assert "单元格过多" in _upload(c, _sheet(3000, 40))
    assert "单元格内容过长" in _upload(c, _sheet(2, 3, "长" * (stockio.MAX_CELL_CHARS + 1)))


def test_manifest_csv_neutralises_formulas() -> None:
    """The trip manifest's CSV writes a formula-like site name, lot and driver as text."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from dispatch.manifest import manifest_csv
    from dispatch.models.plans import LoadPublic, ShipmentPublic, StopLinePublic, StopPublic

    at = datetime(2026, 8, 1, 6, 0, tzinfo=UTC)
    shipment = ShipmentPublic(
        id=1, plan_id=1, incident_id=1, source="CTY", source_name="通州区储备库",
        source_tier="county", vehicle="苏F00001", driver="+8613800000000", trip_no=1,
        status="planned", planned_depart_min=0, planned_depart=at, planned_return_min=60,
        departed_at=None, finished_at=None,
        load=[LoadPublic(item=TENT, item_name="帐篷", unit="顶", lot="@SUM(1+1)", expiry=None,
                         quantity=5)],
        stops=[StopPublic(id=1, seq=1, site="P1", site_name="=cmd|' /C calc'!A0",
                          planned_arrival_min=30, planned_arrival=at, status="pending",
                          arrived_at=None, lines=[StopLinePublic(item=TENT, planned=5,
                                                                 delivered=None,
                                                                 shortfall=None)])])
    rows = list(csv.reader(io.StringIO(manifest_csv(shipment, tz=ZoneInfo("Asia/Shanghai")))))
    cells = [cell for row in rows for cell in row]
    assert "'+8613800000000" in cells and "'@SUM(1+1)" in cells
    # the site cell reads "name (code)": still text, led by the quote
    assert "'=cmd|' /C calc'!A0 (P1)" in cells
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
