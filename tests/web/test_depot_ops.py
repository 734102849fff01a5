"""Guarded stock operations on a depot's page, over HTTP, on both databases: an expiry already
past must be confirmed, expired lots are badged as expired (never a green 合格) and can be
scrapped, and every irreversible form asks before it posts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from tests.web.conftest import Console
from tests.world import QUILT, TODAY, WATER, World

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
