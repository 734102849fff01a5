"""Confirming stops: delivered goods move from transit to the affected people, less than
planned is the stop's shortfall, the last stop completes the trip and the rest returns; what
the sites received is what the engine's plan unloads there, less the recorded shortfalls."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from supplies.models import StockMove
from tests.dispatch.lifecycle.helpers import approve, delivered_by_site, in_transit, incident, plan
from tests.world import World


def test_every_trip_delivered_as_planned_gives_the_plans_deliveries(desk: World) -> None:
    """All trips depart and every stop is confirmed as planned: each site received exactly
    what the checked plan unloads there, nothing is left in transit, and coverage as
    delivered equals the plan's people covered."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    for t in trips:
        assert api.post(f"/shipments/{t['id']}/depart").status_code == 200
        for stop in t["stops"]:
            r = api.post(f"/shipments/{t['id']}/stops/{stop['seq']}/confirm", {})
            assert r.status_code == 200, r.text
    got: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in api.get(f"/incidents/{inc}/shipments").json():
        assert t["status"] == "completed"
        for stop in t["stops"]:
            for line in stop["lines"]:
                got[stop["site"]][line["item"]] += line["delivered"]
                assert line["shortfall"] == 0
    assert got == delivered_by_site(job)
    assert in_transit(world) == 0
    coverage = api.get(f"/incidents/{inc}/coverage").json()
    # Confirmed now, before every planned arrival: everything the plan covers by the
    # deadline is delivered.
    assert coverage["delivered_people_covered"] == job["plan"]["summary"]["people_covered"]
    world.ledger_ok()


def test_a_short_stop_records_its_shortfall_and_the_rest_returns(desk: World) -> None:
    """One unit refused at the first stop: the stop's shortfall is 1 with its reason, the unit
    returns to the depot's good stock when the trip completes (a dispatch_return move)."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trip = approve(api, inc, job["id"])[0]
    assert api.post(f"/shipments/{trip['id']}/depart").status_code == 200
    short = None
    for stop in trip["stops"]:
        delivered = {x["item"]: x["planned"] for x in stop["lines"]}
        reasons = {}
        if short is None:
            short = next(iter(delivered))
            delivered[short] -= 1
            reasons = {short: "refused"}  # the site did not take it: back to good stock
        r = api.post(f"/shipments/{trip['id']}/stops/{stop['seq']}/confirm",
                     {"delivered": delivered, "short_reasons": reasons})
        assert r.status_code == 200, r.text
    done = api.get(f"/shipments/{trip['id']}").json()
    assert done["status"] == "completed"
    assert sum(x["shortfall"] for s in done["stops"] for x in s["lines"]) == 1
    with world.db.read_session() as s:
        back = s.execute(select(func.sum(StockMove.quantity)).where(
            StockMove.kind == "dispatch_return")).scalar_one()
    assert back == 1
    world.ledger_ok()


def test_confirm_refuses_bad_quantities_naming_the_field(desk: World) -> None:
    """More than is on the truck, a negative or an unknown item: 422 naming the field;
    nothing moves and the stop stays pending."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trip = approve(api, inc, job["id"])[0]
    assert api.post(f"/shipments/{trip['id']}/depart").status_code == 200
    stop = trip["stops"][0]
    item = stop["lines"][0]["item"]
    carried = sum(x["quantity"] for x in trip["load"] if x["item"] == item)
    moves = world.moves()
    for body, field in (({item: carried + 1}, f"delivered.{item}"),
                        ({item: -1}, f"delivered.{item}"),
                        ({"9999999": 1}, "delivered.9999999")):
        r = api.post(f"/shipments/{trip['id']}/stops/{stop['seq']}/confirm",
                     {"delivered": body})
        assert r.status_code == 422, r.text
        assert field in [f["field"] for f in r.json()["error"]["fields"]], r.text
    assert world.moves() == moves
    assert api.get(f"/shipments/{trip['id']}").json()["stops"][0]["status"] == "pending"
    # A stop of a trip not yet on the road cannot be confirmed.
    if len(approve_trips := api.get(f"/incidents/{inc}/shipments").json()) > 1:
        other = next(t for t in approve_trips if t["status"] == "planned")
        r = api.post(f"/shipments/{other['id']}/stops/1/confirm", {})
        assert r.status_code == 409 and r.json()["error"]["key"] == "shipment.not_departed"
    world.ledger_ok()
