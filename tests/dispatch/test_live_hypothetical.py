"""The live scenario builder's what-if hook: unsaved incidents and sites, and stock moved by
advice, go through the same rules as a dispatcher's incident (tests/world.py network)."""

from __future__ import annotations

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
    assert TENT in demand["S-1"] and TENT not in demand["S-2"]
    assert demand["S-1"][QUILT] == 60


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
