"""Approval: a checked plan becomes one shipment per trip, its loads reserved at their depots
(FEFO lots), its stops and unloads as the plan has them; one answer per Idempotency-Key."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from dispatch.models import DispatchPlan, Vehicle
from dispatch.record import record_of
from tests.dispatch.lifecycle.helpers import (
    approve,
    delivered_by_site,
    incident,
    loads_by_trip,
    plan,
    shipment_loads,
)
from tests.world import World


def test_approval_turns_each_trip_into_a_reserved_shipment(desk: World) -> None:
    """Every trip of the engine's plan is one shipment with the plan's load, reserved at its
    depot, with the plan's stops and unloads, the truck's vehicle and driver."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    assert shipment_loads(trips) == loads_by_trip(job)
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    assert sum(r["held"] for r in held) == sum(
        q for load in loads_by_trip(job).values() for q in load.values())
    planned: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in trips:
        assert t["status"] == "planned" and t["driver"] == f"司机{t['vehicle'][-2:]}"
        for stop in t["stops"]:
            for line in stop["lines"]:
                planned[stop["site"]][line["item"]] += line["planned"]
    assert planned == delivered_by_site(job)
    with world.db.read_session() as s:
        row = s.get_one(DispatchPlan, job["id"])
        rec = record_of(row)
        plates = {v.plate: v.id for v in s.execute(select(Vehicle)).scalars()}
    assert row.state == "approved" and row.approved_by
    # The record's vehicle map names the live vehicles the engine's units stand for.
    assert {u.plate: u.vehicle_id for u in rec.vehicles.values()} == {
        p: plates[p] for p in {u.plate for u in rec.vehicles.values()}}
    world.ledger_ok()


def test_approval_retried_with_its_key_changes_nothing(desk: World) -> None:
    """The same Idempotency-Key answers the first approval again: one set of shipments and
    reservations."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    first = api.post(f"/incidents/{inc}/plans/{job['id']}/approve", key="approve-1")
    again = api.post(f"/incidents/{inc}/plans/{job['id']}/approve", key="approve-1")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    trips = api.get(f"/incidents/{inc}/shipments").json()
    assert shipment_loads(trips) == loads_by_trip(job)
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    assert sum(r["held"] for r in held) == sum(
        q for load in loads_by_trip(job).values() for q in load.values())
    world.ledger_ok()
