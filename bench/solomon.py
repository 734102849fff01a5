"""Solomon VRPTW benchmark: our OR-Tools routing layer against PyVRP at the same time limit.

Run::

    .venv/bin/python -m bench.solomon [--time-limit 10] [--instances C101,R101] [--runs N] \\
        [--params '{"first_solution": "SAVINGS"}'] [--out bench/results/solomon.md]

Distance-only objective (minimise total distance, up to 25 vehicles, every customer
mandatory), arcs truncated to one decimal and scaled by 10 (see ``bench/solomon_data.py``),
compared with the distance-only BKS of ``/work/shared/bench/solomon_bks.csv``. Each solution
is validated independently (capacity, time windows, every customer exactly once) before it
is reported. The two solvers run one after the other, never at the same time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import pyvrp
from pyvrp.stop import MaxRuntime

from bench.machine import describe
from bench.pages import write_keeping_notes
from bench.solomon_data import (
    SCALE,
    Instance,
    all_names,
    bks,
    check_routes,
    matrix,
    parse,
    to_problem,
    verify_convention,
)
from dispatch.planning.routing import RoutingParams, solve_routing


@dataclass(frozen=True)
class Outcome:
    """One solver run: customer routes (ids 1..n), wall and CPU seconds, status."""

    routes: list[list[int]]
    wall: float
    cpu: float
    status: str


NOTES_MARKER = "<!-- tuning notes: kept when the table above is regenerated -->"


def solve_ours(inst: Instance, params: RoutingParams) -> Outcome:
    """Solve with dispatch.planning.routing."""
    t0, c0 = time.monotonic(), time.process_time()
    res = solve_routing(to_problem(inst), params)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    routes = [[s.visit + 1 for s in t.stops] for ts in res.trips for t in ts]
    return Outcome(routes, wall, cpu, res.status)


def solve_pyvrp(inst: Instance, limit: float, seed: int) -> Outcome:
    """Solve the same scaled instance with PyVRP (MaxRuntime stopping criterion)."""
    m = matrix(inst)
    horizon = int(inst.due[0]) * SCALE
    locs = [pyvrp.Location(x=int(inst.x[i]), y=int(inst.y[i])) for i in range(len(inst.x))]
    clients = [
        pyvrp.Client(
            location=i,
            delivery=[int(inst.demand[i])],
            service_duration=int(inst.service[i]) * SCALE,
            tw_early=int(inst.ready[i]) * SCALE,
            tw_late=int(inst.due[i]) * SCALE,
        )
        for i in range(1, len(inst.x))
    ]
    depot = pyvrp.Depot(location=0, tw_early=0, tw_late=horizon)
    vtype = pyvrp.VehicleType(
        num_available=inst.vehicles, capacity=[inst.capacity], tw_early=0, tw_late=horizon
    )
    data = pyvrp.ProblemData(locs, clients, [depot], [vtype], [m], [m])
    t0, c0 = time.monotonic(), time.process_time()
    res = pyvrp.solve(data, MaxRuntime(limit), seed=seed, collect_stats=False, display=False)
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    sol = res.best
    routes = [[a.idx + 1 for a in r.schedule() if a.is_client()] for r in sol.routes()]
    return Outcome(routes, wall, cpu, "feasible" if sol.is_feasible() else "infeasible")


def machine() -> str:
    """One line describing the machine (cores, CPU model, Python, library versions)."""
    import ortools

    return describe(f"OR-Tools {ortools.__version__}", f"PyVRP {metadata.version('pyvrp')}",
                    "shared machine (other jobs may run)")


def run(
    names: list[str], limit: float, runs: int, params: RoutingParams, log: Path, cmd: str
) -> list[dict]:
    """Solve every instance ``runs`` times with both solvers, sequentially; validate each
    solution; append one JSON line per (instance, run, solver) to ``log``."""
    best = bks()
    rows = []
    log.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        inst = parse(name)
        for r in range(runs):
            ours = solve_ours(inst, RoutingParams(**{**asdict(params), "seed": r}))
            theirs = solve_pyvrp(inst, limit, seed=r)
            for solver, out in (("ours", ours), ("pyvrp", theirs)):
                dist, errors = check_routes(inst, out.routes)
                valid = not errors and out.status in ("feasible", "optimal")
                row = {
                    "instance": name, "run": r, "solver": solver, "limit": limit,
                    "distance": dist / SCALE, "vehicles": sum(1 for x in out.routes if x),
                    "valid": valid, "errors": errors[:3], "wall": round(out.wall, 2),
                    "cpu": round(out.cpu, 2), "runs": runs, "cmd": cmd,
                    "params": asdict(params), "date": dt.date.today().isoformat(),
                    "gap": 100 * (dist / SCALE / best[name][0] - 1) if valid else None,
                }  # fmt: skip
                rows.append(row)
                with log.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                g = f"{row['gap']:6.2f}%" if valid else "INVALID " + "; ".join(errors[:2])
                print(f"{name:6s} run{r} {solver:5s} {dist / SCALE:8.1f} {g}", flush=True)
    return rows


def gap_summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per solver: instances solved, mean / median / worst of the per-instance median gaps
    (percent), invalid runs and mean CPU share, from the JSON-lines rows of one run."""
    names = list(dict.fromkeys(r["instance"] for r in rows))
    result: dict[str, dict[str, float]] = {}
    for solver in ("ours", "pyvrp"):
        mine = [r for r in rows if r["solver"] == solver]
        if not mine:
            continue
        gaps = []
        for name in names:
            ok = [r["gap"] for r in mine if r["instance"] == name and r["valid"]]
            if ok:
                gaps.append(statistics.median(ok))
        share = [r["cpu"] / r["wall"] for r in mine if r["wall"] > 0]
        result[solver] = {
            "instances": len(gaps),
            "mean": statistics.fmean(gaps) if gaps else float("nan"),
            "median": statistics.median(gaps) if gaps else float("nan"),
            "worst": max(gaps, default=float("nan")),
            "invalid_runs": sum(1 for r in mine if not r["valid"]),
            "cpu_share": statistics.fmean(share) if share else float("nan"),
        }
    return result


def markdown(rows: list[dict]) -> str:
    """The results section: per-instance table and summary statistics (run settings are
    read from the rows)."""
    limit, runs, cmd = rows[0]["limit"], rows[0]["runs"], rows[0]["cmd"]
    params, date = rows[0]["params"], rows[0]["date"]
    best = bks()
    names = list(dict.fromkeys(r["instance"] for r in rows))

    def pick(name: str, solver: str) -> list[dict]:
        return [r for r in rows if r["instance"] == name and r["solver"] == solver]

    out = [
        f"## Solomon VRPTW, distance-only, {limit:g} s per instance ({runs} run(s) each)",
        "",
        f"- date: {date}",
        f"- machine: {machine()}",
        f"- command: `{cmd}`",
        f"- our parameters: `{json.dumps(params)}`",
        "- convention: arcs truncated to one decimal (x10 integers), travel time = distance,"
        " all customers mandatory, at most 25 vehicles, no vehicle cost; gap = distance / "
        "distance-only BKS - 1. Every reported solution passed an independent check "
        "(capacity, windows, each customer exactly once). " + verify_convention(),
        "- the two solvers ran one after the other (never concurrently), each on one core; "
        "per-instance values are medians over runs",
        "",
        "| instance | BKS | BKS veh | ours | ours gap % | ours veh | PyVRP | PyVRP gap % "
        "| PyVRP veh |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        cells = [name, f"{best[name][0]:.1f}", str(best[name][1])]
        for solver in ("ours", "pyvrp"):
            ok = [r for r in pick(name, solver) if r["valid"]]
            if not ok:
                cells += ["invalid", "-", "-"]
                continue
            cells += [
                f"{statistics.median(r['distance'] for r in ok):.1f}",
                f"{statistics.median(r['gap'] for r in ok):.2f}",
                f"{statistics.median(r['vehicles'] for r in ok):.1f}",
            ]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "| solver | instances | mean gap % | median gap % | worst gap % | invalid runs "
            "| mean CPU share |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for solver, figures in gap_summary(rows).items():
        label = "ours (OR-Tools)" if solver == "ours" else f"PyVRP {metadata.version('pyvrp')}"
        out.append(
            f"| {label} | {figures['instances']} | {figures['mean']:.2f} | "
            f"{figures['median']:.2f} | {figures['worst']:.2f} | {figures['invalid_runs']} | "
            f"{figures['cpu_share']:.2f} |"
        )
    out.append(
        "\nCPU share = process CPU time / wall time of the solve (1.00 = a whole core); below 1"
        " the machine was busy with other jobs and the solver effectively had less than the"
        " nominal time."
    )
    families: dict[str, list[str]] = {}
    for name in names:
        fam = name[:-2]
        families.setdefault(fam, []).append(name)
    out += ["", "| family | ours mean gap % | PyVRP mean gap % |", "|---|---:|---:|"]
    for fam, members in families.items():
        cols = []
        for solver in ("ours", "pyvrp"):
            vals = [
                statistics.median(r["gap"] for r in pick(n, solver) if r["valid"])
                for n in members
                if any(r["valid"] for r in pick(n, solver))
            ]
            cols.append(f"{statistics.fmean(vals):.2f}" if vals else "-")
        out.append(f"| {fam} | {cols[0]} | {cols[1]} |")
    return "\n".join(out) + "\n"


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description="Solomon VRPTW: ours vs PyVRP")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--instances", default="all", help="comma-separated names or 'all'")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--params", default="{}", help="RoutingParams overrides as JSON")
    ap.add_argument("--out", type=Path, default=Path("bench/results/solomon.md"))
    ap.add_argument("--from-log", type=Path, help="re-render the markdown from a JSON-lines log")
    a = ap.parse_args()
    names = all_names() if a.instances == "all" else a.instances.split(",")
    params = RoutingParams(**{**json.loads(a.params), "time_limit_s": a.time_limit})
    print(verify_convention(), flush=True)
    log = a.out.with_suffix(".jsonl")
    if a.from_log:
        rows = [json.loads(ln) for ln in a.from_log.read_text().splitlines() if ln.strip()]
    else:
        cmd = ".venv/bin/python -m bench.solomon " + shlex.join(sys.argv[1:])
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")  # the log holds exactly the rows of this run
        rows = run(names, a.time_limit, a.runs, params, log, cmd)
    write_keeping_notes(a.out, markdown(rows), marker=NOTES_MARKER)
    print(f"wrote {a.out}" + ("" if a.from_log else f" and {log}"))


if __name__ == "__main__":
    main()
