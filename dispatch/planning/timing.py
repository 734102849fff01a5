"""How long a vehicle's day takes: the one timing model of the checker and the engines.

A vehicle starts its day at its base, free from ``available_min``. Each trip drives to the
source it loads at (from the base for the first trip, from the previous trip's last stop
otherwise), loads there for the source's ``load_min`` (not before the source's ``ready_min``),
drives to its stops in order and, at each, stops for ``scenario.unload_min(site, kg)``
(``service_min`` + minutes per tonne unloaded). After the last trip the vehicle drives back
to its base. So a trip's ``return_min`` is when it reaches the next trip's source, or the
base after the last trip; for a v1 vehicle (base = home source = every trip's source) that is
exactly "back home".

Conventions (docs/planning.md, "Timing"):

* every leg is driven immediately before the arrival it leads to; waiting happens at the
  place the vehicle is at (so a stop's stationary time runs from its arrival until the next
  leg starts, and includes the service);
* a route may say when the vehicle leaves its base (``start_min``, no earlier than
  ``available_min``); the base leg then ends at ``start_min`` + the drive to the first
  source. Without it the vehicle leaves just in time: the base leg ends when loading starts
  (the latest start that fits; ``Day`` always says when it leaves, because an earlier start
  can turn the wait at the source into a break);
* a vehicle's shift runs from ``start_min`` to ``end_min``, the last trip's return to base;
* a break is a stationary period of at least ``break_min`` minutes (anywhere: base, source
  or site; waiting, loading and unloading included); continuous driving (the sum of the legs
  between two breaks) may not exceed ``max_drive_min``; the time before the day starts is
  rest.

``Day`` builds the earliest schedule trip by trip (engines and the greedy baseline);
``check_day`` verifies any given schedule against the same rules (the checker). A schedule
``Day`` builds always passes ``check_day`` (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dispatch.planning.network import UNREACHABLE, TravelNetwork
from dispatch.planning.problem import DriverRules, Scenario, VehicleUnit

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class StopLike(Protocol):
    """A stop of a plan trip (``plan.Stop``)."""

    site: str
    arrive_min: int
    unload: dict[str, int]


class TripLike(Protocol):
    """A trip of a plan route (``plan.Trip``)."""

    source: str
    depart_min: int
    load: dict[str, int]
    stops: Sequence[StopLike]
    return_min: int


def unload_kg(scenario: Scenario, unload: Mapping[str, int]) -> float:
    """Kilograms of an unload (unknown item codes count 0: the checker reports them)."""
    items = scenario.item_map
    return sum(q * items[c].unit_kg for c, q in unload.items() if c in items and q > 0)


def stop_min(scenario: Scenario, site_id: str, kg: float) -> int:
    """Minutes a stop at ``site_id`` takes when it unloads ``kg``."""
    return scenario.unload_min(scenario.site_map[site_id], kg)


@dataclass(frozen=True)
class VehicleState:
    """Where a vehicle is and what it has done so far (immutable; ``Day`` advances it).

    ``loc``: matrix index of where it is; ``ready_min``: the earliest minute it may leave;
    ``drive_min``: continuous driving since its last break; ``drive_end``: the minute its last
    leg ended (-inf: nothing driven since its rest); ``start_min``: the minute it left its base
    (None: not started); ``km``: kilometres so far; ``trips``: trips made.
    """

    loc: int
    ready_min: int
    drive_min: int = 0
    drive_end: float = -math.inf
    start_min: int | None = None
    km: float = 0.0
    trips: int = 0


@dataclass(frozen=True)
class TripTiming:
    """The earliest timing of one more trip: arrival at its source (the previous trip's
    ``return_min``; for a first trip, the loading start), departure, stop arrivals, and the
    vehicle's state at the last stop, ready to leave after its service."""

    source: str
    source_arrive_min: int
    depart_min: int
    stops: tuple[str, ...]
    arrive_min: tuple[int, ...]
    after: VehicleState


@dataclass(frozen=True)
class DayEnd:
    """The drive back to base after the last trip: arrival (``end_min``) and the shift."""

    end_min: int
    shift_min: int
    km: float


class Day:
    """Earliest schedules for one vehicle, trip by trip, under the scenario's driver rules.

    ``Day(scenario, network, vehicle)`` starts at the vehicle's base, free from
    ``available_min``. ``time_trip(state, source, stops)`` gives the timing of one more trip
    (or None: no path, a leg longer than the driving limit); ``finish(state)`` the drive back
    to base; ``fits(state)`` whether the shift limit still holds if the day ended there. All
    pure: states are immutable, so engines can try trips without side effects.
    """

    def __init__(self, scenario: Scenario, network: TravelNetwork, vehicle: VehicleUnit) -> None:
        self.scenario = scenario
        self.network = network
        self.vehicle = vehicle
        self.rules: DriverRules = scenario.policy.drivers
        self.minutes: NDArray[np.int64] = network.minutes(vehicle.speed_factor)
        self.base = network.place_loc(vehicle.base)

    def start(self, free_min: int | None = None) -> VehicleState:
        """The state at the start of the day (at base, free from ``available_min`` or the
        later ``free_min``)."""
        free = self.vehicle.available_min if free_min is None else max(
            free_min, self.vehicle.available_min)
        return VehicleState(loc=self.base, ready_min=free)

    def _leg(self, loc: int, ready: int, drive: int, drive_end: float, to: int
             ) -> tuple[int, int, float, int] | None:
        """(leave, arrive, drive_end, drive_min) of the earliest leg from ``loc`` (free from
        ``ready``, ``drive`` minutes driven since the last break, which ended at
        ``drive_end``) to ``to``, with a break first when the driving rule needs one; None
        when there is no path or the leg alone exceeds the driving limit."""
        t = int(self.minutes[loc, to])
        if t >= UNREACHABLE:
            return None
        leave = ready
        if t == 0:
            return leave, leave, drive_end, drive
        limit = self.rules.max_drive_min
        if leave - drive_end >= self.rules.break_min:
            drive = 0
        if limit is not None and drive + t > limit:
            if t > limit:
                return None
            leave = max(leave, math.ceil(drive_end) + self.rules.break_min)
            drive = 0
        return leave, leave + t, float(leave + t), drive + t

    def _km(self, a: int, b: int) -> float:
        d = float(self.network.km[a, b])
        return d if math.isfinite(d) else 0.0

    def _at_source(self, state: VehicleState, source_id: str
                   ) -> tuple[int, VehicleState] | None:
        """(arrival at the source, the state when loaded there and ready to leave)."""
        source = self.scenario.source_map[source_id]
        s_loc = self.network.source_loc(source_id)
        if state.start_min is None:
            # leave the base just in time: loading starts at the source's ready time or on
            # arrival, whichever is later
            t0 = int(self.minutes[state.loc, s_loc])
            limit = self.rules.max_drive_min
            if t0 >= UNREACHABLE or (limit is not None and t0 > limit):
                return None
            load_start = max(source.ready_min, state.ready_min + t0)
            drive, drive_end = (t0, float(load_start)) if t0 else (0, state.drive_end)
            return load_start, VehicleState(
                s_loc, load_start + source.load_min, drive, drive_end, load_start - t0,
                self._km(state.loc, s_loc), state.trips + 1)
        leg = self._leg(state.loc, state.ready_min, state.drive_min, state.drive_end, s_loc)
        if leg is None:
            return None
        _, arrive, drive_end, drive = leg
        return arrive, VehicleState(
            s_loc, max(source.ready_min, arrive) + source.load_min, drive, drive_end,
            state.start_min, state.km + self._km(state.loc, s_loc), state.trips + 1)

    def first_arrival(self, state: VehicleState, source_id: str, site_id: str) -> int | None:
        """The arrival at ``site_id`` of a trip loading at ``source_id`` after ``state`` (what
        ``time_trip`` gives as ``arrive_min[0]``, without building the trip)."""
        at = self._at_source(state, source_id)
        if at is None:
            return None
        here = at[1]
        leg = self._leg(here.loc, here.ready_min, here.drive_min, here.drive_end,
                        self.network.site_loc(site_id))
        return None if leg is None else leg[1]

    def time_trip(
        self,
        state: VehicleState,
        source_id: str,
        stops: Sequence[tuple[str, float]],
    ) -> TripTiming | None:
        """Timing of a trip loading at ``source_id`` and visiting ``stops`` ((site id, kg
        unloaded) in order), after ``state``. Does not check ``loads_at`` nor the shift (see
        ``fits``); None when a leg has no path or exceeds the driving limit on its own."""
        sc, net = self.scenario, self.network
        at = self._at_source(state, source_id)
        if at is None:
            return None
        arrive_src, here = at
        depart: int | None = None
        arrivals: list[int] = []
        for site_id, kg in stops:
            j = net.site_loc(site_id)
            leg = self._leg(here.loc, here.ready_min, here.drive_min, here.drive_end, j)
            if leg is None:
                return None
            leave, arrive, drive_end, drive = leg
            if depart is None:
                depart = leave
            arrivals.append(arrive)
            here = VehicleState(j, arrive + stop_min(sc, site_id, kg), drive, drive_end,
                                here.start_min, here.km + self._km(here.loc, j), here.trips)
        return TripTiming(
            source=source_id,
            source_arrive_min=arrive_src,
            depart_min=depart if depart is not None else here.ready_min,
            stops=tuple(site_id for site_id, _ in stops),
            arrive_min=tuple(arrivals),
            after=here,
        )

    def finish(self, state: VehicleState) -> DayEnd | None:
        """The drive back to base from ``state`` (None: no path)."""
        if state.start_min is None:
            return DayEnd(end_min=state.ready_min, shift_min=0, km=0.0)
        leg = self._leg(state.loc, state.ready_min, state.drive_min, state.drive_end, self.base)
        if leg is None:
            return None
        end = leg[1]
        return DayEnd(end_min=end, shift_min=end - state.start_min,
                      km=state.km + self._km(state.loc, self.base))

    def returns(self, timings: Sequence[TripTiming]) -> list[int] | None:
        """``return_min`` of each trip of a day made of ``timings`` (in order, each timed
        after the previous one's ``after``): the next trip's arrival at its source, and for
        the last trip the arrival back at base (None: no path back)."""
        out = [nxt.source_arrive_min for nxt in timings[1:]]
        if timings:
            end = self.finish(timings[-1].after)
            if end is None:
                return None
            out.append(end.end_min)
        return out

    def fits(self, state: VehicleState) -> bool:
        """True when the vehicle can still get back to base within its shift limit."""
        end = self.finish(state)
        if end is None:
            return False
        limit = self.rules.max_shift_min
        return limit is None or end.shift_min <= limit


# -- verifying a given schedule (the checker) ---------------------------------------------


@dataclass(frozen=True)
class DayIssue:
    """A broken rule of a vehicle's day: violation code, path suffix ('' = the route, or
    '.trips[k]...'), message."""

    code: str
    where: str
    message: str


@dataclass
class DayFigures:
    """What ``check_day`` derives from a route: shift start and end (None without trips),
    kilometres, the longest continuous driving, and the rules broken."""

    start_min: int | None = None
    end_min: int | None = None
    km: float = 0.0
    longest_drive_min: int = 0
    issues: list[DayIssue] = field(default_factory=list)


def check_day(
    scenario: Scenario,
    network: TravelNetwork,
    vehicle: VehicleUnit,
    trips: Sequence[TripLike],
    start_min: int | None = None,
) -> DayFigures:
    """Verify one vehicle's trips against the timing rules and derive its figures.

    Checks (codes as in the plan checker): ``trip_source`` (a known source the vehicle may
    load at), ``depart_early`` (loading starts no earlier than the source's ready time, the
    arrival there and, for the first trip, available_min + the drive from the base),
    ``site_unknown``, ``unreachable`` (every leg has a path), ``arrive_early`` (each arrival
    no earlier than the previous departure + travel), ``return_early`` (each return no
    earlier than the last stop's end + travel to the next trip's source or, after the last
    trip, the base), ``driving`` (continuous driving within ``max_drive_min``), ``shift``
    (end - start within ``max_shift_min``), ``start_early`` (a given ``start_min`` no earlier
    than ``available_min``). Load and capacity rules are the checker's.
    """
    sc, net = scenario, network
    rules = sc.policy.drivers
    minutes = net.minutes(vehicle.speed_factor)
    base = net.place_loc(vehicle.base)
    out = DayFigures()
    legs: list[tuple[int, int]] = []  # (start, end) of every leg with positive minutes

    def km(a: int, b: int) -> float:
        d = float(net.km[a, b])
        return d if math.isfinite(d) else 0.0

    def add_leg(a: int, b: int, end: int) -> None:
        t = int(minutes[a, b])
        if 0 < t < UNREACHABLE:
            legs.append((end - t, end))
        out.km += km(a, b)

    here = base
    free = vehicle.available_min  # earliest arrival at the next trip's source
    ready_to_leave: int | None = None  # when the vehicle may leave ``here`` (None: at base)
    prev: tuple[int, TripLike] | None = None
    valid = [(k, t) for k, t in enumerate(trips)]
    for k, trip in valid:
        tp = f".trips[{k}]"
        source = sc.source_map.get(trip.source)
        if source is None or not vehicle.may_load_at(trip.source):
            where = ("home source " + str(vehicle.source)) if vehicle.loads_at == (
                vehicle.source,) else f"sources {list(vehicle.loads_at)}"
            out.issues.append(DayIssue("trip_source", tp, f"{vehicle.id} may load only at "
                                       f"{where}, not at {trip.source}"))
            continue
        s_loc = net.source_loc(source.id)
        t_in = int(minutes[here, s_loc])
        if prev is not None:
            pk, ptrip = prev
            # the previous trip's return leg ends at this trip's source
            if t_in >= UNREACHABLE:
                out.issues.append(DayIssue("unreachable", f".trips[{pk}]",
                                           f"no path to the next source {source.id}"))
                free = ptrip.return_min
            else:
                earliest = (ready_to_leave or 0) + t_in
                if ptrip.return_min < earliest:
                    out.issues.append(DayIssue("return_early", f".trips[{pk}]",
                                               f"returns {ptrip.return_min}, earliest {earliest}"))
                free = max(ptrip.return_min, earliest)
                add_leg(here, s_loc, free)
        else:
            if t_in >= UNREACHABLE:
                out.issues.append(DayIssue("unreachable", tp,
                                           f"no path from base {vehicle.base} to {source.id}"))
                t_in = 0
            free = vehicle.available_min + t_in
            if start_min is not None:
                if start_min < vehicle.available_min:
                    out.issues.append(DayIssue("start_early", "", f"leaves its base at "
                                               f"{start_min}, available from "
                                               f"{vehicle.available_min}"))
                free = max(free, start_min + t_in)
        floor = max(source.ready_min, free)
        load_start = trip.depart_min - source.load_min
        if load_start < floor:
            out.issues.append(DayIssue("depart_early", tp, f"loading starts at {load_start}, "
                                       f"vehicle/source free from {floor}"))
        if prev is None:
            if start_min is not None:
                arrive_src = max(start_min, vehicle.available_min) + t_in
            else:
                arrive_src = max(load_start, floor)
            out.start_min = arrive_src - t_in
            add_leg(here, s_loc, arrive_src)
        here, t_now = s_loc, max(trip.depart_min, floor + source.load_min)
        if not trip.stops:
            ready_to_leave = t_now
        for n, stop in enumerate(trip.stops):
            sp = f"{tp}.stops[{n}]"
            site = sc.site_map.get(stop.site)
            if site is None:
                out.issues.append(DayIssue("site_unknown", sp, f"no site {stop.site!r}"))
                return _finish_figures(out, legs, rules)
            nxt = net.site_loc(site.id)
            leg = int(minutes[here, nxt])
            if leg >= UNREACHABLE:
                out.issues.append(DayIssue("unreachable", sp, f"no path to {site.id}"))
                return _finish_figures(out, legs, rules)
            if stop.arrive_min < t_now + leg:
                out.issues.append(DayIssue("arrive_early", sp, f"arrives {stop.arrive_min}, "
                                           f"earliest {t_now + leg}"))
            arrive = max(stop.arrive_min, t_now + leg)
            add_leg(here, nxt, arrive)
            t_now = arrive + sc.unload_min(site, unload_kg(sc, stop.unload))
            here = nxt
        ready_to_leave = t_now
        prev = (k, trip)
    if prev is not None:
        pk, ptrip = prev
        back = int(minutes[here, base])
        if back >= UNREACHABLE:
            out.issues.append(DayIssue("unreachable", f".trips[{pk}]",
                                       f"no path back to the base {vehicle.base}"))
            out.end_min = ptrip.return_min
        else:
            earliest = (ready_to_leave or 0) + back
            if ptrip.return_min < earliest:
                out.issues.append(DayIssue("return_early", f".trips[{pk}]",
                                           f"returns {ptrip.return_min}, earliest {earliest}"))
            out.end_min = max(ptrip.return_min, earliest)
            add_leg(here, base, out.end_min)
    return _finish_figures(out, legs, rules)


def _finish_figures(out: DayFigures, legs: list[tuple[int, int]], rules: DriverRules
                    ) -> DayFigures:
    drive = longest = 0
    last_end: float = -math.inf
    for start, end in legs:
        if start - last_end >= rules.break_min:
            drive = 0
        drive += end - start
        longest = max(longest, drive)
        last_end = end
    out.longest_drive_min = longest
    out.km = round(out.km, 6)
    if rules.max_drive_min is not None and longest > rules.max_drive_min:
        out.issues.append(DayIssue("driving", "", f"drives {longest} min without a break of "
                                   f"{rules.break_min} min (limit {rules.max_drive_min})"))
    if (rules.max_shift_min is not None and out.start_min is not None
            and out.end_min is not None and out.end_min - out.start_min > rules.max_shift_min):
        out.issues.append(DayIssue("shift", "", f"shift {out.end_min - out.start_min} min "
                                   f"(from {out.start_min} to {out.end_min}), limit "
                                   f"{rules.max_shift_min}"))
    return out
