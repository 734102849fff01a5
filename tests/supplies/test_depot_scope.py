"""Depot scopes hold for every stock write endpoint: a depot manager cannot change another
depot's stock (on hand, reserved, quality, availability) by any sequence of calls they are
allowed.

Setup: the manager of CTY and TWN and the other depot CTY2 share batch numbers (tents in
lot SHARED, water in lot W with one expiry at CTY2); CTY2 also has a reservation. For each
endpoint the manager runs everything that endpoint lets them do with the shared batches at
their own depots, and tries it at CTY2 (403); CTY2's stock must come out identical.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from supplies.models import Depot, Location, Lot, Quant
from tests.world import QUILT, TENT, TODAY, WATER, World

E_OTHER = TODAY + timedelta(days=300)
E_OWN = TODAY + timedelta(days=90)


def _snapshot(world: World, depot: str) -> list[tuple[str, str, str | None, str, int, int]]:
    """Every quant of ``depot``: (item, lot, expiry, quality, on hand, reserved)."""
    with world.db.read_session() as s:
        rows = s.execute(
            select(Lot.lot_number, Lot.expiry, Lot.item_id, Quant)
            .join(Quant, Quant.lot_id == Lot.id)
            .join(Location, Location.id == Quant.location_id)
            .join(Depot, Depot.id == Location.depot_id)
            .where(Depot.code == depot)
        ).all()
        return sorted((str(item), number, str(expiry), q.quality, q.on_hand, q.reserved)
                      for number, expiry, item, q in rows)


def _available(world: World, depot: str) -> dict[str, int]:
    return {item: world.available(depot, item) for item in (TENT, WATER, QUILT)}


def _lot(world: World, item: str, number: str) -> int:
    rows = world.viewer.get("/stock", depot="CTY2", item=item, lot=number).json()["items"]
    return int(rows[0]["lot_id"])


@pytest.fixture
def shared(world: World) -> World:
    """CTY2 and the manager's CTY hold the same batches; CTY2 has a reservation."""
    world.receive("CTY2", TENT, 50, lot="SHARED")
    world.receive("CTY2", WATER, 40, lot="W", expiry=E_OTHER)
    world.receive("CTY", TENT, 20, lot="SHARED")
    world.receive("CTY", WATER, 10, lot="W-OWN", expiry=E_OWN)
    assert world.dispatcher.post("/stock/reservations", {
        "depot": "CTY2", "item": TENT, "quantity": 5, "reference": "PLAN-9"}).status_code == 201
    return world


def _ok(response: Any, *codes: int) -> None:
    assert response.status_code in (codes or (200, 201)), response.text


def _forbidden(response: Any) -> None:
    assert response.status_code == 403, response.text


def _restock(w: World) -> None:
    """The manager's own 20 good tents of the shared batch at CTY (whatever came before)."""
    m = w.manager
    tents = _lot(w, TENT, "SHARED")
    _ok(m.post(f"/stock/lots/{tents}/quality", {"status": "good", "depot": "CTY"}))
    _ok(m.post("/stock/receipts", {"depot": "CTY", "item": TENT, "quantity": 20,
                                   "lot": "SHARED"}))


def receipts(w: World) -> None:
    """Receive into the other depot's lot numbers (and another expiry for W) at CTY."""
    m = w.manager
    _ok(m.post("/stock/receipts", {"depot": "CTY", "item": TENT, "quantity": 1,
                                   "lot": "SHARED"}))
    _ok(m.post("/stock/receipts", {"depot": "TWN", "item": WATER, "quantity": 2, "lot": "W",
                                   "expiry": (E_OTHER - timedelta(days=1)).isoformat()}))
    _ok(m.post("/stock/receipts", {"depot": "CTY", "item": WATER, "quantity": 2, "lot": "W",
                                   "expiry": (E_OTHER - timedelta(days=3)).isoformat()}))
    _forbidden(m.post("/stock/receipts", {"depot": "CTY2", "item": TENT, "quantity": 1,
                                          "lot": "SHARED"}))


def issues(w: World) -> None:
    """Issue the shared batch at CTY to nothing left; try issuing at CTY2."""
    _restock(w)
    m = w.manager
    _ok(m.post("/stock/issues", {"depot": "CTY", "item": TENT, "quantity": 20,
                                 "lot": "SHARED", "reference": "INC-1"}))
    _forbidden(m.post("/stock/issues", {"depot": "CTY2", "item": TENT, "quantity": 1,
                                        "reference": "INC-1"}))


def transfers(w: World) -> None:
    """Send the shared batch to CTY2 (it stays in transit until CTY2 books it); try sending
    from CTY2."""
    _restock(w)
    m = w.manager
    _ok(m.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2", "item": TENT,
                                    "quantity": 3, "lot": "SHARED"}))
    _forbidden(m.post("/stock/transfers", {"from_depot": "CTY2", "to_depot": "CTY",
                                           "item": TENT, "quantity": 3}))


def transfer_receipts(w: World) -> None:
    """Book in at CTY what CTY sent itself via TWN; try booking in a transfer bound for
    CTY2."""
    _restock(w)
    m = w.manager
    to_twn = m.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "TWN", "item": TENT,
                                         "quantity": 4, "lot": "SHARED"}).json()
    _ok(m.post(f"/stock/transfers/{to_twn['id']}/receive", {"quantity": 3, "note": "1 torn"}))
    to_cty2 = m.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                          "item": TENT, "quantity": 2}).json()
    _forbidden(m.post(f"/stock/transfers/{to_cty2['id']}/receive", {}))


def adjustments(w: World) -> None:
    """Count the shared batch at CTY up and down, and count W at TWN (404 unless TWN holds a
    lot W of its own); try counting at CTY2."""
    _restock(w)
    m = w.manager
    for counted in (0, 999, 7):
        _ok(m.post("/stock/adjustments", {"depot": "CTY", "item": TENT, "lot": "SHARED",
                                          "counted_quantity": counted, "reason": "count"}))
    _ok(m.post("/stock/adjustments", {"depot": "TWN", "item": WATER, "lot": "W",
                                      "counted_quantity": 5, "reason": "count"}), 201, 404)
    _forbidden(m.post("/stock/adjustments", {"depot": "CTY2", "item": TENT, "lot": "SHARED",
                                             "counted_quantity": 0, "reason": "count"}))


def scrap(w: World) -> None:
    """Scrap the shared batch at CTY; try scrapping it at CTY2."""
    _restock(w)
    m = w.manager
    _ok(m.post("/stock/scrap", {"depot": "CTY", "item": TENT, "lot": "SHARED",
                                "quantity": 20, "reason": "wet"}))
    _forbidden(m.post("/stock/scrap", {"depot": "CTY2", "item": TENT, "lot": "SHARED",
                                       "quantity": 1, "reason": "wet"}))


def quality(w: World) -> None:
    """Mark the shared batch damaged and quarantined at CTY (naming the depot, and without it
    once only CTY holds the batch of W received there); try the verdict at CTY2 and without
    a depot while both hold it."""
    _restock(w)
    m = w.manager
    tents = _lot(w, TENT, "SHARED")
    for status in ("damaged", "quarantine"):
        _ok(m.post(f"/stock/lots/{tents}/quality", {"status": status, "depot": "CTY"}))
    _ok(m.post(f"/stock/lots/{tents}/quality", {"status": "damaged"}), 422)
    _forbidden(m.post(f"/stock/lots/{tents}/quality", {"status": "damaged", "depot": "CTY2"}))
    water = _lot(w, WATER, "W")
    _forbidden(m.post(f"/stock/lots/{water}/quality", {"status": "damaged"}))
    _ok(m.post(f"/stock/lots/{water}/quality", {"status": "damaged", "depot": "CTY"}), 404)


def reservations(w: World) -> None:
    """Reserve the shared batch at CTY; try reserving at CTY2."""
    _restock(w)
    m = w.manager
    _ok(m.post("/stock/reservations", {"depot": "CTY", "item": TENT, "quantity": 20,
                                       "lot": "SHARED", "reference": "P1"}))
    _forbidden(m.post("/stock/reservations", {"depot": "CTY2", "item": TENT, "quantity": 1,
                                              "reference": "P1"}))


def releases(w: World) -> None:
    """Release one's own reservation; try releasing CTY2's."""
    _restock(w)
    m = w.manager
    own = m.post("/stock/reservations", {"depot": "CTY", "item": TENT, "quantity": 2,
                                         "reference": "P2"}).json()
    _ok(m.post(f"/stock/reservations/{own['id']}/release", {}))
    theirs = w.viewer.get("/stock/reservations", depot="CTY2").json()["items"][0]
    _forbidden(m.post(f"/stock/reservations/{theirs['id']}/release", {"quantity": 1}))


ENDPOINTS: dict[str, Callable[[World], None]] = {
    "POST /stock/receipts": receipts,
    "POST /stock/issues": issues,
    "POST /stock/transfers": transfers,
    "POST /stock/transfers/{id}/receive": transfer_receipts,
    "POST /stock/adjustments": adjustments,
    "POST /stock/scrap": scrap,
    "POST /stock/lots/{id}/quality": quality,
    "POST /stock/reservations": reservations,
    "POST /stock/reservations/{id}/release": releases,
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_manager_cannot_change_another_depots_stock(shared: World, endpoint: str) -> None:
    """Everything the endpoint allows the manager, and the attempts it refuses, leave CTY2's
    stock exactly as it was: every quant's quality, on hand and reserved, and availability."""
    before, available = _snapshot(shared, "CTY2"), _available(shared, "CTY2")
    ENDPOINTS[endpoint](shared)
    assert _snapshot(shared, "CTY2") == before
    assert _available(shared, "CTY2") == available
    shared.ledger_ok()


def test_every_allowed_sequence_together_leaves_the_other_depot_alone(shared: World) -> None:
    """All the endpoints' sequences one after another (so later calls see what earlier ones
    left: a damaged shared batch, counted lots, open transfers) change nothing at CTY2."""
    before, available = _snapshot(shared, "CTY2"), _available(shared, "CTY2")
    for run in ENDPOINTS.values():
        run(shared)
    assert _snapshot(shared, "CTY2") == before
    assert _available(shared, "CTY2") == available
    shared.ledger_ok()


def test_the_stock_write_endpoints_are_all_covered(shared: World) -> None:
    """Every POST route under /stock is in the table above, so a new stock write endpoint
    cannot be added without its depot-scope test."""
    paths = shared.client.get("/openapi.json").json()["paths"]
    routes = {
        "POST " + path.removeprefix("/api/v1").replace("{transfer_id}", "{id}")
        .replace("{lot_id}", "{id}").replace("{reservation_id}", "{id}")
        for path, operations in paths.items()
        if path.startswith("/api/v1/stock") and "post" in operations
    }
    assert routes == set(ENDPOINTS)
