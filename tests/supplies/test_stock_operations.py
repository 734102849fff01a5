"""Stock operations through the HTTP API: FEFO, usable lots, transfers, counts, reservations."""

from __future__ import annotations

from datetime import timedelta

from tests.world import QUILT, TENT, TODAY, WATER, World


def test_receipt_creates_lot_and_balance(world: World) -> None:
    """A receipt books stock into the depot from the supplier location and reports the balance."""
    body = world.receive("CTY", TENT, 40, lot="T-2026-01")
    assert body["balances"] == [
        {"depot": "CTY", "item": TENT, "on_hand": 40, "reserved": 0, "available": 40}
    ]
    (move,) = body["moves"]
    assert (move["from_location"], move["to_location"], move["kind"]) == (
        "VIRTUAL/SUPPLIER", "DEPOT/CTY", "receipt")
    assert world.available("CTY", TENT) == 40
    assert world.ledger_ok()


def test_receipt_without_lot_groups_by_expiry(world: World) -> None:
    """Unlabelled receipts with the same expiry share one automatic lot."""
    expiry = TODAY + timedelta(days=90)
    world.receive("CTY", WATER, 5, expiry=expiry)
    world.receive("CTY", WATER, 7, expiry=expiry)
    rows = world.viewer.get("/stock", depot="CTY", item=WATER).json()["items"]
    assert [(r["lot"], r["on_hand"]) for r in rows] == [(f"AUTO-{expiry:%Y%m%d}", 12)]


def test_issue_picks_earliest_expiry_first(world: World) -> None:
    """FEFO: an issue without a lot takes the earliest-expiring good lot first, then the next."""
    world.receive("CTY", WATER, 10, lot="LATE", expiry=TODAY + timedelta(days=300))
    world.receive("CTY", WATER, 10, lot="EARLY", expiry=TODAY + timedelta(days=20))
    world.receive("CTY", WATER, 10, lot="MID", expiry=TODAY + timedelta(days=100))
    response = world.manager.post("/stock/issues", {"depot": "CTY", "item": WATER,
                                                    "quantity": 15, "reference": "INC-1"})
    assert response.status_code == 201, response.text
    picked = [(m["lot"], m["quantity"]) for m in response.json()["moves"]]
    assert picked == [("EARLY", 10), ("MID", 5)]
    assert world.ledger_ok()


def test_lots_without_expiry_go_last(world: World) -> None:
    """Durable lots (no expiry) are picked after every dated lot, oldest lot first."""
    world.receive("CTY", TENT, 3, lot="OLD")
    world.receive("CTY", TENT, 3, lot="NEW")
    response = world.manager.post("/stock/issues", {"depot": "CTY", "item": TENT,
                                                    "quantity": 4, "reference": "INC-1"})
    assert [(m["lot"], m["quantity"]) for m in response.json()["moves"]] == [
        ("OLD", 3), ("NEW", 1)]


def test_expired_lot_is_never_issued(world: World) -> None:
    """Expired stock is not available: FEFO skips it and naming it explicitly is a 409."""
    world.receive("CTY", WATER, 10, lot="GONE", expiry=TODAY - timedelta(days=1))
    world.receive("CTY", WATER, 4, lot="FRESH", expiry=TODAY + timedelta(days=30))
    assert world.available("CTY", WATER) == 4
    too_much = world.manager.post("/stock/issues", {"depot": "CTY", "item": WATER,
                                                    "quantity": 5, "reference": "INC-1"})
    assert too_much.status_code == 409
    assert too_much.json()["error"]["details"]["available"] == 4
    named = world.manager.post("/stock/issues", {"depot": "CTY", "item": WATER, "quantity": 1,
                                                 "lot": "GONE", "reference": "INC-1"})
    assert named.status_code == 409
    ok = world.manager.post("/stock/issues", {"depot": "CTY", "item": WATER, "quantity": 4,
                                              "reference": "INC-1"})
    assert [m["lot"] for m in ok.json()["moves"]] == ["FRESH"]


def test_expiring_today_is_still_usable(world: World) -> None:
    """The expiry date is the last usable day: stock expiring today can still be issued."""
    world.receive("CTY", WATER, 2, lot="TODAY", expiry=TODAY)
    assert world.available("CTY", WATER) == 2


def test_quarantined_and_damaged_lots_are_never_issued_or_reserved(world: World) -> None:
    """Quarantine or damage takes a lot out of available stock until it is set back to good."""
    body = world.receive("CTY", QUILT, 10, lot="Q1")
    lot_id = body["moves"][0]["lot_id"]
    for status in ("quarantine", "damaged"):
        r = world.manager.post(f"/stock/lots/{lot_id}/quality", {"status": status,
                                                                  "reason": "mould"})
        assert r.status_code == 200 and r.json()["quality"] == status
        assert world.available("CTY", QUILT) == 0
        issue = world.manager.post("/stock/issues", {"depot": "CTY", "item": QUILT,
                                                     "quantity": 1, "reference": "X"})
        assert issue.status_code == 409
        reserve = world.dispatcher.post("/stock/reservations", {"depot": "CTY", "item": QUILT,
                                                                "quantity": 1,
                                                                "reference": "PLAN-1"})
        assert reserve.status_code == 409
    world.manager.post(f"/stock/lots/{lot_id}/quality", {"status": "good"})
    assert world.available("CTY", QUILT) == 10


def test_transfer_full_receipt(world: World) -> None:
    """A transfer moves stock to transit, then the receiver books all of it in."""
    world.receive("CTY", TENT, 20, lot="T1")
    sent = world.manager.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                                   "item": TENT, "quantity": 8})
    assert sent.status_code == 201, sent.text
    transfer = sent.json()
    assert transfer["state"] == "in_transit"
    assert world.available("CTY", TENT) == 12 and world.available("CTY2", TENT) == 0
    received = world.manager2.post(f"/stock/transfers/{transfer['id']}/receive", {})
    assert received.status_code == 200, received.text
    assert received.json()["received_quantity"] == 8 and received.json()["discrepancy"] == 0
    assert world.available("CTY2", TENT) == 8
    assert world.ledger_ok()


def test_transfer_partial_receipt_records_discrepancy(world: World) -> None:
    """Receiving less than was sent books what arrived and records the rest as a transit loss."""
    world.receive("CTY", WATER, 10, lot="W1", expiry=TODAY + timedelta(days=10))
    world.receive("CTY", WATER, 10, lot="W2", expiry=TODAY + timedelta(days=60))
    transfer = world.manager.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                                       "item": WATER, "quantity": 15}).json()
    assert [(line["lot"], line["quantity"]) for line in transfer["lines"]] == [
        ("W1", 10), ("W2", 5)]
    r = world.manager2.post(f"/stock/transfers/{transfer['id']}/receive",
                            {"quantity": 12, "note": "3 cases crushed"})
    body = r.json()
    assert r.status_code == 200, r.text
    assert (body["received_quantity"], body["discrepancy"], body["discrepancy_note"]) == (
        12, 3, "3 cases crushed")
    kinds = sorted((m["kind"], m["lot"], m["quantity"]) for m in body["moves"])
    assert kinds == [("transfer_in", "W1", 10), ("transfer_in", "W2", 2),
                     ("transfer_loss", "W2", 3)]
    assert world.available("CTY2", WATER) == 12
    assert world.available("CTY", WATER) == 5
    again = world.manager2.post(f"/stock/transfers/{transfer['id']}/receive", {})
    assert again.status_code == 409
    assert world.ledger_ok()


def test_transfer_receipt_per_lot_and_validation(world: World) -> None:
    """Per-lot receipt quantities are honoured; more than sent is a 422 naming the field."""
    world.receive("CTY", TENT, 5, lot="A")
    transfer = world.manager.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                                       "item": TENT, "quantity": 5}).json()
    path = f"/stock/transfers/{transfer['id']}/receive"
    too_many = world.manager2.post(path, {"quantity": 6})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["fields"][0]["field"] == "quantity"
    bad_lot = world.manager2.post(path, {"lines": [{"lot": "NOPE", "quantity": 1}]})
    assert bad_lot.status_code == 422
    assert bad_lot.json()["error"]["fields"][0]["field"] == "lines.0.lot"
    ok = world.manager2.post(path, {"lines": [{"lot": "A", "quantity": 4}]})
    assert ok.json()["discrepancy"] == 1
    assert world.ledger_ok()


def test_adjustment_records_gain_and_loss(world: World) -> None:
    """A count above the book is a gain from the inventory location, below it a loss to it."""
    world.receive("TWN", QUILT, 10, lot="Q")
    gain = world.manager.post("/stock/adjustments", {"depot": "TWN", "item": QUILT,
                                                     "counted_quantity": 13, "reason": "count"})
    assert gain.json()["moves"][0]["kind"] == "adjustment_gain"
    assert gain.json()["balances"][0]["on_hand"] == 13
    loss = world.manager.post("/stock/adjustments", {"depot": "TWN", "item": QUILT, "lot": "Q",
                                                     "counted_quantity": 9, "reason": "count"})
    assert (loss.json()["moves"][0]["kind"], loss.json()["moves"][0]["quantity"]) == (
        "adjustment_loss", 4)
    same = world.manager.post("/stock/adjustments", {"depot": "TWN", "item": QUILT, "lot": "Q",
                                                     "counted_quantity": 9, "reason": "recount"})
    assert same.json()["moves"] == []
    assert world.ledger_ok()


def test_adjustment_needs_lot_when_several(world: World) -> None:
    """Counting an item held in several lots without naming the lot is a 422 on ``lot``."""
    world.receive("TWN", QUILT, 1, lot="A")
    world.receive("TWN", QUILT, 1, lot="B")
    r = world.manager.post("/stock/adjustments", {"depot": "TWN", "item": QUILT,
                                                  "counted_quantity": 0, "reason": "count"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "lot"


def test_count_below_reserved_is_refused(world: World) -> None:
    """A count below the reserved quantity is a 409 so plans never count on missing goods."""
    world.receive("CTY", TENT, 10, lot="T")
    world.dispatcher.post("/stock/reservations", {"depot": "CTY", "item": TENT, "quantity": 6,
                                                  "reference": "PLAN-1"})
    r = world.manager.post("/stock/adjustments", {"depot": "CTY", "item": TENT,
                                                  "counted_quantity": 5, "reason": "count"})
    assert r.status_code == 409
    assert r.json()["error"]["details"]["reserved"] == 6


def test_reservations_hold_and_release(world: World) -> None:
    """Reserved stock is not available to issues; releasing it makes it available again."""
    world.receive("CTY", WATER, 10, lot="E", expiry=TODAY + timedelta(days=5))
    world.receive("CTY", WATER, 10, lot="L", expiry=TODAY + timedelta(days=50))
    r = world.dispatcher.post("/stock/reservations", {"depot": "CTY", "item": WATER,
                                                      "quantity": 12, "reference": "PLAN-7"})
    assert r.status_code == 201, r.text
    reservation = r.json()
    assert [(x["lot"], x["quantity"]) for x in reservation["lines"]] == [("E", 10), ("L", 2)]
    assert world.available("CTY", WATER) == 8
    issue = world.manager.post("/stock/issues", {"depot": "CTY", "item": WATER, "quantity": 9,
                                                 "reference": "X"})
    assert issue.status_code == 409 and issue.json()["error"]["details"]["available"] == 8
    part = world.dispatcher.post(f"/stock/reservations/{reservation['id']}/release",
                                 {"quantity": 2})
    assert part.json()["held"] == 10 and part.json()["state"] == "active"
    # What stays held is the earliest-expiring stock.
    assert [(x["lot"], x["quantity"]) for x in part.json()["lines"]] == [("E", 10), ("L", 0)]
    rest = world.dispatcher.post(f"/stock/reservations/{reservation['id']}/release", {})
    assert rest.json()["state"] == "released" and rest.json()["held"] == 0
    assert world.available("CTY", WATER) == 20
    again = world.dispatcher.post(f"/stock/reservations/{reservation['id']}/release", {})
    assert again.status_code == 409
    assert world.ledger_ok()


def test_scrap_removes_expired_stock(world: World) -> None:
    """Expired stock can be written off to scrap; it leaves on-hand and the ledger stays whole."""
    world.receive("CTY", WATER, 6, lot="OLD", expiry=TODAY - timedelta(days=3))
    r = world.manager.post("/stock/scrap", {"depot": "CTY", "item": WATER, "lot": "OLD",
                                            "quantity": 6, "reason": "expired"})
    assert r.status_code == 201, r.text
    assert r.json()["moves"][0]["to_location"] == "VIRTUAL/SCRAP"
    assert world.viewer.get("/stock", depot="CTY", item=WATER).json()["total"] == 0
    assert world.ledger_ok()


def test_moves_journal_pages_with_cursor(world: World) -> None:
    """GET /stock/moves returns the ledger oldest first and continues from its cursor."""
    for i in range(5):
        world.receive("CTY", TENT, i + 1, lot=f"L{i}")
    first = world.viewer.get("/stock/moves", limit=3).json()
    assert len(first["items"]) == 3 and first["next_after"] is not None
    rest = world.viewer.get("/stock/moves", limit=3, after=first["next_after"]).json()
    assert [m["quantity"] for m in first["items"] + rest["items"]] == [1, 2, 3, 4, 5]
    assert rest["next_after"] is None
    by_depot = world.viewer.get("/stock/moves", depot="CTY2").json()
    assert by_depot["items"] == []
