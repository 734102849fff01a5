"""Large-neighbourhood search over completed sites: ruin a few neighbouring sites, recreate.

One move: pick a seed site (the seeded random generator), remove the deliveries of some
covered sites around it (its nearest covered neighbours, or every site one vehicle serves),
then complete again, with randomised priorities, the removed sites and the uncovered sites
around the seed (``construct.construct``). The move is kept when it covers more people, or as
many with fewer vehicle-minutes (or, early in the search, a few more: a threshold that falls
to zero), otherwise rolled back. The number of moves and the work units they may spend
(``State.work``: sources, vehicles and trips scanned for candidate moves, which is what a move's
time grows with) are the work budget: the same scenario and seed always make the same
moves, however busy the machine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from dispatch.planning.construct import construct
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
    threshold: float = 0.02  # start of the accepted worsening in vehicle-minutes (share)
    per_item: int = 6  # sources considered per need of a site
    follow: int = 0  # neighbours keyed again after a site is completed (``construct``)


@dataclass
class SearchStats:
    """What the search did."""

    moves: int = 0
    improved: int = 0
    accepted: int = 0
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
        seed_site = candidates[rng.randrange(len(candidates))]
        removed = _ruin_sites(state, seed_site, near, rng, params)
        mark = state.mark()
        if removed:
            state.remove_sites(frozenset(removed))
        pool = list(dict.fromkeys(
            removed + [x for x in [seed_site, *near[seed_site][:params.around]]
                       if not state.is_covered(x)]))
        factors = {j: math.exp(rng.gauss(0.0, params.noise)) for j in pool}
        construct(state, pool, noise=factors.__getitem__, rank=rank, per_item=params.per_item,
                  follow=params.follow)
        after = (state.covered_people, state.busy_minutes())
        slack = params.threshold * (1.0 - it / params.moves) * before[1]
        if after[0] > before[0] or (after[0] == before[0] and after[1] <= before[1] + slack):
            stats.accepted += 1
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
