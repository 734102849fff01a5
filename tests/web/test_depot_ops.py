"""Guarded stock operations on a depot's page, over HTTP, on both databases: an expiry already
past must be confirmed, expired lots are badged as expired (never a green 合格) and can be
scrapped, and every irreversible form asks before it posts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from tests.web.conftest import Console
from tests.world import QUILT, TENT, TODAY, WATER, World

MakeConsole = Callable[[str | None], Console]
PAST = (TODAY - timedelta(days=30)).isoformat()


def _row(html: str, item: str, lot: str) -> str:
    return html.split(f'data-item="{item}" data-lot="{lot}"')[1].split("</tr>")[0]


def test_an_expiry_already_past_must_be_confirmed(world: World, console: MakeConsole) -> None:
    """A receipt expiring in the past is held back with a warning at the expiry and a box to
    tick; ticked, it is booked, and the lot shows as expired with a Scrap button."""
    c = console(world.manager.token)
    moves = world.moves()
    body = {"item": WATER, "quantity": "10", "expiry": PAST, "lot": "W-OLD"}
    warned = c.post("/console/depots/CTY/receive", body)
    assert warned.status_code == 422 and world.moves() == moves
    assert 'id="receive-expiry-error"' in warned.text and "已过期" in warned.text
    assert 'name="accept_expired"' in warned.text
    booked = c.post("/console/depots/CTY/receive", {**body, "accept_expired": "1"})
    assert booked.status_code == 303
    row = _row(c.get("/console/depots/CTY").text, WATER, "W-OLD")
    assert "expired-badge" in row and "合格" not in row
    assert 'class="small danger scrap-prefill"' in row


def test_expired_and_damaged_lots_are_scrapped_from_the_page(world: World,
                                                            console: MakeConsole) -> None:
    """The scrap form (which asks first) writes the chosen lot off; too much is refused at the
    quantity with the numbers, in Chinese; the ledger stays whole."""
    world.receive("CTY", QUILT, 8, lot="Q-WET")
    c = console(world.manager.token)
    page = c.get("/console/depots/CTY").text
    assert re.search(r'id="scrap-form"[^>]*data-confirm="[^"]+"', page)
    assert re.search(r'id="quality-form"[^>]*data-confirm-when="status=damaged"', page)
    too_many = c.post("/console/depots/CTY/scrap", {"lot_key": f"{QUILT}|Q-WET|",
                                                    "quantity": "9", "reason": "水浸"})
    assert too_many.status_code == 409
    assert 'id="scrap-quantity-error">' in too_many.text and "9" in too_many.text
    scrapped = c.post("/console/depots/CTY/scrap", {"lot_key": f"{QUILT}|Q-WET|",
                                                    "quantity": "8", "reason": "水浸"})
    assert scrapped.status_code == 303 and "done=scrap" in scrapped.headers["location"]
    assert world.available("CTY", QUILT) == 0
    assert world.ledger_ok()
    unchosen = c.post("/console/depots/CTY/scrap", {"quantity": "1", "reason": "x"})
    assert unchosen.status_code == 422 and 'id="scrap-lot_key-error"' in unchosen.text


def test_moves_and_transfers_page_search_and_sort(world: World, console: MakeConsole) -> None:
    """Every move of the depot can be reached (20 a page), searched by lot and filtered by
    kind, oldest or newest first; the transfers it sent page and search the same way."""
    for k in range(23):
        world.receive("CTY", QUILT, 1, lot=f"Q-{k:02d}")
    c = console(world.manager.token)
    first = c.get("/console/depots/CTY").text
    assert first.count('<tr data-move="') == 20 and 'id="moves-pager"' in first
    second = c.get("/console/depots/CTY?mpage=2").text
    assert second.count('<tr data-move="') == 3
    found = c.get("/console/depots/CTY?mq=Q-07").text
    assert found.count('<tr data-move="') == 1 and "Q-07" in found
    oldest = c.get("/console/depots/CTY?msort=old").text
    assert oldest.index("Q-00") < oldest.index("Q-01")
    assert c.get("/console/depots/CTY?mkind=issue").text.count('<tr data-move="') == 0
    for k in range(3):
        sent = c.post("/console/depots/CTY/transfer", {"to_depot": "CTY2", "item": QUILT,
                                                      "quantity": "1", "lot": f"Q-{k:02d}"})
        assert sent.status_code == 303
    listed = c.get("/console/depots/CTY?tq=CTY2").text
    assert listed.count('<tr data-transfer="') == 3
    assert c.get("/console/depots/CTY?tstate=received").text.count('<tr data-transfer="') == 0


def test_issue_vouchers_and_transfer_waybills_print(world: World, console: MakeConsole) -> None:
    """An issue's voucher lists its lots (FEFO) with the quantity; a transfer's waybill names
    both depots, the lots and the weight; both link from the depot's lists."""
    world.receive("CTY", WATER, 5, lot="W-A", expiry=TODAY + timedelta(days=40))
    world.receive("CTY", WATER, 5, lot="W-B", expiry=TODAY + timedelta(days=90))
    c = console(world.manager.token)
    assert c.post("/console/depots/CTY/issue", {"item": WATER, "quantity": "7",
                                                "reference": "INC-9 发放"}).status_code == 303
    page = c.get("/console/depots/CTY").text
    voucher_url = re.search(r'href="(/console/depots/CTY/vouchers/[^"]+)"', page).group(1)
    voucher = c.get(voucher_url)
    assert voucher.status_code == 200 and "应急物资出库单" in voucher.text
    lines = voucher.text.split('id="voucher-lines"')[1]
    assert "W-A" in lines and "W-B" in lines and "INC-9 发放" in voucher.text
    assert c.post("/console/depots/CTY/transfer", {"to_depot": "CTY2", "item": WATER,
                                                   "quantity": "3"}).status_code == 303
    page = c.get("/console/depots/CTY").text
    waybill_url = re.search(r'href="(/console/transfers/\d+/waybill)"', page).group(1)
    waybill = c.get(waybill_url)
    assert waybill.status_code == 200 and "应急物资调拨单" in waybill.text
    assert "CTY2" in waybill.text and "W-B" in waybill.text
    assert "40.8" in waybill.text  # 3 cases x 13.6 kg
    assert c.get("/console/depots/CTY/vouchers/nope").status_code == 404


def test_a_leader_sees_each_countys_shortfall_per_item_in_units_and_tonnes(
        world: World, console: MakeConsole) -> None:
    """Against targets of 10 tents and 100 quilts at CTY (Tongzhou), holding 4 tents and none
    of the quilts: the county table gives the tonnes and the top short items with units, and
    the shortfall page lists each item apart (never tents plus quilts)."""
    for item, qty in ((TENT, 10), (QUILT, 100)):
        r = world.admin.post("/targets", {"depot": "CTY", "item": item, "quantity": qty})
        assert r.status_code == 201, r.text
    world.receive("CTY", TENT, 4, lot="T-1")
    c = console(world.viewer.token)
    row = c.get("/console/").text.split('data-county="320612"')[1].split("</tr>")[0]
    # 6 tents x 38 kg + 100 quilts x 2.5 kg = 478 kg
    assert '<span class="pill bad">0.5</span>' in row
    assert "救灾帐篷 6 顶" in row and "棉被 100 床" in row
    page = c.get("/console/shortfall?county=320612").text
    section = page.split('data-county="320612"')[1]
    assert '<tr data-item="1010101"><td>1010101</td><td>救灾帐篷</td><td class="num qty">6</td>' \
        in section
    assert '<td class="num qty">100</td><td>床</td><td class="num">0.25</td>' in section
    assert "106" not in section  # units of different items are never added
    assert c.get("/console/shortfall?county=999").status_code == 404
