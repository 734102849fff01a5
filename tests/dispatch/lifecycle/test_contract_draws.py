"""Agreement reserves: a plan draws on an enterprise's activated contract (no stock is
reserved); approval records the draw against the activation; departure from the enterprise
receives the goods into its depot and loads them (the ledger stays whole); cancelling a trip
before departure gives the draw back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dispatch.models import ReserveDraw
from relief.platform.settings import Settings
from supplies.models import StockMove
from tests.dispatch.lifecycle.helpers import approve, incident, plan, stocked_desk
from tests.world import QUILT, TENT, TODAY, WATER, World

COMMITTED = 500


@pytest.fixture
def contract_desk(world: World, settings: Settings) -> Iterator[World]:
    """Quilts and tents at the county depot, water only under contract at the enterprise AGR
    (half an hour's lead time), with its own truck."""
    world.receive("CTY", QUILT, 200, lot="Q-A")
    world.receive("CTY", TENT, 60, lot="T-A")
    r = world.admin.post("/agreements", {
        "depot": "AGR", "item": WATER, "committed_quantity": COMMITTED,
        "lead_time_hours": 0.5, "valid_from": (TODAY - timedelta(days=30)).isoformat(),
        "valid_to": (TODAY + timedelta(days=300)).isoformat(), "contract_ref": "XY-2026-01"})
    assert r.status_code == 201, r.text
    world.contract = r.json()["id"]  # type: ignore[attr-defined]
    trucks = [("苏F-A1", "CTY", 5000, 30), ("苏F-A2", "CTY", 5000, 30),
              ("苏F-E1", "AGR", 8000, 40)]
    yield from stocked_desk(world, settings, trucks=trucks, stock=[])


def _activated_incident(world: World, **kwargs: Any) -> int:
    """An incident whose onset was 30 min ago, with the whole contract activated at onset
    (ready now: the half hour's lead time has run)."""
    inc = incident(world.dispatcher, **kwargs)
    onset = world.dispatcher.get(f"/incidents/{inc}").json()["onset"]
    r = world.dispatcher.post(f"/incidents/{inc}/activations", {
        "agreement": world.contract, "quantity": COMMITTED,  # type: ignore[attr-defined]
        "activated_at": onset})
    assert r.status_code == 201, r.text
    return inc


def _water_trips(trips: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in trips if t["source"] == "AGR"]


def test_a_contract_draw_is_recorded_and_counted(contract_desk: World) -> None:
    """Approval records the plan's water as a draw on AGR (no reservation there), counted
    against the incident's activation."""
    world, api = contract_desk, contract_desk.dispatcher
    inc = _activated_incident(world)
    job = plan(world, api, inc)
    sources = {s["id"]: s for s in job["scenario"]["sources"]}
    contract = next(sid for sid, s in sources.items() if s["tier"] == "agreement")
    assert sources[contract]["stock"] == {WATER: COMMITTED}
    water = sum(t["load"].get(WATER, 0) for r in job["plan"]["routes"] for t in r["trips"]
                if t["source"] == contract)
    assert water > 0
    trips = approve(api, inc, job["id"])
    assert sum(x["quantity"] for t in _water_trips(trips) for x in t["load"]) == water
    with world.db.read_session() as s:
        draws = list(s.execute(select(ReserveDraw)).scalars())
    assert [(d.quantity, d.released) for d in draws] == [(water, 0)]
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    assert all(r["depot"] != "AGR" for r in held)
    listed = api.get(f"/incidents/{inc}/activations").json()
    assert [(a["quantity"], a["drawn"]) for a in listed] == [(COMMITTED, water)]
    world.ledger_ok()


def test_departure_from_the_enterprise_receives_then_loads(contract_desk: World) -> None:
    """The enterprise's truck departs: its water is received into AGR (a receipt, lot
    AGR-<date>) and moved to transit; delivered at its stops, the ledger stays whole."""
    world, api = contract_desk, contract_desk.dispatcher
    inc = _activated_incident(world)
    job = plan(world, api, inc)
    trip = _water_trips(approve(api, inc, job["id"]))[0]
    r = api.post(f"/shipments/{trip['id']}/depart")
    assert r.status_code == 200, r.text
    load = r.json()["load"]
    assert {x["lot"] for x in load if x["item"] == WATER} == {f"AGR-{TODAY:%Y%m%d}"}
    with world.db.read_session() as s:
        kinds = {k for (k,) in s.execute(select(StockMove.kind).distinct())}
    assert {"receipt", "dispatch"} <= kinds
    for stop in trip["stops"]:
        assert api.post(f"/shipments/{trip['id']}/stops/{stop['seq']}/confirm",
                        {}).status_code == 200
    assert api.get(f"/shipments/{trip['id']}").json()["status"] == "completed"
    world.ledger_ok()


def test_cancelling_a_contract_trip_gives_the_draw_back(contract_desk: World) -> None:
    """Cancelled before departure, the trip's water is released from the draw."""
    world, api = contract_desk, contract_desk.dispatcher
    inc = _activated_incident(world)
    job = plan(world, api, inc)
    trip = _water_trips(approve(api, inc, job["id"]))[0]
    water = sum(x["quantity"] for x in trip["load"] if x["item"] == WATER)
    r = api.post(f"/shipments/{trip['id']}/cancel", {"reason": "企业车辆故障"})
    assert r.status_code == 200, r.text
    with world.db.read_session() as s:
        draw = s.execute(select(ReserveDraw)).scalar_one()
    assert draw.released == water
    world.ledger_ok()
