"""The bounds on the scenario families, before and after issue 10 item 6 (tune half only).

For every scenario of the chosen split of ``bench/families.json`` (default ``tune``; the
held-out half is the engine benchmark's, run once by ``bench.families``), and for the extra
off-manifest 600-site days given with ``--extra-seed`` (one per family, to measure the
bound's CPU time where the plans get 120 s), in one run and one process:

* the flow bound's LP (``baseline.coverage_upper_bound``, ``solver="lp"``);
* the trip-time bound as before issue 10 item 6 (``trip_time_bound(tighten=False)``) and as
  now, both LP + MIP with ``--mip-nodes`` nodes (the families benchmark's setting, 50),
  with status and process CPU seconds.

Usage: python -m bench.bounds [--split tune] [--extra-seed 101] [--mip-nodes 50] [--out PATH]
Results: bench/results/bounds.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import describe
from bench.pages import write_keeping_notes

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "bench" / "families.json"
FAMILIES = ("stock-bound", "fleet-bound", "road-flood", "typhoon", "earthquake")


def measure(family: str, sites: int, seed: int, mip_nodes: int) -> dict[str, Any]:
    """The three bounds of one generated day, with the trip-time bounds' CPU seconds."""
    from dispatch.families import generate_family
    from dispatch.planning.baseline import coverage_upper_bound
    from dispatch.planning.bounds import trip_time_bound
    from dispatch.planning.network import build_network
    from dispatch.planning.problem import Scenario

    data, _ = generate_family(family, sites, seed)  # type: ignore[arg-type]
    sc = Scenario.model_validate(data)
    net = build_network(sc)
    row: dict[str, Any] = {"name": f"{family}-{sites}-s{seed}", "family": family,
                           "sites": sites, "seed": seed,
                           "load_avg": round(os.getloadavg()[0], 2),
                           "people": sum(s.people for s in sc.sites)}
    row["flow"] = coverage_upper_bound(sc, 10.0, network=net, solver="lp").people_bound
    for key, tighten in (("old", False), ("new", True)):
        c0 = time.process_time()
        b = trip_time_bound(sc, net, mip_nodes=mip_nodes, tighten=tighten)
        row[key] = {"people": b.people_bound, "status": b.status, "lp": round(b.lp_bound, 1),
                    "clusters": b.clusters, "variables": b.variables,
                    "cpu_s": round(time.process_time() - c0, 2)}
    return row


def render(rows: list[dict[str, Any]], args: argparse.Namespace, started: str) -> str:
    """The markdown page."""
    loads = [r["load_avg"] for r in rows]
    lines = [
        "# Coverage bounds on the scenario families (before / after issue 10 item 6)",
        "",
        f"Date: {started}. Machine: {describe()}; shared, `nice`d, one process.",
        "",
        f"Load average (1 min) at each scenario: {min(loads):.1f}-{max(loads):.1f} on 2 cores "
        "(CPU s is the process CPU time of the trip-time bound alone, LP + MIP).",
        "",
        f"Reproduce: `nice .venv/bin/python -m bench.bounds --split {args.split}"
        + "".join(f" --extra-seed {s}" for s in args.extra_seed)
        + f" --mip-nodes {args.mip_nodes}`. *old* = `trip_time_bound(tighten=False)` (the "
        "model before issue 10 item 6), *new* = today's; both LP + MIP with "
        f"{args.mip_nodes} nodes; *flow* = the flow bound's LP. Bounds in people.",
        "",
        "| scenario | people | flow | old trip bound | new trip bound | new - old | "
        "old CPU s | new CPU s | clusters |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        o, n = r["old"], r["new"]
        lines.append(
            f"| {r['name']}{' (extra)' if r.get('extra') else ''} | {r['people']:,} | "
            f"{r['flow']:,} | {o['people']:,} ({o['status']}) | {n['people']:,} "
            f"({n['status']}) | {n['people'] - o['people']:+,} | {o['cpu_s']} | {n['cpu_s']} "
            f"| {n['clusters']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure and write the page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["tune"], default="tune",
                        help="the held-out half is bench.families' (run once)")
    parser.add_argument("--extra-seed", type=int, action="append", default=[],
                        help="also a 600-site day per family with this seed (off-manifest)")
    parser.add_argument("--mip-nodes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1, help="accepted for `python -m bench`")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bounds.md")
    args = parser.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))["scenarios"]
    taken = {(r["family"], r["sites"], r["seed"]) for r in manifest}
    todo = [(r["family"], r["sites"], r["seed"], False) for r in manifest
            if r["split"] == args.split]
    for seed in args.extra_seed:
        for family in FAMILIES:
            if (family, 600, seed) in taken:
                raise SystemExit(f"{family}-600-s{seed} is a manifest scenario: pick another")
            todo.append((family, 600, seed, True))
    rows = []
    for family, sites, seed, extra in todo:
        row = measure(family, sites, seed, args.mip_nodes)
        row["extra"] = extra
        print(json.dumps(row), flush=True)
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n",
                                             encoding="utf-8")
    write_keeping_notes(args.out, render(rows, args, started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
