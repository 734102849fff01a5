"""The read side: roll-ups, expiring stock, shortfall against targets, reserves within T hours."""

from __future__ import annotations

from datetime import timedelta

from tests.world import QUILT, TENT, TODAY, WATER, World


def test_summary_rolls_up_the_division_tree(world: World) -> None:
    """A township's stock counts for its county and the city; tiers and items sum alike."""
    world.receive("TWN", TENT, 5)
    world.receive("CTY", TENT, 7)
    world.receive("CTY2", TENT, 11)
    world.receive("CITY", QUILT, 3)
    rows = {r["key"]: r for r in world.viewer.get("/stock/summary", group_by="division",
                                                  item=TENT).json()}
    assert rows["320612101"]["on_hand"] == 5
    assert rows["320612"]["on_hand"] == 12 and rows["320612"]["depots"] == 2
    assert rows["320682"]["on_hand"] == 11
    assert rows["320600"]["on_hand"] == 23
    assert rows["320612"]["weight_kg"] == 12 * 38.0
    tiers = {r["key"]: r["on_hand"] for r in world.viewer.get("/stock/summary",
                                                              group_by="tier").json()}
    assert tiers == {"township": 5, "county": 18, "city": 3}
    items = {r["key"]: r["on_hand"] for r in world.viewer.get("/stock/summary",
                                                              group_by="item").json()}
    assert items == {TENT: 23, QUILT: 3}


def test_stock_filters_by_division_subtree_and_tier(world: World) -> None:
    """GET /stock?division= includes depots below the division; tier filters by depot tier."""
    world.receive("TWN", TENT, 5)
    world.receive("CTY2", TENT, 11)
    in_tongzhou = world.viewer.get("/stock", division="320612").json()
    assert [r["depot"] for r in in_tongzhou["items"]] == ["TWN"]
    assert world.viewer.get("/stock", tier="county").json()["items"][0]["depot"] == "CTY2"
    assert world.viewer.get("/stock", division="999999").status_code == 404


def test_expiring_lists_rotation_candidates_and_expired(world: World) -> None:
    """Stock expiring within the window is listed as expiring, past expiry as expired."""
    world.receive("CTY", WATER, 3, lot="OLD", expiry=TODAY - timedelta(days=2))
    world.receive("CTY", WATER, 4, lot="SOON", expiry=TODAY + timedelta(days=10))
    world.receive("CTY", WATER, 5, lot="LATER", expiry=TODAY + timedelta(days=100))
    rows = world.viewer.get("/reports/expiring", within_days=30).json()
    assert [(r["lot"], r["status"], r["days_left"]) for r in rows] == [
        ("OLD", "expired", -2), ("SOON", "expiring", 10)]


def test_shortfall_against_targets_suggests_replenishment(world: World) -> None:
    """Depot targets override tier targets; the suggestion restocks and replaces expiring stock."""
    assert world.admin.post("/targets", {"tier": "county", "item": WATER, "quantity": 50}
                            ).status_code == 201
    assert world.admin.post("/targets", {"depot": "CTY2", "item": WATER, "quantity": 10}
                            ).status_code == 201
    world.receive("CTY", WATER, 30, lot="A", expiry=TODAY + timedelta(days=200))
    world.receive("CTY", WATER, 5, lot="B", expiry=TODAY + timedelta(days=10))
    world.receive("CTY2", WATER, 10, lot="C", expiry=TODAY + timedelta(days=200))
    rows = {r["depot"]: r for r in world.viewer.get("/reports/shortfall", tier="county").json()}
    cty = rows["CTY"]
    assert (cty["target"], cty["available"], cty["shortfall"], cty["expiring_soon"]) == (
        50, 35, 15, 5)
    assert cty["suggested_replenishment"] == 20
    assert "CTY2" not in rows  # met by its own target
    everything = world.viewer.get("/reports/shortfall", include_met=True, depot="CTY2").json()
    assert everything[0]["target_source"] == "depot" and everything[0]["shortfall"] == 0


def test_reserves_report_counts_what_arrives_within_hours(world: World) -> None:
    """Physical stock counts now, agreements when their lead time fits, capacity pro rata."""
    world.receive("CTY2", WATER, 100, lot="P", expiry=TODAY + timedelta(days=200))
    assert world.admin.post("/agreements", {
        "depot": "AGR", "item": WATER, "committed_quantity": 500, "lead_time_hours": 6,
        "valid_from": (TODAY - timedelta(days=1)).isoformat(),
        "valid_to": (TODAY + timedelta(days=300)).isoformat(), "contract_ref": "C-1"},
    ).status_code == 201
    assert world.admin.post("/capacity-reserves", {
        "depot": "AGR", "item": WATER, "units_per_day": 240, "lead_time_hours": 4},
    ).status_code == 201
    (row,) = world.viewer.get("/reports/reserves", hours=10).json()
    assert (row["county"], row["physical"], row["agreement_within_hours"],
            row["capacity_within_hours"], row["within_hours"]) == ("320682", 100, 500, 60, 660)
    (short,) = world.viewer.get("/reports/reserves", hours=5).json()
    assert (short["agreement_within_hours"], short["capacity_within_hours"]) == (0, 10)


def test_master_data_crud_is_audited(world: World) -> None:
    """Creating and updating master data works and each change leaves an audit event."""
    from sqlalchemy import select

    from relief.platform.models import AuditEvent

    r = world.admin.post("/items", {"code": "1990001", "name_zh": "测试", "name_en": "test",
                                    "category": "test", "unit": "件", "unit_weight_kg": 1,
                                    "unit_volume_m3": 0.01})
    assert r.status_code == 201, r.text
    assert world.admin.post("/items", {**r.json(), "id": None}).status_code in (409, 422)
    r = world.admin.patch("/items/1990001", {"name_en": "test item"})
    assert r.json()["name_en"] == "test item"
    bad = world.admin.post("/items", {"code": "12", "name_zh": "x", "name_en": "x",
                                      "category": "x", "unit": "件", "unit_weight_kg": 1,
                                      "unit_volume_m3": 0.01})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "code"
    with world.db.read_session() as s:
        # the world's token set-up is audited too (token.*); master data leaves item.* events
        actions = [e.action for e in s.execute(select(AuditEvent)).scalars()
                   if not e.action.startswith("token.")]
    assert actions == ["item.create", "item.update"]
