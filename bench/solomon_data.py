"""Solomon VRPTW instances for the routing benchmark: parsing, scaling, BKS, checking.

Convention (the distance-only BKS convention of the exact-VRPTW literature, see
``/work/shared/bench/SOURCES.md``): every arc length is the Euclidean distance truncated to
one decimal; we scale by 10 so that everything is an integer: ``d = floor(10 * dist)``
computed exactly as ``isqrt(100 * (dx^2 + dy^2))``. Travel time equals distance; time
windows, service times and the horizon are scaled by 10 as well.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dispatch.planning.routing import RoutingProblem, Vehicle, Visit

DATA = Path("/work/shared/bench")
SOLOMON_DIR = DATA / "solomon"
BKS_CSV = DATA / "solomon_bks.csv"
SCALE = 10

#: Representative tuning subset: two instances from each of the six classes.
TUNING_SET = (
    "C101", "C106", "C201", "C205",
    "R101", "R109", "R201", "R208",
    "RC101", "RC106", "RC201", "RC207",
)  # fmt: skip


@dataclass(frozen=True)
class Instance:
    """A parsed Solomon instance (row 0 is the depot), unscaled."""

    name: str
    vehicles: int
    capacity: int
    x: np.ndarray
    y: np.ndarray
    demand: np.ndarray
    ready: np.ndarray
    due: np.ndarray
    service: np.ndarray

    @property
    def n_customers(self) -> int:
        """Number of customers (rows minus the depot)."""
        return len(self.x) - 1


def all_names() -> list[str]:
    """The 56 instance names in file order (C1, C2, R1, R2, RC1, RC2)."""
    return sorted(
        (p.stem for p in SOLOMON_DIR.glob("*.txt")),
        key=lambda n: (n.rstrip("0123456789"), int(n.lstrip("CR"))),
    )


def parse(name: str) -> Instance:
    """Parse ``<name>.txt`` (standard Solomon format, CRLF line endings)."""
    lines = [ln.strip() for ln in (SOLOMON_DIR / f"{name}.txt").read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    k = lines.index("VEHICLE")
    n_veh, cap = (int(v) for v in lines[k + 2].split())
    c = lines.index("CUSTOMER")
    rows = np.array([[int(v) for v in ln.split()] for ln in lines[c + 2 :]], dtype=np.int64)
    if rows.shape[1] != 7 or not (rows[:, 0] == np.arange(len(rows))).all():
        raise ValueError(f"{name}: unexpected customer table")
    return Instance(name, n_veh, cap, *(rows[:, j] for j in range(1, 7)))


def matrix(inst: Instance) -> np.ndarray:
    """Scaled, truncated distance (= travel time) matrix: floor(10 * euclid)."""
    dx = inst.x[:, None] - inst.x[None, :]
    dy = inst.y[:, None] - inst.y[None, :]
    sq = (dx * dx + dy * dy) * SCALE * SCALE
    out = np.floor(np.sqrt(sq.astype(np.float64))).astype(np.int64)
    # exact integer square root (guards against floating-point rounding at perfect squares)
    out -= (out * out > sq).astype(np.int64)
    out += ((out + 1) * (out + 1) <= sq).astype(np.int64)
    return out


def to_problem(inst: Instance, vehicles: int | None = None) -> RoutingProblem:
    """Distance-only VRPTW as a :class:`RoutingProblem`: all customers mandatory, up to
    ``vehicles`` (default: the instance's 25) identical vehicles at the depot, no fixed
    cost, scaled by 10."""
    m = matrix(inst)
    horizon = int(inst.due[0]) * SCALE
    visits = tuple(
        Visit(
            location=i,
            demand=(int(inst.demand[i]),),
            window=(int(inst.ready[i]) * SCALE, int(inst.due[i]) * SCALE),
            service=int(inst.service[i]) * SCALE,
        )
        for i in range(1, len(inst.x))
    )
    fleet = tuple(
        Vehicle(start=0, capacity=(inst.capacity,), earliest_start=0, latest_end=horizon)
        for _ in range(vehicles or inst.vehicles)
    )
    return RoutingProblem(time=m, distance=m, visits=visits, vehicles=fleet)


def bks() -> dict[str, tuple[float, int]]:
    """Distance-only BKS: name -> (distance, vehicles)."""
    out = {}
    with BKS_CSV.open() as f:
        for row in csv.DictReader(f):
            if row["objective_convention"] == "distance-only":
                out[row["instance"]] = (float(row["distance"]), int(row["vehicles"]))
    return out


def check_routes(inst: Instance, routes: list[list[int]]) -> tuple[int, list[str]]:
    """Independent check of customer routes (ids 1..n) under the scaled convention.

    Returns (scaled distance, violations): every customer exactly once, capacity, service
    start within [ready, due] (waiting allowed), back at the depot by its due time.
    """
    m = matrix(inst)
    errors = []
    seen: dict[int, int] = {}
    total = 0
    for r, route in enumerate(routes):
        if not route:
            continue
        load = int(inst.demand[route].sum())
        if load > inst.capacity:
            errors.append(f"route {r}: load {load} > {inst.capacity}")
        t = 0
        prev = 0
        for c in route:
            seen[c] = seen.get(c, 0) + 1
            total += int(m[prev, c])
            t = max(
                t + int(inst.service[prev]) * SCALE + int(m[prev, c]), int(inst.ready[c]) * SCALE
            )
            if t > int(inst.due[c]) * SCALE:
                errors.append(f"route {r}: customer {c} served at {t} > due")
            prev = c
        total += int(m[prev, 0])
        back = t + int(inst.service[prev]) * SCALE + int(m[prev, 0])
        if back > int(inst.due[0]) * SCALE:
            errors.append(f"route {r}: back at depot at {back} > due")
    missing = set(range(1, inst.n_customers + 1)) - set(seen)
    if missing:
        errors.append(f"customers not served: {sorted(missing)[:10]}")
    twice = [c for c, k in seen.items() if k > 1 or not 1 <= c <= inst.n_customers]
    if twice:
        errors.append(f"customers served twice or unknown: {twice[:10]}")
    return total, errors


#: Best-known routes of R101 from the CVRPLIB solution file (PyVRP/VRPLIB@8672055b:
#: tests/data/cvrplib/Vrp-Set-Solomon/R101.sol, "Cost 1637.7"), used to verify the
#: truncation convention: recomputed they must give exactly 16377 scaled units, feasibly.
R101_BKS_ROUTES = [
    [2, 21, 73, 41, 56, 4], [5, 83, 61, 85, 37, 93], [12, 76, 79, 3, 54, 24, 80],
    [14, 44, 38, 43, 13], [27, 69, 30, 51, 20, 32, 70], [28, 29, 78, 34, 35, 77],
    [31, 88, 7], [33, 81, 50, 68], [36, 47, 19, 8, 46, 17], [39, 23, 67, 55, 25],
    [40, 53, 26], [45, 82, 18, 84, 60, 89], [52, 6], [59, 99, 94, 96], [62, 11, 90, 10],
    [63, 64, 49, 48], [65, 71, 9, 66, 1], [72, 75, 22, 74, 58], [92, 42, 15, 87, 57, 97],
    [95, 98, 16, 86, 91, 100],
]  # fmt: skip


def verify_convention() -> str:
    """Recompute the R101 BKS routes; return a one-line verdict (raises if it disagrees)."""
    inst = parse("R101")
    total, errors = check_routes(inst, R101_BKS_ROUTES)
    full = 0.0
    for route in R101_BKS_ROUTES:
        path = [0, *route, 0]
        full += sum(
            math.hypot(inst.x[a] - inst.x[b], inst.y[a] - inst.y[b])
            for a, b in itertools.pairwise(path)
        )
    if total != 16377 or errors:
        raise AssertionError(f"R101 BKS recomputed as {total / SCALE}: {errors}")
    return (
        f"R101 BKS routes recomputed: {total / SCALE:.1f} with truncated arcs (file: 1637.7), "
        f"feasible under truncated times; full precision gives {full:.2f}"
    )
