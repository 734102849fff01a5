"""The engine's working plan: every vehicle's day with exact times, the stock left at each
source and what each site's needs have received, with an undo journal for search.

Everything is indexed by integers (items, needs, sources, sites and vehicles in scenario
order; network locations are sources, then sites, then bases), so iteration order never
depends on hash seeds.

**Timing** follows the contract's one timing model (``timing.Day``, docs/planning.md
"Timing of a vehicle's day") rule for rule, in integer arithmetic fast enough for search: a
vehicle leaves its base just in time for its first trip; each trip drives to its source
(from the base, or straight from the previous trip's last stop), loads for ``load_min`` (not
before the source's ``ready_min``), visits its stops in order, each taking ``service_min`` +
the per-tonne unloading time; after the last trip it drives back to base. A break is any
stationary time of ``break_min``; a leg that would take continuous driving past
``max_drive_min`` starts after a break. ``Clock`` is that model; ``State.routes`` times the
final plan with the contract's own ``plan.schedule_route`` and raises if the two disagree.
The engine only makes stops that arrive by the deadline and days that end within the shift.

**Needs**: a site's demand is per need (a group of substitutes or a single item, contract
v2); an item unit brings its equivalence in units of the need it meets at that site.

Changes go through a few methods that record what they overwrite; ``mark()`` and
``rollback(mark)`` undo everything after a mark, which is how the search tries a move and
takes it back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatch.planning.needs import NEED_SLACK, ceil_slack, scenario_needs
from dispatch.planning.network import UNREACHABLE, TravelNetwork, earliest_arrival
from dispatch.planning.plan import Route, schedule_route
from dispatch.planning.problem import Scenario

FIT_SLACK = 1e-9  # the checker's relative capacity slack
NEVER = -(10**9)  # drive_end before any driving: the time before the day is rest


@dataclass(frozen=True, slots=True)
class At:
    """Where a vehicle is and when it may leave: location, earliest departure, continuous
    driving since its last break and the end of its last leg (``timing.VehicleState``)."""

    loc: int
    ready: int
    drive: int
    drive_end: int


@dataclass(frozen=True, slots=True)
class WTrip:
    """One trip of the working plan (immutable: a change builds a new trip).

    ``sites`` are stop sites in order, ``loads`` what each stop unloads (item -> qty, never
    mutated once built), ``kgs`` its kilograms; ``src_arrive`` the arrival at the source
    (loading start for a day's first trip), ``depart`` the departure after loading,
    ``arrivals`` per stop, ``leaves`` when each stop is done (its arrival, service and
    unloading), ``after`` the vehicle once the last stop is done; ``kg``/``m3`` the load;
    ``before`` and ``first``: what it was timed after (the vehicle then, and whether it is
    the day's first trip), so an unchanged trip is reused as it is.
    """

    source: int
    sites: tuple[int, ...]
    loads: tuple[dict[int, int], ...]
    kgs: tuple[float, ...]
    src_arrive: int
    depart: int
    arrivals: tuple[int, ...]
    leaves: tuple[int, ...]
    after: At
    kg: float
    m3: float
    before: At
    first: bool


class Static:
    """Scenario data in the engine's integer form, computed once per solve."""

    def __init__(self, scenario: Scenario, net: TravelNetwork, *, offer_late: bool = False
                 ) -> None:
        """``offer_late``: sources that open late are candidates for every site, beside the
        nearest (``construct.candidate_sources``; ``SolveParams.offer_late``)."""
        self.scenario = scenario
        self.net = net
        sc = scenario
        self.deadline = sc.deadline_min
        self.codes = [i.code for i in sc.items]
        self.item_ix = {c: k for k, c in enumerate(self.codes)}
        self.kg = [i.unit_kg for i in sc.items]
        self.m3 = [i.unit_m3 for i in sc.items]
        self.n_src = len(sc.sources)
        self.n_sites = len(sc.sites)
        # needs: per site, need -> quantity; per site, item -> (need, units of need per unit)
        demand = scenario_needs(sc)
        self.need_ids = list(demand.needs)
        need_ix = {n: k for k, n in enumerate(self.need_ids)}
        self.need_qty: list[dict[int, int]] = []
        self.item_need: list[dict[int, tuple[int, float]]] = []
        self.need_items: list[dict[int, list[tuple[int, float]]]] = []
        for s in sc.sites:
            qty = {need_ix[n]: q for n, q in demand.by_site[s.id].items() if q > 0}
            self.need_qty.append(qty)
            mapping: dict[int, tuple[int, float]] = {}
            per_need: dict[int, list[tuple[int, float]]] = {n: [] for n in qty}
            for code, nid in demand.item_need[s.id].items():
                n = need_ix[nid]
                if n in qty and code in self.item_ix:
                    e = float(demand.needs[nid].items[code])
                    mapping[self.item_ix[code]] = (n, e)
                    per_need[n].append((self.item_ix[code], e))
            for items in per_need.values():
                items.sort()
            self.item_need.append(mapping)
            self.need_items.append(per_need)
        self.people = [s.people for s in sc.sites]
        self.service = [s.service_min for s in sc.sites]
        self.unload_rate = [sc.policy.unload_min_per_t if s.unload_min_per_t is None
                            else s.unload_min_per_t for s in sc.sites]
        self.ready = [s.ready_min for s in sc.sources]
        self.load_min = [s.load_min for s in sc.sources]
        self.tier = [sc.tier_rank(s.tier) for s in sc.sources]
        self.stock0 = [{self.item_ix[c]: q for c, q in s.stock.items() if q > 0}
                       for s in sc.sources]
        rules = sc.policy.drivers
        self.max_shift = rules.max_shift_min
        self.max_drive = rules.max_drive_min
        self.break_min = rules.break_min
        src_ix = {s.id: k for k, s in enumerate(sc.sources)}
        units = sc.vehicle_units
        self.vehicle_ids = [v.id for v in units]
        self.base = [net.place_loc(v.base) for v in units]
        allowed = [tuple(src_ix[s] for s in v.loads_at) for v in units]
        self.cap_kg = [v.capacity_kg for v in units]
        self.cap_m3 = [v.capacity_m3 for v in units]
        self.available = [v.available_min for v in units]
        self.speed = [v.speed_factor for v in units]
        self.fixed_cost = [v.fixed_cost for v in units]
        self.cost_per_km = [v.cost_per_km for v in units]
        factors = sorted({v.speed_factor for v in units} | {1.0})
        mats = {f: net.minutes(f).tolist() for f in factors}
        self.mins: list[list[list[int]]] = [mats[v.speed_factor] for v in units]
        self.base_min: list[list[int]] = mats[1.0]
        # the fastest vehicle's minutes (a bound on any vehicle's drive)
        self.fastest: list[list[int]] = np.minimum.reduce(
            [net.minutes(f) for f in factors]).tolist()
        self.km: list[list[float]] = net.km.tolist()
        # reach[j]: sources from which some vehicle allowed there can arrive at site j by the
        # deadline on a first trip (driver rules aside), nearest first (speed factor 1),
        # ties by tier then index
        first = earliest_arrival(sc, net)
        self.reach: list[list[int]] = []
        for j in range(self.n_sites):
            loc = self.n_src + j
            cand = [s for s in range(self.n_src) if first[s, j] <= self.deadline]
            cand.sort(key=lambda s, loc=loc: (self.base_min[s][loc], self.tier[s], s))
            self.reach.append(cand)
        # holders[j][n]: the sources in reach[j] (same order) that hold an item of need n
        # at the start; stock only ever returns to what it was, so no other source can
        self.holders: list[dict[int, list[int]]] = [
            {n: [s for s in self.reach[j] if any(self.stock0[s].get(i, 0) > 0 for i, _ in items)]
             for n, items in self.need_items[j].items()} for j in range(self.n_sites)]
        # completing moves' rate weight per source (1: goods per vehicle-minute as they
        # are; the engine raises it for late-ready sources, ``SolveParams.late_weight``)
        self.source_weight: list[float] = [1.0] * self.n_src
        # completing moves' rate weight of a vehicle allowed at several sources loading at a
        # source that has vehicles of its own (allowed there only): 1 / (1 + the engine's
        # ``SolveParams.flex_premium``), so a depot's own truck carries its stock where it
        # can and the trucks that may load anywhere keep their time for the sources only
        # they can serve (late reserves, depots without vehicles)
        self.own_vehicles = frozenset(a[0] for a in allowed if len(a) == 1)
        self.flexible = [len(a) > 1 for a in allowed]
        self.flex_weight = 1.0
        # offer sources that open late (``ready_min`` > 0) to every site beside the nearest
        # ``per_item`` (``construct.candidate_sources``)
        self.offer_late = offer_late
        self.late = frozenset(s for s in range(self.n_src) if self.ready[s] > 0)
        self.min_kg = min(self.kg)
        self._near: dict[int, list[list[int]]] = {}
        # an empty vehicle's room in reference truckloads (set below, with the references)
        self.room0: list[float] = []
        self.min_m3 = min(self.m3)
        caps_kg = sorted(self.cap_kg) or [1.0]
        caps_m3 = sorted(self.cap_m3) or [1.0]
        self.kg_ref = caps_kg[len(caps_kg) // 2]
        self.m3_ref = caps_m3[len(caps_m3) // 2]
        self.room0 = [max(kg / self.kg_ref, m3 / self.m3_ref)
                      for kg, m3 in zip(self.cap_kg, self.cap_m3, strict=True)]
        self._set_allowed(allowed)
        # what completing each site moves, in reference truckloads (lightest items per need)
        self.size = [self._need_size(j) for j in range(self.n_sites)]
        # one unit of a need in reference truckloads of its lightest item (what completing
        # moves count as done)
        self.need_unit_size: list[dict[int, float]] = [
            {n: min((self.item_size(i) / e for i, e in self.need_items[j][n]), default=0.0)
             for n in self.need_qty[j]} for j in range(self.n_sites)]
        # fill value of one unit of a need: people / (needs of the site x its quantity)
        self.fill_value: list[dict[int, float]] = [
            {n: self.people[j] / (len(q) * qty) for n, qty in q.items()}
            for j, q in enumerate(self.need_qty)]
        # loading order per site: (need, item, units of need per unit, kg, m3); completing:
        # needs in priority order, within a need the items bringing most need per truckload;
        # filling: by fill value per truckload
        self.pack_order: list[list[tuple[int, int, float, float, float]]] = []
        self.fill_order: list[list[tuple[int, int, float, float, float]]] = []
        for j in range(self.n_sites):
            rows = [(n, i, e) for n, items in self.need_items[j].items() for i, e in items]
            self.pack_order.append([
                (n, i, e, self.kg[i], self.m3[i]) for n, i, e in sorted(
                    rows, key=lambda r: (r[0], -r[2] / self.item_size(r[1]), r[1]))])
            self.fill_order.append([
                (n, i, e, self.kg[i], self.m3[i]) for n, i, e in sorted(
                    rows, key=lambda r, j=j: (-self.fill_value[j][r[0]] * r[2]
                                              / self.item_size(r[1]), r[0], r[1]))])

    def _need_size(self, j: int) -> float:
        kg = m3 = 0.0
        for n, q in self.need_qty[j].items():
            items = self.need_items[j][n]
            if not items:
                continue
            i, e = min(items, key=lambda ie: (max(self.kg[ie[0]] / self.kg_ref,
                                                  self.m3[ie[0]] / self.m3_ref) / ie[1], ie[0]))
            units = ceil_slack(q / e)
            kg += units * self.kg[i]
            m3 += units * self.m3[i]
        return max(kg / self.kg_ref, m3 / self.m3_ref)

    def narrowed(self, share: float) -> Static:
        """A copy in which a vehicle allowed at several sources may load only at those
        holding at least ``share`` x its capacity in kilograms of items some site needs at
        the start, when any does (``SolveParams.narrow``)."""
        out = copy.copy(self)
        useful = {i for m in self.item_need for i in m}
        held = [sum(q * self.kg[i] for i, q in stock.items() if i in useful)
                for stock in self.stock0]
        allowed = []
        for k, sources in enumerate(self.allowed):
            if len(sources) > 1:
                big = tuple(s for s in sources if held[s] >= share * self.cap_kg[k])
                sources = big or sources
            allowed.append(sources)
        out._set_allowed(allowed)
        return out

    def _set_allowed(self, allowed: list[tuple[int, ...]]) -> None:
        """Where each vehicle may load, and what follows from it: vehicles alike for a first
        trip (base, sources, capacities, speed, availability: one idle vehicle of a kind
        stands for all, ``construct._Scan.expand``), per source the vehicles allowed there
        and the most room of one of them."""
        self.allowed = allowed
        kinds: dict[tuple[object, ...], int] = {}  # numbered: a kind is hashed once, here
        self.kind = [kinds.setdefault((self.base[k], allowed[k], self.cap_kg[k],
                                       self.cap_m3[k], self.speed[k], self.available[k]),
                                      len(kinds)) for k in range(len(allowed))]
        self.loaders = _loaders(allowed, self.n_src)
        self.max_room = [max((self.room0[k] for k in ks), default=0.0) for ks in self.loaders]

    def neighbours(self, limit: int) -> list[list[int]]:
        """For each site, the other sites with people and needs by travel time (nearest
        first), at most ``limit`` (computed once per limit)."""
        got = self._near.get(limit)
        if got is None:
            sites = [j for j in range(self.n_sites) if self.people[j] > 0 and self.need_qty[j]]
            got = []
            for j in range(self.n_sites):
                row = self.base_min[self.loc(j)]
                near = sorted((row[self.loc(x)], x) for x in sites if x != j)
                got.append([x for _, x in near[:limit]])
            self._near[limit] = got
        return got

    def loc(self, j: int) -> int:
        """Network location of site j."""
        return self.n_src + j

    def item_size(self, i: int) -> float:
        """One unit of item i in reference truckloads."""
        return max(self.kg[i] / self.kg_ref, self.m3[i] / self.m3_ref)

    def load_size(self, load: dict[int, int]) -> float:
        """A load in reference truckloads (median vehicle capacity, binding dimension)."""
        kg = sum(q * self.kg[i] for i, q in load.items())
        m3 = sum(q * self.m3[i] for i, q in load.items())
        return max(kg / self.kg_ref, m3 / self.m3_ref)

    def unload_min(self, j: int, kg: float) -> int:
        """Minutes a stop at site j unloading ``kg`` takes (``Scenario.unload_min``)."""
        rate = self.unload_rate[j]
        if rate == 0 or kg <= 0:
            return self.service[j]
        return self.service[j] + ceil_slack(rate * kg / 1000.0)


def _loaders(allowed: list[tuple[int, ...]], n_src: int) -> list[list[int]]:
    """Per source, the vehicles allowed to load there (vehicle order)."""
    out: list[list[int]] = [[] for _ in range(n_src)]
    for k, sources in enumerate(allowed):
        for s in sources:
            out[s].append(k)
    return out


class Clock:
    """The contract's timing rules (``timing.Day``) for one scenario, in integers."""

    def __init__(self, st: Static) -> None:
        self.st = st
        # every vehicle at its base before its day (At is immutable: one each, shared)
        self._starts = [At(b, a, 0, NEVER) for b, a in zip(st.base, st.available, strict=True)]

    def leg(self, k: int, at: At, to: int) -> At | None:
        """The vehicle after driving from ``at`` to location ``to`` (a break first when the
        driving rule needs one): ``ready`` is the arrival. None: no path, or the leg alone
        exceeds the driving limit."""
        t = self.st.mins[k][at.loc][to]
        if t >= UNREACHABLE:
            return None
        leave = at.ready
        if t == 0:
            return At(to, leave, at.drive, at.drive_end)
        drive = at.drive
        if leave - at.drive_end >= self.st.break_min:
            drive = 0
        limit = self.st.max_drive
        if limit is not None and drive + t > limit:
            if t > limit:
                return None
            leave = max(leave, at.drive_end + self.st.break_min)
            drive = 0
        return At(to, leave + t, drive + t, leave + t)

    def start(self, k: int) -> At:
        """Vehicle k at its base before its day."""
        return self._starts[k]

    def trip(self, k: int, before: At, first: bool, source: int, sites: tuple[int, ...],
             kgs: tuple[float, ...]
             ) -> tuple[int, int, tuple[int, ...], tuple[int, ...], At] | None:
        """(arrival at the source, departure, stop arrivals, when each stop is done, state
        after the last stop) of a trip after ``before``; ``first``: the day's first trip (the
        vehicle leaves its base just in time). None when a leg has no path or breaks the
        driving limit alone."""
        st = self.st
        if first:
            t0 = st.mins[k][before.loc][source]
            if t0 >= UNREACHABLE or (st.max_drive is not None and t0 > st.max_drive):
                return None
            load_start = max(st.ready[source], before.ready + t0)
            here = At(source, load_start + st.load_min[source], t0 if t0 else 0,
                      load_start if t0 else NEVER)
            src_arrive = load_start
        else:
            got = self.leg(k, before, source)
            if got is None:
                return None
            src_arrive = got.ready
            here = At(source, max(st.ready[source], got.ready) + st.load_min[source],
                      got.drive, got.drive_end)
        depart = -1
        arrivals = []
        leaves = []
        for j, kg in zip(sites, kgs, strict=True):
            nxt = self.leg(k, here, st.n_src + j)
            if nxt is None:
                return None
            if depart < 0:
                depart = nxt.ready - st.mins[k][here.loc][st.n_src + j]
            arrivals.append(nxt.ready)
            here = At(nxt.loc, nxt.ready + st.unload_min(j, kg), nxt.drive, nxt.drive_end)
            leaves.append(here.ready)
        return (src_arrive, (depart if depart >= 0 else here.ready), tuple(arrivals),
                tuple(leaves), here)

    def end(self, k: int, after: At) -> int | None:
        """When vehicle k is back at its base after ``after`` (None: no path)."""
        back = self.leg(k, after, self.st.base[k])
        return None if back is None else back.ready


@dataclass
class State:
    """The working plan and what is left: mutable, journaled (see the module docstring)."""

    st: Static
    clock: Clock
    trips: list[list[WTrip]] = field(default_factory=list)
    stock: list[dict[int, int]] = field(default_factory=list)
    got: list[dict[int, float]] = field(default_factory=list)  # site -> need -> units met
    visitors: list[dict[int, int]] = field(default_factory=list)  # site -> vehicle -> stops
    short: list[int] = field(default_factory=list)  # site -> needs still short
    # source -> vehicle -> its trips loading there with room for the smallest item
    open: list[dict[int, tuple[int, ...]]] = field(default_factory=list)
    journal: list[tuple] = field(default_factory=list)
    covered_people: int = 0
    n_covered: int = 0
    work: int = 0  # work units spent scanning candidate moves (the search's work budget)
    # per vehicle: (its day, slack per trip, idle start) for ``construct.insertion``, valid
    # while that very list is its day (days are replaced, never changed in place)
    day_slack: dict[int, tuple[list[WTrip], list[int], int]] = field(default_factory=dict)
    # per vehicle: (its day, ``construct._shift_room``), valid the same way
    shift_room: dict[int, tuple[list[WTrip], int | None]] = field(default_factory=dict)
    # per vehicle: None or (its day, the scans made of it with the work units each counted:
    # source x n_sites + site -> ``construct.insertion``'s; -1 - that -> the new trips'
    # bounds (``_Scan._vehicle_trips``); (trip, site) -> an added stop's best place), valid
    # the same way (``scans_of``); a repeat counts the same units (the day's slack, counted
    # when computed, is then kept in ``day_slack`` too)
    scans: list[tuple[list[WTrip], dict[object, tuple[Any, ...]]] | None] \
        = field(default_factory=list)

    @classmethod
    def empty(cls, st: Static) -> State:
        """Nothing planned yet: all stock at the sources, every vehicle at its base."""
        state = cls(st, Clock(st))
        state.trips = [[] for _ in st.base]
        state.scans = [None for _ in st.base]
        state.stock = [dict(s) for s in st.stock0]
        state.got = [{} for _ in range(st.n_sites)]
        state.visitors = [{} for _ in range(st.n_sites)]
        state.short = [len(d) for d in st.need_qty]
        state.open = [{} for _ in range(st.n_src)]
        for j in range(st.n_sites):
            if not st.need_qty[j]:
                state.covered_people += st.people[j]
                state.n_covered += 1
        return state

    # -- queries ------------------------------------------------------------------------------
    def at(self, k: int) -> At:
        """Where vehicle k is once its last stop is done (its base before its first trip)."""
        ts = self.trips[k]
        return ts[-1].after if ts else self.clock.start(k)

    def free(self, k: int) -> int:
        """When vehicle k may leave its last stop (its availability with no trip)."""
        return self.at(k).ready

    def scans_of(self, k: int) -> dict[object, tuple[Any, ...]]:
        """The scans kept of vehicle k's current day (``scans``), empty when the day is
        new."""
        ts = self.trips[k]
        got = self.scans[k]
        if got is None or got[0] is not ts:
            got = self.scans[k] = (ts, {})
        return got[1]

    def day_start(self, k: int) -> int | None:
        """When vehicle k leaves its base (None: no trip)."""
        ts = self.trips[k]
        if not ts:
            return None
        return ts[0].src_arrive - self.st.mins[k][self.st.base[k]][ts[0].source]

    def outstanding(self, j: int) -> dict[int, float]:
        """What site j still needs: need -> units."""
        got = self.got[j]
        return {n: q - got.get(n, 0.0) for n, q in self.st.need_qty[j].items()
                if got.get(n, 0.0) < q - NEED_SLACK}

    def is_covered(self, j: int) -> bool:
        """Site j has every need met."""
        return self.short[j] == 0

    def fill_of(self, j: int) -> float:
        """Mean over the site's needs of min(1, met / quantity); 1 with no need."""
        need = self.st.need_qty[j]
        if not need:
            return 1.0
        got = self.got[j]
        return sum(min(1.0, got.get(n, 0.0) / q) for n, q in need.items()) / len(need)

    def fill_people(self) -> float:
        """People-weighted fill over all sites (the plan's fill rate times all people)."""
        return sum(p * self.fill_of(j) for j, p in enumerate(self.st.people) if p)

    def busy_minutes(self) -> int:
        """Vehicle-minutes used: per vehicle with trips, from leaving its base to the end of
        its last stop."""
        total = 0
        for k, ts in enumerate(self.trips):
            if ts:
                total += ts[-1].after.ready - (self.day_start(k) or 0)
        return total

    def sites_of(self, k: int) -> list[int]:
        """Sites vehicle k stops at (in order of first visit)."""
        seen: dict[int, None] = {}
        for t in self.trips[k]:
            for j in t.sites:
                seen.setdefault(j, None)
        return list(seen)

    # -- journaled primitives -----------------------------------------------------------------
    def mark(self) -> int:
        """A point to roll back to."""
        return len(self.journal)

    def rollback(self, mark: int) -> None:
        """Undo every change made after ``mark``."""
        self.work += len(self.journal) - mark
        while len(self.journal) > mark:
            entry = self.journal.pop()
            kind = entry[0]
            if kind == "trips":
                self.trips[entry[1]] = entry[2]
            elif kind == "stock":
                self.stock[entry[1]][entry[2]] = entry[3]
            elif kind == "got":
                self._set_got(entry[1], entry[2], entry[3], journal=False)
            elif kind == "visit":
                vis = self.visitors[entry[1]]
                if entry[3]:
                    vis[entry[2]] = entry[3]
                else:
                    vis.pop(entry[2], None)
            elif kind == "open":
                room = self.open[entry[1]]
                if entry[3]:
                    room[entry[2]] = entry[3]
                else:
                    room.pop(entry[2], None)

    def snapshot(self) -> tuple:
        """A copy of the plan to return to with ``restore`` (trips are immutable)."""
        return ([list(ts) for ts in self.trips], [dict(x) for x in self.stock],
                [dict(x) for x in self.got], [dict(x) for x in self.visitors],
                list(self.short), self.covered_people, self.n_covered,
                [dict(x) for x in self.open])

    def restore(self, snap: tuple) -> None:
        """Return to a ``snapshot`` (the journal is dropped)."""
        trips, stock, got, visitors, short, people, n, open_ = snap
        self.trips = [list(ts) for ts in trips]
        self.stock = [dict(x) for x in stock]
        self.got = [dict(x) for x in got]
        self.visitors = [dict(x) for x in visitors]
        self.short = list(short)
        self.covered_people, self.n_covered = people, n
        self.open = [dict(x) for x in open_]
        self.journal.clear()

    def forget(self) -> None:
        """Drop the journal (the current plan is the new starting point)."""
        self.journal.clear()

    def _set_trips(self, k: int, trips: list[WTrip]) -> None:
        old = self.trips[k]
        self.journal.append(("trips", k, old))
        for t in old:
            for j in t.sites:
                self._visit(j, k, -1)
        for t in trips:
            for j in t.sites:
                self._visit(j, k, +1)
        self.trips[k] = trips
        st = self.st
        room_kg = st.cap_kg[k] * (1 + FIT_SLACK) - st.min_kg
        room_m3 = st.cap_m3[k] * (1 + FIT_SLACK) - st.min_m3
        rooms: dict[int, list[int]] = {}
        for n, t in enumerate(trips):
            if t.kg <= room_kg and t.m3 <= room_m3:
                rooms.setdefault(t.source, []).append(n)
        for s in {t.source for t in old} | set(rooms):
            value = tuple(rooms.get(s, ()))
            now = self.open[s].get(k, ())
            if value != now:
                self.journal.append(("open", s, k, now))
                if value:
                    self.open[s][k] = value
                else:
                    self.open[s].pop(k, None)

    def _visit(self, j: int, k: int, d: int) -> None:
        vis = self.visitors[j]
        old = vis.get(k, 0)
        self.journal.append(("visit", j, k, old))
        if old + d:
            vis[k] = old + d
        else:
            vis.pop(k, None)

    def _take_stock(self, s: int, load: dict[int, int], sign: int) -> None:
        stock = self.stock[s]
        for i, q in load.items():
            old = stock.get(i, 0)
            self.journal.append(("stock", s, i, old))
            stock[i] = old - sign * q

    def _set_got(self, j: int, n: int, value: float, journal: bool = True) -> None:
        got = self.got[j]
        old = got.get(n, 0.0)
        if journal:
            self.journal.append(("got", j, n, old))
        if value > NEED_SLACK:
            got[n] = value
        else:
            got.pop(n, None)
        need = self.st.need_qty[j].get(n, 0)
        was, now = old >= need - NEED_SLACK, value >= need - NEED_SLACK
        if was != now:
            before = self.short[j] == 0
            self.short[j] += -1 if now else 1
            after = self.short[j] == 0
            if before != after:
                sign = 1 if after else -1
                self.covered_people += sign * self.st.people[j]
                self.n_covered += sign

    def _deliver(self, j: int, load: dict[int, int], sign: int) -> None:
        mapping = self.st.item_need[j]
        for i, q in load.items():
            ne = mapping.get(i)
            if ne is not None:
                n, e = ne
                self._set_got(j, n, self.got[j].get(n, 0.0) + sign * q * e)

    # -- building days -------------------------------------------------------------------------
    def make_trip(self, k: int, before: At, first: bool, source: int, sites: tuple[int, ...],
                  loads: tuple[dict[int, int], ...], kgs: tuple[float, ...] | None = None
                  ) -> WTrip | None:
        """A timed trip for vehicle k after ``before`` (None: a leg has no path)."""
        st = self.st
        if kgs is None:
            kgs = tuple(sum(q * st.kg[i] for i, q in ld.items()) for ld in loads)
        timed = self.clock.trip(k, before, first, source, sites, kgs)
        if timed is None:
            return None
        m3 = sum(q * st.m3[i] for ld in loads for i, q in ld.items())
        return WTrip(source, sites, loads, kgs, timed[0], timed[1], timed[2], timed[3],
                     timed[4], sum(kgs), m3, before, first)

    def retimed(self, k: int, trips: list[WTrip], start: int) -> list[WTrip] | None:
        """Vehicle k's day ``trips`` with trips[start:] timed anew where needed (their sites
        and loads kept; a trip timed after the same vehicle state is reused); None when a
        stop would arrive after the deadline, a leg has no path or the shift would be too
        long."""
        st = self.st
        out = trips[:start]
        self.work += len(trips) - start
        before = out[-1].after if out else self.clock.start(k)
        for n in range(start, len(trips)):
            t = trips[n]
            if t.before == before and t.first == (n == 0):
                made: WTrip | None = t
            else:
                made = self.make_trip(k, before, n == 0, t.source, t.sites, t.loads, t.kgs)
            if made is None or made.arrivals[-1] > st.deadline:
                return None
            out.append(made)
            before = made.after
        if not self.shift_ok(k, out):
            return None
        return out

    def shift_ok(self, k: int, trips: list[WTrip]) -> bool:
        """The day ends back at base within the shift limit (and there is a way back)."""
        if not trips:
            return True
        end = self.clock.end(k, trips[-1].after)
        if end is None:
            return False
        if self.st.max_shift is None:
            return True
        start = trips[0].src_arrive - self.st.mins[k][self.st.base[k]][trips[0].source]
        return end - start <= self.st.max_shift

    def apply_trips(self, k: int, new: list[WTrip]) -> None:
        """Replace vehicle k's trips by ``new``, moving stock and deliveries accordingly."""
        old = self.trips[k]
        self.work += len(old) + len(new)
        old_ids = {id(t) for t in old}
        new_ids = {id(t) for t in new}
        for t in old:
            if id(t) not in new_ids:
                self._unload(t, -1)
        for t in new:
            if id(t) not in old_ids:
                self._unload(t, +1)
        self._set_trips(k, new)

    def _unload(self, t: WTrip, sign: int) -> None:
        total: dict[int, int] = {}
        for j, load in zip(t.sites, t.loads, strict=True):
            self._deliver(j, load, sign)
            for i, q in load.items():
                total[i] = total.get(i, 0) + q
        self._take_stock(t.source, total, sign)

    def remove_sites(self, sites: set[int] | frozenset[int]) -> None:
        """Remove every stop at these sites: trips left empty disappear, later trips move
        earlier. Rarely a shorter day breaks a rule (a removed stop was the break a long
        drive needed): then the trips that no longer fit are dropped too."""
        vehicles = sorted({k for j in sites for k in self.visitors[j]})
        for k in vehicles:
            out: list[WTrip] = []
            before = self.clock.start(k)
            self.work += len(self.trips[k])
            for t in self.trips[k]:
                keep = [n for n, j in enumerate(t.sites) if j not in sites]
                if not keep:
                    continue
                if len(keep) == len(t.sites) and t.before == before and t.first == (not out):
                    made: WTrip | None = t
                else:
                    made = self.make_trip(k, before, not out, t.source,
                                          tuple(t.sites[n] for n in keep),
                                          tuple(t.loads[n] for n in keep),
                                          tuple(t.kgs[n] for n in keep))
                if made is None or made.arrivals[-1] > self.st.deadline:
                    continue
                out.append(made)
                before = made.after
            while out and not self.shift_ok(k, out):
                out.pop()
            self.apply_trips(k, out)

    def check_on_time(self) -> bool:
        """Every stop arrives by the deadline and every day fits its shift (invariants)."""
        return all(t.arrivals[-1] <= self.st.deadline for ts in self.trips for t in ts) and all(
            self.shift_ok(k, ts) for k, ts in enumerate(self.trips))

    # -- output -----------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        """The plan's routes (contract models), vehicles in scenario order, timed by the
        contract's timing module (``plan.schedule_route``). Raises RuntimeError when those
        times disagree with the engine's own (an engine bug, reported loudly)."""
        st = self.st
        sc = st.scenario
        out = []
        for k, ts in enumerate(self.trips):
            if not ts:
                continue
            specs = [(sc.sources[t.source].id,
                      [(sc.sites[j].id, {st.codes[i]: q for i, q in sorted(load.items())})
                       for j, load in zip(t.sites, t.loads, strict=True)]) for t in ts]
            route = schedule_route(sc, st.net, sc.vehicle_units[k], specs)
            if route is None or [s.arrive_min for t in route.trips for s in t.stops] != [
                    a for t in ts for a in t.arrivals]:
                raise RuntimeError(f"the engine's times for {st.vehicle_ids[k]} disagree with "
                                   "the contract's timing")
            out.append(route)
        return out


