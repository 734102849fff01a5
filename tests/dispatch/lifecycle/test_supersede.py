"""Supersede and re-plan: approving one draft supersedes the incident's other drafts; a later
plan covers only what is still missing (delivered and live trips count, cancelled ones do
not)."""

from __future__ import annotations

from tests.dispatch.lifecycle.helpers import approve, delivered_by_site, incident, plan
from tests.world import World


def test_approval_supersedes_the_other_drafts(desk: World) -> None:
    """Two drafts; approving the second leaves the first superseded (and unapprovable)."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    one = plan(world, api, inc)
    two = plan(world, api, inc)
    approve(api, inc, two["id"])
    states = {p["id"]: p["state"] for p in api.get(f"/incidents/{inc}/plans").json()}
    assert states == {one["id"]: "superseded", two["id"]: "approved"}
    assert api.post(f"/incidents/{inc}/plans/{one['id']}/approve").status_code == 409


def test_a_replan_covers_only_what_is_still_missing(desk: World) -> None:
    """After approval, a re-plan's demand leaves out what live trips bring; cancelling a trip
    puts its unloads back into the next plan's demand."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    # Raise a head count so there is something left to plan.
    assert api.post(f"/incidents/{inc}/sites/P-3/head-counts",
                    {"people": 90, "reported_by": "灾害信息员 李"}).status_code == 201
    second = plan(world, api, inc)
    demand = {s["id"]: s["demand"] for s in second["scenario"]["sites"]}
    assert "P-3" in demand
    cancelled = trips[0]
    assert api.post(f"/shipments/{cancelled['id']}/cancel",
                    {"reason": "重新规划"}).status_code == 200
    third = plan(world, api, inc)
    again = {s["id"]: s["demand"] for s in third["scenario"]["sites"]}
    for stop in cancelled["stops"]:
        assert stop["site"] in again  # what the cancelled trip brought is missing again
    assert delivered_by_site(third)  # and the engine plans it
    world.ledger_ok()
