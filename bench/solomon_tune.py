"""Parameter tuning harness for the routing layer on Solomon instances.

Usage::

    .venv/bin/python -m bench.solomon_tune --config NAME '{"metaheuristic": "..."}' \\
        [--config NAME2 '{...}'] [--instances C101,R101] [--time-limit 10] [--runs 2] \\
        [--out bench/results/solomon_tune.jsonl]
    .venv/bin/python -m bench.solomon_tune --summary bench/results/solomon_tune.jsonl

Each (config, instance, run) appends one JSON line: gap to the distance-only BKS, vehicles,
validity. Runs are sequential (one core). ``--summary`` prints mean/median/worst gap per
config and time limit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from bench.solomon_data import SCALE, TUNING_SET, bks, check_routes, parse, to_problem
from dispatch.planning.routing import RoutingParams, RoutingProblem, solve_routing


def run(
    configs: list[tuple[str, dict]], names: list[str], limit: float, runs: int, out: Path
) -> None:
    """Solve every instance with every config ``runs`` times; append JSON lines to ``out``."""
    best = bks()
    out.parent.mkdir(parents=True, exist_ok=True)
    for r in range(runs):
        for name in names:  # configs interleaved per instance: load changes hit all alike
            inst = parse(name)
            problem = to_problem(inst)
            for cname, cfg in configs:
                knobs = {k: v for k, v in cfg.items() if not k.startswith("_")}
                params = RoutingParams(time_limit_s=limit, **{**knobs, "seed": cfg.get("seed", r)})
                t0, c0 = time.monotonic(), time.process_time()
                res = solve_routing(mutate(problem, cfg), params)
                wall, cpu = time.monotonic() - t0, time.process_time() - c0
                routes = [[s.visit + 1 for s in t.stops] for ts in res.trips for t in ts]
                dist, errors = check_routes(inst, routes)
                ok = not errors and res.status in ("feasible", "optimal")
                gap = 100 * (dist / SCALE / best[name][0] - 1) if ok else None
                rec = {
                    "config": cname, "params": cfg, "instance": name, "run": r,
                    "limit": limit, "distance": dist / SCALE, "gap": gap,
                    "vehicles": res.vehicles_used, "valid": ok, "wall": round(wall, 2),
                    "cpu": round(cpu, 2),
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%S"),
                }  # fmt: skip
                with out.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                g = f"{gap:.2f}%" if gap is not None else "INVALID"
                print(f"{cname:24s} {name:6s} run{r} {dist / SCALE:9.1f} {g}", flush=True)


def mutate(problem: RoutingProblem, cfg: dict) -> RoutingProblem:
    """Switch on unused machinery to measure its overhead on the same instance:
    ``_max_trips`` (reload nodes), ``_optional`` (every customer optional with that
    penalty), ``_groups`` (groups of that many consecutive customers, group penalty =
    size * penalty; needs ``_optional``). The optimal plan is unchanged when penalties are
    large."""
    if "_max_trips" in cfg:
        vehicles = tuple(replace(v, max_trips=cfg["_max_trips"]) for v in problem.vehicles)
        problem = replace(problem, vehicles=vehicles)
    if "_optional" in cfg:
        pen = cfg["_optional"]
        size = cfg.get("_groups")
        visits = tuple(
            replace(s, penalty=pen, group=i // size if size else None)
            for i, s in enumerate(problem.visits)
        )
        groups = {g: size * pen for g in range(len(visits) // size + 1)} if size else {}
        problem = replace(problem, visits=visits, group_penalties=groups)
    return problem


def summary(path: Path, only: set[str] | None = None, markdown: bool = False) -> None:
    """Print mean/median/worst gap per (config, limit), over all runs in ``path``; with
    ``only``, restricted to those configs and to the instances all of them have solved."""
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    if only:
        rows = [r for r in rows if r["config"] in only]
        common = set.intersection(
            *({r["instance"] for r in rows if r["config"] == c} for c in only)
        )
        rows = [r for r in rows if r["instance"] in common]
    by: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for r in rows:
        by[(r["config"], r["limit"])].append(r)
    if markdown:
        print("| config | parameters | runs | instances | mean gap % | median % | worst % "
              "| invalid | CPU share |")  # fmt: skip
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print(f"{'config':28s} {'limit':>5s} {'n':>4s} {'inst':>4s} {'mean':>7s} {'median':>7s} "
              f"{'worst':>7s} {'invalid':>7s} {'cpu/wall':>8s}")  # fmt: skip
    for (c, lim), rs in sorted(by.items(), key=lambda kv: _mean(kv[1])):
        gaps = [r["gap"] for r in rs if r["valid"]]
        bad = sum(not r["valid"] for r in rs)
        inst = len({r["instance"] for r in rs})
        med = statistics.median(gaps) if gaps else float("nan")
        worst = max(gaps) if gaps else float("nan")
        if markdown:
            params = json.dumps(rs[0]["params"]).replace("|", "\\|")
            print(f"| {c} | `{params}` | {len(rs)} | {inst} | {_mean(rs):.2f} | {med:.2f} "
                  f"| {worst:.2f} | {bad} | {_cpu(rs):.2f} |")  # fmt: skip
        else:
            print(f"{c:28s} {lim:5.0f} {len(rs):4d} {inst:4d} {_mean(rs):7.2f} {med:7.2f} "
                  f"{worst:7.2f} {bad:7d} {_cpu(rs):8.2f}")  # fmt: skip


def _cpu(rs: list[dict]) -> float:
    """Share of the wall time the solver process actually got on a CPU (1.0 = a full core)."""
    cpu = [r["cpu"] / r["wall"] for r in rs if "cpu" in r and r["wall"] > 0]
    return statistics.fmean(cpu) if cpu else float("nan")


def _mean(rs: list[dict]) -> float:
    gaps = [r["gap"] for r in rs if r["valid"]]
    return statistics.fmean(gaps) if gaps else float("inf")


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", nargs=2, action="append", metavar=("NAME", "JSON"), default=[])
    ap.add_argument("--instances", default=",".join(TUNING_SET))
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench/results/solomon_tune.jsonl"))
    ap.add_argument("--summary", type=Path)
    ap.add_argument("--only", default="", help="with --summary: configs to compare")
    ap.add_argument("--markdown", action="store_true", help="with --summary: a markdown table")
    a = ap.parse_args()
    if a.summary:
        summary(a.summary, set(a.only.split(",")) - {""} or None, a.markdown)
        return
    configs = [(n, json.loads(j)) for n, j in a.config] or [("default", {})]
    run(configs, a.instances.split(","), a.time_limit, a.runs, a.out)


if __name__ == "__main__":
    main()
