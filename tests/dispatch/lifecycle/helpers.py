"""Shared steps of the lifecycle tests (this folder, and tests/dispatch/test_lifecycle.py,
test_replan.py and test_activations.py): stock and trucks, an app whose planner runs the real
engine in-process, open an incident, plan it, check the plan independently, approve it, and
compare shipments with the plan's record.

Planning tests assert through the independent plan checker (``dispatch.planning.plan.check``)
and the engine's own status: a plan whose engine stage failed (status ``engine_error``, the
greedy baseline standing in) fails :func:`plan`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from dispatch.planning.plan import CheckReport, Plan, check
from dispatch.planning.problem import load_scenario
from relief.platform.dbtypes import utcnow
from relief.platform.settings import Settings
from supplies import ledger
from supplies.models import LocationKind, Quant
from tests.world import QUILT, TENT, TODAY, WATER, Api, World

NEEDS = {"days": 1, "household_size": 3,
         "per_person": {QUILT: 1}, "per_person_per_day": {WATER: 0.25},
         "per_household": {TENT: 1}}
Site = tuple[str, str, float, float, int]  # code, name, lat, lon, people
Truck = tuple[str, str, int, int]  # plate, home depot, capacity kg, capacity m3
Receipt = tuple[str, str, int, str, date | None]  # depot, item, quantity, lot, expiry
# Three ad-hoc sites around Tongzhou (road graph nodes nearby; coordinates approximate).
SITES: list[Site] = [("P-1", "西亭安置点", 32.10, 121.00, 60),
                     ("P-2", "兴仁安置点", 32.12, 120.95, 45),
                     ("P-3", "金沙安置点", 32.07, 121.08, 30)]
TRUCKS: list[Truck] = [("苏F-A1", "CTY", 5000, 30), ("苏F-A2", "CTY", 5000, 30),
                       ("苏F-C1", "CITY", 8000, 40)]
# County quilts, tents and water (expiring in 90 days); city quilts.
STOCK: list[Receipt] = [("CTY", QUILT, 200, "Q-A", None), ("CTY", TENT, 60, "T-A", None),
                        ("CTY", WATER, 80, "W-A", TODAY + timedelta(days=90)),
                        ("CITY", QUILT, 100, "Q-C", None)]


def receive(world: World, stock: list[Receipt]) -> None:
    """Receive each lot into its depot."""
    for depot, item, quantity, lot, expiry in stock:
        world.receive(depot, item, quantity, lot=lot, expiry=expiry)


def add_trucks(world: World, trucks: list[Truck], *, drivers: bool = True) -> None:
    """Register the trucks (``drivers``: each with a driver's name)."""
    for plate, depot, kg, m3 in trucks:
        body: dict[str, Any] = {"plate": plate, "depot": depot, "capacity_kg": kg,
                                "capacity_m3": m3}
        if drivers:
            body["driver"] = f"司机{plate[-2:]}"
        r = world.admin.post("/vehicles", body)
        assert r.status_code == 201, r.text


def stocked_desk(world: World, settings: Settings, *, trucks: list[Truck] = TRUCKS,
                 stock: list[Receipt] = STOCK, drivers: bool = True) -> Iterator[World]:
    """The world with stock and vehicles, on its own app (whose planner runs in-process:
    the test ``settings``)."""
    assert settings.planner == "inline", "the desk's plans run in the test's process"
    receive(world, stock)
    add_trucks(world, trucks, drivers=drivers)
    yield world


def incident(api: Api, *, sites: list[Site] = SITES, needs: dict[str, Any] | None = None,
             onset_minutes_ago: int = 30, onset: datetime | None = None,
             name: str = "测试洪涝") -> int:
    """Open an incident with ad-hoc sites (onset at ``onset``, else that many minutes ago);
    its id."""
    at = onset or utcnow() - timedelta(minutes=onset_minutes_ago)
    r = api.post("/incidents", {"kind": "flood", "name": name, "onset": at.isoformat(),
                                "needs": needs or NEEDS})
    assert r.status_code == 201, r.text
    incident_id = int(r.json()["id"])
    for code, site, lat, lon, people in sites:
        s = api.post(f"/incidents/{incident_id}/sites", {
            "code": code, "name": site, "lat": lat, "lon": lon, "people": people,
            "reported_by": "灾害信息员 王"})
        assert s.status_code == 201, s.text
    return incident_id


def check_report(job: dict[str, Any]) -> CheckReport:
    """The independent checker's report on the job's plan against its scenario."""
    scenario = load_scenario(json.dumps(job["scenario"]))
    return check(Plan.model_validate(job["plan"]), scenario)


def checked(job: dict[str, Any]) -> Plan:
    """The job's plan, checked independently against its scenario: it passes the checker, the
    engine ran (no ``engine_error``: the baseline did not stand in for a broken stage), it
    delivers something and never beyond the proven bound."""
    report = check_report(job)
    assert report.ok, [str(v) for v in report.violations]
    plan = Plan.model_validate(job["plan"])
    assert plan.summary.status != "engine_error", plan.summary.status_reason
    assert plan.routes, "the engine planned no trip"
    assert plan.summary.fill_rate > 0
    assert plan.summary.coverage <= (plan.summary.bound_coverage or 1.0) + 1e-9
    assert plan.summary.coverage >= (plan.summary.baseline_coverage or 0.0) - 1e-9
    return plan


def plan(world: World, api: Api, incident_id: int, limit: float = 3, *,
         check_plan: bool = True, **body: Any) -> dict[str, Any]:
    """Request a plan (``body``: more of the request, e.g. ``reoptimise``), wait for it; it
    succeeded with the checker's verdict ok and (``check_plan``) passes :func:`checked`; the
    finished job."""
    r = api.post(f"/incidents/{incident_id}/plans", {"time_limit_s": limit, **body})
    assert r.status_code == 202, r.text
    job = r.json()
    world.client.app.state.runner.wait(job["id"], timeout=120)
    done = api.get(f"/incidents/{incident_id}/plans/{job['id']}").json()
    assert done["status"] == "succeeded", done
    assert done["verdict"]["ok"], done["verdict"]
    if check_plan:
        checked(done)
    return dict(done)


def approve(api: Api, incident_id: int, plan_id: int) -> list[dict[str, Any]]:
    """Approve a plan (must succeed); its shipments."""
    r = api.post(f"/incidents/{incident_id}/plans/{plan_id}/approve")
    assert r.status_code == 200, r.text
    trips = api.get(f"/incidents/{incident_id}/shipments").json()
    return [t for t in trips if t["plan_id"] == plan_id]


def loads_by_trip(job: dict[str, Any]) -> dict[tuple[str, int], dict[str, int]]:
    """(plate, trip number) -> load per item, from the job's plan (plates through the
    engine's vehicle expansion of its scenario: each live vehicle is one plate)."""
    units = load_scenario(json.dumps(job["scenario"])).vehicle_map
    plates = {unit: v.type_id for unit, v in units.items()}
    out = {}
    for route in job["plan"]["routes"]:
        for n, trip in enumerate(route["trips"], start=1):
            out[(plates[route["vehicle"]], n)] = {c: q for c, q in trip["load"].items() if q}
    return out


def shipment_loads(trips: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, int]]:
    """(plate, trip number) -> load per item, from shipments."""
    out: dict[tuple[str, int], dict[str, int]] = {}
    for t in trips:
        load: dict[str, int] = defaultdict(int)
        for line in t["load"]:
            load[line["item"]] += line["quantity"]
        out[(t["vehicle"], t["trip_no"])] = dict(load)
    return out


def in_transit(world: World) -> int:
    """Units on the road: on hand at the ledger's transit location."""
    with world.db.read_session() as s:
        transit = ledger.virtual_location(s, LocationKind.transit)
        return int(s.execute(select(func.coalesce(func.sum(Quant.on_hand), 0)).where(
            Quant.location_id == transit.id)).scalar_one())


def delivered_by_site(job: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Site -> item -> units the plan unloads there."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for route in job["plan"]["routes"]:
        for trip in route["trips"]:
            for stop in trip["stops"]:
                for code, qty in stop["unload"].items():
                    out[stop["site"]][code] += qty
    return out
