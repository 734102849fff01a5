"""Nantong planning benchmark: the fixed scenarios in bench/scenarios/.

For each scenario (typhoon on the coast, 30 sites; flood along the Yangtze with closures, 150;
earthquake, 600; and two stress tests: the typhoon with 25 % and 15 % of the fleet, where the
trucks rather than the stock bind) and each variant of the solver parameters: coverage
against the upper bound and the greedy baseline, fill rate, solve time, peak memory and the
checker's verdict, as medians over ``--runs`` runs. Every solve runs in its own process
(OR-Tools allocates in C++): a measuring process starts the solving process and reads
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` once it has exited. Runs are sequential.

Usage: python -m bench.nantong [--runs 3] [--variant NAME=JSON ...] [--only NAME ...]
       [--out bench/results/nantong.md]
A variant is a JSON object of SolveParams fields, e.g. --variant short='{"moves":200}'.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.families import capped_params
from bench.machine import describe
from bench.pages import write_keeping_notes

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "typhoon-30": ROOT / "bench" / "scenarios" / "typhoon-30.json",
    "flood-150": ROOT / "bench" / "scenarios" / "flood-150.json",
    "earthquake-600": ROOT / "bench" / "scenarios" / "earthquake-600.json",
    # the typhoon with a quarter and with 15% of the fleet: trucks, not stock, bind
    "typhoon-30-fleet25": ROOT / "bench" / "scenarios" / "typhoon-30-fleet25.json",
    "typhoon-30-fleet15": ROOT / "bench" / "scenarios" / "typhoon-30-fleet15.json",
}
TARGET_S = {"flood-150": 30.0, "earthquake-600": 120.0}
STRESS = {"typhoon-30-fleet25", "typhoon-30-fleet15"}  # no target on the bound (see RESULTS)


def solve_one(path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Solve one scenario in this process and return the figures (run by --solve)."""
    from dispatch.planning.plan import check
    from dispatch.planning.problem import load_scenario
    from dispatch.planning.solve import SolveParams, solve

    scenario = load_scenario(path)
    t0 = time.perf_counter()
    plan = solve(scenario, SolveParams(**params))
    wall = time.perf_counter() - t0
    report = check(plan, scenario)
    s = plan.summary
    return {
        "people": s.people,
        "people_covered": s.people_covered,
        "coverage": s.coverage,
        "bound": s.bound_coverage,
        "baseline": s.baseline_coverage,
        "fill_rate": s.fill_rate,
        "solve_s": s.solve_s,
        "wall_s": round(wall, 3),
        "status": s.status,
        "check": report.ok,
        "violations": len(report.violations),
        "vehicles_used": s.vehicles_used,
        "distance_km": s.distance_km,
        "limit_s": params.get("time_limit_s") or scenario.policy.time_limit_s,
    }


def measure(path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Run one solve in a child process; add its peak RSS (RUSAGE_CHILDREN, this process
    having no other child)."""
    cmd = [sys.executable, "-m", "bench.nantong", "--solve", str(path), json.dumps(params)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"solve failed: {out.stderr[-2000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kilobytes on Linux
    row["peak_mb"] = round(kb / 1024, 1)
    return row


def run_measured(path: Path, params: dict[str, Any]) -> dict[str, Any]:
    """One run: a fresh measuring process, so RUSAGE_CHILDREN holds this solve only."""
    cmd = [sys.executable, "-m", "bench.nantong", "--measure", str(path), json.dumps(params)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"run failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _policy_limit(path: Path) -> float:
    """The scenario's own time limit (``policy.time_limit_s``)."""
    from dispatch.planning.problem import load_scenario

    return load_scenario(path).policy.time_limit_s


def _machine() -> str:
    import ortools

    return describe(f"OR-Tools {ortools.__version__}")


def summary(results: dict[tuple[str, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Median figures per scenario and variant, for ``bench/RESULTS.md``."""
    return [
        {
            "scenario": scenario,
            "variant": variant,
            "runs": len(rows),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            **{key: _median(rows, key) for key in
               ("bound", "baseline", "coverage", "fill_rate", "solve_s", "peak_mb")},
            "limit_s": rows[0]["limit_s"],
            "target_s": TARGET_S.get(scenario),
            "stress": scenario in STRESS,
            "all_checked": all(r["check"] for r in rows),
        }
        for (scenario, variant), rows in results.items()
    ]


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def render(results: dict[tuple[str, str], list[dict[str, Any]]], runs: int, command: str,
           variants: dict[str, dict[str, Any]]) -> str:
    """The results page (markdown)."""
    lines = [
        "# Nantong planning benchmark",
        "",
        f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. Machine: {_machine()}; "
        "shared with other engineers' jobs, runs sequential and `nice`d.",
        "",
        f"Reproduce: `{command}` (scenarios: `bench/scenarios/*.json`, made by "
        "`relief scenario generate`, see their `.meta.json`). Medians of "
        f"{runs} run(s); each solve in its own process; peak memory is that process's "
        "maximum RSS. Coverage = people fully served by the deadline / all people; "
        "'of bound' = coverage / upper bound.",
        "",
    ]
    caps = sorted({r["cap_s"] for rows in results.values() for r in rows if "cap_s" in r})
    if caps:
        lines += [f"The wall-clock cap was raised ({', '.join(f'{c:g} s' for c in caps)}) with "
                  "the work budget of each scenario's time limit (`--cap-scale`): the budget, "
                  "not the cap, ended each search; solve times are this machine's.", ""]
    for name, params in variants.items():
        if name != "default":
            lines.append(f"Variant `{name}`: `{json.dumps(params)}`")
    if len(variants) > 1:
        lines.append("")
    lines += [
        "| scenario | variant | people | bound | baseline | plan | of bound | fill | "
        "solve s (limit) | peak MB | check |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for (scenario, variant), rows in results.items():
        cov = _median(rows, "coverage")
        bound = _median(rows, "bound")
        lines.append(
            f"| {scenario} | {variant} | {rows[0]['people']:,} | {100 * bound:.2f}% | "
            f"{100 * _median(rows, 'baseline'):.2f}% | {100 * cov:.2f}% | "
            f"{100 * cov / bound if bound else 100:.1f}% | "
            f"{100 * _median(rows, 'fill_rate'):.2f}% | "
            f"{_median(rows, 'solve_s'):.1f} ({rows[0]['limit_s']:g}) | "
            f"{_median(rows, 'peak_mb'):.0f} | "
            f"{'ok' if all(r['check'] for r in rows) else 'FAIL'} |"
        )
    lines += ["", "Every run:", "", "| scenario | variant | run | covered | coverage | fill | "
              "solve s | wall s | peak MB | vehicles | km | status |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for (scenario, variant), rows in results.items():
        for k, r in enumerate(rows, start=1):
            lines.append(
                f"| {scenario} | {variant} | {k} | {r['people_covered']:,} | "
                f"{100 * r['coverage']:.2f}% | {100 * r['fill_rate']:.2f}% | {r['solve_s']:.1f} | "
                f"{r['wall_s']:.1f} | {r['peak_mb']:.0f} | {r['vehicles_used']} | "
                f"{r['distance_km']:,.0f} | {r['status']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--solve":
        print(json.dumps(solve_one(Path(argv[1]), json.loads(argv[2]))))
        return 0
    if argv and argv[0] == "--measure":
        print(json.dumps(measure(Path(argv[1]), json.loads(argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=JSON of SolveParams fields (repeatable)")
    parser.add_argument("--only", action="append", default=[], choices=sorted(SCENARIOS))
    parser.add_argument("--cap-scale", type=float, default=1.0,
                        help="wall-clock cap x this, work budget of the time limit (for a "
                        "machine slower than the budget's sizing; see bench.families)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nantong.md")
    args = parser.parse_args(argv)
    variants: dict[str, dict[str, Any]] = {}
    for spec in args.variant:
        name, _, text = spec.partition("=")
        variants[name] = json.loads(text)
    variants = variants or {"default": {}}
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for scenario, path in SCENARIOS.items():
        if args.only and scenario not in args.only:
            continue
        for variant, params in variants.items():
            rows = []
            fields, caps = params, {}
            if args.cap_scale != 1.0:
                limit = params.get("time_limit_s") or _policy_limit(path)
                cap, text = capped_params(json.dumps(params), limit, args.cap_scale)
                fields = {**json.loads(text), "time_limit_s": cap}
                caps = {"limit_s": limit, "cap_s": cap}
            for k in range(args.runs):
                row = run_measured(path, {**fields, "seed": params.get("seed", 0) + k})
                rows.append({**row, **caps})
                print(f"{scenario} {variant} run {k + 1}: coverage {row['coverage']:.4f} "
                      f"(bound {row['bound']:.4f}, baseline {row['baseline']:.4f}) fill "
                      f"{row['fill_rate']:.4f} {row['solve_s']:.1f}s {row['peak_mb']:.0f}MB "
                      f"check {'ok' if row['check'] else 'FAIL'}", flush=True)
            results[scenario, variant] = rows
    command = "nice .venv/bin/python -m bench.nantong " + " ".join(
        a if " " not in a and "{" not in a else f"'{a}'" for a in argv)
    write_keeping_notes(args.out, render(results, args.runs, command.strip(), variants))
    args.out.with_suffix(".json").write_text(
        json.dumps(summary(results), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and its .json summary")
    return 0


if __name__ == "__main__":
    sys.exit(main())
