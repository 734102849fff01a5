"""Re-planning mid-incident, on both databases: vehicles on the road are planned from when
their trips end; a re-optimisation re-plans the approved trips not yet departed atomically (and
a departure racing it wins or fails cleanly); closures re-time approved trips, flag late and
cut-off stops and recompute coverage as planned; the diagnosis tells a busy fleet from a lack
of stock (tests/world.py network around 通州)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dispatch import live
from dispatch.models import Incident, Shipment, ShipmentStatus
from relief.platform.dbtypes import utcnow
from relief.platform.settings import Settings
from supplies.ledger import MoveContext
from tests.dispatch.lifecycle import helpers
from tests.world import QUILT, TENT, TODAY, WATER, Api, World


@pytest.fixture
def desk(world: World, settings: Settings) -> Iterator[World]:
    """Stock at CTY for several rounds, two small trucks there; in-process planner."""
    stock = [("CTY", QUILT, 600, "Q-A", None), ("CTY", TENT, 200, "T-A", None),
             ("CTY", WATER, 300, "W-A", None)]
    trucks = [("苏F-A1", "CTY", 1500, 12), ("苏F-A2", "CTY", 1500, 12)]
    yield from helpers.stocked_desk(world, settings, trucks=trucks, stock=stock, drivers=False)


def _incident(api: Api) -> int:
    return helpers.incident(api, name="通州内涝")


def _plan(world: World, incident: int, **body: Any) -> dict[str, Any]:
    """A plan with a 2 s limit, succeeded with the checker's verdict ok."""
    return helpers.plan(world, world.dispatcher, incident, 2, check_plan=False, **body)


def _check(done: dict[str, Any]) -> None:
    assert helpers.check_report(done).ok


def test_vehicles_on_the_road_are_planned_from_the_end_of_their_trips(desk: World) -> None:
    """A departed truck (in service) takes part in a re-plan, available when its re-timed
    trips end (back at base), never before now; after a head count rises the re-plan uses it;
    the diagnosis names the fleet, not stock, when trucks are busy."""
    world, api = desk, desk.dispatcher
    incident = _incident(api)
    first = _plan(world, incident)
    assert api.post(f"/incidents/{incident}/plans/{first['id']}/approve").status_code == 200
    trips = api.get(f"/incidents/{incident}/shipments").json()
    leaving = trips[0]
    assert api.post(f"/shipments/{leaving['id']}/depart").status_code == 200
    assert world.viewer.get(f"/vehicles/{leaving['vehicle']}").json()["status"] == "in_service"
    timing = api.get(f"/incidents/{incident}/trip-timing").json()
    assert timing["trips"] == len(trips) and timing["stops_late"] == 0
    assert leaving["vehicle"] in timing["vehicles_free"]
    with world.db.read_session() as session:
        built = live.build(session, session.get_one(Incident, incident), now=utcnow(),
                           today=TODAY, time_limit_s=2)
    vehicles = {v["id"]: v for v in built.scenario["vehicles"]}
    assert leaving["vehicle"] in vehicles  # in service, still planned with
    last_return = max(t["planned_return_min"] for t in trips
                      if t["vehicle"] == leaving["vehicle"])
    assert vehicles[leaving["vehicle"]]["available_min"] >= last_return
    assert built.busy[leaving["vehicle"]] >= last_return
    # More people: the re-plan covers the rise with trucks free after their trips.
    assert api.post(f"/incidents/{incident}/sites/P-1/head-counts",
                    {"people": 140, "reported_by": "灾害信息员 李"}).status_code == 201
    second = _plan(world, incident)
    _check(second)
    again = {v["id"]: v for v in second["scenario"]["vehicles"]}
    assert again[leaving["vehicle"]]["available_min"] >= last_return
    for r in second["plan"]["routes"]:
        if r["trips"]:
            assert r["start_min"] >= again[r["vehicle"].rsplit("#", 1)[0]]["available_min"]
    diagnosis = second["diagnosis"]
    assert diagnosis["fleet_busy"]["vehicles"] >= 1 and diagnosis["message_zh"]
    assert sum(diagnosis["reasons"].values()) == len(second["plan"]["unmet"])
    world.ledger_ok()


def test_reoptimise_replans_trips_not_departed_atomically(desk: World) -> None:
    """With re-optimise the trips not yet departed are planned again with the new demand:
    their deliveries count as missing and their stock as available; approval cancels them and
    reserves the new loads in one transaction (no unit reserved twice, the ledger whole)."""
    world, api = desk, desk.dispatcher
    incident = _incident(api)
    first = _plan(world, incident)
    assert api.post(f"/incidents/{incident}/plans/{first['id']}/approve").status_code == 200
    trips = api.get(f"/incidents/{incident}/shipments").json()
    assert len(trips) >= 2
    departed = trips[0]
    assert api.post(f"/shipments/{departed['id']}/depart").status_code == 200
    waiting = [t["id"] for t in trips[1:]]
    assert api.post(f"/incidents/{incident}/sites/P-3/head-counts",
                    {"people": 50, "reported_by": "灾害信息员 李"}).status_code == 201
    again = _plan(world, incident, reoptimise=True)
    _check(again)
    assert again["reoptimise"] and sorted(again["supersedes"]) == sorted(waiting)
    # The waiting trips' deliveries are missing again in the re-optimisation's scenario.
    demand = {s["id"] for s in again["scenario"]["sites"]}
    waiting_sites = {s["site"] for t in trips[1:] for s in t["stops"]}
    assert waiting_sites <= demand
    approved = api.post(f"/incidents/{incident}/plans/{again['id']}/approve")
    assert approved.status_code == 200, approved.text
    after = {t["id"]: t for t in api.get(f"/incidents/{incident}/shipments").json()}
    assert all(after[i]["status"] == "cancelled" for i in waiting)
    assert after[departed["id"]]["status"] == "departed"
    # The new trips are re-timed as planned: none late (no road changed).
    flagged = api.get(f"/incidents/{incident}/trip-timing").json()["flagged"]
    assert [f for f in flagged if f["plan"] == again["id"]] == []
    live_loads = sum(x["quantity"] for t in after.values() if t["status"] == "planned"
                     for x in t["load"])
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    assert sum(r["held"] for r in held) == live_loads
    world.ledger_ok()


def test_reoptimise_refused_when_a_superseded_trip_departed(desk: World) -> None:
    """A trip departed after the re-optimisation was planned: approval answers 409 naming it
    and writes nothing (the departed trip stands, no reservation is released)."""
    world, api = desk, desk.dispatcher
    incident = _incident(api)
    first = _plan(world, incident)
    assert api.post(f"/incidents/{incident}/plans/{first['id']}/approve").status_code == 200
    again = _plan(world, incident, reoptimise=True)
    gone = again["supersedes"][0]
    assert api.post(f"/shipments/{gone}/depart").status_code == 200
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    refused = api.post(f"/incidents/{incident}/plans/{again['id']}/approve")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["details"]["trips"] == [{"shipment": gone, "status": "departed"}]
    assert error["message_zh"]
    assert world.viewer.get("/stock/reservations", state="active").json()["items"] == held
    statuses = {t["status"] for t in api.get(f"/incidents/{incident}/shipments").json()}
    assert "cancelled" not in statuses
    world.ledger_ok()


def test_reoptimise_racing_a_depart_one_wins_cleanly(desk: World) -> None:
    """Approval of a re-optimisation and the departure of one of the trips it re-plans, at
    the same moment on two sessions: either the departure wins (approval 409, nothing
    written) or the approval wins (departure 409: the trip is cancelled); never both, and
    the ledger and the reservations stay whole."""
    world, api = desk, desk.dispatcher
    incident = _incident(api)
    first = _plan(world, incident)
    assert api.post(f"/incidents/{incident}/plans/{first['id']}/approve").status_code == 200
    again = _plan(world, incident, reoptimise=True)
    target = again["supersedes"][0]
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def approve() -> None:
        barrier.wait()
        results["approve"] = api.post(f"/incidents/{incident}/plans/{again['id']}/approve")

    def depart() -> None:
        barrier.wait()
        results["depart"] = api.post(f"/shipments/{target}/depart")

    threads = [threading.Thread(target=approve), threading.Thread(target=depart)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    codes = (results["approve"].status_code, results["depart"].status_code)
    assert codes in ((200, 409), (409, 200)), [r.text for r in results.values()]
    trip = api.get(f"/shipments/{target}").json()
    assert trip["status"] == ("cancelled" if codes[0] == 200 else "departed")
    plan = api.get(f"/incidents/{incident}/plans/{again['id']}", full=False).json()
    assert plan["state"] == ("approved" if codes[0] == 200 else "draft")
    trips = api.get(f"/incidents/{incident}/shipments").json()
    live_loads = sum(x["quantity"] for t in trips if t["status"] == "planned"
                     for x in t["load"])
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    assert sum(r["held"] for r in held) == live_loads
    world.ledger_ok()


def test_closures_retime_approved_trips_and_coverage(desk: World) -> None:
    """Closing the roads around a site delays or cuts off its pending stops (flagged with
    their shipments and loads; coverage as planned never rises); lifting the closure restores
    both; a late departure makes every stop of the trip late."""
    world, api = desk, desk.dispatcher
    incident = _incident(api)
    first = _plan(world, incident)
    assert api.post(f"/incidents/{incident}/plans/{first['id']}/approve").status_code == 200
    before = api.get(f"/incidents/{incident}/coverage").json()
    assert before["unreachable_stops"] == 0
    box = [[32.09, 120.99], [32.09, 121.01], [32.11, 121.01], [32.11, 120.99]]  # around P-1
    closed = api.post(f"/incidents/{incident}/closures", {"polygon": box, "reason": "积水"})
    assert closed.status_code == 201, closed.text
    timing = api.get(f"/incidents/{incident}/trip-timing").json()
    cut = [f for f in timing["flagged"] if f["site"] == "P-1"]
    served = any(s["site"] == "P-1" for t in api.get(f"/incidents/{incident}/shipments").json()
                 for s in t["stops"])
    if served:
        assert cut and all(f["status"] == "unreachable" or f["delay_min"] > 0 for f in cut)
        assert all(f["lines"] and f["status_zh"] for f in cut)
        assert set(timing["shipments_affected"]) >= {f["shipment"] for f in cut}
        during = api.get(f"/incidents/{incident}/coverage").json()
        assert during["unreachable_stops"] == sum(f["status"] == "unreachable" for f in cut)
        assert during["late_stops"] + during["past_deadline_stops"] + during[
            "unreachable_stops"] >= len(cut)
        assert during["planned_people_covered"] <= before["planned_people_covered"]
    lifted = api.post(f"/incidents/{incident}/closures/{closed.json()['id']}/lift")
    assert lifted.status_code == 200
    after = api.get(f"/incidents/{incident}/coverage").json()
    assert after["planned_people_covered"] == before["planned_people_covered"]
    assert api.get(f"/incidents/{incident}/trip-timing").json()["flagged"] == []
    # A trip leaving 3 hours late: its stops are late (some past the deadline or not).
    trip = api.get(f"/incidents/{incident}/shipments").json()[0]
    assert api.post(f"/shipments/{trip['id']}/depart").status_code == 200

    def late(session: Any) -> None:
        row = session.execute(select(Shipment).where(Shipment.id == trip["id"])).scalar_one()
        row.departed_at = utcnow() + timedelta(hours=3)
        session.add(row)

    world.db.write(late)
    flagged = api.get(f"/incidents/{incident}/trip-timing").json()["flagged"]
    mine = [f for f in flagged if f["shipment"] == trip["id"]]
    assert len(mine) == len(trip["stops"])
    assert all(f["status"] in ("late", "past_deadline") and f["delay_min"] > 0 for f in mine)


def test_reoptimise_through_the_use_case_is_all_or_nothing(desk: World) -> None:
    """The supersede step cancels every re-planned trip or none: a stale list leaves all
    trips as they were (checked on the use case, below the API)."""
    from dispatch import approval
    from relief.platform.errors import Conflict
    from relief.platform.models import Role
    from relief.platform.principal import Principal

    world, api = desk, desk.dispatcher
    incident = _incident(api)
    first = _plan(world, incident)
    assert api.post(f"/incidents/{incident}/plans/{first['id']}/approve").status_code == 200
    again = _plan(world, incident, reoptimise=True)
    gone = again["supersedes"][-1]
    assert api.post(f"/shipments/{gone}/cancel", {"reason": "改派"}).status_code == 200
    who = Principal(token_id=0, name="t", role=Role.dispatcher,
                    scopes=frozenset({"draw:city", "draw:agreement"}))
    ctx = MoveContext(actor=who.actor, today=TODAY)
    with pytest.raises(Conflict):
        world.db.write(lambda s: approval.approve(s, incident_id=incident,
                                                   plan_id=again["id"], principal=who, ctx=ctx))
    with world.db.read_session() as session:
        statuses = {s.id: s.status for s in session.execute(select(Shipment)).scalars()}
    assert [statuses[i] for i in again["supersedes"] if i != gone] == [
        ShipmentStatus.planned] * (len(again["supersedes"]) - 1)


def test_cli_plans_a_reoptimisation_and_shows_its_diagnosis(desk: World, db_url: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """`relief incident plan ID --reoptimise` plans like the API's reoptimise: the job lists
    the approved trips it re-plans, and `show` prints the diagnosis."""
    from typer.testing import CliRunner

    from relief.app.cli import app as cli_app
    from relief.platform.settings import get_settings

    world, api = desk, desk.dispatcher
    incident = _incident(api)
    first = _plan(world, incident)
    assert api.post(f"/incidents/{incident}/plans/{first['id']}/approve").status_code == 200
    waiting = [t["id"] for t in api.get(f"/incidents/{incident}/shipments").json()]
    monkeypatch.setenv("RELIEF_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["incident", "plan", str(incident),
                                              "--time-limit", "2", "--reoptimise"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"re-optimises {len(waiting)} approved trips" in result.output
    jobs = api.get(f"/incidents/{incident}/plans").json()
    assert jobs[0]["reoptimise"] and sorted(jobs[0]["supersedes"]) == sorted(waiting)
