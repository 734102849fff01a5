"""The live scenario builder's what-if hook: unsaved incidents and sites, and stock moved by
advice, go through the same rules as a dispatcher's incident (tests/world.py network)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from dispatch import live
from dispatch.models import AffectedSite, Incident, IncidentKind, SiteKind
from relief.platform.dbtypes import utcnow
from supplies.models import Depot, Item
from tests.world import QUILT, TENT, TODAY, WATER, World

RICE = "1050103"

SITES = [("S-1", SiteKind.township, 32.10, 121.00, 60),
         ("S-2", SiteKind.shelter, 32.12, 120.95, 45)]


def _sites(incident_id: int | None) -> list[AffectedSite]:
    return [AffectedSite(incident_id=incident_id or 0, code=code, name=code, kind=kind, lat=lat,
                         lon=lon, people=people) for code, kind, lat, lon, people in SITES]


def _stock(world: World) -> None:
    # the default needs standard's fourth item (tests/world.py has the other three)
    world.db.write(lambda s: s.add(Item(code=RICE, name_zh="自热米饭", name_en="ready meal",
                                        category="food", unit="箱", unit_weight_kg=5.5,
                                        unit_volume_m3=0.04, shelf_life_days=365)))
    world.receive("CTY", QUILT, 200, lot="Q-A")
    world.receive("CTY", TENT, 60, lot="T-A")
    world.receive("CITY", WATER, 80, lot="W-A")
    for plate, depot in [("苏F-A1", "CTY"), ("苏F-C1", "CITY"), ("苏F-B1", "CTY2")]:
        r = world.admin.post("/vehicles", {"plate": plate, "depot": depot, "capacity_kg": 5000,
                                           "capacity_m3": 30})
        assert r.status_code == 201, r.text


def _without_name(scenario: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scenario.items() if k != "name"}


def test_an_unsaved_incident_builds_the_same_scenario_as_a_saved_one(world: World) -> None:
    """The same sites, saved as an incident or passed unsaved, give the same scenario (but
    for its name); the unsaved build writes nothing; people in a shelter need no tent."""
    _stock(world)
    now = utcnow()
    with world.db.read_session() as session:
        draft = Incident(kind=IncidentKind.typhoon, name="what if", onset=now, created_by="t")
        what_if = live.build(session, draft, now=now, today=TODAY, time_limit_s=5,
                             sites=_sites(None))
        assert not session.new and not session.dirty
    with world.db.read_session() as session:
        assert session.execute(select(func.count()).select_from(Incident)).scalar_one() == 0

    def save(session: Any) -> int:
        incident = Incident(kind=IncidentKind.typhoon, name="saved", onset=now, created_by="t")
        session.add(incident)
        session.flush()
        for site in _sites(incident.id):
            session.add(site)
        return incident.id

    incident_id = world.db.write(save)
    with world.db.read_session() as session:
        saved = live.build(session, session.get_one(Incident, incident_id), now=now,
                           today=TODAY, time_limit_s=5)
    assert _without_name(what_if.scenario) == _without_name(saved.scenario)
    demand = {s["id"]: s["demand"] for s in what_if.scenario["sites"]}
    assert "shelter" in demand["S-1"] and "shelter" not in demand["S-2"]
    assert demand["S-1"]["bedding"] == 60


def test_stock_adjust_moves_usable_stock_and_can_create_a_source(world: World) -> None:
    """Advice's moved stock: units leave one depot and appear at another, which becomes a
    source (with its vehicle) although it held nothing; a depot emptied is no source."""
    _stock(world)
    now = utcnow()
    with world.db.read_session() as session:
        depot = {d.code: d.id for d in session.execute(select(Depot)).scalars()}
        item = {i.code: i.id for i in session.execute(select(Item)).scalars()}
        draft = Incident(kind=IncidentKind.flood, name="what if", onset=now, created_by="t")
        before = live.build(session, draft, now=now, today=TODAY, time_limit_s=5,
                            sites=_sites(None))
        after = live.build(session, draft, now=now, today=TODAY, time_limit_s=5,
                           sites=_sites(None),
                           stock_adjust={(depot["CITY"], item[WATER]): -80,
                                         (depot["CTY2"], item[WATER]): 80})
    src_before = {s["id"]: s["stock"] for s in before.scenario["sources"]}
    src_after = {s["id"]: s["stock"] for s in after.scenario["sources"]}
    assert "CTY2" not in src_before and src_after["CTY2"] == {WATER: 80}
    assert "CITY" in src_before and "CITY" not in src_after
    assert {v["source"] for v in after.scenario["vehicles"]} == {"CTY", "CTY2"}
    assert src_after["CTY"] == src_before["CTY"]


def test_live_scenarios_are_contract_v2_with_enterprise_yards_and_driver_rules(
        world: World) -> None:
    """A transport enterprise's truck is based at the enterprise and may load at any source
    (available after its lead time there); depot trucks load at home; live plans carry the
    drivers' rules, per-tonne unloading and the default standard with substitutes, and
    shelters are sheltered. The greedy baseline plans it within the checker's rules."""
    from dispatch.planning.baseline import greedy_baseline
    from dispatch.planning.plan import check
    from dispatch.planning.problem import LIVE_DRIVER_RULES, load_scenario

    _stock(world)
    ent = world.admin.post("/transport-enterprises", {
        "code": "TE-X", "name": "物流(测试)", "division_code": "320612", "lat": 32.05,
        "lon": 121.02, "lead_time_hours": 1})
    assert ent.status_code == 201, ent.text
    hired = world.admin.post("/vehicles", {"plate": "TE-X-01", "enterprise": "TE-X",
                                           "capacity_kg": 10000, "capacity_m3": 45})
    assert hired.status_code == 201, hired.text
    now = utcnow()
    with world.db.read_session() as session:
        draft = Incident(kind=IncidentKind.typhoon, name="what if", onset=now, created_by="t")
        built = live.build(session, draft, now=now, today=TODAY, time_limit_s=5,
                           sites=_sites(None))
    data = built.scenario
    assert data["contract_version"] == 2
    trucks = {v["id"]: v for v in data["vehicles"]}
    assert trucks["TE-X-01"]["base"] == "TE:TE-X" and trucks["TE-X-01"]["loads_at"] == "any"
    assert "source" not in trucks["TE-X-01"] and trucks["TE-X-01"]["available_min"] >= 60
    assert trucks["苏F-A1"]["source"] == "CTY" and "loads_at" not in trucks["苏F-A1"]
    assert data["bases"] == [{"id": "TE:TE-X", "name": "物流(测试)", "lat": 32.05,
                              "lon": 121.02}]
    assert {s["id"]: s["sheltered"] for s in data["sites"]} == {"S-1": False, "S-2": True}
    sc = load_scenario(json.dumps(data))
    assert sc.policy.drivers == LIVE_DRIVER_RULES and sc.policy.unload_min_per_t > 0
    assert [n for n in sc.demand.needs] == ["water", "food", "shelter", "bedding"]
    plan = greedy_baseline(sc)
    assert check(plan, sc).ok, str(check(plan, sc))
