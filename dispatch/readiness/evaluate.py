"""What a plan says about readiness: people covered in all and per need, the binding reason,
and the gap per item in units and tonnes. Reads only the plan and its scenario (typed).

The engine's unmet reasons are named in one vocabulary here (contract v1 names map onto it):
``stock`` (not enough stock of the item within reach by the deadline), ``fleet_time`` (the
stock was there, the vehicles could not bring it in time), ``lead_time`` (only reserves whose
activation lead time is too long hold it) and ``unreachable`` (no vehicle can arrive by the
deadline: distance or closed roads).

Contract-v2 plans name unmet needs (``water``, ``food``, ...; units of need); gaps and the
binding item are expressed in the need's **primary item** (the first item of its group in the
scenario's standard: the one the reserve catalogue stocks for it), units rounded up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from dispatch.planning.plan import Plan
from dispatch.planning.problem import Scenario
from dispatch.readiness.models import Binding, ItemGap, NeedCoverage

REASONS: dict[str, str] = {
    "no_stock_in_reach": "stock",
    "stock": "stock",
    "no_fleet_capacity": "fleet_time",
    "fleet_time": "fleet_time",
    "lead_time": "lead_time",
    "unreachable": "unreachable",
}
# Among reasons leaving as many people short, the one a leader can act on first.
REASON_ORDER = ("stock", "lead_time", "fleet_time", "unreachable")


@dataclass(frozen=True)
class Outcome:
    """Readiness figures of one plan."""

    people: int
    people_covered: int
    coverage: float
    fill_rate: float
    bound_coverage: float | None
    baseline_coverage: float | None
    engine_status: str
    solve_s: float
    needs: list[NeedCoverage]
    binding: Binding | None
    gaps: list[ItemGap]


def on_time(plan: Plan, deadline_min: int) -> dict[str, dict[str, int]]:
    """Per site and item: units unloaded at stops arriving by the deadline."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for route in plan.routes:
        for trip in route.trips:
            for stop in trip.stops:
                if stop.arrive_min <= deadline_min:
                    for item, qty in stop.unload.items():
                        out[stop.site][item] += qty
    return out


def needs(plan: Plan, scenario: Scenario) -> list[NeedCoverage]:
    """Per need of the scenario's standard: people of sites having it, and people of those
    sites whose whole need of it is met by the deadline. The engine's own verdict per site
    (``needs_met``, contract v2) when the plan has it; for an older plan each item is its own
    need and the on-time units of the routes decide."""
    got = on_time(plan, scenario.deadline_min)
    people: dict[str, int] = defaultdict(int)
    covered: dict[str, int] = defaultdict(int)
    for site in plan.sites:
        for need, qty in site.demand.items():
            if qty <= 0:
                continue
            people[need] += site.people
            met = (need in site.needs_met if site.needs_met is not None
                   else got[site.site][need] >= qty)
            if met:
                covered[need] += site.people
    order = [i.code for i in scenario.items]
    keys = sorted(people, key=lambda k: (order.index(k) if k in order else len(order), k))
    return [NeedCoverage(need=k, people=people[k], people_covered=covered[k]) for k in keys]


def primary_item(scenario: Scenario, need: str) -> tuple[str, float]:
    """The item a need is counted in, and units of need per unit of it: the first item of
    the need's group (an item code is its own need, 1 per unit)."""
    found = scenario.demand.needs.get(need)
    if found is None:
        return need, 1.0
    code, eq = next(iter(found.items.items()))
    return code, eq


def binding(plan: Plan, scenario: Scenario | None = None) -> Binding | None:
    """The reason (and, for stock, the item) leaving the most people of uncovered sites short;
    ties go to more units short, then to the order stock, lead time, fleet time, distance."""
    covered = {s.site: s.covered for s in plan.sites}
    people = {s.site: s.people for s in plan.sites}
    persons: dict[tuple[str, str | None], int] = defaultdict(int)
    units: dict[tuple[str, str | None], float] = defaultdict(float)
    counted: set[tuple[str, tuple[str, str | None]]] = set()
    for u in plan.unmet:
        if covered.get(u.site, False):
            continue
        reason = REASONS.get(u.reason, u.reason)
        item, eq = primary_item(scenario, u.item) if scenario is not None else (u.item, 1.0)
        key = (reason, item if reason in ("stock", "lead_time") else None)
        units[key] += u.qty / eq
        if (u.site, key) not in counted:
            counted.add((u.site, key))
            persons[key] += people.get(u.site, 0)
    if not persons:
        return None

    def rank(key: tuple[str, str | None]) -> tuple[int, float, int, str]:
        order = REASON_ORDER.index(key[0]) if key[0] in REASON_ORDER else len(REASON_ORDER)
        return (-persons[key], -units[key], order, key[1] or "")

    best = min(persons, key=rank)
    return Binding(reason=best[0], item=best[1], people=persons[best],
                   qty=round(units[best]))


def gaps(plan: Plan, scenario: Scenario) -> list[ItemGap]:
    """Per item: units not delivered by the deadline, and their weight in tonnes."""
    short: dict[str, float] = defaultdict(float)
    for u in plan.unmet:
        item, eq = primary_item(scenario, u.item)
        short[item] += math.ceil(u.qty / eq - 1e-9)
    kg = {i.code: i.unit_kg for i in scenario.items}
    order = [i.code for i in scenario.items]
    return [ItemGap(item=code, units=round(short[code]),
                    tonnes=round(short[code] * kg.get(code, 0.0) / 1000, 3))
            for code in sorted(short, key=lambda c: (order.index(c) if c in order else 99, c))]


def outcome(plan: Plan, scenario: Scenario) -> Outcome:
    """Every readiness figure of a plan on its scenario."""
    s = plan.summary
    return Outcome(people=s.people, people_covered=s.people_covered, coverage=s.coverage,
                   fill_rate=s.fill_rate, bound_coverage=s.bound_coverage,
                   baseline_coverage=s.baseline_coverage, engine_status=s.status or "",
                   solve_s=s.solve_s, needs=needs(plan, scenario),
                   binding=binding(plan, scenario),
                   gaps=gaps(plan, scenario))
