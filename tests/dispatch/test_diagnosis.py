"""The diagnosis of a live plan's shortfalls (dispatch.diagnosis): a fleet held by approved
trips is named as such, with until when, instead of the engine's "unreachable"/"no stock";
a real lack of stock stays a lack of stock. No database: tiny scenarios of the planning
tests (1 km = 1 minute)."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from dispatch.diagnosis import FLEET_BUSY, diagnose
from dispatch.planning.baseline import greedy_baseline
from dispatch.planning.problem import load_scenario
from tests.dispatch.planning.planning_scenarios import line

TZ = ZoneInfo("Asia/Shanghai")


def _busy_line(stock: int) -> tuple[object, str]:
    data = line()  # one truck at D, sites 10-30 km away, deadline 100
    data["sources"][0]["stock"] = {"water": stock}
    truck = data["vehicles"][0]
    truck["available_min"] = 95  # on approved trips until 5 minutes before the deadline
    return load_scenario(json.dumps(data)), truck["id"]


def test_a_busy_fleet_is_not_reported_as_missing_stock() -> None:
    """The only truck is busy until +95: the engine's reason is not the fleet (no vehicle can
    reach the sites by the deadline), the diagnosis says fleet_busy with its free time."""
    scenario, truck = _busy_line(stock=100)
    plan = greedy_baseline(scenario)
    assert plan.unmet and all(str(u.reason) != "fleet_time" for u in plan.unmet)
    why = diagnose(scenario, plan, busy={truck: 95}, as_of_min=0, tz=TZ)
    assert {r.reason for r in why.unmet} == {FLEET_BUSY}
    assert why.reasons == {FLEET_BUSY: len(plan.unmet)}
    assert why.fleet_busy is not None and why.fleet_busy.vehicles == 1
    assert why.fleet_busy.first_free_min == 95
    assert "车队忙至" in why.message_zh and "fleet busy until" in why.message


def test_a_real_lack_of_stock_stays_stock() -> None:
    """No stock at all: freeing the truck changes nothing, so the reason stays the engine's."""
    scenario, truck = _busy_line(stock=0)
    plan = greedy_baseline(scenario)
    why = diagnose(scenario, plan, busy={truck: 95}, as_of_min=0, tz=TZ)
    assert why.unmet and FLEET_BUSY not in why.reasons
    assert all(r.reason == r.engine_reason for r in why.unmet)


def test_no_busy_vehicle_keeps_the_engines_reasons() -> None:
    """Without busy vehicles the diagnosis is the engine's reasons, counted."""
    data = line()
    scenario = load_scenario(json.dumps(data))
    plan = greedy_baseline(scenario)
    why = diagnose(scenario, plan, busy={}, as_of_min=0, tz=TZ)
    assert why.fleet_busy is None
    assert sum(why.reasons.values()) == len(plan.unmet)
    assert why.message_zh
