"""Unseen days: scenario-family days that no tuning and no other benchmark has used, each
solved twice in two processes.

The families' manifest (``bench/families.json``) fixes 40 days (seeds 1-8); this benchmark
generates others (``relief scenario generate`` families, seeds 101 and 102 by default),
solves each one twice, each solve in its own process with its own hash seed, in strict mode
(an engine error or a checker rejection raises), with the work budget of the day's time
limit under a wall-clock cap four times the limit (so the budget, not the clock, ends both
searches: ``bench.families.capped_params``). Per day: the plan passes the checker,
the two plans are identical (their solve times aside), the plan is not below the greedy
baseline, and its people covered against the plan's own tighter bound (LP).

Usage: python -m bench.unseen [--sizes 30,70] [--seeds 101,102] [--family F ...]
       [--out bench/results/unseen.md]
Results: the page and ``unseen.json`` beside it (read by ``bench.report``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.families import capped_params
from bench.machine import describe
from bench.pages import write_keeping_notes

ROOT = Path(__file__).resolve().parent.parent
CAP_SCALE = 4.0


def solve_child(scenario_path: str, plan_path: str) -> dict[str, Any]:
    """Solve one scenario file (strict, the work budget of its limit, the cap raised), write
    the plan, return its figures (run in a child process)."""
    from dispatch.planning.plan import check
    from dispatch.planning.problem import load_scenario
    from dispatch.planning.solve import SolveParams, solve

    scenario = load_scenario(scenario_path)
    limit = scenario.policy.time_limit_s
    cap, fields = capped_params('{"strict": true}', limit, CAP_SCALE)
    params = SolveParams(time_limit_s=cap, **json.loads(fields))
    c0 = time.process_time()
    plan = solve(scenario, params)
    cpu = time.process_time() - c0
    Path(plan_path).write_text(plan.model_dump_json(), encoding="utf-8")
    s = plan.summary
    bound = min(s.bounds or [], key=lambda b: b.people, default=None)
    return {"people": s.people, "covered": s.people_covered, "status": s.status,
            "bound": bound.people if bound else None,
            "baseline": round((s.baseline_coverage or 0.0) * s.people),
            "check": check(plan, scenario).ok, "cpu_s": round(cpu, 2), "limit_s": limit}


def _same_plan(a: Path, b: Path) -> bool:
    """The two plan files are equal but for their solve times."""
    plans = [json.loads(p.read_text(encoding="utf-8")) for p in (a, b)]
    for plan in plans:
        plan["summary"].pop("solve_s", None)
    return plans[0] == plans[1]


def run_day(family: str, sites: int, seed: int, work: Path) -> dict[str, Any]:
    """Generate one day, solve it in two processes (hash seeds 1 and 2), compare."""
    from dispatch.families import generate_family

    name = f"{family}-{sites}-s{seed}"
    scenario, _ = generate_family(family, sites, seed)
    path = work / f"{name}.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    row: dict[str, Any] = {"day": name, "family": family, "sites": sites, "seed": seed}
    solves = []
    for k in (1, 2):
        plan = work / f"{name}.plan{k}.json"
        out = subprocess.run([sys.executable, "-m", "bench.unseen", "--solve", str(path),
                              str(plan)], cwd=ROOT, capture_output=True, text=True,
                             check=False, env={**os.environ, "PYTHONHASHSEED": str(k)})
        if out.returncode != 0:
            said = out.stderr.strip().splitlines()
            row["error"] = said[-1][:300] if said else f"exit status {out.returncode}"
            return row
        solves.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = solves[0]
    row.update({k: first[k] for k in ("people", "covered", "status", "bound", "baseline",
                                      "limit_s")})
    row["cpu_s"] = [s["cpu_s"] for s in solves]
    row["same"] = _same_plan(work / f"{name}.plan1.json", work / f"{name}.plan2.json")
    row["check"] = all(s["check"] for s in solves)
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts over the days: errors, checked, identical, below the baseline, and coverage
    over the bound (mean and worst)."""
    ok = [r for r in rows if "error" not in r]
    shares = [r["covered"] / r["bound"] for r in ok if r.get("bound")]
    return {"days": len(rows), "errors": len(rows) - len(ok),
            "checked": sum(r["check"] for r in ok), "same": sum(r["same"] for r in ok),
            "below_baseline": sum(r["covered"] < r["baseline"] for r in ok),
            "at_bound": sum(r["covered"] >= r["bound"] for r in ok if r.get("bound")),
            "mean_of_bound": sum(shares) / len(shares) if shares else None,
            "worst_of_bound": min(shares) if shares else None}


def render(rows: list[dict[str, Any]], summary: dict[str, Any], command: str) -> str:
    """The markdown page."""
    lines = [
        "# Unseen days",
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {describe()}; shared.",
        "",
        f"Reproduce: `{command}`. Days generated by `relief scenario generate` with seeds "
        "outside `bench/families.json`; each solved twice, each solve in its own process "
        "(hash seeds 1 and 2), strict mode, the work budget of the day's time limit under a "
        f"cap of {CAP_SCALE:g} x the limit. *of bound* = people covered / the plan's tighter "
        "bound (LP). Targets: every plan checked, the two plans identical, none below the "
        "greedy baseline, no engine error.",
        "",
        f"{summary['days']} days: {summary['errors']} engine errors, {summary['checked']} "
        f"checked, {summary['same']} identical from two processes, "
        f"{summary['below_baseline']} below the baseline, {summary['at_bound']} at their bound"
        + (f"; mean {summary['mean_of_bound']:.1%}, worst {summary['worst_of_bound']:.1%} of "
           "bound" if summary["mean_of_bound"] is not None else "") + ".",
        "",
        "| day | people | bound | baseline | covered | of bound | status | CPU s (two solves; "
        "limit) | identical | check |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['day']} | | | | | | **error**: {r['error']} | | | |")
            continue
        share = f"{r['covered'] / r['bound']:.1%}" if r.get("bound") else "-"
        lines.append(
            f"| {r['day']} | {r['people']:,} | {r['bound']:,} | {r['baseline']:,} | "
            f"{r['covered']:,} | {share} | {r['status']} | {r['cpu_s'][0]:.1f}, "
            f"{r['cpu_s'][1]:.1f} ({r['limit_s']:g}) | {'yes' if r['same'] else '**no**'} | "
            f"{'ok' if r['check'] else '**FAIL**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the unseen days and write the page and its JSON."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--solve":
        print(json.dumps(solve_child(argv[1], argv[2])))
        return 0
    from dispatch.families import FAMILIES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="30,70", help="sites per day, comma-separated")
    parser.add_argument("--seeds", default="101,102", help="seeds, comma-separated")
    parser.add_argument("--family", action="append", choices=FAMILIES, default=[])
    parser.add_argument("--runs", type=int, help="accepted for `python -m bench`")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "unseen.md")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="unseen-") as tmp:
        for family in args.family or FAMILIES:
            for sites in sizes:
                for seed in seeds:
                    row = run_day(family, sites, seed, Path(tmp))
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    summary = summarise(rows)
    command = (f"nice .venv/bin/python -m bench.unseen --sizes {args.sizes} --seeds "
               f"{args.seeds}" + "".join(f" --family {f}" for f in args.family))
    write_keeping_notes(args.out, render(rows, summary, command))
    args.out.with_suffix(".json").write_text(
        json.dumps({"summary": summary, "rows": rows}, indent=1), encoding="utf-8")
    print(f"wrote {args.out} and its .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
