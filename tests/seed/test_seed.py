"""The Nantong seed loads completely, once, and leaves a whole ledger."""

from __future__ import annotations

from sqlalchemy import func, select

from dispatch.models import Vehicle
from relief.db import Database
from relief.settings import Settings
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
