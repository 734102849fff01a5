"""An approved plan of many trips for the console's scale tests, built without the engine.

The plan record is written as the planning job writes it (a succeeded draft with its scenario,
result, verdict and sources) and then approved through the API, so every trip has its
reservation, stops and lines exactly as after a real approval. Trips leave from CTY (quilts,
tents) and from CTY2, each carrying one quilt or one tent to one of ten sites; the vehicles are
named ``苏F-Tnnn``. Head counts and loads are synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from dispatch.models import DispatchPlan, JobStatus
from relief.platform.dbtypes import utcnow
from supplies.models import Depot
from tests.world import QUILT, TENT, World

SITES = [(f"S-{k:02d}", f"安置点{k:02d}(合成)", 32.05 + 0.01 * k, 121.00 + 0.005 * k)
         for k in range(10)]
SOURCES = {"CTY": (32.06, 121.07), "CTY2": (32.25, 120.59)}


@dataclass(frozen=True)
class BigPlan:
    """The incident and plan ids, and how many trips leave each source."""

    incident: int
    plan: int
    trips: int
    by_source: dict[str, int]


def build(world: World, trips: int = 300) -> BigPlan:
    """Stock, an incident with ten sites and an approved plan of ``trips`` trips."""
    world.receive("CTY", QUILT, trips, lot="Q-BIG")
    world.receive("CTY", TENT, trips, lot="T-BIG")
    world.receive("CTY2", QUILT, trips, lot="Q-BIG2")
    onset = utcnow() - timedelta(minutes=10)
    r = world.dispatcher.post("/incidents", {"kind": "flood", "name": "大规模演练(合成)",
                                             "onset": onset.isoformat()})
    assert r.status_code == 201, r.text
    incident = int(r.json()["id"])
    for code, name, lat, lon in SITES:
        s = world.dispatcher.post(f"/incidents/{incident}/sites", {
            "code": code, "name": name, "lat": lat, "lon": lon, "people": 100,
            "reported_by": "演练"})
        assert s.status_code == 201, s.text
    routes, by_source = [], {"CTY": 0, "CTY2": 0}
    for k in range(trips):
        source = "CTY2" if k % 5 == 4 else "CTY"
        item = TENT if source == "CTY" and k % 2 else QUILT
        site = SITES[k % len(SITES)][0]
        by_source[source] += 1
        depart = 20 + k % 60
        routes.append({"vehicle": f"苏F-T{k:03d}", "trips": [{
            "source": f"D-{source}", "depart_min": depart, "load": {item: 1},
            "stops": [{"site": site, "arrive_min": depart + 40, "unload": {item: 1}}],
            "return_min": depart + 80}]})
    with world.db.read_session() as session:
        depots = {d.code: d for d in session.execute(select(Depot).where(
            Depot.code.in_(list(SOURCES)))).scalars()}
    scenario = {
        "name": "big", "deadline_min": 600,
        "sites": [{"id": c, "name": n, "lat": la, "lon": lo, "people": 100}
                  for c, n, la, lo in SITES],
        "sources": [{"id": f"D-{code}", "name": depots[code].name, "tier": "county",
                     "lat": lat, "lon": lon} for code, (lat, lon) in SOURCES.items()],
    }
    result = {
        "scenario": "big",
        "summary": {"people": 1000, "people_covered": 0, "coverage": 0.0, "fill_rate": 0.1,
                    "latest_arrival_min": 140, "distance_km": 1.0, "vehicles_used": trips,
                    "solve_s": 0.1, "status": "feasible", "bound_coverage": 0.0,
                    "baseline_coverage": 0.0},
        "routes": routes,
        "sites": [{"site": c, "people": 100, "demand": {QUILT: 100}, "delivered": {},
                   "last_arrival_min": None, "covered": False} for c, *_ in SITES],
        "unmet": [],
    }
    sources = {f"D-{code}": {"depot_id": depots[code].id, "depot": code, "tier": "county",
                             "kind": "stock", "lead_min": 0, "stock": {QUILT: trips, TENT: trips}}
               for code in SOURCES}
    # The vehicle map of the plan's record: these trucks are not registered vehicles.
    vehicles = {r["vehicle"]: {"unit": r["vehicle"], "plate": r["vehicle"], "vehicle_id": None}
                for r in routes}

    def insert(session: object) -> int:
        plan = DispatchPlan(incident_id=incident, status=JobStatus.succeeded, phase="done",
                            progress=1.0, requested_by="test", scenario=scenario,
                            result=result, verdict={"ok": True, "violations": []},
                            sources=sources, vehicles=vehicles, finished_at=utcnow())
        session.add(plan)  # type: ignore[attr-defined]
        session.flush()  # type: ignore[attr-defined]
        return plan.id or 0

    plan = world.db.write(insert)
    approved = world.dispatcher.post(f"/incidents/{incident}/plans/{plan}/approve")
    assert approved.status_code == 200, approved.text
    return BigPlan(incident=incident, plan=plan, trips=trips, by_source=by_source)
