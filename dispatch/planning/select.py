"""Which sites to complete: a linear model over stock, reach and vehicle time (GLOP).

When stock is short, which sites get it decides coverage: tents go a third of a household at
a time, a site reachable from only one depot must be served from it, and so on. This model
answers it for the whole scenario at once, before any route exists:

    maximise   sum_j people_j * y_j
    subject to sum_{s, i in n} e[n,i] * x[s,j,i] >= need[j,n] * y_j   every site j, need n
               sum_j x[s,j,i] <= stock[s,i]                           every source s, item i
               sum_{j,i} x[s,j,i] * w[s,i] * trip[s,j] <= H_s        every source s whose
                                                       vehicles load nowhere else
               sum_{s,j,i} x[s,j,i] * w[s,i] * trip[s,j] <= H       the whole fleet
               0 <= y_j <= 1, x >= 0

``x[s,j,i]`` (units of item i from source s to site j) exists for the sources nearest to j
that hold an item of the need and can reach j by the deadline (at least ``per_item``, and as
many as hold half of what all sites need of it, so a scarce need may come from any holder
in reach); ``e[n,i]`` is the item's equivalence for the need (1 for a single-item need);
``w[s,i]`` is one unit of i in truckloads of the average vehicle allowed at s,
``trip[s,j]`` = load + out + stop + back, and ``H_s`` / ``H`` the vehicle-minutes the
source's own vehicles / the whole fleet have before the deadline plus one drive home each
(the last trip only has to arrive). It is a guide for the construction (not a bound, not a
plan): sites the LP covers whole come first. GLOP is deterministic, so the same scenario
always gives the same guide.
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from dispatch.planning.state import Static


@dataclass(frozen=True)
class Selection:
    """The LP's answer: ``y[j]`` in [0, 1] per site, the people it covers and its status."""

    y: list[float]
    people: float
    status: str

    def rank(self, j: int) -> int:
        """0: the LP covers site j whole; 1: in part; 2: not at all."""
        if self.y[j] >= 1 - 1e-6:
            return 0
        return 1 if self.y[j] > 1e-6 else 2


def select(st: Static, per_item: int = 6) -> Selection:
    """Solve the selection LP for the scenario in ``st`` (see the module docstring)."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:  # pragma: no cover - GLOP ships with OR-Tools
        raise RuntimeError("OR-Tools has no GLOP solver")
    n = st.n_sites
    y = [solver.NumVar(0.0, 1.0 if st.need_qty[j] and st.people[j] else 0.0, f"y{j}")
         for j in range(n)]
    cap_kg = [0.0] * st.n_src
    cap_m3 = [0.0] * st.n_src
    own = [0.0] * st.n_src  # vehicle-minutes of vehicles that load only at s
    exclusive = [True] * st.n_src
    fleet = 0.0
    for s in range(st.n_src):
        ks = st.loaders[s]
        if ks:
            cap_kg[s] = sum(st.cap_kg[k] for k in ks) / len(ks)
            cap_m3[s] = sum(st.cap_m3[k] for k in ks) / len(ks)
    for k, sources in enumerate(st.allowed):
        hours = max(0, st.deadline - st.available[k])
        fleet += hours
        if len(sources) == 1:
            own[sources[0]] += hours
        else:
            for s in sources:
                exclusive[s] = False
    total: dict[tuple[int, int], float] = {}  # (need of a site's items, first item) -> qty
    for j in range(n):
        if st.people[j]:
            for need, q in st.need_qty[j].items():
                key = (need, min((i for i, _ in st.need_items[j][need]), default=-1))
                total[key] = total.get(key, 0.0) + q
    stock_use: dict[tuple[int, int], list] = {}
    time_use: dict[int, list] = {}
    drive: dict[int, list[int]] = {}
    for j in range(n):
        if not st.need_qty[j] or not st.people[j]:
            continue
        loc = st.n_src + j
        for need, q in st.need_qty[j].items():
            items = st.need_items[j][need]
            key = (need, min((i for i, _ in items), default=-1))
            chosen = []
            held = 0.0
            for s in st.reach[j]:
                have = sum(st.stock0[s].get(i, 0) * e for i, e in items)
                if have > 0:
                    chosen.append(s)
                    held += have
                    if len(chosen) >= per_item and held >= total[key] / 2:
                        break
            terms = []
            for s in chosen:
                for i, e in items:
                    have = st.stock0[s].get(i, 0)
                    if have <= 0:
                        continue
                    x = solver.NumVar(0.0, float(have), f"x{s}_{j}_{i}")
                    terms.append(e * x)
                    stock_use.setdefault((s, i), []).append(x)
                    w = max(st.kg[i] / cap_kg[s], st.m3[i] / cap_m3[s])
                    trip = (st.load_min[s] + st.base_min[s][loc] + st.service[j]
                            + st.base_min[loc][s])
                    time_use.setdefault(s, []).append((w * trip, x))
                    drive.setdefault(s, []).append(st.base_min[loc][s])
            solver.Add(solver.Sum(terms) >= q * y[j])
    for (s, i), xs in stock_use.items():
        solver.Add(solver.Sum(xs) <= st.stock0[s][i])
    everything = []
    credit = 0.0
    for s, uses in time_use.items():
        back = sum(drive[s]) / len(drive[s])  # a typical drive home: the last one is free
        everything += uses
        credit += back * len(st.loaders[s]) / max(1, len(st.loaders[s]))
        if exclusive[s]:
            budget = own[s] + back * len(st.loaders[s])
            solver.Add(solver.Sum([c * x for c, x in uses]) <= budget)
    if everything:
        homes = sum(1 for _ in st.allowed)
        solver.Add(solver.Sum([c * x for c, x in everything])
                   <= fleet + credit / max(1, len(time_use)) * homes)
    solver.Maximize(solver.Sum([st.people[j] * y[j] for j in range(n)]))
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return Selection([0.0] * n, 0.0, "unsolved")
    return Selection([v.solution_value() for v in y], solver.Objective().Value(),
                     "optimal" if status == pywraplp.Solver.OPTIMAL else "feasible")
