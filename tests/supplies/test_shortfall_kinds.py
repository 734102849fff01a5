"""Tier quotas hold government reserve depots only: an agreement enterprise (or a producer, a
shelter, a social store) of the same tier is held to its own targets or none, and the
console's county shortfall (the one-map and /console/shortfall) follows the same report."""

from __future__ import annotations

from datetime import timedelta

from tests.world import TENT, TODAY, WATER, World
from web import rollups


def test_tier_quotas_hold_government_depots_only(world: World) -> None:
    """A county-tier quota for tents: the county depot CTY (government) is short; the
    agreement enterprise AGR (also county tier) is not held to it; its own target for water
    is what it answers to. The county roll-up counts CTY's tents and AGR's water only."""
    assert world.admin.post("/targets", {"tier": "county", "item": TENT, "quantity": 40}
                            ).status_code == 201
    assert world.admin.post("/targets", {"depot": "AGR", "item": WATER, "quantity": 100}
                            ).status_code == 201
    world.receive("CTY", TENT, 10, lot="T-1")
    world.receive("AGR", WATER, 30, lot="W-1", expiry=TODAY + timedelta(days=200))
    rows = world.viewer.get("/reports/shortfall").json()
    by_key = {(r["depot"], r["item"]): r for r in rows}
    assert by_key[("CTY", TENT)]["shortfall"] == 30
    assert by_key[("CTY", TENT)]["target_source"] == "tier"
    assert ("AGR", TENT) not in by_key  # not a government reserve depot: no tier quota
    assert by_key[("AGR", WATER)]["shortfall"] == 70
    assert by_key[("AGR", WATER)]["target_source"] == "depot"
    assert {r["depot"] for r in rows} <= {"CTY", "CTY2", "TWN", "CITY", "AGR"}
    assert all(r["depot"] == "AGR" for r in rows if r["target_source"] == "depot")
    with world.db.read_session() as s:
        counties = rollups.county_shortfall(s, today=TODAY)
    tongzhou = {x.item: x.quantity for x in counties["320612"]}
    rugao = {x.item: x.quantity for x in counties["320682"]}
    assert tongzhou == {TENT: 30}
    assert rugao == {TENT: 40, WATER: 70}  # CTY2 (government) holds no tents; AGR's water
