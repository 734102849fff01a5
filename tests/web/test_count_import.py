"""The Excel stock-count import: the exported sheet, filled in and uploaded, gives a preview of
the gain and loss moves; applying posts them in one transaction, unless the book changed since
the preview. On both databases."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import timedelta
from html import unescape
from typing import Any

from openpyxl import Workbook, load_workbook

from tests.web.conftest import Console
from tests.world import QUILT, TENT, TODAY, WATER, World

MakeConsole = Callable[[str | None], Console]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _stock(world: World, depot: str, item: str) -> int:
    return sum(r["on_hand"] for r in world.viewer.get("/stock", depot=depot, item=item)
               .json()["items"])


def _counted_sheet(c: Console, counts: dict[tuple[str, str], Any], lang: str = "zh") -> bytes:
    """Export the depot's sheet and fill the counted column for (item, lot)."""
    book = load_workbook(io.BytesIO(c.get(f"/console/depots/CTY/stock.xlsx?lang={lang}").content))
    sheet = book.worksheets[0]
    for row in sheet.iter_rows(min_row=2):
        key = (row[1].value, row[4].value)
        if key in counts:
            row[-1].value = counts[key]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(c: Console, data: bytes, name: str = "count.xlsx") -> Any:
    return c.client.post("/console/depots/CTY/count",
                         data={"csrf_token": c.csrf},
                         files={"file": (name, data, XLSX)}, follow_redirects=False)


def _payload(html: str) -> str:
    match = re.search(r'name="payload" value="([^"]*)"', html)
    assert match, html[-2000:]
    return unescape(match.group(1))


def _setup(world: World) -> None:
    world.receive("CTY", TENT, 40, lot="T-1")
    world.receive("CTY", QUILT, 100, lot="Q-1")
    world.receive("CTY", WATER, 50, lot="W-1", expiry=TODAY + timedelta(days=90))


def test_preview_then_apply_posts_gains_and_losses(world: World, console: MakeConsole) -> None:
    """The preview shows book against counted per lot and the move each difference posts;
    nothing changes until it is applied, then the book equals the count."""
    _setup(world)
    c = console(world.manager.token)
    sheet = _counted_sheet(c, {(TENT, "T-1"): 38, (QUILT, "Q-1"): 100, (WATER, "W-1"): "55"})
    moves = world.moves()
    preview = _upload(c, sheet)
    assert preview.status_code == 200, preview.text[-1500:]
    html = preview.text
    assert 'id="preview-table"' in html and "盘亏" in html and "盘盈" in html
    tent = html.split(f'data-item="{TENT}" data-lot="T-1"')[1].split("</tr>")[0]
    assert '<td class="num book">40</td>' in tent and '<td class="num delta">-2</td>' in tent
    assert world.moves() == moves  # a preview writes nothing
    lines = json.loads(_payload(html))
    assert {(x["item"], x["counted"], x["on_hand"]) for x in lines} == {
        (TENT, 38, 40), (QUILT, 100, 100), (WATER, 55, 50)}
    applied = c.post("/console/depots/CTY/count/apply",
                     {"payload": _payload(html), "reason": "月度盘点"})
    assert applied.status_code == 303 and "done=count" in applied.headers["location"]
    assert (_stock(world, "CTY", TENT), _stock(world, "CTY", QUILT),
            _stock(world, "CTY", WATER)) == (38, 100, 55)
    assert world.moves() == moves + 2  # one loss, one gain; the matching lot posts nothing
    assert world.ledger_ok()


def test_book_changed_since_preview_writes_nothing_and_shows_what_changed(
        world: World, console: MakeConsole) -> None:
    """If stock moved between preview and apply, nothing is written and the changed lots are
    listed with the book at preview and now, beside a fresh preview."""
    _setup(world)
    c = console(world.manager.token)
    preview = _upload(c, _counted_sheet(c, {(TENT, "T-1"): 38, (QUILT, "Q-1"): 90}))
    payload = _payload(preview.text)
    world.manager.post("/stock/issues", {"depot": "CTY", "item": TENT, "quantity": 5,
                                         "reference": "meanwhile"})
    moves = world.moves()
    stale = c.post("/console/depots/CTY/count/apply", {"payload": payload, "reason": "x"})
    assert stale.status_code == 409
    assert 'id="book-changed"' in stale.text
    changed = stale.text.split('id="book-changed"')[1].split("</section>")[0]
    assert f'data-item="{TENT}" data-lot="T-1"' in changed
    assert ">40<" in changed and ">35<" in changed
    assert QUILT not in changed
    assert world.moves() == moves and _stock(world, "CTY", QUILT) == 100
    fresh = json.loads(_payload(stale.text))
    assert {(x["item"], x["on_hand"]) for x in fresh} == {(TENT, 35), (QUILT, 100)}
    again = c.post("/console/depots/CTY/count/apply", {"payload": _payload(stale.text),
                                                       "reason": "x"})
    assert again.status_code == 303
    assert (_stock(world, "CTY", TENT), _stock(world, "CTY", QUILT)) == (38, 90)


def test_unusable_rows_and_files_are_reported_and_block_the_apply(world: World,
                                                                  console: MakeConsole) -> None:
    """Unknown lots, negative or fractional counts and a count below what is reserved are
    flagged per row; a file that is not a count sheet is an error at the file field."""
    _setup(world)
    world.manager.post("/stock/reservations", {"depot": "CTY", "item": QUILT, "quantity": 30,
                                               "reference": "held"})
    c = console(world.manager.token)
    book = Workbook()
    sheet = book.active
    sheet.append(["Item", "Lot", "Counted"])  # English headers work too
    sheet.append([TENT, "NOPE", 3])
    sheet.append([TENT, "T-1", -1])
    sheet.append([TENT, "T-1", 2.5])
    sheet.append([QUILT, "Q-1", 10])
    sheet.append([WATER, "W-1", None])  # not counted: skipped
    out = io.BytesIO()
    book.save(out)
    r = _upload(c, out.getvalue())
    assert r.status_code == 200
    assert 'id="sheet-problems"' in r.text and "第 3 行" in r.text and "第 4 行" in r.text
    assert "批次不存在" in r.text and "低于已预留数量" in r.text
    assert 'id="apply-form"' not in r.text
    forced = c.post("/console/depots/CTY/count/apply", {"payload": _payload_from(r.text)})
    assert forced.status_code == 422
    assert _stock(world, "CTY", QUILT) == 100
    bad = _upload(c, b"not a spreadsheet", name="x.xlsx")
    assert bad.status_code == 422 and 'id="count-file-error"' in bad.text


def _payload_from(html: str) -> str:
    """A payload built from the preview rows (the page offers no apply form when blocked)."""
    rows = re.findall(r'data-item="(\d+)" data-lot="([^"]+)"', html)
    return json.dumps([{"row": i + 2, "item": item, "item_name": "", "unit": "", "lot": lot,
                        "expiry": None, "on_hand": 0, "reserved": 0, "counted": 1, "delta": 1,
                        "move": "adjustment_gain", "problem": "row.unknown_lot"}
                       for i, (item, lot) in enumerate(rows)])


def test_only_the_depots_managers_may_preview_or_apply(world: World,
                                                       console: MakeConsole) -> None:
    """A viewer or another depot's manager gets the 403 page for an upload."""
    _setup(world)
    owner = console(world.manager.token)
    sheet = _counted_sheet(owner, {(TENT, "T-1"): 1})
    for token in (world.viewer.token, world.manager2.token):
        r = _upload(console(token), sheet)
        assert r.status_code == 403 and 'id="error-page"' in r.text
