"""Exhaustive search for the best plan of a tiny contract-v2 scenario (tests only).

Every vehicle, every source it may load at, every ordered set of open sites per trip, every
integer split of the unloads over the items meeting each site's needs, timed by
``timing.Day`` (base legs, driver rules, per-tonne unloading) with the shift checked:
memoised on the vehicles' states, the stock left and the needs left. Returns the most people
covered and the routes of a best plan (which must pass the checker).
"""

from __future__ import annotations

import itertools
import math

from dispatch.planning.needs import NEED_SLACK
from dispatch.planning.network import build_network
from dispatch.planning.plan import Route, schedule_route
from dispatch.planning.problem import Scenario
from dispatch.planning.timing import Day, VehicleState


def brute_force_v2(sc: Scenario, max_stops: int = 2) -> tuple[int, list[Route]]:
    """Best people covered by the deadline over all plans (trips of at most ``max_stops``
    stops), and the routes of one best plan."""
    net = build_network(sc)
    model = sc.demand
    units = sc.vehicle_units
    days = [Day(sc, net, v) for v in units]
    cells = [(s.id, n) for s in sc.sites for n in model.by_site[s.id]]
    stock_keys = [(s.id, i.code) for s in sc.sources for i in sc.items]
    memo: dict[tuple, tuple[int, tuple | None]] = {}

    def covered(rem: dict) -> int:
        return sum(s.people for s in sc.sites
                   if all(rem[s.id, n] <= NEED_SLACK for n in model.by_site[s.id]))

    def splits(v, source_id, seq, stock, rem):
        """Every unload (stop k, item) -> qty with each stop unloading >= 1 unit."""
        slots = [(k, c) for k, sid in enumerate(seq) for n in model.by_site[sid]
                 for c in model.needs[n].items]

        def rec(i, kg, m3, taken, acc):
            if i == len(slots):
                if all(any(q for (k2, _), q in acc.items() if k2 == k) for k in range(len(seq))):
                    yield dict(acc)
                return
            k, c = slots[i]
            need = model.item_need[seq[k]][c]
            eq = model.needs[need].items[c]
            item = sc.item(c)
            left = max(0.0, rem[seq[k], need])
            top = min(math.ceil(left / eq - 1e-9), stock[source_id, c] - taken.get(c, 0))
            for q in range(max(0, top) + 1):
                if kg + q * item.unit_kg > v.capacity_kg + 1e-9:
                    break
                if m3 + q * item.unit_m3 > v.capacity_m3 + 1e-9:
                    break
                acc[k, c] = q
                taken[c] = taken.get(c, 0) + q
                yield from rec(i + 1, kg + q * item.unit_kg, m3 + q * item.unit_m3, taken, acc)
                taken[c] -= q
                del acc[k, c]

        yield from rec(0, 0.0, 0.0, {}, {})

    def apply(unload, seq, source_id, stock, rem, sign):
        for (k, c), q in unload.items():
            need = model.item_need[seq[k]][c]
            stock[source_id, c] -= sign * q
            rem[seq[k], need] -= sign * q * model.needs[need].items[c]

    def moves(states, stock, rem):
        open_sites = [s.id for s in sc.sites
                      if any(rem[s.id, n] > NEED_SLACK for n in model.by_site[s.id])]
        for vi, v in enumerate(units):
            day = days[vi]
            for source_id in v.loads_at:
                for k in range(1, min(max_stops, len(open_sites)) + 1):
                    for seq in itertools.permutations(open_sites, k):
                        for unload in splits(v, source_id, seq, stock, rem):
                            kgs = []
                            for n in range(len(seq)):
                                kgs.append(sum(q * sc.item(c).unit_kg
                                               for (k2, c), q in unload.items() if k2 == n))
                            timing = day.time_trip(states[vi], source_id,
                                                   list(zip(seq, kgs, strict=True)))
                            if timing is None or max(timing.arrive_min) > sc.deadline_min:
                                continue
                            if not day.fits(timing.after):
                                continue
                            yield vi, source_id, seq, unload, timing.after

    def best(states: tuple[VehicleState, ...], stock: dict, rem: dict) -> tuple[int, tuple | None]:
        key = (states, tuple(stock[k] for k in stock_keys),
               tuple(round(rem[k], 6) for k in cells))
        if key in memo:
            return memo[key]
        value, choice = covered(rem), None
        for vi, source_id, seq, unload, after in list(moves(states, stock, rem)):
            apply(unload, seq, source_id, stock, rem, 1)
            nstates = (*states[:vi], after, *states[vi + 1:])
            sub, _ = best(nstates, stock, rem)
            apply(unload, seq, source_id, stock, rem, -1)
            if sub > value:
                value, choice = sub, (vi, source_id, seq, unload, nstates)
        memo[key] = (value, choice)
        return memo[key]

    stock = {(s.id, i.code): s.stock.get(i.code, 0) for s in sc.sources for i in sc.items}
    rem = {(sid, n): float(model.by_site[sid][n]) for sid, n in cells}
    states = tuple(day.start() for day in days)
    value, _ = best(states, stock, rem)
    trips: dict[int, list] = {vi: [] for vi in range(len(units))}
    while True:
        _, choice = best(states, stock, rem)
        if choice is None:
            break
        vi, source_id, seq, unload, states = choice
        stops = [(sid, {c: q for (k, c), q in unload.items() if k == n and q})
                 for n, sid in enumerate(seq)]
        trips[vi].append((source_id, stops))
        apply(unload, seq, source_id, stock, rem, 1)
    routes = []
    for vi, spec in trips.items():
        if spec:
            route = schedule_route(sc, net, units[vi], spec)
            assert route is not None
            routes.append(route)
    return value, routes
