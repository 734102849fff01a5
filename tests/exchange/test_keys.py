"""Stable keys and tombstones: every feed row has a documented, unique, immutable key, and
deletions reach readers as tombstones keyed the same way, in change order."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from exchange.models import Entity
from supplies.models import AgreementReserve, CapacityReserve, Quant
from tests.exchange.conftest import Exchange
from tests.exchange.province import P_QUILT, P_WATER, producer, warehouse
from tests.exchange.test_feeds import drain
from tests.world import QUILT, TENT, TODAY, WATER, World

KEYS = {"depots": ("code",), "items": ("code",), "stock": ("depot", "item", "lot", "expiry"),
        "agreements": ("depot", "item", "contract_ref"), "capacity-reserves": ("depot", "item")}


def _agreement(ref: str, qty: int = 500, item: str = WATER) -> dict[str, Any]:
    return {"depot": "AGR", "item": item, "committed_quantity": qty, "lead_time_hours": 6,
            "valid_from": TODAY.isoformat(),
            "valid_to": (TODAY + timedelta(days=300)).isoformat(), "contract_ref": ref}


def mirror(world: World, feed: str, after: str | None = None,
           held: dict[tuple[Any, ...], dict[str, Any]] | None = None, **params: Any
           ) -> tuple[dict[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """A mirror of ``feed`` keyed as documented: rows upserted, tombstones dropped, page by
    page in the order served."""
    held = dict(held or {})
    key = KEYS[feed]
    while True:
        query: dict[str, Any] = {"limit": 1, **params}
        if after is not None:
            query["after"] = after
        page = world.admin.get(f"/exchange/{feed}", **query).json()
        for row in page["items"]:
            held[tuple(row[k] for k in key)] = row
        for gone in page["deleted"]:
            held.pop(tuple(gone["key"][k] for k in key), None)
        after = page["next_cursor"]
        if not page["has_more"]:
            return held, page
        if page["held_back"]:  # another transaction on the server is open: wait
            time.sleep(page["retry_after_ms"] / 1000)


def test_agreement_key_is_unique_and_immutable(world: World) -> None:
    """(depot, item, contract_ref) is enforced unique (409 naming contract_ref, and by the
    database itself), and a PATCH may not change contract_ref (422 naming it); other fields
    change, and the mirror keyed as documented matches the feed's totals."""
    first = world.admin.post("/agreements", _agreement("C-1"))
    assert first.status_code == 201
    assert world.admin.post("/agreements", _agreement("C-2", 300)).status_code == 201
    again = world.admin.post("/agreements", _agreement("C-1", 999))
    assert again.status_code == 409
    assert again.json()["error"]["fields"][0]["field"] == "contract_ref"
    ident = first.json()["id"]
    moved = world.admin.patch(f"/agreements/{ident}", {"contract_ref": "C-2"})
    assert moved.status_code == 422
    assert moved.json()["error"]["fields"][0]["field"] == "contract_ref"
    assert world.admin.patch(f"/agreements/{ident}", {"contract_ref": "C-1",
                                                      "committed_quantity": 600}
                             ).status_code == 200
    with pytest.raises(IntegrityError):
        def twin(session: Any) -> None:
            row = session.get(AgreementReserve, ident)
            session.add(AgreementReserve(**row.model_dump(exclude={"id", "change_stamp"})))
            session.flush()
        world.db.write(twin)
    held, last = mirror(world, "agreements")
    assert {k: v["committed_quantity"] for k, v in held.items()} == {
        ("AGR", WATER, "C-1"): 600, ("AGR", WATER, "C-2"): 300}
    assert last["snapshot"]["totals"] == {"count": 2, "sums": {"committed_quantity": 900}}


def test_deletions_arrive_as_tombstones_in_every_feed(world: World) -> None:
    """Deleting an agreement, a capacity reserve and a stock row (quant) after a reader caught
    up: the next pages carry each as a tombstone with its key, so the reader's mirror loses
    exactly those rows and equals the feed's totals again."""
    world.admin.post("/agreements", _agreement("C-1"))
    world.admin.post("/agreements", _agreement("C-9", 100, TENT))
    world.admin.post("/capacity-reserves", {"depot": "AGR", "item": QUILT, "units_per_day": 90,
                                            "lead_time_hours": 4})
    world.receive("CTY", WATER, 5, lot="W1", expiry=TODAY + timedelta(days=90))
    world.receive("CTY", TENT, 3, lot="T1")
    mirrors = {feed: mirror(world, feed) for feed in KEYS}

    def remove(session: Any) -> None:
        session.execute(delete(AgreementReserve).where(AgreementReserve.contract_ref == "C-9"))
        session.execute(delete(CapacityReserve))
        session.execute(delete(Quant).where(Quant.on_hand == 3))

    world.db.write(remove)
    for feed, (held, last) in mirrors.items():
        after, _ = mirror(world, feed, last["next_cursor"], held)
        page = drain(world.admin, feed, last["next_cursor"])[1]
        assert len(after) == page["snapshot"]["totals"]["count"], feed
        mirrors[feed] = (after, page)
    assert set(mirrors["agreements"][0]) == {("AGR", WATER, "C-1")}
    assert mirrors["capacity-reserves"][0] == {}
    assert set(mirrors["stock"][0]) == {
        ("CTY", WATER, "W1", (TODAY + timedelta(days=90)).isoformat())}
    tomb = world.admin.get("/exchange/stock", after=mirrors["stock"][1]["next_cursor"]).json()
    assert tomb["deleted"] == []  # each tombstone is served once


def test_provincial_dropped_capacity_line_and_deactivation(exchange: Exchange) -> None:
    """A producer whose next version no longer lists a line: the capacity feed announces the
    deletion (key depot + item); a warehouse reported out of use (ZT=0) comes again in the
    depots feed with active=false. local_only leaves the provincial tombstone out."""
    world = exchange.world
    exchange.push(Entity.warehouses, [warehouse("CK1")])
    exchange.push(Entity.producers, [producer("SC1", lines=[
        {"WZBM": P_QUILT, "JLDW": "床", "RCN": 3000, "ZBSJ": 24},
        {"WZBM": P_WATER, "JLDW": "箱", "RCN": 50, "ZBSJ": 6}])])
    cap, cap_last = mirror(world, "capacity-reserves")
    depots, dep_last = mirror(world, "depots")
    local_last = drain(world.admin, "capacity-reserves", local_only=True)[1]
    exchange.push(Entity.producers, [producer("SC1", 2)], batch="B2")  # quilts only
    exchange.push(Entity.warehouses, [warehouse("CK1", 2, ZT="0")], batch="B3")
    cap, _ = mirror(world, "capacity-reserves", cap_last["next_cursor"], cap)
    assert [(k[1], v["units_per_day"]) for k, v in cap.items()] == [(QUILT, 3000)]
    depots, _ = mirror(world, "depots", dep_last["next_cursor"], depots)
    assert [v["active"] for v in depots.values() if v["provincial"] and v["kind"] !=
            "capacity"] == [False]
    local = world.admin.get("/exchange/capacity-reserves", after=local_last["next_cursor"],
                            local_only=True).json()
    assert local["deleted"] == [] and local["items"] == []


def test_rows_and_tombstones_of_one_transaction_page_once_each(world: World) -> None:
    """A transaction that deletes one capacity reserve and changes another gives both the same
    stamp on PostgreSQL; read one entry per page, each comes exactly once, the change first."""
    for item in (WATER, TENT):
        world.admin.post("/capacity-reserves", {"depot": "AGR", "item": item,
                                                "units_per_day": 10, "lead_time_hours": 1})
    _, last = drain(world.admin, "capacity-reserves")

    def both(session: Any) -> None:
        rows = {r.item_id: r for r in session.execute(select(CapacityReserve)).scalars()}
        first, second = sorted(rows)
        rows[second].units_per_day = 20
        session.add(rows[second])
        session.flush()
        session.delete(rows[first])

    world.db.write(both)
    seen: list[str] = []
    after = last["next_cursor"]
    for _ in range(500):  # other transactions on the server may hold pages back: wait
        page = world.admin.get("/exchange/capacity-reserves", after=after, limit=1).json()
        if page["held_back"]:
            time.sleep(page["retry_after_ms"] / 1000)
        seen += [f"row {r['units_per_day']}" for r in page["items"]]
        seen += [f"gone {d['key']['item']}" for d in page["deleted"]]
        after = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == ["row 20", f"gone {WATER}"]


def test_forged_cursors_are_422_not_500(world: World) -> None:
    """A cursor with a stamp or id beyond 64 bits is refused naming `after`."""
    _, last = drain(world.admin, "moves")
    body = json.loads(base64.urlsafe_b64decode(last["next_cursor"] + "=="))
    body["s"] = 2**70
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    response = world.admin.get("/exchange/moves", after=forged)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "after"
