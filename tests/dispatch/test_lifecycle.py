"""From incident to delivered, through the API, on both databases.

A small named network (tests/world.py) with vehicles; the real planning engine runs the jobs
(in-process here, in a worker process in one test); the ledger check runs after every step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from relief.app.main import create_app
from relief.platform.dbtypes import utcnow
from relief.platform.models import Role
from relief.platform.settings import Settings
from supplies.models import StockMove
from tests.dispatch.lifecycle import helpers
from tests.world import QUILT, Api, World, make_token


@pytest.fixture
def desk(world: World, settings: Settings) -> Iterator[World]:
    """County and city stock, two county trucks and a city truck (no drivers); the planner
    runs in-process."""
    yield from helpers.stocked_desk(world, settings, drivers=False)


def test_incident_to_delivered_and_replanned(desk: World) -> None:
    """Open, plan, approve, depart, deliver (one unit refused), close a road, re-plan: the ledger
    stays whole and every unit is accounted for."""
    world, api = desk, desk.dispatcher
    incident = helpers.incident(api)
    first = helpers.plan(world, api, incident)
    assert first["verdict"]["ok"], first["verdict"]
    summary = first["summary"]
    assert summary["people"] == 135
    assert 0 < summary["coverage"] <= summary["bound_coverage"] + 1e-9
    assert summary["coverage"] >= summary["baseline_coverage"] - 1e-9

    approved = api.post(f"/incidents/{incident}/plans/{first['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    trips = api.get(f"/incidents/{incident}/shipments").json()
    assert trips and all(t["status"] == "planned" for t in trips)
    # The approved loads are reserved at their depots.
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    assert sum(r["held"] for r in held) == sum(x["quantity"] for t in trips for x in t["load"])
    world.ledger_ok()

    manifest = world.viewer.client.get(f"/api/v1/shipments/{trips[0]['id']}/manifest.html",
                                       headers={"Authorization": f"Bearer {world.viewer.token}"})
    assert manifest.status_code == 200 and trips[0]["vehicle"] in manifest.text
    csv = world.viewer.client.get(f"/api/v1/shipments/{trips[0]['id']}/manifest.csv",
                                  headers={"Authorization": f"Bearer {world.viewer.token}"})
    assert csv.status_code == 200 and csv.text.count("\n") >= 3

    # The first trip leaves and delivers, one stop short by one unit.
    trip = trips[0]
    departed = api.post(f"/shipments/{trip['id']}/depart")
    assert departed.status_code == 200 and departed.json()["status"] == "departed"
    world.ledger_ok()
    short_item = None
    for stop in trip["stops"]:
        delivered = {line["item"]: line["planned"] for line in stop["lines"]}
        reasons = {}
        if short_item is None:
            short_item = next(iter(delivered))
            delivered[short_item] -= 1
            reasons = {short_item: "refused"}  # back to good stock (damaged: tests/.../returns)
        r = api.post(f"/shipments/{trip['id']}/stops/{stop['seq']}/confirm",
                     {"delivered": delivered, "short_reasons": reasons, "note": "one refused"})
        assert r.status_code == 200, r.text
        world.ledger_ok()
    done = api.get(f"/shipments/{trip['id']}").json()
    assert done["status"] == "completed"
    lines = [x for s in done["stops"] for x in s["lines"]]
    assert sum(x["shortfall"] for x in lines) == 1
    # The undelivered unit came back to the depot: nothing is left in transit.
    transit = world.viewer.get("/stock/summary", group_by="tier").json()
    assert all(r["key"] != "transit" for r in transit)
    with world.db.read_session() as s:
        moved = dict(s.execute(select(StockMove.kind, func.sum(StockMove.quantity))
                               .where(StockMove.reference.like(f"INC-{incident}/%"))
                               .group_by(StockMove.kind)).all())
    loaded = sum(x["quantity"] for x in trip["load"])
    assert moved["delivery"] == sum(x["delivered"] for x in lines) == loaded - 1
    assert moved["dispatch_return"] == 1

    # Other trips: one is cancelled before leaving (its reservation is released).
    if len(trips) > 1:
        r = api.post(f"/shipments/{trips[1]['id']}/cancel", {"reason": "bridge closed"})
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        world.ledger_ok()

    # A road closes and a head count rises: the re-plan covers only what is still missing.
    roads = world.viewer.get("/roads").json()
    node = min(roads["nodes"], key=lambda n: (n["lat"] - 32.10) ** 2 + (n["lon"] - 121.00) ** 2)
    edge = next(e for e in roads["edges"] if node["id"] in (e["a"], e["b"]))
    assert api.post(f"/incidents/{incident}/closures",
                    {"a": edge["a"], "b": edge["b"], "reason": "flooded"}).status_code == 201
    assert api.post(f"/incidents/{incident}/sites/P-2/head-counts",
                    {"people": 70, "reported_by": "灾害信息员 李"}).status_code == 201
    second = helpers.plan(world, api, incident)
    assert second["verdict"]["ok"], second["verdict"]
    demand = {s["id"]: s["demand"] for s in second["scenario"]["sites"]}
    delivered_sites = {s["site"] for s in trip["stops"]}
    for site in delivered_sites:
        for item, qty in demand.get(site, {}).items():
            assert qty < 1000, (site, item)
    assert "P-2" in demand  # more people there now
    coverage = api.get(f"/incidents/{incident}/coverage").json()
    assert coverage["people"] == 160
    assert coverage["delivered_people_covered"] <= coverage["planned_people_covered"]
    assert any(p["event"].startswith("plan") for p in coverage["timeline"])
    replenish = api.get(f"/incidents/{incident}/replenishment").json()
    restock = sum(line["restock"] for d in replenish for line in d["lines"])
    assert restock == loaded - 1
    world.ledger_ok()


def test_two_overlapping_plans_exactly_one_wins(desk: World) -> None:
    """Two incidents' plans each need most of the same quilts; approved at the same moment,
    exactly one wins, the other gets a 409 listing what changed, and nothing is reserved twice."""
    world, api = desk, desk.dispatcher
    big = [("B-1", "大型安置点", 32.10, 121.00, 200), ("B-2", "二号安置点", 32.12, 120.95, 150)]
    incidents, plans = [], []
    for _ in range(2):
        incident = helpers.incident(api, sites=big)
        incidents.append(incident)
        plans.append(helpers.plan(world, api, incident))
    quilts = [sum(t["load"].get(QUILT, 0) for r in p["plan"]["routes"] for t in r["trips"])
              for p in plans]
    assert all(q > 150 for q in quilts), quilts  # together more than the 300 in stock
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(
            lambda pair: api.post(f"/incidents/{pair[0]}/plans/{pair[1]}/approve"),
            zip(incidents, [p["id"] for p in plans], strict=True)))
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    loser = next(r for r in results if r.status_code == 409).json()["error"]
    assert any(c["item"] == QUILT for c in loser["details"]["changes"])
    winner = next(p for p, r in zip(plans, results, strict=True) if r.status_code == 200)
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    loads = [t["load"] for r in winner["plan"]["routes"] for t in r["trips"]]
    assert sum(r["held"] for r in held) == sum(sum(x.values()) for x in loads)
    assert world.available("CTY", QUILT) >= 0 and world.available("CITY", QUILT) >= 0
    assert world.ledger_ok()


def test_approval_needs_scope_for_city_stock(desk: World) -> None:
    """A plan drawing on the city depot needs draw:city on the dispatcher's token."""
    world = desk
    world.manager.post("/stock/issues", {"depot": "CTY", "item": QUILT, "quantity": 200,
                                         "reference": "emptied for the test"})
    incident = helpers.incident(world.dispatcher)
    plan = helpers.plan(world, world.dispatcher, incident)
    sources = {t["source"] for r in plan["plan"]["routes"] for t in r["trips"]}
    assert "CITY" in sources  # only the city depot still has quilts
    bare = Api(world.client, make_token(world.db, Role.dispatcher, name="no-scope"))
    denied = bare.post(f"/incidents/{incident}/plans/{plan['id']}/approve")
    assert denied.status_code == 403
    assert denied.json()["error"]["details"] == {"scope": "draw:city"}
    assert world.dispatcher.post(f"/incidents/{incident}/plans/{plan['id']}/approve"
                                 ).status_code == 200


def test_planning_job_reports_failure_reason(desk: World) -> None:
    """A job that cannot plan (nothing missing) fails with a reason instead of hanging."""
    api = desk.dispatcher
    r = api.post("/incidents", {"kind": "flood", "name": "空", "onset": utcnow().isoformat(),
                                "needs": helpers.NEEDS})
    incident = r.json()["id"]
    job = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 1}).json()
    desk.client.app.state.runner.wait(job["id"], timeout=60)
    done = api.get(f"/incidents/{incident}/plans/{job['id']}").json()
    assert done["status"] == "failed" and "nothing is missing" in done["error"]
    assert done["error_key"] == "err.plan.nothing_missing"
    assert done["error_zh"] == "没有缺口:各受灾点的需求均已送达或在途"


def test_api_stays_responsive_while_a_worker_process_plans(world: World, settings: Settings
                                                          ) -> None:
    """With the engine in a worker process, the API answers reads while a plan runs."""
    helpers.receive(world, helpers.STOCK[:3])  # the county depot's
    world.admin.post("/vehicles", {"plate": "苏F-A1", "depot": "CTY", "capacity_kg": 5000,
                                   "capacity_m3": 30})
    with TestClient(create_app(settings=settings, database=world.db)) as client:
        api = Api(client, world.dispatcher.token)
        incident = helpers.incident(api)
        job = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 4}).json()
        answered = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = api.get(f"/incidents/{incident}/plans/{job['id']}", full=False).json()
            assert api.get("/stock", depot="CTY").status_code == 200
            answered += 1
            if status["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        assert status["status"] == "succeeded", status
        assert answered >= 2
        assert status["verdict"]["ok"]
