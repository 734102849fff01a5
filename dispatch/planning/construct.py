"""Building deliveries into the working plan: completing sites, then filling.

A **move** brings goods from one source to one site on one vehicle allowed to load there,
either on a new trip appended to the vehicle's day (driving to the source from where its
last trip ended, or from its base), or, when appending can no longer reach the site or looks
dearer, on a new trip placed before one of its trips (``insertion``), or as a stop added to
one of its trips that loads at that source and has room left (a multi-stop trip), at the
position that delays the trip least; the vehicle's later trips move later, every stop must
still arrive by the deadline and the day must end within the shift. Its cost is how much
longer the vehicle is busy (vehicle-minutes; for a trip placed earlier, less the waiting at
a late source it fills), its size the goods in reference truckloads (``Static.load_size``).
Goods are chosen per need: the items of a need that bring the most units of need per
truckload first (substitutes). When completing, a vehicle allowed at several sources counts
its goods at a source with vehicles of its own ``Static.flex_weight`` times
(``SolveParams.flex_premium``).

``complete`` finishes a site: moves with the most goods per vehicle-minute until every need
is met, or takes them all back. ``construct`` completes sites by most people per
vehicle-minute first (lazy greedy: a site's cost is recomputed when it comes up and it waits
if it got dearer than the next). ``fill`` runs only after that: part-deliveries, by fill
gained per vehicle-minute, with what stock and vehicle time are left, so a part-delivery
never takes capacity a completable site needed.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dispatch.planning.needs import NEED_SLACK
from dispatch.planning.network import UNREACHABLE
from dispatch.planning.state import FIT_SLACK, State, Static, WTrip

_EPS_MIN = 1.0  # minutes added to every cost, so a free ride still has a finite rate
_KEY_TOL = 1e-9
# work units (``State.work``) of packing and timing one candidate move (``evaluate``), on
# the scale of the other counts (a scan's vehicle or source is one): measured, it takes
# about as long as scanning 30 vehicles
EVALUATE_WORK = 30



@dataclass(frozen=True, slots=True)
class Move:
    """A delivery to site ``j`` by vehicle ``k`` from source ``source``: a new trip
    (``trip`` None; ``made`` is it, timed; ``day``: the vehicle's whole day when the trip is
    inserted before its trip ``pos`` rather than appended) or a stop added to trip ``trip``
    at position ``pos`` (``merge``: onto the site's own stop there). ``cost``: how much
    longer the vehicle is busy (an estimate for added stops, checked when made); ``gain``:
    the units of need it brings (capped at what is outstanding), in reference truckloads of
    the lightest items that meet them when completing, in fill value when filling."""

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
    gain: float
    made: WTrip | None
    day: tuple[WTrip, ...] | None = None


def _pack(st: Static, j: int, k: int, kg: float, m3: float, rem: dict[int, float],
          stock: dict[int, int], filling: bool) -> tuple[dict[int, int], float, float]:
    """Load for vehicle k (kg/m3 already on board) towards site j's outstanding needs
    ``rem`` from ``stock``, in the site's loading order (``Static.pack_order``, or
    ``fill_order`` when filling). Returns load, kg, m3."""
    room_kg = st.cap_kg[k] * (1 + FIT_SLACK) - kg
    room_m3 = st.cap_m3[k] * (1 + FIT_SLACK) - m3
    load: dict[int, int] = {}
    lkg = lm3 = 0.0
    left = dict(rem)
    for n, i, e, ukg, um3 in (st.fill_order[j] if filling else st.pack_order[j]):
        r = left.get(n, 0.0)
        if r <= NEED_SLACK:
            continue
        have = stock.get(i, 0)
        if have <= 0:
            continue
        q = min(math.ceil(r / e - NEED_SLACK), have,
                math.floor(room_kg / ukg + 1e-9), math.floor(room_m3 / um3 + 1e-9))
        if q > 0:
            load[i] = q
            room_kg -= q * ukg
            room_m3 -= q * um3
            lkg += q * ukg
            lm3 += q * um3
            left[n] = r - q * e
    return load, lkg, lm3


def _span(state: State, k: int) -> int:
    """How long vehicle k is busy: from leaving its base to the end of its last stop."""
    ts = state.trips[k]
    if not ts:
        return 0
    return ts[-1].after.ready - (state.day_start(k) or 0)


def _best_position(state: State, k: int, t: int, j: int, kg: float
                   ) -> tuple[int, int, bool] | None:
    """(estimated delay, position, merge) of the cheapest insertion of a stop at site j
    unloading ``kg`` into vehicle k's trip t that keeps every stop of the day by the
    deadline (driving breaks aside: the exact check is made when the move is made)."""
    st = state.st
    trips = state.trips[k]
    trip = trips[t]
    m = st.mins[k]
    loc = st.n_src + j
    deadline = st.deadline
    # arrivals only grow along a day: the last stop of the day is the latest
    later = trips[-1].arrivals[-1] if t + 1 < len(trips) else -1
    if j in trip.sites:
        n = trip.sites.index(j)
        delta = st.unload_min(j, trip.kgs[n] + kg) - st.unload_min(j, trip.kgs[n])
        last = later if later >= 0 else (trip.arrivals[-1] if n + 1 < len(trip.sites) else -1)
        return (delta, n, True) if last + delta <= deadline else None
    n = len(trip.sites)
    state.work += n + 1
    closing = trips[t + 1].source if t + 1 < len(trips) else st.base[k]
    unload = st.unload_min(j, kg)
    pick: tuple[int, int, bool] | None = None
    prev = trip.source
    ready = trip.depart
    for pos in range(n + 1):
        nxt = st.n_src + trip.sites[pos] if pos < n else closing
        go, back = m[prev][loc], m[loc][nxt]
        if go < UNREACHABLE and back < UNREACHABLE and ready + go <= deadline:
            delta = go + unload + back - m[prev][nxt]
            last = later if later >= 0 else (trip.arrivals[-1] if pos < n else -1)
            if last + delta <= deadline and (pick is None or delta < pick[0]):
                pick = (delta, pos, False)
        if pos < n:
            ready = trip.leaves[pos]
        prev = nxt
    return pick


def _shift_room(state: State, k: int) -> int | None:
    """Minutes vehicle k's day may still grow within its shift (None: no limit)."""
    st = state.st
    if st.max_shift is None:
        return None
    ts = state.trips[k]
    if not ts:
        return st.max_shift
    got = state.shift_room.get(k)
    if got is not None and got[0] is ts:
        return got[1]
    end = state.clock.end(k, ts[-1].after)
    start = state.day_start(k) or 0
    room = st.max_shift - (end - start) if end is not None else -1
    state.shift_room[k] = (ts, room)
    return room


def can_serve(state: State, s: int, j: int) -> bool:
    """Source s still has a vehicle that can get to site j by the deadline on a new trip,
    appended to its day or inserted before one of its trips (``insertion``; breaks aside),
    or a trip with room that might take j as an extra stop."""
    st = state.st
    loc = st.n_src + j
    if state.open[s]:
        return True
    for n, k in enumerate(st.loaders[s]):
        at = state.at(k)
        go = st.mins[k][at.loc][s]
        if go < UNREACHABLE and max(at.ready + go, st.ready[s]) + st.load_min[s] \
                + st.mins[k][s][loc] <= st.deadline:
            state.work += n + 1
            return True
    state.work += len(st.loaders[s])
    return any(insertion(state, k, s, j) is not None for k in st.loaders[s])


def insertion(state: State, k: int, s: int, j: int) -> tuple[int, int] | None:
    """(lower bound on the delay, position) of the cheapest new trip from source s to site
    j that vehicle k could make before one of its trips, the later trips moving later (every
    stop still by the deadline; driving breaks and unloading aside, and time a later trip
    waits at a source that opens late counted as absorbing the delay: the exact timing is
    made when the move is evaluated); None when there is none.

    Appending only ever adds trips at the end of a day, so once the near sites have filled
    every vehicle's morning a far site is out of reach although a vehicle could serve it
    first and the near sites after (measured on tune ``typhoon-400-s7``: after construction
    138 sites could not be reached by any vehicle's appended trip), and a vehicle given a
    trip from a reserve that opens late waits for it with nothing before it."""
    ts = state.trips[k]
    if not ts:
        return None
    return _insertion_kept(state, k, ts, s, j)[0]


def _insertion_kept(state: State, k: int, ts: list[WTrip], s: int, j: int
                    ) -> tuple[tuple[int, int] | None, int]:
    """``insertion`` for vehicle k's non-empty day ``ts``: its result and the work units
    of its scan, which are counted; kept in ``State.scans`` while the day stays the
    same, and a repeat counts the same units (the day's slack, which ``_day_slack`` counts
    when it computes it, is then kept too)."""
    kept = state.scans_of(k)
    key = s * state.st.n_sites + j
    hit = kept.get(key)
    if hit is None:
        hit = kept[key] = _insertion(state, k, ts, s, j)
    state.work += hit[1]
    return hit


def _insertion(state: State, k: int, ts: list[WTrip], s: int, j: int
               ) -> tuple[tuple[int, int] | None, int]:
    """``insertion``'s scan of vehicle k's day ``ts``: (its result, the work units it
    counts besides the day's slack, which ``_day_slack`` counts when it computes it)."""
    st = state.st
    m = st.mins[k]
    loc = st.n_src + j
    out = m[s][loc]
    if out >= UNREACHABLE:
        return None, 0
    last = ts[-1].arrivals[-1]
    deadline = st.deadline
    got = state.day_slack.get(k)  # kept while the day is unchanged (``_day_slack``)
    slack, idle = (got[1], got[2]) if got is not None and got[0] is ts \
        else _day_slack(state, k, ts)
    ready_s, load_s, service = st.ready[s], st.load_min[s], st.service[j]
    # any trip placed before takes at least its loading and its stop (the travel times obey
    # the triangle inequality): a full day with no waiting takes none
    if last + load_s + service - slack[1] - idle > deadline:
        return None, 1
    ready = st.ready
    best: tuple[int, int] | None = None
    for p, t in enumerate(ts):
        before = ts[p - 1].after if p else state.clock.start(k)
        go = m[before.loc][s]
        if go >= UNREACHABLE:
            continue
        arrive = max(before.ready + go, ready_s) + load_s + out
        if arrive > deadline:
            break  # later positions only start later
        back = m[loc][t.source]
        if back >= UNREACHABLE:
            continue
        # trip p reaches its source this much later; if it waited there, it waits less
        later = (arrive + service + back - max(t.src_arrive, ready[t.source])
                 - slack[p + 1])
        if last + max(0, later) > deadline:
            continue
        delay = later
        if p:  # the new trip's own wait for its source to open is not counted as work
            delay -= max(0, ready_s - before.ready - go)
        else:  # its base leg is driven just in time: the day begins earlier or later
            old_start = t.src_arrive - m[st.base[k]][t.source]
            delay += old_start - max(before.ready, ready_s - go)
        if best is None or delay < best[0]:
            best = (max(0, delay), p)
    return best, 1 + len(ts)


def candidate_sources(state: State, j: int, rem: dict[int, float], per_item: int) -> list[int]:
    """Sources that can still serve site j: for each outstanding need, the ``per_item``
    nearest that hold one of its items and ``can_serve`` j, and (``Static.offer_late``)
    every source opening late that does (a reserve ready only hours into the day is
    what keeps it from being among the nearest: without it the late stock stays unused);
    nearest first."""
    st = state.st
    usable: dict[int, bool] = {}
    chosen: set[int] = set()
    late = st.late if st.offer_late else ()
    for n in rem:
        items = st.need_items[j][n]
        count = 0
        holders = st.holders[j][n]
        for at, s in enumerate(holders):
            if count >= per_item:
                # the nearest are found: of the rest, only the late sources are looked at
                # (each holder still counts a unit, as when every one was walked past)
                state.work += len(holders) - at
                for s in [x for x in holders[at:] if x in late]:
                    if _serves(state, s, j, items, usable):
                        chosen.add(s)
                break
            state.work += 1
            if _serves(state, s, j, items, usable):
                chosen.add(s)
                count += 1
                if count >= per_item and not late:
                    break
    return [s for s in st.reach[j] if s in chosen]


def _serves(state: State, s: int, j: int, items: list[tuple[int, float]],
            usable: dict[int, bool]) -> bool:
    """Source s still holds one of ``items`` and ``can_serve`` site j (asked once per
    source: ``usable``)."""
    stock = state.stock[s]
    if not any(stock.get(i, 0) > 0 for i, _ in items):
        return False
    ok = usable.get(s)
    if ok is None:
        ok = usable[s] = can_serve(state, s, j)
    return ok


def _day_slack(state: State, k: int, ts: list[WTrip]) -> tuple[list[int], int]:
    """For vehicle k's day ``ts``: slack[p], the minutes trips p.. wait at their sources
    (for one that opens late, or a break before the way out), which a delay before them
    uses up before the end of the day moves; and how long after the vehicle is available
    its day begins. Stored per vehicle (``State.day_slack``), valid while its day (an
    immutable list, replaced on every change) stays the same: ``insertion`` reads it there
    and calls this only when the day changed."""
    st = state.st
    state.work += len(ts)
    slack = [0] * (len(ts) + 1)
    for p in range(len(ts) - 1, 0, -1):
        slack[p] = slack[p + 1] + _waited(st, ts[p])
    slack[0] = slack[1]
    first = ts[0]
    idle = max(0, first.src_arrive - st.mins[k][st.base[k]][first.source] - st.available[k])
    state.day_slack[k] = (ts, slack, idle)
    return slack, idle


@dataclass(slots=True)
class _Cand:
    """A candidate move before its load is packed: vehicle, source, trip (None: a new
    trip), a lower bound on its cost and an upper bound on its rate."""

    ub: float
    k: int
    s: int
    t: int | None
    lower: int
    tier: int
    ins: int = -1  # a new trip inserted before the vehicle's trip ``ins`` (-1: appended)


def _capacity_size(st: Static, k: int, kg: float, m3: float) -> float:
    """Room left on vehicle k (kg/m3 on board), in reference truckloads: no load can be
    bigger."""
    return max((st.cap_kg[k] - kg) / st.kg_ref, (st.cap_m3[k] - m3) / st.m3_ref)


@dataclass(slots=True)
class _Pending:
    """The new-trip candidates from source ``s``, not generated yet: ``ub`` bounds their
    rates (the most a vehicle allowed there can bring, over loading, the fastest drive to
    the site and its service), so a scan best bound first only generates them when they
    might beat what it found."""

    ub: float
    s: int
    gain_src: float
    weight: float
    dens: float


class _Scan:
    """The candidate moves towards site j's outstanding needs ``rem`` from its candidate
    sources, with cheap bounds: stops added to trips from the source with room left at
    once, new trips per source when asked (``expand``: every allowed vehicle that has trips,
    one per kind of the idle ones)."""

    def __init__(self, state: State, j: int, rem: dict[int, float], filling: bool,
                 per_item: int) -> None:
        st = state.st
        self.state, self.j, self.filling = state, j, filling
        self.cands: list[_Cand] = []
        self.pending: list[_Pending | None] = []
        self.shift_rooms: dict[int, int | None] = {}  # per vehicle: ``_shift_room``
        loc = st.n_src + j
        per_unit = st.fill_value[j] if filling else st.need_unit_size[j]
        gain_max = sum(r * per_unit[n] for n, r in rem.items())
        for s in candidate_sources(state, j, rem, per_item):
            stock = state.stock[s]
            units = [(n, i, e, ukg, um3) for n, i, e, ukg, um3 in st.pack_order[j]
                     if n in rem and stock.get(i, 0) > 0]
            if not units:
                continue
            dens = max(st.fill_value[j][n] * e / st.item_size(i)
                       for n, i, e, _, _ in units) if filling else 1.0
            # no move from s brings more than the stock it holds for the outstanding needs
            held: dict[int, float] = {}
            for n, i, e, _, _ in units:
                held[n] = held.get(n, 0.0) + stock[i] * e
            gain_src = min(gain_max, sum(min(r, held.get(n, 0.0)) * per_unit[n]
                                         for n, r in rem.items()))
            weight = 1.0 if filling else st.source_weight[s]
            out_min = st.fastest[s][loc]
            if out_min < UNREACHABLE and st.ready[s] + st.load_min[s] + out_min <= st.deadline:
                ub = (min(gain_src, dens * st.max_room[s]) * weight
                      / (st.load_min[s] + out_min + st.service[j] + _EPS_MIN))
                self.pending.append(_Pending(ub, s, gain_src, weight, dens))
            self._added_stops(s, units, gain_src, weight, dens)

    def _added_stops(self, s: int, units: list[tuple[int, int, float, float, float]],
                     gain_src: float, weight: float, dens: float) -> None:
        state, j = self.state, self.j
        st = state.st
        loc = st.n_src + j
        state.work += len(state.open[s])
        min_kg = min(u[3] for u in units)
        min_m3 = min(u[4] for u in units)
        direct = st.base_min[s][loc]
        rooms = self.shift_rooms
        for k, open_trips in sorted(state.open[s].items()):
            ts = state.trips[k]
            if k not in rooms:
                rooms[k] = _shift_room(state, k)
            shift_room = rooms[k]
            kept = state.scans_of(k)
            for t in open_trips:
                trip = ts[t]
                if trip.kg + min_kg > st.cap_kg[k] * (1 + FIT_SLACK) or \
                        trip.m3 + min_m3 > st.cap_m3[k] * (1 + FIT_SLACK):
                    continue
                # the stop's place on the trip, kept with the day like the new trips'
                # scans (a repeat counts the positions the scan tried)
                hit = kept.get((t, j))
                if hit is None:
                    # an extra stop only pays when the trip passes closer to j than its
                    # source
                    if j not in trip.sites and all(st.base_min[st.n_src + x][loc] > direct
                                                   for x in trip.sites):
                        hit = kept[t, j] = (None, 0)
                    else:
                        before = state.work
                        hit = kept[t, j] = (_best_position(state, k, t, j, 0.0),
                                            state.work - before)
                else:
                    state.work += hit[1]
                pick = hit[0]
                if pick is None or (shift_room is not None and pick[0] > shift_room):
                    continue
                room = _capacity_size(st, k, trip.kg, trip.m3)
                gain = min(gain_src, dens * room) if self.filling else min(gain_src, room)
                self.cands.append(_Cand(gain * weight / (pick[0] + _EPS_MIN), k, s, t,
                                        pick[0], st.tier[s]))

    def expand(self, p: _Pending) -> list[_Cand]:
        """The new-trip candidates ``p`` stands for: per vehicle a trip appended to its
        day, and one placed before one of its trips (``insertion``) when appending cannot
        reach the site or that is estimated cheaper."""
        state, j, s = self.state, self.j, p.s
        st = state.st
        out: list[_Cand] = []
        idle: set[int] = set()
        state.work += len(st.loaders[s])
        key = -1 - (s * st.n_sites + j)  # beside ``insertion``'s keys, in the same memo
        room0, tier, filling = st.room0, st.tier[s], self.filling
        gain_src, dens, weight = p.gain_src, p.dens, p.weight
        trips, kinds, memo = state.trips, st.kind, state.scans
        for k in st.loaders[s]:
            ts = trips[k]
            if not ts:
                kind = kinds[k]
                if kind in idle:
                    continue
                idle.add(kind)
            got = memo[k]  # ``State.scans_of`` inline: the hottest loop of the engine
            if got is None or got[0] is not ts:
                got = memo[k] = (ts, {})
            hit = got[1].get(key)
            if hit is None:  # its scans count their work units
                hit = got[1][key] = self._vehicle_trips(k, ts, s)
            else:  # a repeat counts the same (the day's slack is kept too)
                state.work += hit[2]
            appended, placed, _ = hit
            if placed is None and appended is None:
                continue
            # the most it can bring: the source's goods for the site, at most its room
            room = room0[k]
            gain = min(gain_src, dens * room) if filling else min(gain_src, room)
            if placed is not None:  # a trip placed before its trip placed[1]
                out.append(_Cand(gain * weight / (placed[0] + _EPS_MIN), k, s, None,
                                 placed[0], tier, placed[1]))
            if appended is not None:
                out.append(_Cand(gain * weight / (appended + _EPS_MIN), k, s, None, appended,
                                 tier, -1))
        return out

    def _vehicle_trips(self, k: int, ts: list[WTrip], s: int
                       ) -> tuple[int | None, tuple[int, int] | None, int]:
        """Vehicle k's new trips from source s to the scan's site, its day being ``ts``:
        (the lower bound on an appended trip's cost or None when it cannot reach the site,
        (cost, position) of a trip placed earlier when appending cannot reach the site or
        that is estimated cheaper, else None, the work units ``insertion`` counted, which
        a repeat counts again). A function of the day, kept in ``State.scans`` while
        it stays the same."""
        state, j = self.state, self.j
        st = state.st
        if ts:
            at = ts[-1].after
            start = state.day_start(k) or 0
            span = at.ready - start
        else:
            at = state.clock.start(k)
            start = span = 0
        m = st.mins[k]
        go = m[at.loc][s]
        out_min = m[s][st.n_src + j]
        if go >= UNREACHABLE or out_min >= UNREACHABLE:
            return None, None, 0
        # it leaves its last stop (or its base) when ready, or just in time
        arrive = max(at.ready + go, st.ready[s]) + st.load_min[s] + out_min
        placed, work = _insertion_kept(state, k, ts, s, j) if ts else (None, 0)
        if arrive > st.deadline:
            return None, placed, work
        if not ts:
            start = max(st.ready[s] - go, at.ready)
        lower = max(0, arrive + st.service[j] - start - span)
        if placed is not None and placed[0] >= lower:
            placed = None
        return lower, placed, work

    def all(self) -> list[_Cand]:
        """Every candidate (the pending new trips generated)."""
        for n, p in enumerate(self.pending):
            if p is not None:
                self.cands.extend(self.expand(p))
                self.pending[n] = None
        return self.cands


def candidates(state: State, j: int, rem: dict[int, float], filling: bool = False,
               per_item: int = 6) -> list[_Cand]:
    """Every candidate move towards site j's outstanding needs ``rem`` from its candidate
    sources, with cheap bounds: new trips (every allowed vehicle that has trips, one per
    kind of the idle ones) and stops added to trips from the source with room left."""
    return _Scan(state, j, rem, filling, per_item).all()


def evaluate(state: State, c: _Cand, j: int, rem: dict[int, float], filling: bool
             ) -> Move | None:
    """The candidate's move with its load packed and its cost (exact for a new trip,
    estimated for an added stop); None when nothing fits or it breaks a rule."""
    st = state.st
    k, s = c.k, c.s
    stock = state.stock[s]
    ts = state.trips[k]
    state.work += EVALUATE_WORK + len(ts)
    if c.t is None and c.ins >= 0:
        return _inserted(state, c, j, rem, filling)
    if c.t is None:
        load, kg, m3 = _pack(st, j, k, 0.0, 0.0, rem, stock, filling)
        if not load:
            return None
        at = state.at(k)
        made = state.make_trip(k, at, not ts, s, (j,), (load,), (kg,))
        if made is None or made.arrivals[0] > st.deadline or not state.shift_ok(k, [*ts, made]):
            return None
        begin = state.day_start(k) if ts else made.src_arrive - st.mins[k][st.base[k]][s]
        cost = made.after.ready - (begin or 0) - _span(state, k)
        return _move(st, j, k, s, None, 0, False, load, kg, m3, cost, filling, made, rem)
    trip = ts[c.t]
    load, kg, m3 = _pack(st, j, k, trip.kg, trip.m3, rem, stock, filling)
    if not load:
        return None
    pick = _best_position(state, k, c.t, j, kg)
    shift_room = _shift_room(state, k)
    if pick is None or (shift_room is not None and pick[0] > shift_room):
        return None
    return _move(st, j, k, s, c.t, pick[1], pick[2], load, kg, m3, pick[0], filling, None,
                 rem)


def _inserted(state: State, c: _Cand, j: int, rem: dict[int, float], filling: bool
              ) -> Move | None:
    """The move of a new trip inserted before the vehicle's trip ``c.ins`` (``insertion``),
    its whole day timed exactly; None when nothing fits or a stop or the shift breaks."""
    st = state.st
    k, s, p = c.k, c.s, c.ins
    ts = state.trips[k]
    load, kg, m3 = _pack(st, j, k, 0.0, 0.0, rem, state.stock[s], filling)
    if not load:
        return None
    before = ts[p - 1].after if p else state.clock.start(k)
    made = state.make_trip(k, before, p == 0, s, (j,), (load,), (kg,))
    if made is None or made.arrivals[0] > st.deadline:
        return None
    day = state.retimed(k, [*ts[:p], made, *ts[p:]], p + 1)
    if day is None:
        return None
    begin = day[0].src_arrive - st.mins[k][st.base[k]][day[0].source]
    # the minutes the vehicle works more: time it spent waiting for a source to open
    # (before its trip from a late reserve) is not lost when the new trip fills it
    cost = day[-1].after.ready - begin - _span(state, k) - (_waits(st, day) - _waits(st, ts))
    return _move(st, j, k, s, None, p, False, load, kg, m3, cost, filling, made, rem,
                 tuple(day))


def _waited(st: Static, t: WTrip) -> int:
    """Minutes trip t (not a day's first) waits at its source beyond loading: for a source
    that opens late, or a driving break before the way out."""
    return max(0, t.depart - t.src_arrive - st.load_min[t.source])


def _waits(st: Static, trips: list[WTrip]) -> int:
    """Minutes a vehicle's day spends waiting at its sources after the first trip."""
    return sum(_waited(st, t) for t in trips[1:])


def _move(st: Static, j: int, k: int, s: int, t: int | None, pos: int, merge: bool,
          load: dict[int, int], kg: float, m3: float, cost: int, filling: bool,
          made: WTrip | None, rem: dict[int, float], day: tuple[WTrip, ...] | None = None
          ) -> Move:
    brought: dict[int, float] = {}
    mapping = st.item_need[j]
    for i, q in load.items():
        n, e = mapping[i]
        brought[n] = brought.get(n, 0.0) + q * e
    per_unit = st.fill_value[j] if filling else st.need_unit_size[j]
    gain = sum(min(b, rem[n]) * per_unit[n] for n, b in brought.items())
    return Move(j, k, s, t, pos, merge, load, kg, m3, max(0, cost), gain, made, day)


def made_day(state: State, m: Move) -> list[WTrip] | None:
    """Vehicle m.k's whole day with the move made, exactly timed (None: it breaks a rule
    the estimate missed, e.g. a driving break)."""
    trips = state.trips[m.k]
    if m.day is not None:
        return list(m.day)
    if m.trip is None:
        assert m.made is not None
        return [*trips, m.made]
    trip = trips[m.trip]
    if m.merge:
        merged = dict(trip.loads[m.pos])
        for i, q in m.load.items():
            merged[i] = merged.get(i, 0) + q
        sites = trip.sites
        loads = (*trip.loads[:m.pos], merged, *trip.loads[m.pos + 1:])
        kgs = (*trip.kgs[:m.pos], trip.kgs[m.pos] + m.kg, *trip.kgs[m.pos + 1:])
    else:
        sites = (*trip.sites[:m.pos], m.j, *trip.sites[m.pos:])
        loads = (*trip.loads[:m.pos], m.load, *trip.loads[m.pos:])
        kgs = (*trip.kgs[:m.pos], m.kg, *trip.kgs[m.pos:])
    before = trips[m.trip - 1].after if m.trip else state.clock.start(m.k)
    made = state.make_trip(m.k, before, m.trip == 0, trip.source, sites, loads, kgs)
    if made is None:
        return None
    return state.retimed(m.k, [*trips[:m.trip], made, *trips[m.trip + 1:]], m.trip)


def _rate(m: Move, filling: bool, weight: float = 1.0) -> tuple[float, int, int]:
    return (m.gain * weight / (m.cost + _EPS_MIN), -m.cost, -m.k)


def _best_first(scan: _Scan, skip: set[int]) -> Iterable[tuple[int, _Cand]]:
    """The scan's candidates best bound first (ties: vehicle, trip, then list order), lazily:
    the scan usually stops after a few, so a heap beats sorting them all, and a source's new
    trips are generated only when their bound comes up (before candidates of an equal
    bound)."""
    cands = scan.cands
    heap = [(-c.ub, c.k, -1 if c.t is None else c.t, n) for n, c in enumerate(cands)
            if n not in skip]
    heap += [(-p.ub, -1, -1, -1 - n) for n, p in enumerate(scan.pending) if p is not None]
    heapq.heapify(heap)
    while heap:
        n = heapq.heappop(heap)[3]
        if n < 0:
            p = scan.pending[-1 - n]
            scan.pending[-1 - n] = None
            first = len(cands)
            assert p is not None
            cands.extend(scan.expand(p))
            for x in range(first, len(cands)):
                c = cands[x]
                heapq.heappush(heap, (-c.ub, c.k, -1 if c.t is None else c.t, x))
            continue
        scan.state.work += 1
        yield n, cands[n]


def best_move(state: State, j: int, rem: dict[int, float], filling: bool = False,
              tier_first: bool = False, per_item: int = 6
              ) -> tuple[Move, list[WTrip]] | None:
    """The move with the most goods (or fill value) per vehicle-minute that works when made
    (ties: cheaper, then the lower vehicle index; ``tier_first``: from the lowest tier of
    the policy order first), with the vehicle's new day.

    Candidates are examined best bound first (a bound capped by the stock the source holds for
    the outstanding needs) and the scan stops when no bound can beat the
    best move found, so only a few are packed and timed."""
    st = state.st
    scan = _Scan(state, j, rem, filling, per_item)
    cands = scan.cands
    if tier_first:
        cands = scan.all()
        cands.sort(key=lambda c: (c.tier, -c.ub, c.k, -1 if c.t is None else c.t))
    failed: set[int] = set()
    while True:
        best: Move | None = None
        best_at = -1
        key: tuple[float, ...] | None = None
        for n, c in (enumerate(cands) if tier_first else _best_first(scan, failed)):
            if n in failed:
                continue
            if key is not None:
                if tier_first and c.tier > -key[0]:
                    break
                rate = key[1] if tier_first else key[0]
                if c.ub < rate * (1 - 1e-12):
                    if tier_first:
                        continue
                    break
            m = evaluate(state, c, j, rem, filling)
            if m is None:
                failed.add(n)
                continue
            w = 1.0 if filling else st.source_weight[c.s] * (
                st.flex_weight if st.flexible[c.k] and c.s in st.own_vehicles else 1.0)
            r = (-c.tier, *_rate(m, filling, w)) if tier_first else _rate(m, filling, w)
            if key is None or r > key:
                best, best_at, key = m, n, r
        if best is None:
            return None
        day = made_day(state, best)
        if day is not None:
            return best, day
        failed.add(best_at)


def complete(state: State, j: int, tier_first: bool = False, per_item: int = 6) -> int | None:
    """Meet every outstanding need of site j with the best moves (``tier_first``: lowest
    tier first); the vehicle-minutes spent, or None (and nothing changed) when it cannot be
    completed."""
    rem = state.outstanding(j)
    if not _may_complete(state, j, rem):
        return None
    mark = state.mark()
    spent = 0
    while rem:
        found = best_move(state, j, rem, tier_first=tier_first, per_item=per_item)
        if found is None:
            state.rollback(mark)
            return None
        m, day = found
        old = _span(state, m.k)
        state.apply_trips(m.k, day)
        spent += _span(state, m.k) - old
        rem = state.outstanding(j)
    return spent


def _may_complete(state: State, j: int, rem: dict[int, float]) -> bool:
    """Quick necessary condition: the sources in reach hold enough for every need and one
    of them can still serve the site."""
    st = state.st
    for n, r in rem.items():
        have = 0.0
        for s in st.holders[j][n]:
            state.work += 1
            stock = state.stock[s]
            have += sum(stock.get(i, 0) * e for i, e in st.need_items[j][n])
            if have >= r - NEED_SLACK:
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
    trip = st.load_min[s] + 2 * st.base_min[s][st.n_src + j]
    return round(st.size[j] * trip + math.ceil(loads) * st.service[j])


def site_key(state: State, j: int, cost: int) -> float:
    """Priority of completing site j at ``cost``: people per vehicle-minute."""
    return state.st.people[j] / (cost + _EPS_MIN)


def construct(state: State, sites: Iterable[int], *, noise: Callable[[int], float] | None = None,
              rank: Callable[[int], int] | None = None,
              stop: Callable[[], bool] | None = None, per_item: int = 6,
              follow: int = 0) -> list[int]:
    """Complete as many of ``sites`` as possible, most people per vehicle-minute first.

    Lazy greedy: sites start with an estimated key (``estimate``); the best is costed on
    the current plan when it comes up and committed if it is still at least as good as the
    next one's key, else it waits with its new key. ``noise(j)`` multiplies a site's key
    (the search's randomised recreate); ``rank(j)`` puts sites in classes taken in order
    (lower first: the selection model's choice). ``follow``: once a site is completed, its
    ``follow`` nearest waiting sites are keyed again as an extra stop on the way
    (``stop_estimate``), so a trip with room is offered to its neighbours while it still
    can take them instead of when their fresh-trip estimate comes up. Returns the sites
    completed, in order.
    """
    st = state.st
    heap: list[tuple[int, float, int]] = []
    latest: dict[int, float] = {}
    for j in sites:
        if state.is_covered(j) or st.people[j] == 0 or not st.reach[j]:
            continue
        key = site_key(state, j, estimate(state, j)) * (noise(j) if noise else 1.0)
        heap.append((rank(j) if rank else 0, -key, j))
        latest[j] = -key
    heapq.heapify(heap)
    near = st.neighbours(follow) if follow else None
    done: list[int] = []
    while heap:
        if stop is not None and stop():
            break
        r, neg, j = heapq.heappop(heap)
        state.work += 1
        if not _waiting(state, latest, j, neg):
            continue  # done, given up, or keyed again since
        mark = state.mark()
        cost = complete(state, j, per_item=per_item)
        if cost is None:
            latest.pop(j, None)
            continue  # resources only shrink while constructing: it will not fit later
        key = site_key(state, j, cost) * (noise(j) if noise else 1.0)
        _drop_stale(state, heap, latest)
        if heap and (r, -key) > (heap[0][0], heap[0][1] * (1 - _KEY_TOL)):
            state.rollback(mark)
            heapq.heappush(heap, (r, -key, j))
            latest[j] = -key
            continue
        done.append(j)
        latest.pop(j, None)
        if near is not None:
            for x in near[j]:
                if x in latest and not state.is_covered(x):
                    key = site_key(state, x, stop_estimate(state, j, x)) * (
                        noise(x) if noise else 1.0)
                    if -key < latest[x]:
                        rx = rank(x) if rank else 0
                        heapq.heappush(heap, (rx, -key, x))
                        latest[x] = -key
    return done


def _drop_stale(state: State, heap: list[tuple[int, float, int]], latest: dict[int, float]
                ) -> None:
    """Pop the heap's top entries that no longer stand for a waiting site (done, given up
    or keyed again since), so a costed site is compared with a live key only."""
    while heap and not _waiting(state, latest, heap[0][2], heap[0][1]):
        heapq.heappop(heap)
        state.work += 1


def _waiting(state: State, latest: dict[int, float], j: int, neg: float) -> bool:
    """A heap entry (site j, negated key ``neg``) stands for a site still waiting: not
    covered, not given up, and not keyed again since."""
    return not state.is_covered(j) and latest.get(j) == neg


def stop_estimate(state: State, j: int, x: int) -> int:
    """A quick guess of the vehicle-minutes completing site x takes as extra stops on the
    trips that just served its neighbour j: the way there and back, and a stop per
    truckload."""
    st = state.st
    hop = st.base_min[st.loc(j)][st.loc(x)]
    return round(2 * hop + math.ceil(max(1.0, st.size[x])) * st.service[x])


def fill(state: State, sites: Iterable[int], stop: Callable[[], bool] | None = None,
         per_item: int = 6) -> int:
    """Part-deliveries to ``sites`` (not covered) by fill gained per vehicle-minute, with
    the stock and vehicle time left. Returns the number of moves made."""
    st = state.st
    heap: list[tuple[float, int]] = []
    for j in sites:
        if st.people[j] == 0 or state.is_covered(j) or not st.reach[j]:
            continue
        found = best_move(state, j, state.outstanding(j), True, per_item=per_item)
        if found is not None:
            heap.append((-_rate(found[0], True)[0], j))
    heapq.heapify(heap)
    made = 0
    while heap:
        if stop is not None and stop():
            break
        _, j = heapq.heappop(heap)
        rem = state.outstanding(j)
        if not rem:
            continue
        found = best_move(state, j, rem, True, per_item=per_item)
        if found is None:
            continue
        m, day = found
        rate = _rate(m, True)[0]
        if heap and rate < -heap[0][0] * (1 - _KEY_TOL):
            heapq.heappush(heap, (-rate, j))
            continue
        state.apply_trips(m.k, day)
        made += 1
        heapq.heappush(heap, (-rate, j))
    return made


def use_idle(state: State, stop: Callable[[], bool] | None = None, shortlist: int = 12
             ) -> int:
    """Trips for vehicles that have none while some site they can reach in time still lacks
    a need their sources hold (after ``fill``, whose nearest-sources view can miss a far or
    late source): per idle vehicle (scenario order), the part-delivery with the most fill
    value per vehicle-minute among the ``shortlist`` best by a cheap bound, again until it
    finds none. A kind of vehicle (base, sources, capacities, speed, availability) that
    found nothing is not tried again: stock only shrinks and sites only fill meanwhile.
    Returns the number of moves made."""
    st = state.st
    made = 0
    barren: set[tuple] = set()
    for k in range(len(st.base)):
        if state.trips[k]:
            continue
        kind = (st.base[k], st.allowed[k], st.cap_kg[k], st.cap_m3[k], id(st.mins[k]),
                st.available[k])
        if kind in barren:
            continue
        while True:
            if stop is not None and stop():
                return made
            found = _idle_move(state, k, shortlist)
            if found is None:
                if not state.trips[k]:
                    barren.add(kind)
                break
            state.apply_trips(k, found)
            made += 1
    return made


def _idle_move(state: State, k: int, shortlist: int) -> list[WTrip] | None:
    """Vehicle k's day with its best part-delivery added (``use_idle``), or None."""
    st = state.st
    short = []
    for j in range(st.n_sites):
        if st.people[j] and not state.is_covered(j):
            rem = state.outstanding(j)
            order = [(n, i, e) for n, i, e, _, _ in st.fill_order[j] if n in rem]
            if order:
                short.append((j, rem, order))
    at = state.at(k)
    m = st.mins[k]
    cands: list[tuple[float, int, int]] = []
    for s in st.allowed[k]:
        stock = state.stock[s]
        go = m[at.loc][s]
        if go >= UNREACHABLE or not any(q > 0 for q in stock.values()):
            continue
        leave = max(at.ready + go, st.ready[s]) + st.load_min[s]
        for j, _, order in short:
            out_min = m[s][st.n_src + j]
            if out_min >= UNREACHABLE or leave + out_min > st.deadline:
                continue
            for n, i, e in order:
                if stock.get(i, 0) > 0:
                    value = st.fill_value[j][n] * e / st.item_size(i)
                    minutes = go + st.load_min[s] + out_min + st.service[j] + _EPS_MIN
                    cands.append((-value / minutes, j, s))
                    break
    cands.sort()
    rems = {j: rem for j, rem, _ in short}
    best: tuple[tuple[float, int, int], Move] | None = None
    for _, j, s in cands[:shortlist]:
        mv = evaluate(state, _Cand(0.0, k, s, None, 0, st.tier[s]), j, rems[j], True)
        if mv is not None:
            key = _rate(mv, True)
            if best is None or key > best[0]:
                best = (key, mv)
    return None if best is None else made_day(state, best[1])


def tier_cost(state: State, j: int) -> float:
    """Kilograms delivered to site j times the tier rank of their source (policy order)."""
    st = state.st
    total = 0.0
    for k in state.visitors[j]:
        for t in state.trips[k]:
            for site, kg in zip(t.sites, t.kgs, strict=True):
                if site == j:
                    total += st.tier[t.source] * kg
    return total


def polish_tiers(state: State, stop: Callable[[], bool] | None = None, per_item: int = 6) -> int:
    """Tiered draw: serve each covered site again from the lowest tiers that can complete it
    (policy ``tier_order``), kept only when its tier cost falls; coverage and fill do not
    change (the site gets its whole demand again, nothing else moves). Biggest sites first.
    Returns the number of sites served anew."""
    st = state.st
    changed = 0
    order = sorted((j for j in range(st.n_sites) if st.people[j] and st.need_qty[j]
                    and state.is_covered(j) and state.visitors[j]),
                   key=lambda j: (-st.people[j], j))
    for j in order:
        if stop is not None and stop():
            break
        before = tier_cost(state, j)
        if before == 0:
            continue
        mark = state.mark()
        covered = state.covered_people
        state.remove_sites(frozenset((j,)))
        if (complete(state, j, tier_first=True, per_item=per_item) is None
                or tier_cost(state, j) >= before or state.covered_people < covered):
            state.rollback(mark)
            continue
        changed += 1
    state.forget()
    return changed
