"""The engine's working plan: every vehicle's trips with exact times, the stock left at each
source and the goods each site has received, with an undo journal for search.

Everything is indexed by integers (items, sources, sites and vehicles in scenario order;
network locations are sources first, then sites), so iteration order never depends on hash
seeds. Timing follows the plan contract exactly (``plan.time_trip``): a trip loads at its
source for ``load_min``, not before the source's ``ready_min``, the vehicle's
``available_min`` and the vehicle's previous return; stops follow in order, each taking the
site's ``service_min``; the truck then returns home. The engine only ever makes stops that
arrive by the deadline, so everything unloaded counts.

Changes go through a few methods that record what they overwrite; ``mark()`` and
``rollback(mark)`` undo everything after a mark, which is how the search tries a move and
takes it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dispatch.planning.needs import scenario_demand
from dispatch.planning.network import UNREACHABLE, TravelNetwork
from dispatch.planning.plan import Route, Stop, Trip
from dispatch.planning.problem import Scenario

FIT_SLACK = 1e-9  # the checker's relative capacity slack


@dataclass(frozen=True, slots=True)
class WTrip:
    """One trip of the working plan (immutable: a change builds a new trip).

    ``sites`` are stop sites in order, ``loads`` what each stop unloads (item -> qty, never
    mutated once built); ``arrivals`` per stop; ``ret`` back home; ``kg``/``m3`` the load.
    """

    source: int
    sites: tuple[int, ...]
    loads: tuple[dict[int, int], ...]
    load_start: int
    depart: int
    arrivals: tuple[int, ...]
    ret: int
    kg: float
    m3: float


@dataclass(frozen=True, slots=True)
class Timing:
    """Times of a trip: loading start, departure, arrival at each stop, return home."""

    load_start: int
    depart: int
    arrivals: tuple[int, ...]
    ret: int


class Static:
    """Scenario data in the engine's integer form, computed once per solve."""

    def __init__(self, scenario: Scenario, net: TravelNetwork) -> None:
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
        demand = scenario_demand(sc)
        self.demand: list[dict[int, int]] = [
            {self.item_ix[c]: q for c, q in demand[s.id].items() if q > 0} for s in sc.sites
        ]
        self.people = [s.people for s in sc.sites]
        self.service = [s.service_min for s in sc.sites]
        self.ready = [s.ready_min for s in sc.sources]
        self.load_min = [s.load_min for s in sc.sources]
        self.tier = [sc.tier_rank(s.tier) for s in sc.sources]
        self.stock0 = [{self.item_ix[c]: q for c, q in s.stock.items() if q > 0}
                       for s in sc.sources]
        src_ix = {s.id: k for k, s in enumerate(sc.sources)}
        units = sc.vehicle_units
        self.vehicle_ids = [v.id for v in units]
        self.home = [src_ix[v.source] for v in units]
        self.cap_kg = [v.capacity_kg for v in units]
        self.cap_m3 = [v.capacity_m3 for v in units]
        self.available = [v.available_min for v in units]
        self.start = [max(v.available_min, self.ready[self.home[k]]) for k, v in enumerate(units)]
        factors = sorted({v.speed_factor for v in units} | {1.0})
        mats = {f: net.minutes(f).tolist() for f in factors}
        self.mins: list[list[list[int]]] = [mats[v.speed_factor] for v in units]
        self.base: list[list[int]] = mats[1.0]
        self.km: list[list[float]] = net.km.tolist()
        # vehicles that may load at each source (today: their home)
        self.loaders: list[list[int]] = [[] for _ in range(self.n_src)]
        for k, s in enumerate(self.home):
            self.loaders[s].append(k)
        # reach[j]: sources with a vehicle that can arrive at site j by the deadline on its
        # first trip, nearest first (speed factor 1), ties by tier then index
        self.reach: list[list[int]] = []
        for j in range(self.n_sites):
            loc = self.n_src + j
            cand = []
            for s in range(self.n_src):
                if any(self.start[k] + self.load_min[s] + self.mins[k][s][loc] <= self.deadline
                       and self.mins[k][loc][s] < UNREACHABLE for k in self.loaders[s]):
                    cand.append(s)
            cand.sort(key=lambda s, loc=loc: (self.base[s][loc], self.tier[s], s))
            self.reach.append(cand)
        caps_kg = sorted(self.cap_kg) or [1.0]
        caps_m3 = sorted(self.cap_m3) or [1.0]
        self.kg_ref = caps_kg[len(caps_kg) // 2]
        self.m3_ref = caps_m3[len(caps_m3) // 2]
        # the site's whole demand in reference truckloads (what completing it moves)
        self.size = [self.load_size(d) for d in self.demand]

    def loc(self, j: int) -> int:
        """Network location of site j."""
        return self.n_src + j

    def load_size(self, load: dict[int, int]) -> float:
        """A load in reference truckloads (median vehicle capacity, binding dimension)."""
        kg = sum(q * self.kg[i] for i, q in load.items())
        m3 = sum(q * self.m3[i] for i, q in load.items())
        return max(kg / self.kg_ref, m3 / self.m3_ref)

    def fits(self, k: int, kg_used: float, m3_used: float, item: int) -> int:
        """How many more units of ``item`` vehicle k can take on top of kg_used / m3_used."""
        n_kg = math.floor((self.cap_kg[k] * (1 + FIT_SLACK) - kg_used) / self.kg[item] + 1e-9)
        n_m3 = math.floor((self.cap_m3[k] * (1 + FIT_SLACK) - m3_used) / self.m3[item] + 1e-9)
        return max(0, min(n_kg, n_m3))

    def time_trip(self, k: int, source: int, sites: tuple[int, ...] | list[int],
                  free: int) -> Timing | None:
        """Earliest timing of a trip of vehicle k loading at ``source`` once free at
        ``free``; None when a leg has no path."""
        m = self.mins[k]
        t = max(free, self.ready[source], self.available[k])
        load_start = t
        t += self.load_min[source]
        depart = t
        here = source
        arrivals = []
        for j in sites:
            nxt = self.n_src + j
            leg = m[here][nxt]
            if leg >= UNREACHABLE:
                return None
            t += leg
            arrivals.append(t)
            t += self.service[j]
            here = nxt
        back = m[here][source]
        if back >= UNREACHABLE:
            return None
        return Timing(load_start, depart, tuple(arrivals), t + back)


@dataclass
class State:
    """The working plan and what is left: mutable, journaled (see the module docstring)."""

    st: Static
    trips: list[list[WTrip]] = field(default_factory=list)
    stock: list[dict[int, int]] = field(default_factory=list)
    got: list[dict[int, int]] = field(default_factory=list)
    visitors: list[dict[int, int]] = field(default_factory=list)  # site -> vehicle -> stops
    short: list[int] = field(default_factory=list)  # site -> items still short
    journal: list[tuple] = field(default_factory=list)
    covered_people: int = 0
    n_covered: int = 0

    @classmethod
    def empty(cls, st: Static) -> State:
        """Nothing planned yet: all stock at the sources, every vehicle free."""
        state = cls(st)
        state.trips = [[] for _ in st.home]
        state.stock = [dict(s) for s in st.stock0]
        state.got = [{} for _ in range(st.n_sites)]
        state.visitors = [{} for _ in range(st.n_sites)]
        state.short = [len(d) for d in st.demand]
        for j in range(st.n_sites):
            if not st.demand[j]:
                state.covered_people += st.people[j]
                state.n_covered += 1
        return state

    # -- queries ---------------------------------------------------------------------------------
    def free(self, k: int) -> int:
        """When vehicle k is back from its last trip (its start when it has none)."""
        ts = self.trips[k]
        return ts[-1].ret if ts else self.st.start[k]

    def outstanding(self, j: int) -> dict[int, int]:
        """What site j still needs (item -> qty)."""
        got = self.got[j]
        return {i: q - got.get(i, 0) for i, q in self.st.demand[j].items() if q > got.get(i, 0)}

    def is_covered(self, j: int) -> bool:
        """Site j has received its whole demand."""
        return self.short[j] == 0

    def fill_of(self, j: int) -> float:
        """Mean over demanded items of min(1, got / demand); 1 with no demand."""
        need = self.st.demand[j]
        if not need:
            return 1.0
        got = self.got[j]
        return sum(min(1.0, got.get(i, 0) / q) for i, q in need.items()) / len(need)

    def fill_people(self) -> float:
        """People-weighted fill over all sites (the plan's fill rate times all people)."""
        return sum(p * self.fill_of(j) for j, p in enumerate(self.st.people) if p)

    def busy_minutes(self) -> int:
        """Vehicle-minutes used: sum over vehicles of (last return - start)."""
        return sum(ts[-1].ret - self.st.start[k] for k, ts in enumerate(self.trips) if ts)

    def sites_of(self, k: int) -> list[int]:
        """Sites vehicle k stops at (in order of first visit)."""
        seen: dict[int, None] = {}
        for t in self.trips[k]:
            for j in t.sites:
                seen.setdefault(j, None)
        return list(seen)

    # -- journaled primitives --------------------------------------------------------------------
    def mark(self) -> int:
        """A point to roll back to."""
        return len(self.journal)

    def rollback(self, mark: int) -> None:
        """Undo every change made after ``mark``."""
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

    def snapshot(self) -> tuple:
        """A copy of the plan to return to with ``restore`` (trips are immutable)."""
        return ([list(ts) for ts in self.trips], [dict(x) for x in self.stock],
                [dict(x) for x in self.got], [dict(x) for x in self.visitors],
                list(self.short), self.covered_people, self.n_covered)

    def restore(self, snap: tuple) -> None:
        """Return to a ``snapshot`` (the journal is dropped)."""
        trips, stock, got, visitors, short, people, n = snap
        self.trips = [list(ts) for ts in trips]
        self.stock = [dict(x) for x in stock]
        self.got = [dict(x) for x in got]
        self.visitors = [dict(x) for x in visitors]
        self.short = list(short)
        self.covered_people, self.n_covered = people, n
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

    def _set_got(self, j: int, i: int, value: int, journal: bool = True) -> None:
        got = self.got[j]
        old = got.get(i, 0)
        if journal:
            self.journal.append(("got", j, i, old))
        if value:
            got[i] = value
        else:
            got.pop(i, None)
        need = self.st.demand[j].get(i, 0)
        was, now = old >= need, value >= need
        if was != now:
            before = self.short[j] == 0
            self.short[j] += -1 if now else 1
            after = self.short[j] == 0
            if before != after:
                sign = 1 if after else -1
                self.covered_people += sign * self.st.people[j]
                self.n_covered += sign

    def _deliver(self, j: int, load: dict[int, int], sign: int) -> None:
        for i, q in load.items():
            self._set_got(j, i, self.got[j].get(i, 0) + sign * q)

    # -- building trips --------------------------------------------------------------------------
    def make_trip(self, k: int, source: int, sites: tuple[int, ...],
                  loads: tuple[dict[int, int], ...], free: int,
                  size: tuple[float, float] | None = None) -> WTrip | None:
        """A timed trip for vehicle k free from ``free`` (None: a leg has no path);
        ``size`` (kg, m3) of the loads when the caller knows it."""
        timing = self.st.time_trip(k, source, sites, free)
        if timing is None:
            return None
        if size is None:
            st = self.st
            size = (sum(q * st.kg[i] for ld in loads for i, q in ld.items()),
                    sum(q * st.m3[i] for ld in loads for i, q in ld.items()))
        return WTrip(source, sites, loads, timing.load_start, timing.depart, timing.arrivals,
                     timing.ret, size[0], size[1])

    def retimed(self, k: int, trips: list[WTrip], start: int) -> list[WTrip] | None:
        """``trips`` of vehicle k with trips[start:] re-timed after a change at ``start``;
        None when a stop would arrive after the deadline (or a leg has no path).
        trips[start] must already be timed."""
        out = trips[:start + 1]
        deadline = self.st.deadline
        first = trips[start]
        if first.arrivals and first.arrivals[-1] > deadline:
            return None
        prev = first.ret
        for t in trips[start + 1:]:
            ls = max(prev, self.st.ready[t.source], self.st.available[k])
            shift = ls - t.load_start
            if shift == 0:
                out.extend(trips[len(out):])
                return out
            if t.arrivals[-1] + shift > deadline:
                return None
            t = WTrip(t.source, t.sites, t.loads, ls, t.depart + shift,
                      tuple(a + shift for a in t.arrivals), t.ret + shift, t.kg, t.m3)
            out.append(t)
            prev = t.ret
        return out

    def apply_trips(self, k: int, new: list[WTrip]) -> None:
        """Replace vehicle k's trips by ``new``, moving stock and deliveries accordingly."""
        old = self.trips[k]
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
        """Remove every stop at these sites (trips left empty disappear, later trips move
        earlier)."""
        vehicles = sorted({k for j in sites for k in self.visitors[j]})
        for k in vehicles:
            trips = self.trips[k]
            new: list[WTrip] = []
            free = self.st.start[k]
            for t in trips:
                keep = [n for n, j in enumerate(t.sites) if j not in sites]
                ls = max(free, self.st.ready[t.source], self.st.available[k])
                if len(keep) == len(t.sites) and t.load_start == ls:
                    new.append(t)
                    free = t.ret
                    continue
                if not keep:
                    continue
                made = self.make_trip(k, t.source, tuple(t.sites[n] for n in keep),
                                      tuple(t.loads[n] for n in keep), free,
                                      None if len(keep) < len(t.sites) else (t.kg, t.m3))
                assert made is not None  # a sub-sequence of a feasible trip has paths
                new.append(made)
                free = made.ret
            self.apply_trips(k, new)

    def check_on_time(self) -> bool:
        """Every stop arrives by the deadline (an internal invariant)."""
        return all(t.arrivals[-1] <= self.st.deadline for ts in self.trips for t in ts)

    # -- output ----------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        """The plan's routes (contract models), vehicles in scenario order."""
        st = self.st
        out = []
        for k, ts in enumerate(self.trips):
            if not ts:
                continue
            trips = []
            for t in ts:
                total: dict[int, int] = {}
                stops = []
                for j, load, arr in zip(t.sites, t.loads, t.arrivals, strict=True):
                    for i, q in load.items():
                        total[i] = total.get(i, 0) + q
                    stops.append(Stop(site=st.scenario.sites[j].id, arrive_min=arr,
                                      unload={st.codes[i]: q for i, q in sorted(load.items())}))
                trips.append(Trip(source=st.scenario.sources[t.source].id, depart_min=t.depart,
                                  load={st.codes[i]: q for i, q in sorted(total.items())},
                                  stops=stops, return_min=t.ret))
            out.append(Route(vehicle=st.vehicle_ids[k], trips=trips))
        return out
