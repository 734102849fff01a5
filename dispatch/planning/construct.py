"""Building deliveries into the working plan: completing sites, then filling.

A **move** brings goods from one source to one site on one vehicle, either on a new trip
appended to the vehicle's day or as a stop added to one of its trips that loads at that source
and has room left (a multi-stop trip), at the position that delays the vehicle least; the
vehicle's later trips move later and every stop must still arrive by the deadline. Its cost is
how much later the vehicle is free (vehicle-minutes), its size the goods in reference
truckloads (``Static.load_size``).

``complete`` finishes a site: moves with the most goods per vehicle-minute until the site has
its whole demand, or takes them all back. ``construct`` completes sites by most people per
vehicle-minute first (lazy greedy: a site's cost is recomputed when it comes up and it waits
if it got dearer than the next). ``fill`` runs only after that: part-deliveries, by fill
gained per vehicle-minute, with what stock and vehicle time are left, so a part-delivery never
takes capacity a completable site needed.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from dispatch.planning.network import UNREACHABLE
from dispatch.planning.state import FIT_SLACK, State, Static, WTrip

_EPS_MIN = 1.0  # minutes added to every cost, so a free ride still has a finite rate
_KEY_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Move:
    """A delivery to site ``j`` by vehicle ``k`` from source ``source``: on a new trip
    (``trip`` None) or added to trip ``trip`` at stop position ``pos`` (``merge``: onto the
    site's own stop there). ``cost``: how much later the vehicle is free; ``size`` in
    reference truckloads; ``value``: fill value (filling only)."""

    j: int
    k: int
    source: int
    trip: int | None
    pos: int
    merge: bool
    load: dict[int, int]
    kg: float
    m3: float
    cost: int
    size: float
    value: float


Valuer = Callable[[int, int], float]  # (site, item) -> value of one unit


def _pack(st: Static, k: int, kg: float, m3: float, avail: dict[int, int],
          order: Iterable[int]) -> tuple[dict[int, int], float, float]:
    """Greedy load for vehicle k with kg/m3 already on board: items in ``order``; returns
    the load and its kg and m3."""
    room_kg = st.cap_kg[k] * (1 + FIT_SLACK) - kg
    room_m3 = st.cap_m3[k] * (1 + FIT_SLACK) - m3
    load: dict[int, int] = {}
    lkg = lm3 = 0.0
    for i in order:
        ukg, um3 = st.kg[i], st.m3[i]
        n = min(avail[i], math.floor(room_kg / ukg + 1e-9), math.floor(room_m3 / um3 + 1e-9))
        if n > 0:
            load[i] = n
            room_kg -= n * ukg
            room_m3 -= n * um3
            lkg += n * ukg
            lm3 += n * um3
    return load, lkg, lm3


def _shift_cost(state: State, k: int, t: int, delta: int) -> int | None:
    """How much later vehicle k is free when its trip t returns ``delta`` later (later trips
    move as far as they must); None when a later stop would miss the deadline."""
    st = state.st
    trips = state.trips[k]
    prev = trips[t].ret + delta
    for u in trips[t + 1:]:
        shift = max(prev, st.ready[u.source], st.available[k]) - u.load_start
        if shift <= 0:
            return 0  # the rest of the day is unchanged
        if u.arrivals[-1] + shift > st.deadline:
            return None
        prev = u.ret + shift
    return prev - trips[-1].ret


def _best_position(state: State, k: int, trip: WTrip, j: int) -> tuple[int, int] | None:
    """(delay of the trip's return, position) of the cheapest on-time insertion of a stop at
    site j into ``trip``."""
    st = state.st
    m = st.mins[k]
    loc = st.n_src + j
    deadline = st.deadline
    n = len(trip.sites)
    pick: tuple[int, int] | None = None
    prev = trip.source
    for pos in range(n + 1):
        if pos == 0:
            reach = trip.depart + m[prev][loc]
        else:
            reach = trip.arrivals[pos - 1] + st.service[trip.sites[pos - 1]] + m[prev][loc]
        nxt = st.n_src + trip.sites[pos] if pos < n else trip.source
        go, back = m[prev][loc], m[loc][nxt]
        if go < UNREACHABLE and back < UNREACHABLE:
            delta = go + st.service[j] + back - m[prev][nxt]
            last = trip.arrivals[-1] + delta if pos < n else reach
            if reach <= deadline and last <= deadline and (pick is None or delta < pick[0]):
                pick = (delta, pos)
        prev = nxt
    return pick


def can_serve(state: State, s: int, j: int) -> bool:
    """Source s still has a vehicle that can get to site j by the deadline on a new trip,
    or a trip with room that might take j as an extra stop."""
    st = state.st
    loc = st.n_src + j
    for k in st.loaders[s]:
        if max(state.free(k), st.ready[s], st.available[k]) + st.load_min[s] \
                + st.mins[k][s][loc] <= st.deadline:
            return True
        if any(t.source == s and t.kg < st.cap_kg[k] and t.m3 < st.cap_m3[k]
               for t in state.trips[k]):
            return True
    return False


def candidate_sources(state: State, j: int, rem: dict[int, int], per_item: int) -> list[int]:
    """Sources that can still serve site j: for each outstanding item, the ``per_item``
    nearest that hold it and ``can_serve`` j; nearest first."""
    st = state.st
    usable: dict[int, bool] = {}
    chosen: set[int] = set()
    for i in rem:
        n = 0
        for s in st.reach[j]:
            if state.stock[s].get(i, 0) <= 0:
                continue
            ok = usable.get(s)
            if ok is None:
                ok = usable[s] = can_serve(state, s, j)
            if ok:
                chosen.add(s)
                n += 1
                if n >= per_item:
                    break
    return [s for s in st.reach[j] if s in chosen]


def moves(state: State, j: int, rem: dict[int, int], value: Valuer | None = None,
          per_item: int = 6, floor: list[float] | None = None) -> Iterator[Move]:
    """Candidate moves towards site j's outstanding ``rem`` from its candidate sources.

    With ``value`` None the load carries as much of ``rem`` as fits (completion, catalogue
    order); otherwise items go in order of value per unit of room (filling). ``floor``
    (a one-element list the caller raises as it finds better moves) skips candidates whose
    rate could not beat it: with a gain of at most everything outstanding, at their cost.
    """
    st = state.st
    loc = st.n_src + j
    deadline = st.deadline
    if value is None:
        gain_max = max(sum(q * st.kg[i] for i, q in rem.items()) / st.kg_ref,
                       sum(q * st.m3[i] for i, q in rem.items()) / st.m3_ref)
    else:
        gain_max = sum(q * value(j, i) for i, q in rem.items())
    for s in candidate_sources(state, j, rem, per_item):
        stock = state.stock[s]
        avail = {i: min(q, stock.get(i, 0)) for i, q in rem.items() if stock.get(i, 0) > 0}
        if value is None:
            order: list[int] = sorted(avail)
        else:
            order = sorted(avail, key=lambda i: (-value(j, i) / max(st.kg[i] / st.kg_ref,
                                                                   st.m3[i] / st.m3_ref), i))
        # new trips: one vehicle per kind (capacity, speed, availability), the first free
        seen: dict[tuple, tuple[int, int]] = {}
        for k in st.loaders[s]:
            key = (st.cap_kg[k], st.cap_m3[k], id(st.mins[k]), st.available[k])
            f = state.free(k)
            if key not in seen or f < seen[key][0]:
                seen[key] = (f, k)
        for f, k in seen.values():
            m = st.mins[k]
            go, back = m[s][loc], m[loc][s]
            if go >= UNREACHABLE or back >= UNREACHABLE:
                continue
            arrive = max(f, st.ready[s], st.available[k]) + st.load_min[s] + go
            if arrive > deadline:
                continue
            cost = arrive + st.service[j] + back - f
            if floor is not None and gain_max / (cost + _EPS_MIN) < floor[0]:
                continue
            load, kg, m3 = _pack(st, k, 0.0, 0.0, avail, order)
            if load:
                yield _move(st, j, k, s, None, 0, False, load, kg, m3, cost, value)
        # stops added to trips from s with room left
        min_kg = min(st.kg[i] for i in avail)
        min_m3 = min(st.m3[i] for i in avail)
        for k in st.loaders[s]:
            ts = state.trips[k]
            if not ts:
                continue
            room_kg = st.cap_kg[k] * (1 + FIT_SLACK) - min_kg
            room_m3 = st.cap_m3[k] * (1 + FIT_SLACK) - min_m3
            for t, trip in enumerate(ts):
                if trip.source != s or trip.kg > room_kg or trip.m3 > room_m3:
                    continue
                if j in trip.sites:
                    pick: tuple[int, int] | None = (0, trip.sites.index(j))
                    merge = True
                else:
                    pick = _best_position(state, k, trip, j)
                    merge = False
                if pick is None:
                    continue
                if floor is not None and gain_max / (pick[0] + _EPS_MIN) < floor[0]:
                    continue  # the day cannot get cheaper than the trip's own delay
                cost = _shift_cost(state, k, t, pick[0])
                if cost is None:
                    continue
                load, kg, m3 = _pack(st, k, trip.kg, trip.m3, avail, order)
                if load:
                    yield _move(st, j, k, s, t, pick[1], merge, load, kg, m3, cost, value)


def _move(st: Static, j: int, k: int, s: int, t: int | None, pos: int, merge: bool,
          load: dict[int, int], kg: float, m3: float, cost: int, value: Valuer | None) -> Move:
    v = sum(q * value(j, i) for i, q in load.items()) if value is not None else 0.0
    return Move(j, k, s, t, pos, merge, load, kg, m3, cost,
                max(kg / st.kg_ref, m3 / st.m3_ref), v)


def apply_move(state: State, m: Move) -> None:
    """Make the move: build the vehicle's new day and apply it."""
    trips = state.trips[m.k]
    if m.trip is None:
        made = state.make_trip(m.k, m.source, (m.j,), (m.load,), state.free(m.k), (m.kg, m.m3))
        assert made is not None and made.arrivals[0] <= state.st.deadline
        state.apply_trips(m.k, [*trips, made])
        return
    trip = trips[m.trip]
    free = trips[m.trip - 1].ret if m.trip else state.st.start[m.k]
    size = (trip.kg + m.kg, trip.m3 + m.m3)
    if m.merge:
        merged = dict(trip.loads[m.pos])
        for i, q in m.load.items():
            merged[i] = merged.get(i, 0) + q
        made = state.make_trip(m.k, trip.source, trip.sites,
                               (*trip.loads[:m.pos], merged, *trip.loads[m.pos + 1:]), free,
                               size)
    else:
        made = state.make_trip(m.k, trip.source,
                               (*trip.sites[:m.pos], m.j, *trip.sites[m.pos:]),
                               (*trip.loads[:m.pos], m.load, *trip.loads[m.pos:]), free, size)
    assert made is not None
    new = state.retimed(m.k, [*trips[:m.trip], made, *trips[m.trip + 1:]], m.trip)
    assert new is not None, "a costed move must stay on time"
    state.apply_trips(m.k, new)


def _rate(m: Move, filling: bool) -> tuple[float, int, int]:
    gain = m.value if filling else m.size
    return (gain / (m.cost + _EPS_MIN), -m.cost, -m.k)


def best_move(state: State, j: int, rem: dict[int, int], value: Valuer | None = None,
              tier_first: bool = False) -> Move | None:
    """The move with the most goods (or fill value) per vehicle-minute; ties: cheaper, then
    the lower vehicle index. ``tier_first``: from the lowest tier (policy order) first."""
    best: Move | None = None
    key: tuple[float, ...] | None = None
    filling = value is not None
    floor = None if tier_first else [0.0]
    tier = state.st.tier
    for m in moves(state, j, rem, value, floor=floor):
        r = (-tier[m.source], *_rate(m, filling)) if tier_first else _rate(m, filling)
        if key is None or r > key:
            best, key = m, r
            if floor is not None:
                floor[0] = r[0] * (1 - 1e-12)
    return best


def complete(state: State, j: int, tier_first: bool = False) -> int | None:
    """Deliver site j's whole outstanding demand with the best moves (``tier_first``: lowest
    tier first); the vehicle-minutes spent, or None (and nothing changed) when it cannot be
    completed."""
    rem = state.outstanding(j)
    if not _may_complete(state, j, rem):
        return None
    mark = state.mark()
    spent = 0
    while rem:
        m = best_move(state, j, rem, tier_first=tier_first)
        if m is None:
            state.rollback(mark)
            return None
        apply_move(state, m)
        spent += m.cost
        rem = state.outstanding(j)
    return spent


def _may_complete(state: State, j: int, rem: dict[int, int]) -> bool:
    """Quick necessary condition: the sources in reach hold enough of every item and one of
    them still has a vehicle that can get there by the deadline or a trip with room."""
    st = state.st
    for i, q in rem.items():
        have = 0
        for s in st.reach[j]:
            have += state.stock[s].get(i, 0)
            if have >= q:
                break
        else:
            return False
    return any(can_serve(state, s, j) for s in st.reach[j])


def estimate(state: State, j: int) -> int:
    """A quick guess of the vehicle-minutes completing site j takes from scratch: its
    truckloads times a round trip from the nearest source in reach, plus one stop each."""
    st = state.st
    s = st.reach[j][0]
    loads = max(1.0, st.size[j])
    trip = st.load_min[s] + 2 * st.base[s][st.n_src + j]
    return round(st.size[j] * trip + math.ceil(loads) * st.service[j])


def site_key(state: State, j: int, cost: int) -> float:
    """Priority of completing site j at ``cost``: people per vehicle-minute."""
    return state.st.people[j] / (cost + _EPS_MIN)


def construct(state: State, sites: Iterable[int], *, noise: Callable[[int], float] | None = None,
              rank: Callable[[int], int] | None = None,
              stop: Callable[[], bool] | None = None) -> list[int]:
    """Complete as many of ``sites`` as possible, most people per vehicle-minute first.

    Lazy greedy: sites start with an estimated key (``estimate``); the best is costed on
    the current plan when it comes up and committed if it is still at least as good as the
    next one's key, else it waits with its new key. ``noise(j)`` multiplies a site's key
    (the search's randomised recreate); ``rank(j)`` puts sites in classes taken in order
    (lower first: the selection model's choice). Returns the sites completed, in order.
    """
    st = state.st
    heap: list[tuple[int, float, int]] = []
    for j in sites:
        if state.is_covered(j) or st.people[j] == 0 or not st.reach[j]:
            continue
        key = site_key(state, j, estimate(state, j)) * (noise(j) if noise else 1.0)
        heap.append((rank(j) if rank else 0, -key, j))
    heapq.heapify(heap)
    done: list[int] = []
    while heap:
        if stop is not None and stop():
            break
        r, _, j = heapq.heappop(heap)
        if state.is_covered(j):
            continue
        mark = state.mark()
        cost = complete(state, j)
        if cost is None:
            continue  # resources only shrink while constructing: it will not fit later
        key = site_key(state, j, cost) * (noise(j) if noise else 1.0)
        if heap and (r, -key) > (heap[0][0], heap[0][1] * (1 - _KEY_TOL)):
            state.rollback(mark)
            heapq.heappush(heap, (r, -key, j))
            continue
        done.append(j)
    return done


def fill(state: State, sites: Iterable[int], stop: Callable[[], bool] | None = None) -> int:
    """Part-deliveries to ``sites`` (not covered) by fill gained per vehicle-minute, with
    the stock and vehicle time left. Returns the number of moves made."""
    st = state.st

    def value(j: int, i: int) -> float:
        return st.people[j] / (len(st.demand[j]) * st.demand[j][i])

    heap: list[tuple[float, int]] = []
    for j in sites:
        if st.people[j] == 0 or state.is_covered(j):
            continue
        m = best_move(state, j, state.outstanding(j), value)
        if m is not None:
            heap.append((-_rate(m, True)[0], j))
    heapq.heapify(heap)
    made = 0
    while heap:
        if stop is not None and stop():
            break
        _, j = heapq.heappop(heap)
        rem = state.outstanding(j)
        if not rem:
            continue
        m = best_move(state, j, rem, value)
        if m is None:
            continue
        rate = _rate(m, True)[0]
        if heap and rate < -heap[0][0] * (1 - _KEY_TOL):
            heapq.heappush(heap, (-rate, j))
            continue
        apply_move(state, m)
        made += 1
        heapq.heappush(heap, (-rate, j))
    return made


def tier_cost(state: State, j: int) -> float:
    """Kilograms delivered to site j times the tier rank of their source (policy order)."""
    st = state.st
    total = 0.0
    for k in state.visitors[j]:
        for t in state.trips[k]:
            for site, load in zip(t.sites, t.loads, strict=True):
                if site == j:
                    total += st.tier[t.source] * sum(q * st.kg[i] for i, q in load.items())
    return total


def polish_tiers(state: State, stop: Callable[[], bool] | None = None) -> int:
    """Tiered draw: serve each covered site again from the lowest tiers that can complete it
    (policy ``tier_order``), kept only when its tier cost falls; coverage and fill do not
    change (the site gets its whole demand again, nothing else moves). Biggest sites first.
    Returns the number of sites served anew."""
    st = state.st
    changed = 0
    order = sorted((j for j in range(st.n_sites) if st.people[j] and st.demand[j]
                    and state.is_covered(j) and state.visitors[j]),
                   key=lambda j: (-st.people[j], j))
    for j in order:
        if stop is not None and stop():
            break
        before = tier_cost(state, j)
        if before == 0:
            continue
        mark = state.mark()
        state.remove_sites(frozenset((j,)))
        if complete(state, j, tier_first=True) is None or tier_cost(state, j) >= before:
            state.rollback(mark)
            continue
        changed += 1
    state.forget()
    return changed
