"""Departure: the reserved load moves from the depot into transit (dispatch moves), once; the
truck is in service; a depot manager departs only trips leaving their own depots."""

from __future__ import annotations

from sqlalchemy import func, select

from supplies.models import StockMove
from tests.dispatch.lifecycle.helpers import approve, in_transit, incident, plan
from tests.world import World


def test_departure_moves_the_reserved_load_into_transit(desk: World) -> None:
    """After departure the reservation is consumed, the load is in transit lot by lot, the
    vehicle is in service; a second departure is a 409 and moves nothing."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    trip = trips[0]
    r = api.post(f"/shipments/{trip['id']}/depart")
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["status"] == "departed" and after["departed_at"]
    assert sum(x["quantity"] for x in after["load"]) == sum(x["quantity"] for x in trip["load"])
    assert in_transit(world) == sum(x["quantity"] for x in trip["load"])
    vehicle = next(v for v in world.viewer.get("/vehicles").json()["items"]
                   if v["plate"] == trip["vehicle"])
    assert vehicle["status"] == "in_service"
    moves = world.moves()
    again = api.post(f"/shipments/{trip['id']}/depart")
    assert again.status_code == 409 and again.json()["error"]["key"] == "shipment.not_planned"
    assert world.moves() == moves
    with world.db.read_session() as s:
        dispatched = s.execute(select(func.sum(StockMove.quantity)).where(
            StockMove.kind == "dispatch")).scalar_one()
    assert dispatched == sum(x["quantity"] for x in trip["load"])
    world.ledger_ok()


def test_a_depot_manager_departs_only_their_depots_trips(desk: World) -> None:
    """The CTY manager may depart a CTY trip; the CTY2 manager may not (403), nothing moves."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    county = [t for t in trips if t["source"] == "CTY"]
    assert county, [t["source"] for t in trips]
    moves = world.moves()
    denied = world.manager2.post(f"/shipments/{county[0]['id']}/depart")
    assert denied.status_code == 403, denied.text
    assert world.moves() == moves
    assert world.manager.post(f"/shipments/{county[0]['id']}/depart").status_code == 200
    world.ledger_ok()
