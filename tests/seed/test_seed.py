"""The Nantong seed loads completely, once, and leaves a whole ledger."""

from __future__ import annotations

from sqlalchemy import func, select

from dispatch.models import Vehicle
from relief.platform.db import Database
from relief.platform.settings import Settings
from seed.loader import database_is_empty, load, rows
from supplies import ledger, reports
from supplies.models import Depot, Division, Item, StockMove, Tier


def test_seed_is_complete_and_idempotent(db: Database) -> None:
    """Every division, item and depot of the seed files loads; a second run adds nothing."""
    today = Settings().today()
    with db.read_session() as s:
        assert database_is_empty(s)
    first = db.write(lambda s: load(s, today=today))
    assert first["divisions"] == sum(1 for _ in rows("divisions.csv"))
    assert first["items"] == sum(1 for _ in rows("items.csv")) >= 20
    assert first["depots"] == sum(1 for _ in rows("depots.csv"))
    assert first["opening stock lots"] == sum(1 for _ in rows("opening_stock.csv"))
    assert first["readiness scenarios"] == sum(1 for _ in rows("readiness_library.csv")) >= 25
    second = db.write(lambda s: load(s, today=today))
    assert set(second.values()) == {0}
    with db.read_session() as s:
        assert ledger.verify(s).ok
        tiers = dict(s.execute(select(Depot.tier, func.count()).group_by(Depot.tier)).all())
        assert tiers[Tier.city] >= 1 and tiers[Tier.county] >= 8 and tiers[Tier.township] >= 80
        city = s.execute(select(Depot).where(Depot.tier == Tier.city,
                                             Depot.kind == "government")).scalars().first()
        assert city is not None and city.floor_area_m2 == 3500
        assert s.get(Division, "320600") is not None
        assert s.execute(select(func.count()).select_from(Item)).scalar_one() >= 20
        moves = s.execute(select(func.count()).select_from(StockMove)).scalar_one()
        assert moves == first["opening stock lots"]
        expiring = reports.expiring(s, today=today, within_days=30)
        assert any(r.status == "expired" for r in expiring)
        assert any(r.status == "expiring" for r in expiring)
        assert reports.shortfall(s, today=today)
        assert s.execute(select(func.count()).select_from(Vehicle)).scalar_one() == (
            first["vehicles"]) > 0


def test_plan_on_the_seeded_network(db: Database) -> None:
    """On the real seed: an incident at three Rudong townships and a shelter plans from live
    stock with the real engine, passes the checker, sits between baseline and bound, and its
    approval reserves the loads with the ledger still whole."""
    from datetime import timedelta

    from dispatch.approval import approve
    from dispatch.flows import PlanExecutor, RunInCaller, inline_planner, request_plan
    from dispatch.models import Shipment, ShipmentLine
    from dispatch.models.incidents import IncidentIn, SiteIn
    from dispatch.service import add_site, create_incident
    from relief.platform.dbtypes import utcnow
    from relief.platform.models import Role
    from relief.platform.principal import Principal
    from supplies.ledger import MoveContext
    from supplies.models import Reservation

    settings = Settings()
    today = settings.today()
    db.write(lambda s: load(s, today=today))
    incident = db.write(lambda s: create_incident(s, actor="test", data=IncidentIn(
        kind="typhoon", name="台风(测试)", onset=utcnow() - timedelta(minutes=20))))
    townships = [r["code"] for r in rows("divisions.csv")
                 if r["parent_code"] == "320623" and r["level"] == "township"][:3]
    shelter = next(r["code"] for r in rows("depots.csv") if r["kind"] == "shelter")
    for code, people in zip(townships, (400, 250, 120), strict=True):
        db.write(lambda s, c=code, p=people: add_site(s, incident_id=incident.id, actor="test",
                                                      data=SiteIn(township=c, people=p,
                                                                  reported_by="王")))
    db.write(lambda s: add_site(s, incident_id=incident.id, actor="test",
                                data=SiteIn(shelter=shelter, people=300, reported_by="李")))
    job = db.write(lambda s: request_plan(s, incident_id=incident.id, time_limit_s=8,
                                          actor="test", settings=settings,
                                          queue=RunInCaller()))
    PlanExecutor(db, settings, owner="test", planner=inline_planner).run(job.id)
    with db.read_session() as s:
        from dispatch.record import get_plan

        done = get_plan(s, job.id)
    assert done.status == "succeeded", done.error
    assert done.verdict["ok"], done.verdict
    summary = done.result["summary"]
    assert summary["people"] == 1070
    assert summary["baseline_coverage"] - 1e-9 <= summary["coverage"]
    assert summary["coverage"] <= summary["bound_coverage"] + 1e-9
    principal = Principal(token_id=0, name="test", role=Role.dispatcher,
                          scopes=frozenset({"draw:city", "draw:agreement"}))
    db.write(lambda s: approve(s, incident_id=incident.id, plan_id=job.id, principal=principal,
                               ctx=MoveContext(actor=principal.actor, today=today)))
    with db.read_session() as s:
        loads = s.execute(select(func.sum(ShipmentLine.quantity)).join(
            Shipment, Shipment.id == ShipmentLine.shipment_id).where(
            Shipment.plan_id == job.id, ShipmentLine.reservation_id.is_not(None))).scalar_one()
        held = s.execute(select(func.sum(Reservation.quantity))).scalar_one()
        assert loads == held and loads > 0
        assert ledger.verify(s).ok
