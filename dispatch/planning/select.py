"""Which sites to complete: a linear model over stock, reach and vehicle time (GLOP).

When stock is short, which sites get it decides coverage: tents go a third of a household at
a time, a site reachable from only one depot must be served from it, and so on. This model
answers it for the whole scenario at once, before any route exists:

    maximise   sum_j people_j * y_j
    subject to sum_s x[s,j,i] >= demand[j,i] * y_j          every site j, item i
               sum_j x[s,j,i] <= stock[s,i]                  every source s, item i
               sum_{j,i} x[s,j,i] * w[s,i] * trip[s,j] <= H_s every source s
               0 <= y_j <= 1, x >= 0

``x[s,j,i]`` exists for the sources nearest to j that hold item i and can reach it by the
deadline (at least ``per_item``, and as many as hold half of what all sites need of i, so a
scarce item may come from any holder in reach); ``w[s,i]`` is one unit of i in truckloads
of s's average vehicle, ``trip[s,j]`` = load + out + stop + back, and ``H_s`` the
vehicle-minutes s's fleet has before the deadline plus one drive home each (the last trip
only has to arrive). It is a
guide for the construction (not a bound, not a plan): sites the LP covers whole come first.
GLOP is deterministic, so the same scenario always gives the same guide.
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from dispatch.planning.state import Static


@dataclass(frozen=True)
class Selection:
    """The LP's answer: ``y[j]`` in [0, 1] per site, the people it covers, its status, and
    per site the sources it draws from (``sources[j]``: source -> units)."""

    y: list[float]
    people: float
    status: str
    sources: list[dict[int, float]]

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
    y = [solver.NumVar(0.0, 1.0 if st.demand[j] and st.people[j] else 0.0, f"y{j}")
         for j in range(n)]
    cap_kg = [0.0] * st.n_src
    cap_m3 = [0.0] * st.n_src
    hours = [0.0] * st.n_src
    for s in range(st.n_src):
        ks = st.loaders[s]
        if not ks:
            continue
        cap_kg[s] = sum(st.cap_kg[k] for k in ks) / len(ks)
        cap_m3[s] = sum(st.cap_m3[k] for k in ks) / len(ks)
        for k in ks:
            hours[s] += max(0, st.deadline - max(st.start[k], st.ready[s]))
    stock_use: dict[tuple[int, int], list] = {}
    time_use: dict[int, list] = {}
    drive: dict[int, list[float]] = {}
    flows: dict[tuple[int, int, int], object] = {}
    total: dict[int, int] = {}
    for j in range(n):
        if st.people[j]:
            for i, q in st.demand[j].items():
                total[i] = total.get(i, 0) + q
    for j in range(n):
        need = st.demand[j]
        if not need or not st.people[j]:
            continue
        loc = st.n_src + j
        for i, q in need.items():
            # the nearest holders, at least per_item, and as many as it takes to hold half
            # of what all sites need (a scarce item: every holder in reach)
            chosen = []
            held = 0
            for s in st.reach[j]:
                have = st.stock0[s].get(i, 0)
                if have > 0:
                    chosen.append(s)
                    held += have
                    if len(chosen) >= per_item and held >= total[i] / 2:
                        break
            terms = []
            for s in chosen:
                x = solver.NumVar(0.0, float(min(q, st.stock0[s][i])), f"x{s}_{j}_{i}")
                flows[s, j, i] = x
                terms.append(x)
                stock_use.setdefault((s, i), []).append(x)
                w = max(st.kg[i] / cap_kg[s], st.m3[i] / cap_m3[s])
                trip = st.load_min[s] + st.base[s][loc] + st.service[j] + st.base[loc][s]
                time_use.setdefault(s, []).append((w * trip, x))
                drive.setdefault(s, []).append(st.base[loc][s])
            solver.Add(solver.Sum(terms) >= q * y[j])
    for (s, i), xs in stock_use.items():
        solver.Add(solver.Sum(xs) <= st.stock0[s][i])
    for s, uses in time_use.items():
        back = sum(drive[s]) / len(drive[s])  # a typical drive home: the last one is free
        budget = hours[s] + back * len(st.loaders[s])
        solver.Add(solver.Sum([c * x for c, x in uses]) <= budget)
    solver.Maximize(solver.Sum([st.people[j] * y[j] for j in range(n)]))
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return Selection([0.0] * n, 0.0, "unsolved", [{} for _ in range(n)])
    values = [v.solution_value() for v in y]
    sources: list[dict[int, float]] = [{} for _ in range(n)]
    for (s, j, _i), x in flows.items():
        v = x.solution_value()
        if v > 1e-9:
            sources[j][s] = sources[j].get(s, 0.0) + v
    return Selection(values, solver.Objective().Value(),
                     "optimal" if status == pywraplp.Solver.OPTIMAL else "feasible", sources)
