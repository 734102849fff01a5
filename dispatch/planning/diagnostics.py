"""Diagnostics of a plan that the benchmark reports (pure functions; no figure of the contract).

* ``idle_while_coverable``: vehicles with no trip while some coverable demand is unmet. A
  vehicle is *idle while coverable* when it has no trip and a one-stop trip exists that it
  could make under every rule of its day (``timing.Day``: from its base, loading at a source
  its ``loads_at`` allows, not before the source is ready, arriving by the deadline, back at
  base within its shift, the driving rule kept) carrying at least one unit of an item of a
  need that is short at that site by the deadline, from the stock the plan left at that
  source (and one unit of it fits the vehicle).
* ``fill_by_type``: the median fill of trips per vehicle type, fill = the binding capacity's
  share, max(load kg / capacity kg, load m³ / capacity m³).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.planning.network import UNREACHABLE, TravelNetwork, build_network
from dispatch.planning.plan import Evaluation, Route, evaluate
from dispatch.planning.problem import Scenario, VehicleUnit
from dispatch.planning.timing import Day

_FIT = 1e-9


@dataclass(frozen=True)
class IdleReport:
    """Idle vehicles that could have served unmet demand: how many, and for each one trip it
    could have made (vehicle, source, site, need)."""

    count: int
    examples: tuple[tuple[str, str, str, str], ...]


def idle_while_coverable(
    scenario: Scenario,
    routes: Sequence[Route],
    network: TravelNetwork | None = None,
    *,
    evaluation: Evaluation | None = None,
) -> IdleReport:
    """Count vehicles with no trip that could carry a unit of an unmet need somewhere by the
    deadline (module docstring gives the exact definition)."""
    net = network or build_network(scenario)
    ev = evaluation or evaluate(scenario, routes, net)
    used = {r.vehicle for r in routes if r.trips}
    idle = [v for v in scenario.vehicle_units if v.id not in used]
    short = {(u.site, u.item) for u in ev.unmet}
    if not idle or not short:
        return IdleReport(0, ())
    left = {s.id: dict(s.stock) for s in scenario.sources}
    for r in routes:
        for t in r.trips:
            for c, q in t.load.items():
                if t.source in left:
                    left[t.source][c] = left[t.source].get(c, 0) - q
    model = scenario.demand
    # per source and site: the cheapest unit (kg) of an item it still holds for a short need
    wants: dict[int, list[tuple[int, str, dict[str, float]]]] = defaultdict(list)
    for site_id, need in sorted(short):
        items = model.needs[need].items if need in model.needs else {need: 1.0}
        for k, s in enumerate(scenario.sources):
            units = {c: scenario.item(c).unit_kg for c in items if left[s.id].get(c, 0) > 0}
            if units:
                wants[k].append((net.site_loc(site_id), need, units))
    deadline = scenario.deadline_min
    examples: list[tuple[str, str, str, str]] = []
    for v in idle:
        found = _coverable_trip(scenario, net, v, wants, deadline)
        if found is not None:
            examples.append((v.id, *found))
    return IdleReport(len(examples), tuple(examples))


def _coverable_trip(
    scenario: Scenario,
    net: TravelNetwork,
    v: VehicleUnit,
    wants: dict[int, list[tuple[int, str, dict[str, float]]]],
    deadline: int,
) -> tuple[str, str, str] | None:
    day = Day(scenario, net, v)
    start = day.start()
    m = net.minutes(v.speed_factor)
    base = net.place_loc(v.base)
    site_ids = net.site_ids
    first = net.n_sources
    for source_id in v.loads_at:
        s = net.source_loc(source_id)
        if not wants.get(s) or m[base, s] >= UNREACHABLE:
            continue
        src = scenario.source_map[source_id]
        # a lower bound on the arrival (no breaks) filters the candidates cheaply
        load_start = max(src.ready_min, v.available_min + int(m[base, s]))
        for loc, need, units in wants[s]:
            t = int(m[s, loc])
            if t >= UNREACHABLE or load_start + src.load_min + t > deadline:
                continue
            code = min(units, key=lambda c: units[c])
            item = scenario.item(code)
            if item.unit_kg > v.capacity_kg * (1 + _FIT) or item.unit_m3 > v.capacity_m3 * (
                    1 + _FIT):
                continue
            site_id = site_ids[loc - first]
            timing = day.time_trip(start, source_id, [(site_id, item.unit_kg)])
            if timing is not None and timing.arrive_min[0] <= deadline and day.fits(
                    timing.after):
                return source_id, site_id, need
    return None


def trip_fills(scenario: Scenario, routes: Sequence[Route]) -> list[tuple[VehicleUnit, float]]:
    """Every trip's vehicle and fill, fill = max(kg share, m³ share) of its load."""
    items = scenario.item_map
    out: list[tuple[VehicleUnit, float]] = []
    for r in routes:
        v = scenario.vehicle_map.get(r.vehicle)
        if v is None:
            continue
        for t in r.trips:
            kg = sum(q * items[c].unit_kg for c, q in t.load.items() if c in items)
            m3 = sum(q * items[c].unit_m3 for c, q in t.load.items() if c in items)
            out.append((v, max(kg / v.capacity_kg, m3 / v.capacity_m3)))
    return out


def fill_by_type(scenario: Scenario, routes: Sequence[Route]) -> dict[str, float]:
    """Median fill of the trips of each vehicle type (entry id), fill = max(kg share, m³
    share) of the load; types without trips are left out."""
    fills: dict[str, list[float]] = defaultdict(list)
    for v, fill in trip_fills(scenario, routes):
        fills[v.type_id].append(fill)
    return {k: float(statistics.median(x)) for k, x in sorted(fills.items())}


def median_fill(scenario: Scenario, routes: Sequence[Route]) -> float | None:
    """Median fill over every trip of the plan (None without trips)."""
    fills = [f for _, f in trip_fills(scenario, routes)]
    return float(np.median(fills)) if fills else None
