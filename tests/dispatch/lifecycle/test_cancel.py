"""Cancelling trips: before departure the reservation is released (stock available again);
after departure what is still on the truck returns to its depot; a finished trip cannot be
cancelled."""

from __future__ import annotations

from sqlalchemy import func, select

from supplies.models import StockMove
from tests.dispatch.lifecycle.helpers import approve, in_transit, incident, plan
from tests.world import World


def test_cancel_before_departure_releases_the_reservation(desk: World) -> None:
    """The trip's reservations are released: available stock is back to what it was."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trip = approve(api, inc, job["id"])[0]
    item = trip["load"][0]["item"]
    before = world.available(trip["source"], item)
    r = api.post(f"/shipments/{trip['id']}/cancel", {"reason": "桥梁封闭"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    carried = sum(x["quantity"] for x in trip["load"] if x["item"] == item)
    assert world.available(trip["source"], item) == before + carried
    again = api.post(f"/shipments/{trip['id']}/cancel", {"reason": "again"})
    assert again.status_code == 409 and again.json()["error"]["key"] == "shipment.finished"
    world.ledger_ok()


def test_cancel_after_departure_returns_what_is_on_the_truck(desk: World) -> None:
    """Departed, one stop delivered, then cancelled: the undelivered rest goes back to the
    depot (dispatch_return), nothing stays in transit, the truck is available again."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trip = approve(api, inc, job["id"])[0]
    assert api.post(f"/shipments/{trip['id']}/depart").status_code == 200
    loaded = sum(x["quantity"] for x in trip["load"])
    delivered = 0
    if len(trip["stops"]) > 1:  # deliver the first of several stops before calling it off
        first = trip["stops"][0]
        assert api.post(f"/shipments/{trip['id']}/stops/{first['seq']}/confirm",
                        {}).status_code == 200
        delivered = sum(x["planned"] for x in first["lines"])
    r = api.post(f"/shipments/{trip['id']}/cancel", {"reason": "道路中断"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    with world.db.read_session() as s:
        back = s.execute(select(func.sum(StockMove.quantity)).where(
            StockMove.kind == "dispatch_return")).scalar_one()
    assert back == loaded - delivered
    assert in_transit(world) == 0
    vehicle = next(v for v in world.viewer.get("/vehicles").json()["items"]
                   if v["plate"] == trip["vehicle"])
    assert vehicle["status"] == "available"
    world.ledger_ok()
