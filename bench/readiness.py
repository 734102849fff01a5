"""Readiness benchmark on the seeded city: the whole scenario library, one county on demand,
and pre-positioning advice for two budgets (the engine's before and after).

A fresh SQLite database with the Nantong seed (``relief db upgrade``, ``relief seed``) in a
temporary directory; every figure comes from the ``relief`` command in its own process, as an
operator would run it (the engine in worker processes, ``RELIEF_READINESS_PARALLEL`` = 2
scenarios at once), timed from outside; peak memory is the largest resident set among the
command and its worker processes (``RUSAGE_CHILDREN`` of a fresh measuring process), with the
CPU seconds they used and the machine's load average (the machine is shared: on a loaded
machine the engine's wall-clock time limits give it less CPU per scenario).

Reference, measured in the same run: a dispatcher's plan of the largest library scenario
(``relief incident plan`` on its exercise incident, same time limit), whose coverage must
equal that scenario's readiness figure.

Usage: python -m bench.readiness [--runs 3] [--budgets 5 5+20] [--time-limit 8]
       [--out bench/results/readiness.md]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import describe
from bench.pages import write_keeping_notes

ROOT = Path(__file__).resolve().parent.parent
LIBRARY_TARGET_S = 15 * 60.0
COUNTY_TARGET_S = 60.0
COUNTY = "320612"  # 通州区: the most scenarios (6) of any county


def relief(url: str, *args: str, check: bool = True) -> tuple[str, float]:
    """Run ``relief ARGS`` on the database; returns its output and wall seconds."""
    env = {**os.environ, "RELIEF_DATABASE_URL": url, "RELIEF_READINESS_PARALLEL": "2",
           "RELIEF_PLANNER": "subprocess"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "relief.app.cli", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if check and done.returncode != 0:
        raise RuntimeError(f"relief {' '.join(args)} failed: {done.stderr[-3000:]}")
    return done.stdout, wall


def measured(url: str, *args: str) -> dict[str, Any]:
    """Run ``relief ARGS`` from a fresh measuring process: wall seconds and peak MB."""
    cmd = [sys.executable, "-m", "bench.readiness", "--measure", url, *args]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"measure failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure(url: str, args: list[str]) -> dict[str, Any]:
    load = os.getloadavg()[0]
    text, wall = relief(url, *args)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_mb": round(usage.ru_maxrss / 1024, 1),
            "load": round((load + os.getloadavg()[0]) / 2, 1), "tail": text[-4000:]}


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def run_results(path: Path, run_id: int) -> list[dict[str, Any]]:
    """A run's results (scenario, people, covered, solve s, binding)."""
    with _db(path) as conn:
        rows = conn.execute(
            "SELECT s.code, r.people, r.people_covered, r.solve_s, r.binding, r.checker_ok "
            "FROM readiness_result r JOIN readiness_scenario s ON s.id = r.scenario_id "
            "WHERE r.run_id = ? ORDER BY s.code", (run_id,)).fetchall()
    return [{"scenario": c, "people": p, "covered": k, "solve_s": t,
             "binding": json.loads(b) if b else None, "checker_ok": bool(ok)}
            for c, p, k, t, b, ok in rows]


def last_id(path: Path, table: str) -> int:
    """The newest row id of a table."""
    with _db(path) as conn:
        return int(conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0)


def advice_row(path: Path, advice_id: int) -> dict[str, Any]:
    """An advice's objective, checks and orders."""
    with _db(path) as conn:
        status, objective, checks, error = conn.execute(
            "SELECT status, objective, checks, error FROM readiness_advice WHERE id = ?",
            (advice_id,)).fetchone()
        orders = conn.execute(
            "SELECT kind, quantity, weight_kg FROM readiness_advice_order WHERE advice_id = ?",
            (advice_id,)).fetchall()
    if status != "succeeded":
        raise RuntimeError(f"advice {advice_id} {status}: {error}")
    return {"objective": json.loads(objective), "checks": json.loads(checks),
            "orders": [{"kind": k, "quantity": q, "kg": w} for k, q, w in orders]}


def _worst(checks: list[dict[str, Any]], key: str) -> tuple[float, str]:
    share = {c["scenario"]: (c[key] / c["people"] if c["people"] else 1.0) for c in checks}
    name = min(share, key=lambda k: (share[k], k))
    return share[name], name


def _county_worst(checks: list[dict[str, Any]], key: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in checks:
        share = c[key] / c["people"] if c["people"] else 1.0
        out[c["county_code"]] = min(out.get(c["county_code"], 1.0), share)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--measure":
        print(json.dumps(_measure(argv[1], argv[2:])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budgets", nargs="+", default=["5", "5+20"],
                        help="tonnes to move, optionally +tonnes to buy or contract")
    parser.add_argument("--time-limit", type=float, default=8.0)
    parser.add_argument("--optimise-s", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "readiness.md")
    args = parser.parse_args(argv)
    limit = f"{args.time_limit:g}"
    with tempfile.TemporaryDirectory(prefix="relief-readiness-bench-") as tmp:
        path = Path(tmp) / "relief.db"
        url = f"sqlite:///{path}"
        relief(url, "db", "upgrade")
        relief(url, "seed")
        library, county = [], []
        for k in range(args.runs):
            row = measured(url, "readiness", "run", "--time-limit", limit)
            row["results"] = run_results(path, last_id(path, "readiness_run"))
            library.append(row)
            print(f"library run {k + 1}: {row['wall_s']:.0f} s, {row['peak_mb']:.0f} MB, "
                  f"{len(row['results'])} scenarios", flush=True)
        for k in range(args.runs):
            row = measured(url, "readiness", "run", "--county", COUNTY, "--time-limit", limit)
            row["results"] = run_results(path, last_id(path, "readiness_run"))
            county.append(row)
            print(f"county {COUNTY} run {k + 1}: {row['wall_s']:.1f} s, "
                  f"{row['peak_mb']:.0f} MB", flush=True)
        # reference: a dispatcher's plan of the largest scenario, same engine and limit
        largest = max(library[-1]["results"], key=lambda r: (r["people"], r["scenario"]))
        reference = _reference(url, path, largest["scenario"], limit)
        readiness_again = measured(url, "readiness", "run", "--county",
                                   largest["scenario"].split("-")[0], "--time-limit", limit)
        again = next(r for r in run_results(path, last_id(path, "readiness_run"))
                     if r["scenario"] == largest["scenario"])
        reference["readiness_covered"] = again["covered"]
        reference["readiness_wall_s"] = readiness_again["wall_s"]
        advice = []
        for spec in args.budgets:
            move, _, buy = spec.partition("+")
            budget, purchase = float(move), float(buy or 0)
            row = measured(url, "readiness", "advise", "--budget-t", f"{budget:g}",
                           "--purchase-t", f"{purchase:g}", "--time-limit", limit,
                           "--optimise-s", f"{args.optimise_s:g}")
            row.update(advice_row(path, last_id(path, "readiness_advice")))
            row["budget_t"], row["purchase_t"] = budget, purchase
            advice.append(row)
            before, who = _worst(row["checks"], "before_covered")
            after, who_after = _worst(row["checks"], "after_covered")
            print(f"advice {spec}: worst {before:.1%} ({who}) -> {after:.1%} "
                  f"({who_after}), {row['wall_s']:.0f} s", flush=True)
    command = "nice .venv/bin/python -m bench.readiness " + " ".join(argv)
    page = render(library, county, reference, advice, args, command.strip())
    write_keeping_notes(args.out, page)
    args.out.with_suffix(".json").write_text(json.dumps(summary(
        library, county, reference, advice), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} and its .json summary")
    return 0


def _reference(url: str, path: Path, scenario: str, limit: str) -> dict[str, Any]:
    """Open the scenario as an exercise incident and plan it as a dispatcher would."""
    code = scenario
    with _db(path) as conn:
        before = int(conn.execute("SELECT count(*) FROM incident").fetchone()[0])
    # the exercise incident through the same service the API and console call
    script = ("from relief.platform.db import Database;"
              "from relief.platform.settings import get_settings;"
              "from relief.platform.dbtypes import utcnow;"
              "from dispatch.readiness.service import open_exercise;"
              "db = Database.from_settings(get_settings());"
              f"print(db.write(lambda s: open_exercise(s, code={code!r}, onset=utcnow(), "
              "actor='bench')).id)")
    env = {**os.environ, "RELIEF_DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    incident = int(out.stdout.strip().splitlines()[-1])
    assert incident > before
    row = measured(url, "incident", "plan", str(incident), "--time-limit", limit)
    with _db(path) as conn:
        result = json.loads(conn.execute(
            "SELECT result FROM dispatch_plan WHERE incident_id = ? ORDER BY id DESC",
            (incident,)).fetchone()[0])
    return {"scenario": scenario, "wall_s": row["wall_s"], "peak_mb": row["peak_mb"],
            "people": result["summary"]["people"],
            "plan_covered": result["summary"]["people_covered"]}


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def summary(library: list[dict[str, Any]], county: list[dict[str, Any]],
            reference: dict[str, Any], advice: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and the advice effect, for bench/RESULTS.md."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": len(library),
        "scenarios": len(library[0]["results"]),
        "library_s": _median(library, "wall_s"),
        "library_cpu_s": _median(library, "cpu_s"),
        "load": _median(library, "load"),
        "library_peak_mb": _median(library, "peak_mb"),
        "library_target_s": LIBRARY_TARGET_S,
        "county": COUNTY,
        "county_scenarios": len(county[0]["results"]),
        "county_s": _median(county, "wall_s"),
        "county_target_s": COUNTY_TARGET_S,
        "reference": reference,
        "advice": [{"budget_t": a["budget_t"], "purchase_t": a["purchase_t"],
                    "wall_s": a["wall_s"],
                    "worst_before": _worst(a["checks"], "before_covered"),
                    "worst_after": _worst(a["checks"], "after_covered"),
                    "tonnes_moved": a["objective"]["tonnes_moved"],
                    "new_tonnes": a["objective"]["new_stock_tonnes"],
                    "orders": len(a["orders"])} for a in advice],
    }


def render(library: list[dict[str, Any]], county: list[dict[str, Any]],
           reference: dict[str, Any], advice: list[dict[str, Any]], args: argparse.Namespace,
           command: str) -> str:
    """The results page (markdown)."""
    import ortools

    last = library[-1]["results"]
    lines = [
        "# Readiness on the seeded city",
        "",
        f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}. Machine: "
        f"{describe(f'OR-Tools {ortools.__version__}')}; shared with other engineers' jobs.",
        "",
        f"Reproduce: `{command}`. A fresh seeded SQLite database; each figure is the `relief` "
        f"command timed from outside (engine {args.time_limit:g} s per scenario, in worker "
        "processes, 2 scenarios at once); medians of "
        f"{len(library)} run(s); peak MB = the largest resident set among the command and its "
        "workers.",
        "",
        "| what | target | measured (median) | runs |",
        "| --- | --- | ---: | --- |",
        f"| whole library, {len(last)} scenarios | < {LIBRARY_TARGET_S / 60:g} min | "
        f"{_median(library, 'wall_s') / 60:.1f} min, {_median(library, 'peak_mb'):.0f} MB, "
        f"{_median(library, 'cpu_s') / 60:.1f} CPU-min | "
        + ", ".join(f"{r['wall_s']:.0f} s (load {r['load']:g})" for r in library) + " |",
        f"| one county on demand ({COUNTY}, {len(county[0]['results'])} scenarios) | "
        f"< {COUNTY_TARGET_S:g} s | {_median(county, 'wall_s'):.1f} s, "
        f"{_median(county, 'peak_mb'):.0f} MB, {_median(county, 'cpu_s'):.0f} CPU-s | "
        + ", ".join(f"{r['wall_s']:.1f} s (load {r['load']:g})" for r in county) + " |",
        f"| reference: a dispatcher's plan of {reference['scenario']} (`relief incident plan` "
        "on its exercise incident) | covers what readiness shows | "
        f"{reference['plan_covered']:,} of {reference['people']:,} people, "
        f"{reference['wall_s']:.1f} s; readiness: {reference['readiness_covered']:,} | 1 |",
        "",
        "Every scenario (last library run): people covered within 10 hours, the engine's solve "
        "time, the binding reason.",
        "",
        "| scenario | people | covered | share | solve s | binding | checker |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in last:
        b = r["binding"]
        binding = f"{b['reason']}{': ' + b['item'] if b and b['item'] else ''}" if b else "-"
        share = r["covered"] / r["people"] if r["people"] else 1.0
        lines.append(f"| {r['scenario']} | {r['people']:,} | {r['covered']:,} | {share:.1%} | "
                     f"{r['solve_s']:.1f} | {binding} | {'ok' if r['checker_ok'] else 'FAIL'} |")
    lines += ["", "## Pre-positioning advice", "",
              "Evaluated 30 days ahead (stock expiring before then is lost unless rotated); "
              f"optimisation {args.optimise_s:g} s; before and after are the engine's plans "
              "of every scenario on the evaluation date's live data.", "",
              "| budget | worst scenario before | worst after | counties' worst share, before → "
              "after | moved | bought | orders | wall |",
              "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for a in advice:
        before, who = _worst(a["checks"], "before_covered")
        after, who_after = _worst(a["checks"], "after_covered")
        cb = _county_worst(a["checks"], "before_covered")
        ca = _county_worst(a["checks"], "after_covered")
        per = "; ".join(f"{c} {cb[c]:.0%}→{ca[c]:.0%}" for c in sorted(cb))
        obj = a["objective"]
        lines.append(f"| move {a['budget_t']:g} t, buy {a['purchase_t']:g} t | {before:.1%} "
                     f"({who}) | {after:.1%} ({who_after}) | {per} | "
                     f"{obj['tonnes_moved']:.1f} t, {obj['truck_km']:.0f} truck-km | "
                     f"{obj['new_stock_tonnes']:.1f} t | {len(a['orders'])} | "
                     f"{a['wall_s'] / 60:.1f} min |")
    for a in advice:
        lines += ["", f"Move {a['budget_t']:g} t, buy {a['purchase_t']:g} t: every scenario "
                  "(engine, people covered):",
                  "", "| scenario | people | before | after | model |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for c in sorted(a["checks"], key=lambda c: c["scenario"]):
            lines.append(f"| {c['scenario']} | {c['people']:,} | {c['before_covered']:,} | "
                         f"{c['after_covered']:,} | {c['predicted_covered']:,.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
