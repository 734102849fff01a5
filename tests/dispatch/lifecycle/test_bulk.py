"""Bulk departure and cancellation (by plan, by depot): one transaction, scoped to what the
caller may act on, idempotent (run again, nothing more happens)."""

from __future__ import annotations

from tests.dispatch.lifecycle.helpers import approve, in_transit, incident, plan
from tests.world import World


def test_bulk_depart_by_plan_departs_every_trip_once(desk: World) -> None:
    """Every trip of the plan leaves in one call; a second call departs nothing and moves
    nothing; a retry with the same key gets the first answer."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    r = api.post(f"/incidents/{inc}/shipments/depart", {"plan": job["id"]}, key="bulk-1")
    assert r.status_code == 200, r.text
    assert r.json()["count"] == len(trips)
    assert sorted(r.json()["shipments"]) == sorted(t["id"] for t in trips)
    assert all(t["status"] == "departed" for t in api.get(f"/incidents/{inc}/shipments").json())
    assert in_transit(world) == sum(x["quantity"] for t in trips for x in t["load"])
    moves = world.moves()
    retry = api.post(f"/incidents/{inc}/shipments/depart", {"plan": job["id"]}, key="bulk-1")
    assert retry.json() == r.json()
    again = api.post(f"/incidents/{inc}/shipments/depart", {"plan": job["id"]})
    assert again.status_code == 200 and again.json()["count"] == 0
    assert world.moves() == moves
    world.ledger_ok()


def test_a_depot_manager_bulk_departs_only_their_depots_trips(desk: World) -> None:
    """Without a depot, the CTY manager departs the CTY trips only; naming a depot that is not
    theirs is a 403 and changes nothing."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    county = {t["id"] for t in trips if t["source"] == "CTY"}
    assert county
    moves = world.moves()
    denied = world.manager2.post(f"/incidents/{inc}/shipments/depart", {"depot": "CTY"})
    assert denied.status_code == 403, denied.text
    assert world.moves() == moves
    r = world.manager.post(f"/incidents/{inc}/shipments/depart", {})
    assert r.status_code == 200, r.text
    assert set(r.json()["shipments"]) == county
    after = {t["id"]: t["status"] for t in api.get(f"/incidents/{inc}/shipments").json()}
    assert all(after[i] == ("departed" if i in county else "planned") for i in after)
    world.ledger_ok()


def test_bulk_cancel_by_depot_releases_what_was_reserved(desk: World) -> None:
    """Cancelling every trip of the county depot still to leave releases their reservations;
    a departed trip is left alone."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    county = [t for t in trips if t["source"] == "CTY"]
    assert county
    gone = county[0]
    assert api.post(f"/shipments/{gone['id']}/depart").status_code == 200
    r = api.post(f"/incidents/{inc}/shipments/cancel", {"depot": "CTY", "reason": "道路中断"})
    assert r.status_code == 200, r.text
    assert set(r.json()["shipments"]) == {t["id"] for t in county[1:]}
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    assert all(x["depot"] != "CTY" for x in held)
    status = {t["id"]: t["status"] for t in api.get(f"/incidents/{inc}/shipments").json()}
    assert status[gone["id"]] == "departed"
    bad = api.post(f"/incidents/{inc}/shipments/cancel", {"depot": "NOPE", "reason": "x"})
    assert bad.status_code in (404, 422)
    assert any(f["field"] == "depot" for f in bad.json()["error"]["fields"]), bad.text
    missing = api.post(f"/incidents/{inc}/shipments/cancel", {"depot": "CTY"})
    assert missing.status_code == 422
    world.ledger_ok()
