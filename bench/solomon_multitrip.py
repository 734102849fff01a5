"""Multi-trip model comparison on Solomon-derived instances (reload nodes vs vehicle copies).

Run::

    .venv/bin/python -m bench.solomon_multitrip [--time-limit 10] [--instances R201,RC201]
        [--vehicles 4] [--capacity 200] [--trips 6] [--reload 100] [--penalty 10000]

Each long-horizon Solomon instance (C2, R2, RC2) is turned into a multi-trip problem: a
small fleet of ``--vehicles`` trucks of ``--capacity`` that may each make ``--trips`` trips,
reloading for ``--reload`` (scaled time units) at the depot; every customer is optional
with penalty ``--penalty`` (scaled distance units), so the objective is distance plus
penalties of the dropped customers. Both multi-trip models of
``dispatch.planning.routing`` (``multi_trip="reload"`` and ``"copies"``) solve the same
instance with the same parameters, one after the other; every result is checked with
``check_routing_result``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

from bench.solomon_data import SCALE, parse, to_problem
from dispatch.planning.routing import RoutingParams, check_routing_result, solve_routing

DEFAULT_SET = ("C201", "C205", "R201", "R205", "RC201", "RC205")


def main() -> None:
    """Command-line entry point: prints one line per (instance, model) and a summary."""
    ap = argparse.ArgumentParser(description="reload nodes vs vehicle copies")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--instances", default=",".join(DEFAULT_SET))
    ap.add_argument("--vehicles", type=int, default=4)
    ap.add_argument("--capacity", type=int, default=200)
    ap.add_argument("--trips", type=int, default=6)
    ap.add_argument("--reload", type=int, default=100)
    ap.add_argument("--penalty", type=int, default=10000)
    ap.add_argument("--params", default="{}", help="RoutingParams overrides as JSON")
    a = ap.parse_args()
    base = RoutingParams(**{**json.loads(a.params), "time_limit_s": a.time_limit})
    objs: dict[str, list[float]] = {"reload": [], "copies": []}
    for name in a.instances.split(","):
        p = to_problem(parse(name), vehicles=a.vehicles)
        p = replace(
            p,
            visits=tuple(replace(s, penalty=a.penalty) for s in p.visits),
            vehicles=tuple(
                replace(v, capacity=(a.capacity,), max_trips=a.trips, reload_time=a.reload)
                for v in p.vehicles
            ),
        )
        for mode in ("reload", "copies"):
            t0 = time.monotonic()
            r = solve_routing(p, replace(base, multi_trip=mode))
            wall = time.monotonic() - t0
            errors = check_routing_result(p, r)
            trips = sum(len(t) for t in r.trips)
            objs[mode].append(r.objective / SCALE)
            print(
                json.dumps(
                    {
                        "instance": name,
                        "mode": mode,
                        "objective": r.objective / SCALE,
                        "distance": r.distance / SCALE,
                        "dropped": len(r.dropped),
                        "trips": trips,
                        "valid": not errors,
                        "status": r.status,
                        "wall": round(wall, 2),
                    }
                ),
                flush=True,
            )
    for mode, vals in objs.items():
        print(f"{mode}: mean objective {statistics.fmean(vals):.1f}")


if __name__ == "__main__":
    main()
