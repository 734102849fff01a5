"""Large-neighbourhood search over completed sites: ruin a few neighbouring sites, recreate.

One move: pick a seed site (the seeded random generator), remove the deliveries of some
covered sites around it (its nearest covered neighbours, or every site one vehicle serves),
then complete again, with randomised priorities, the removed sites and the uncovered sites
around the seed (``construct.construct``); or (``late_ruin``) cut one vehicle's day back so
that it can still load at a reserve that opens late, and complete first the uncovered sites
that lack what the reserve holds (``_ruin_late``). The move is kept when it covers more
people, or as many with fewer vehicle-minutes (or, early in the search, a few more: a
threshold that falls to zero), otherwise rolled back. The number of moves and the work
units they may spend (``State.work``: sources, vehicles and trips scanned for candidate
moves, which is what a move's time grows with) are the work budget: the same scenario and
seed always make the same moves, however busy the machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from dispatch.planning.construct import construct
from dispatch.planning.network import UNREACHABLE
from dispatch.planning.state import State


@dataclass(frozen=True)
class SearchParams:
    """Work budget and shape of the search (see ``SolveParams`` for the public fields)."""

    moves: int
    work: int | None = None  # work units (``State.work``) the moves may spend at most
    ruin_min: int = 2
    ruin_max: int = 10
    around: int = 16  # uncovered sites near the seed offered to the recreate
    noise: float = 0.3  # lognormal sigma of the recreate's priority noise
    vehicle_ruin: float = 0.2  # share of moves that ruin every site of one vehicle
    late_ruin: float = 0.0  # share of moves that free a vehicle for a late source (``_ruin_late``)
    threshold: float = 0.02  # start of the accepted worsening in vehicle-minutes (share)
    per_item: int = 6  # sources considered per need of a site
    follow: int = 0  # neighbours keyed again after a site is completed (``construct``)
    late_pair: int = 0  # the late ruin also frees this many vehicles serving the targets' area


@dataclass
class SearchStats:
    """What the search did."""

    moves: int = 0
    improved: int = 0
    accepted: int = 0
    late: int = 0  # moves that were late-reserve ruins (``_ruin_late``)
    late_accepted: int = 0
    stopped_early: bool = False


def search(state: State, params: SearchParams, seed: int,
           stop: Callable[[], bool], progress: Callable[[float], None] | None = None,
           rank: Callable[[int], int] | None = None) -> SearchStats:
    """Run ``params.moves`` ruin-and-recreate moves on ``state`` (kept in place).

    ``stop()`` is the wall-clock cap (checked between moves; the stats say when it cut the
    search short). ``rank(j)``: the recreate's site classes (``construct.construct``).
    """
    st = state.st
    rng = random.Random(seed)
    stats = SearchStats()
    candidates = [j for j in range(st.n_sites) if st.people[j] > 0 and st.need_qty[j]
                  and st.reach[j]]
    if not candidates or params.moves <= 0:
        return stats
    near = st.neighbours(max(params.ruin_max, params.around) * 2)
    state.forget()
    best = (state.covered_people, -state.busy_minutes())
    best_snap = state.snapshot()
    report_every = max(1, params.moves // 50)
    work_end = None if params.work is None else state.work + params.work
    for it in range(params.moves):
        if stop():
            stats.stopped_early = True
            break
        if work_end is not None and state.work >= work_end:
            break  # the work budget is spent (deterministic, like the number of moves)
        if progress is not None and it % report_every == 0:
            progress(it / params.moves)
        stats.moves += 1
        before = (state.covered_people, state.busy_minutes())
        mark = state.mark()
        late = _ruin_late(state, near, rng, params) if rng.random() < params.late_ruin else None
        if late is not None:
            removed, targets = late
            pool = list(dict.fromkeys(targets + removed))
        else:
            seed_site = candidates[rng.randrange(len(candidates))]
            removed = _ruin_sites(state, seed_site, near, rng, params)
            if removed:
                state.remove_sites(frozenset(removed))
            pool = list(dict.fromkeys(
                removed + [x for x in [seed_site, *near[seed_site][:params.around]]
                           if not state.is_covered(x)]))
        factors = {j: math.exp(rng.gauss(0.0, params.noise)) for j in pool}
        if late is not None:
            recreate_late(state, targets, removed, noise=factors.__getitem__, rank=rank,
                          per_item=params.per_item, follow=params.follow)
        else:
            construct(state, pool, noise=factors.__getitem__, rank=rank,
                      per_item=params.per_item, follow=params.follow)
        after = (state.covered_people, state.busy_minutes())
        slack = params.threshold * (1.0 - it / params.moves) * before[1]
        stats.late += late is not None
        if after[0] > before[0] or (after[0] == before[0] and after[1] <= before[1] + slack):
            stats.accepted += 1
            stats.late_accepted += late is not None
            state.forget()
            if (after[0], -after[1]) > best:
                best = (after[0], -after[1])
                best_snap = state.snapshot()
                stats.improved += 1
        else:
            state.rollback(mark)
            state.forget()
    if (state.covered_people, -state.busy_minutes()) < best:
        state.restore(best_snap)
    if progress is not None:
        progress(1.0)
    return stats


def recreate_late(state: State, targets: list[int], removed: list[int], *,
                  noise: Callable[[int], float], rank: Callable[[int], int] | None,
                  per_item: int, follow: int) -> None:
    """After ``_ruin_late``: complete the targets first (the uncovered sites that lack what
    the late source holds, while the freed vehicle can still get there), then the sites cut
    from its day, as usual."""
    construct(state, targets, noise=noise, rank=rank, per_item=per_item, follow=follow)
    construct(state, [j for j in dict.fromkeys(removed + targets) if not state.is_covered(j)],
              noise=noise, rank=rank, per_item=per_item, follow=follow)


def _ruin_late(state: State, near: list[list[int]], rng: random.Random,
               params: SearchParams) -> tuple[list[int], list[int]] | None:
    """Free one vehicle for a source that opens late (an agreement reserve ready hours into
    the day), for sites still uncovered that lack what it holds.

    Completing sites most people per vehicle-minute first fills the morning with cheap trips
    from the depots, and by the time a late reserve opens every vehicle allowed to load
    there is still on the road: its stock stays unused while sites wait for it. This ruin
    picks a late source with stock some uncovered site in its reach lacks, such a site and
    its nearest such neighbours (the targets), and among the vehicles allowed to load there
    the one whose day loses the fewest people when cut back to the trips after which it can
    still reach the source by a random time between its opening and the latest that still
    reaches the site by the deadline; the sites of the trips cut are removed
    (``late_pair``: and every site of that many vehicles, drawn among those serving the
    targets' nearest sites: what the targets lack beyond the reserve's goods comes from
    the depots, on trucks as busy). Returns (the sites removed, the targets), to be
    completed again targets first (``recreate_late``), or None when no late source has
    such a site.
    """
    st = state.st
    options: list[tuple[int, list[int]]] = []
    for s in sorted(st.late):
        stock = state.stock[s]
        if not any(q > 0 for q in stock.values()):
            continue
        lead = st.ready[s] + st.load_min[s]
        state.work += st.n_sites
        sites = [j for j in range(st.n_sites) if st.people[j] and not state.is_covered(j)
                 and s in st.reach[j] and lead + st.fastest[s][st.loc(j)] + st.service[j]
                 <= st.deadline and _lacks(state, j, stock)]
        if sites:
            options.append((s, sites))
    if not options:
        return None
    s, sites = options[rng.randrange(len(options))]
    seed = sites[rng.randrange(len(sites))]
    wanted = set(sites)
    targets = [seed, *[x for x in near[seed] if x in wanted][:params.around // 2]]
    cut = _cut_for(state, s, seed, rng)
    if cut is None:
        return None
    k, keep = cut
    removed = list(dict.fromkeys(j for t in state.trips[k][keep:] for j in t.sites))
    if params.late_pair:
        # the targets lack more than the late source holds: the rest comes from the depots,
        # on vehicles whose days are full too; free some serving the sites around them
        around = near[seed][:params.around]
        others = sorted({x for j in around for x in state.visitors[j] if x != k})
        for _ in range(params.late_pair):
            if not others:
                break
            other = others.pop(rng.randrange(len(others)))
            removed += [j for j in state.sites_of(other) if j not in removed]
    if removed:
        state.remove_sites(frozenset(removed))
    return removed, targets


def _cut_for(state: State, s: int, seed: int, rng: random.Random) -> tuple[int, int] | None:
    """The vehicle allowed to load at source s to be there by a random time between its
    opening and the latest that still reaches site ``seed`` by the deadline: the one whose
    day loses the fewest covered people (each counted once) when cut back to the trips after
    which it can. Returns (vehicle, trips kept), None when no vehicle can."""
    st = state.st
    loc = st.loc(seed)
    latest = st.deadline - st.service[seed] - st.load_min[s] - st.fastest[s][loc]
    by = st.ready[s] + round(rng.random() * max(0, latest - st.ready[s]))
    best: tuple[int, float, int, int] | None = None
    for k in st.loaders[s]:
        m = st.mins[k]
        if m[s][loc] >= UNREACHABLE:
            continue
        trips = state.trips[k]
        keep = 0  # an empty day leaves its base just in time
        for n, t in enumerate(trips):
            if t.after.ready + m[t.after.loc][s] > by:
                break
            keep = n + 1
        lost = sum(st.people[j] for j in {j for t in trips[keep:] for j in t.sites}
                   if state.is_covered(j))
        state.work += len(trips) + 1
        key = (lost, rng.random(), k, keep)
        if best is None or key < best:
            best = key
    return None if best is None else (best[2], best[3])


def _lacks(state: State, j: int, stock: dict[int, int]) -> bool:
    """Site j still lacks a need that an item of ``stock`` meets."""
    items = state.st.need_items[j]
    return any(stock.get(i, 0) > 0 for n in state.outstanding(j) for i, _ in items[n])


def _ruin_sites(state: State, seed_site: int, near: list[list[int]], rng: random.Random,
                params: SearchParams) -> list[int]:
    """Covered sites to remove: around the seed, or all sites of one vehicle near it."""
    st = state.st
    if rng.random() < params.vehicle_ruin:
        around = [seed_site, *near[seed_site][:params.around]]
        vehicles = sorted({k for j in around for k in state.visitors[j]})
        if vehicles:
            k = vehicles[rng.randrange(len(vehicles))]
            return [j for j in state.sites_of(k) if st.people[j] > 0][:params.ruin_max * 2]
    q = rng.randint(params.ruin_min, params.ruin_max)
    out = [j for j in [seed_site, *near[seed_site]] if state.is_covered(j)
           and st.people[j] > 0 and state.visitors[j]]
    return out[:q]
