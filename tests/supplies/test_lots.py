"""Lots are shared batch identities; quality and lot-number rules are per holding depot."""

from __future__ import annotations

from datetime import timedelta

from tests.world import QUILT, TENT, TODAY, WATER, World

E1 = TODAY + timedelta(days=100)
E2 = TODAY + timedelta(days=200)


def _lot_id(body: dict) -> int:  # type: ignore[type-arg]
    return int(body["moves"][0]["lot_id"])


def test_one_depots_verdict_never_reaches_anothers_stock(world: World) -> None:
    """The issue-16 attack: a manager receives 1 quilt into another depot's lot number at
    their own depot and marks it damaged; the other depot's 5,080 quilts stay available."""
    lot_id = _lot_id(world.receive("CTY2", QUILT, 5080, lot="RG-2611"))
    own = world.manager.post("/stock/receipts", {"depot": "CTY", "item": QUILT, "quantity": 1,
                                                 "lot": "RG-2611"})
    assert own.status_code == 201 and _lot_id(own.json()) == lot_id  # the same batch
    damaged = world.manager.post(f"/stock/lots/{lot_id}/quality",
                                 {"status": "damaged", "depot": "CTY"})
    assert damaged.status_code == 200
    assert damaged.json()["depot"] == "CTY" and damaged.json()["available"] == 0
    assert world.available("CTY", QUILT) == 0
    assert world.available("CTY2", QUILT) == 5080
    holdings = {h["depot"]: h["quality"]
                for h in world.viewer.get(f"/stock/lots/{lot_id}").json()["holdings"]}
    assert holdings == {"CTY": "damaged", "CTY2": "good"}
    world.ledger_ok()


def test_quality_without_depot_needs_a_single_holder(world: World) -> None:
    """Without ``depot`` the verdict is about the one depot holding the lot; when several hold
    it the request is a 422 naming ``depot`` and nothing changes."""
    lot_id = _lot_id(world.receive("CTY", TENT, 3, lot="T1"))
    world.receive("CTY2", TENT, 4, lot="T1")
    r = world.admin.post(f"/stock/lots/{lot_id}/quality", {"status": "quarantine"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "depot"
    assert world.available("CTY", TENT) == 3 and world.available("CTY2", TENT) == 4
    r = world.admin.post(f"/stock/lots/{lot_id}/quality", {"status": "quarantine",
                                                            "depot": "TWN"})
    assert r.status_code == 404  # TWN never held the lot


def test_same_number_other_expiry_at_another_depot_is_another_lot(world: World) -> None:
    """Lot numbers are checked per depot: another depot may use a number with its own expiry
    (two warehouses sharing a date-like batch number); a depot's own number keeps its expiry."""
    first = _lot_id(world.receive("CTY2", WATER, 10, lot="2026-07", expiry=E1))
    second = world.manager.post("/stock/receipts", {"depot": "CTY", "item": WATER,
                                                    "quantity": 6, "lot": "2026-07",
                                                    "expiry": E2.isoformat()})
    assert second.status_code == 201 and _lot_id(second.json()) != first
    typo = world.manager.post("/stock/receipts", {"depot": "CTY", "item": WATER, "quantity": 1,
                                                  "lot": "2026-07", "expiry": E1.isoformat()})
    assert typo.status_code == 422 and typo.json()["error"]["fields"][0]["field"] == "expiry"
    rows = world.viewer.get("/stock", item=WATER).json()["items"]
    assert sorted((r["depot"], r["expiry"], r["on_hand"]) for r in rows) == [
        ("CTY", E2.isoformat(), 6), ("CTY2", E1.isoformat(), 10)]
    world.ledger_ok()


def test_a_transfer_carries_the_batch_not_the_senders_verdict(world: World) -> None:
    """A transfer arrives as the same lot (number and expiry) under the receiving depot's own
    verdict: good where the receiver never judged it, quarantined where the receiver has
    quarantined that batch; the sender's stock keeps its quality."""
    lot_id = _lot_id(world.receive("CTY", TENT, 20, lot="T1"))
    world.receive("CTY2", TENT, 5, lot="T1")
    assert world.manager2.post(f"/stock/lots/{lot_id}/quality",
                               {"status": "quarantine", "depot": "CTY2"}).status_code == 200
    to_twn = world.manager.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "TWN",
                                                     "item": TENT, "quantity": 4, "lot": "T1"})
    to_cty2 = world.manager.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                                      "item": TENT, "quantity": 6, "lot": "T1"})
    assert world.manager.post(f"/stock/transfers/{to_twn.json()['id']}/receive",
                              {}).status_code == 200
    assert world.manager2.post(f"/stock/transfers/{to_cty2.json()['id']}/receive",
                               {}).status_code == 200
    assert world.available("TWN", TENT) == 4
    assert world.available("CTY2", TENT) == 0  # its own quarantine covers the arrival
    assert world.available("CTY", TENT) == 10
    holdings = {h["depot"]: (h["quality"], h["on_hand"])
                for h in world.viewer.get(f"/stock/lots/{lot_id}").json()["holdings"]}
    assert holdings == {"CTY": ("good", 10), "CTY2": ("quarantine", 11), "TWN": ("good", 4)}
    world.ledger_ok()


def test_a_number_held_with_two_expiries_is_chosen_by_expiry(world: World) -> None:
    """After a transfer brings a depot a second lot with the same number, naming the number
    alone is a 422 naming ``expiry``; naming the expiry picks the lot."""
    world.receive("CTY", WATER, 10, lot="W", expiry=E1)
    world.receive("CTY2", WATER, 10, lot="W", expiry=E2)
    sent = world.manager2.post("/stock/transfers", {"from_depot": "CTY2", "to_depot": "CTY",
                                                    "item": WATER, "quantity": 3})
    assert world.manager.post(f"/stock/transfers/{sent.json()['id']}/receive",
                              {}).status_code == 200
    issue = {"depot": "CTY", "item": WATER, "quantity": 2, "lot": "W", "reference": "INC"}
    r = world.manager.post("/stock/issues", issue)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "expiry"
    r = world.manager.post("/stock/issues", {**issue, "expiry": E2.isoformat()})
    assert r.status_code == 201 and r.json()["moves"][0]["quantity"] == 2
    rows = world.viewer.get("/stock", depot="CTY", item=WATER).json()["items"]
    assert sorted((r["expiry"], r["on_hand"]) for r in rows) == [
        (E1.isoformat(), 10), (E2.isoformat(), 1)]
    lost = world.manager.post("/stock/issues", {**issue, "lot": "NOPE"})
    assert lost.status_code == 404 and lost.json()["error"]["fields"][0]["field"] == "lot"
    world.ledger_ok()


def test_expiry_without_lot_is_refused(world: World) -> None:
    """``expiry`` only chooses among lots of a number: alone it is a 422, and writes nothing."""
    world.receive("CTY", WATER, 5, lot="W", expiry=E1)
    r = world.manager.post("/stock/issues", {"depot": "CTY", "item": WATER, "quantity": 1,
                                             "expiry": E1.isoformat(), "reference": "X"})
    assert r.status_code == 422
    assert world.available("CTY", WATER) == 5
