"""Diagnostics the benchmark reports: idle vehicles while coverable demand is unmet, and the
median fill per vehicle type."""

from __future__ import annotations

import pytest
from planning_scenarios import build, yard

from dispatch.planning.baseline import greedy_baseline
from dispatch.planning.diagnostics import fill_by_type, idle_while_coverable, median_fill
from dispatch.planning.network import build_network
from dispatch.planning.plan import schedule_route


def test_idle_vehicles_with_reachable_stock_for_unmet_needs_are_counted():
    """With no trips at all both trucks of `yard` are idle while A and B lack water and kits
    that P and Q hold: 2. The home truck h may load only at P, so its example is P."""
    sc = build(yard())
    report = idle_while_coverable(sc, [])
    assert report.count == 2
    assert ("h#1", "P", "A", "water") in report.examples


def test_a_plan_that_covers_everyone_leaves_no_coverable_demand():
    """The greedy plan covers A and B: nothing is short, so no vehicle is idle while
    coverable (whether it was used or not)."""
    sc = build(yard())
    plan = greedy_baseline(sc)
    assert plan.summary.coverage == 1.0
    assert idle_while_coverable(sc, plan.routes).count == 0


def test_vehicles_that_cannot_arrive_in_time_or_have_nothing_to_carry_are_not_counted():
    """With the deadline at 25 only h can reach A (at 20) with water; kits for B are out of
    everyone's reach in time. Once P's water is gone, h has nothing to carry either."""
    data = yard()
    data["deadline_min"] = 25
    sc = build(data)
    assert [e[0] for e in idle_while_coverable(sc, []).examples] == ["h#1"]
    data["sources"][0]["stock"] = {}
    assert idle_while_coverable(build(data), []).count == 0


def test_fill_is_the_binding_capacity_share_per_vehicle_type():
    """e carries 5 kg of water, then 2 + 3 kits (10 kg) on a 100 kg / 10 m3 truck: fills 0.05
    and 0.1 (weight binds), median 0.075."""
    sc = build(yard())
    net = build_network(sc)
    route = schedule_route(sc, net, sc.vehicle_map["e#1"],
                           [("P", [("A", {"water": 5})]),
                            ("Q", [("A", {"kit": 2}), ("B", {"kit": 3})])])
    assert fill_by_type(sc, [route]) == {"e": pytest.approx(0.075)}
    assert median_fill(sc, [route]) == pytest.approx(0.075)
    assert median_fill(sc, []) is None
