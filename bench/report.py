"""Build ``bench/RESULTS.md`` from the reports the benchmarks wrote in ``bench/results/``.

Each benchmark writes its own markdown page and a machine-readable summary (``inventory.json``,
``nantong.json``, ``solomon.jsonl``); this module puts the targets and the measured medians
side by side at the top and includes each page below (up to its hand-written notes, which
stay in the page itself).

Usage: python -m bench.report [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import describe
from bench.solomon import gap_summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
COVERAGE_TARGET = 0.98  # of the upper bound (issue: dispatch engine targets)
SOLOMON_TARGET = 2.0  # mean gap %, 10 s per instance
SECTIONS = (
    ("inventory.md", "Inventory service on PostgreSQL", "python -m bench.inventory --runs 3"),
    ("nantong.md", "Nantong dispatch scenarios", "python -m bench.nantong --runs 3"),
    ("families-held_out.md", "Scenario families (held-out half)",
     "python -m bench.families --split held_out"),
    ("unseen.md", "Unseen days: solved twice in two processes", "python -m bench.unseen"),
    ("solomon.md", "Solomon VRPTW: routing layer beside PyVRP",
     "python -m bench.solomon --runs 3 --out bench/results/solomon.md"),
    ("readiness.md", "Readiness on the seeded city", "python -m bench.readiness --runs 3"),
    ("exchange.md", "Provincial imports", "python -m bench.exchange --runs 3"),
    ("load.md", "Load test: several API processes and planning workers",
     "python -m bench.load --runs 1"),
    ("disaster_day.md", "Disaster day: re-plan while trucks are on the road",
     "python -m bench.disaster_day --runs 3"),
    ("fuzz.md", "Schema fuzzing: every operation, both databases",
     "python -m bench.fuzz --seconds 300 --label after"),
    ("queue_choice.md", "Job queue choice",
     "python bench/queue_choice.py --runs 3 (scratch venv with pgqueuer, see the script)"),
    ("ratelimit_store.md", "Rate-limit store",
     "python bench/ratelimit_store.py --runs 3 (with redis-py, see the script)"),
)


def _load_json(results: Path, name: str) -> Any:
    path = results / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _solomon_rows(results: Path) -> list[dict[str, Any]]:
    path = results / "solomon.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def glance(results: Path = RESULTS) -> list[str]:
    """The table of targets against measured medians, one row per figure."""
    lines = [
        "| benchmark | target | measured | reference measured in the same run | met |",
        "|---|---|---|---|---|",
    ]
    inventory = _load_json(results, "inventory.json")
    if inventory:
        one = next((w for w in inventory["writes"] if w["clients"] == 1), None)
        for w in inventory["writes"]:
            share = w["different_stock"] / w["pgbench_tps"] if w["pgbench_tps"] else 0.0
            if w["clients"] == 1:
                target, met = "≥ 50% of pgbench TPC-B", _mark(share >= 0.5)
            elif one is not None and w["clients"] <= (os.cpu_count() or 2):
                target = "different stock grows with clients up to the cores"
                met = _mark(w["different_stock"] > one["different_stock"])
            else:
                target, met = "report beside pgbench", "-"
            load = f", load {w['load_avg']:.1f}" if "load_avg" in w else ""
            lines.append(
                f"| ledger writes, {w['clients']} client(s) | {target} | "
                f"{w['same_stock']:.0f} moves/s same stock, {w['different_stock']:.0f} "
                f"different stock ({share:.0%} of pgbench) | pgbench TPC-B "
                f"{w['pgbench_tps']:.0f} tps{load} | {met} |"
            )
        reads = inventory["reads_ms"]
        lines.append(
            f"| GET /stock, {inventory['ledger_rows']:,} ledger rows | report p95 | "
            f"p50 {reads['stock_p50']:.1f} ms, p95 {reads['stock_p95']:.1f} ms | - | - |"
        )
    for row in _load_json(results, "nantong.json") or []:
        if row["variant"] != "default":
            continue
        share = row["coverage"] / row["bound"] if row["bound"] else 1.0
        in_time = row["target_s"] is None or row["solve_s"] <= row["target_s"]
        stress = row.get("stress", False)
        near_bound = stress or share >= COVERAGE_TARGET
        ok = near_bound and row["coverage"] >= row["baseline"] and in_time
        target = ("stress test: ≥ baseline (the bound ignores routing)" if stress
                  else f"≥ {COVERAGE_TARGET:.0%} of bound, ≥ baseline")
        if row["target_s"]:
            target += f", ≤ {row['target_s']:g} s"
        lines.append(
            f"| {row['scenario']} | {target} | coverage {row['coverage']:.2%} = {share:.1%} "
            f"of bound {row['bound']:.2%}; {row['solve_s']:.1f} s; {row['peak_mb']:.0f} MB; "
            f"checker {'ok' if row['all_checked'] else 'FAIL'} | greedy baseline "
            f"{row['baseline']:.2%} | {_mark(ok and row['all_checked'])} |"
        )
    families = _load_json(results, "families-held_out.json")
    for e in (families or {}).get("summary", []):
        new, today = e.get("new"), e.get("today")
        if not new:
            continue
        targets = e["targets"]
        if "mean_of_bound" in targets:
            target = "held out: mean ≥ 97% and worst ≥ 93% of the tighter bound"
        else:
            target = "held out: ≥ 1.3 x today's engine's people covered"
        target += "; ≥ baseline; 0 idle while coverable"
        measured = (f"mean {new['mean_of_bound']:.1%}, worst {new['worst_of_bound']:.1%} of "
                    f"bound; {new['people_covered']:,} people; {new['idle']} idle; "
                    f"{new['below_baseline']} below baseline; max {new['max_s']:.0f} s"
                    + (f" wall ({new['max_cpu_s']:.0f} s CPU), {new['time_capped']} of "
                       f"{e['scenarios']} cut by the wall cap" if "max_cpu_s" in new else "")
                    + f"; {new['peak_mb']:.0f} MB")
        reference = (f"today's engine (v1 twin): mean {today['mean_of_bound']:.1%} of bound, "
                     f"{today['people_covered']:,} people; greedy {e['baseline']:,}"
                     if today else f"greedy {e['baseline']:,}")
        lines.append(f"| family {e['family']} ({e['scenarios']} scenarios) | {target} | "
                     f"{measured} | {reference} | {_mark(all(targets.values()))} |")
    lines += _unseen_rows(results)
    lines += _readiness_rows(results)
    exchange = _load_json(results, "exchange.json")
    for row in (exchange or {}).get("backends", []):
        lines.append(
            f"| import {row['records']:,} stock records, {row['backend']} | < "
            f"{exchange['target_s']:g} s | first load {row['first_s']:.1f} s, update "
            f"{row['update_s']:.1f} s, replay {row['replay_s']:.1f} s | pgbench TPC-B "
            f"{row['pgbench_tps']:.0f} tps, load average {row['load_avg']:.1f} | "
            f"{_mark(row['first_s'] < exchange['target_s'] and row['check_ok'])} |")
    lines += _load_rows(results)
    lines += _disaster_rows(results)
    lines += _fuzz_rows(results)
    figures = gap_summary(_solomon_rows(results))
    if "ours" in figures:
        ours, ref = figures["ours"], figures.get("pyvrp")
        reference = (f"PyVRP mean {ref['mean']:.2f}%, median {ref['median']:.2f}%, worst "
                     f"{ref['worst']:.2f}%") if ref else "-"
        lines.append(
            f"| Solomon, {ours['instances']} instances, 10 s | mean gap ≤ {SOLOMON_TARGET:g}% | "
            f"mean {ours['mean']:.2f}%, median {ours['median']:.2f}%, worst "
            f"{ours['worst']:.2f}% (CPU share {ours['cpu_share']:.2f}) | {reference} | "
            f"{_mark(ours['mean'] <= SOLOMON_TARGET and not ours['invalid_runs'])} |"
        )
    return lines


def _unseen_rows(results: Path) -> list[str]:
    """Unseen days: every plan checked, identical from two processes, never below the
    baseline, no engine error."""
    unseen = _load_json(results, "unseen.json")
    if not unseen:
        return []
    s = unseen["summary"]
    ok = (s["errors"] == 0 and s["checked"] == s["same"] == s["days"]
          and s["below_baseline"] == 0)
    share = (f"; mean {s['mean_of_bound']:.1%}, worst {s['worst_of_bound']:.1%} of bound"
             if s["mean_of_bound"] is not None else "")
    return [f"| unseen days ({s['days']}: seeds outside the manifest) | every plan checked, the "
            f"same plan from two processes, ≥ baseline, no engine error | {s['checked']} "
            f"checked, {s['same']} identical, {s['below_baseline']} below baseline, "
            f"{s['errors']} errors; {s['at_bound']} at their bound{share} | greedy baseline "
            f"and LP bound of each plan | {_mark(ok)} |"]


def _fuzz_rows(results: Path) -> list[str]:
    """Schema fuzzing, per database: the run after the hardening beside the one before."""
    runs = _load_json(results, "fuzz.json") or {}
    after, before = runs.get("after"), runs.get("before")
    if not after:
        return []
    rows = []
    for backend, r in after["results"].items():
        b = (before or {}).get("results", {}).get(backend)
        reference = (f"before (main c9f0991, {before['seconds']:g} s): {b['requests']:,} "
                     f"requests, {b['server_errors']} 5xx, {b['schema_violations']} schema "
                     f"violations, {b['undocumented_status']} undocumented statuses"
                     if b and before else "-")
        ok = r["server_errors"] == 0 and r["schema_violations"] == 0
        rows.append(
            f"| schema fuzzing, {backend}, {after['seconds']:g} s | 0 5xx, 0 schema violations "
            f"| {r['requests']:,} requests, {r['server_errors']} 5xx, {r['schema_violations']} "
            f"schema violations, {r['undocumented_status']} undocumented statuses | "
            f"{reference} | {_mark(ok)} |")
    return rows


def _load_rows(results: Path) -> list[str]:
    """The load test's headline: 5xx, jobs finished exactly once, the ledger check."""
    runs = _load_json(results, "load.json")
    if not runs:
        return []
    r = runs[0]
    worst = max(row["p95_ms"] for row in r["routes"].values())
    once = r["exactly_once"] and r["jobs_succeeded"] == r["jobs"]
    met = _mark(r["http_5xx"] == 0 and once and r["relief_check_ok"])
    return [
        f"| load test: {r['users']} users, 4 API processes, 2 workers, {r['seconds']:.0f} s, "
        "kill -9 of a worker and an API process | 0 5xx, every job exactly once, "
        f"`relief check` green | {r['requests']:,} requests, {r['http_5xx']} 5xx, worst route "
        f"p95 {worst:.0f} ms; {r['jobs_succeeded']}/{r['jobs']} jobs once: {r['exactly_once']}; "
        f"check {'green' if r['relief_check_ok'] else 'FAILED'} | pgbench TPC-B 1 client "
        f"{r['pgbench_tps']:.0f} tps | {met} |"
    ]


def _disaster_rows(results: Path) -> list[str]:
    """The disaster day: re-optimising at +4 h against the from-scratch reference."""
    data = _load_json(results, "disaster_day.json")
    if not data:
        return []
    runs = data["runs"]

    def med(mode: str) -> float:
        return statistics.median(r[mode]["delivered_by_deadline"] for r in runs)

    share = statistics.median(r["of_reference"]["reoptimise"] for r in runs)
    keep = statistics.median(r["of_reference"]["keep"] for r in runs)
    return [
        f"| disaster day: +4 h, 3 closures, head counts +30 %, re-plan ({len(runs)} runs) | "
        f"re-optimise ≥ {data['target']:.0%} of the reference | re-optimise "
        f"{med('reoptimise'):,.0f} people delivered by the deadline = {share:.1%}; keeping "
        f"the approved trips {med('keep'):,.0f} = {keep:.1%} | from scratch, every truck "
        f"free at its true time: {med('reference'):,.0f} | {_mark(share >= data['target'])} |"]


def _readiness_rows(results: Path) -> list[str]:
    """Readiness: the library and one county against their targets, the advice's effect."""
    r = _load_json(results, "readiness.json")
    if not r:
        return []
    ref = r["reference"]
    same = ref["plan_covered"] == ref["readiness_covered"]
    rows = [
        f"| readiness, whole library ({r['scenarios']} scenarios) | < "
        f"{r['library_target_s'] / 60:g} min on 2 cores | {r['library_s'] / 60:.1f} min, "
        f"{r['library_peak_mb']:.0f} MB | dispatcher's plan of {ref['scenario']}: "
        f"{ref['wall_s']:.1f} s, {ref['plan_covered']:,} covered (readiness "
        f"{ref['readiness_covered']:,}) | "
        f"{_mark(r['library_s'] < r['library_target_s'] and same)} |",
        f"| readiness, one county ({r['county']}, {r['county_scenarios']} scenarios) | < "
        f"{r['county_target_s']:g} s | {r['county_s']:.1f} s | - | "
        f"{_mark(r['county_s'] < r['county_target_s'])} |",
    ]
    for a in r["advice"]:
        (before, who), (after, who_after) = a["worst_before"], a["worst_after"]
        rows.append(
            f"| advice, move {a['budget_t']:g} t, buy {a.get('purchase_t', 0):g} t | worst "
            "scenario up (engine-verified) | "
            f"{before:.1%} ({who}) → {after:.1%} ({who_after}), {a['tonnes_moved']:.1f} t in "
            f"{a['orders']} orders | - | {_mark(after >= before)} |")
    return rows


def section(page: Path) -> list[str]:
    """A benchmark's page, its headings moved under this page's level 2 and cut at its notes."""
    text = page.read_text(encoding="utf-8")
    text = text.split("<!--", 1)[0].rstrip()
    levels = [len(m.group(1)) for m in re.finditer(r"^(#+) ", text, flags=re.M)]
    shift = 3 - min(levels, default=3)
    return [re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + shift) + " ", line)
            for line in text.splitlines()]


def build() -> str:
    """The whole RESULTS.md page."""
    lines = [
        "# Benchmark results",
        "",
        f"Built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.report` from the "
        "pages each benchmark wrote in `bench/results/` (each page gives its own date, machine "
        "and command). Machine: " + describe() + ", shared with other jobs: every figure is "
        "a median of several runs, and each comparison's reference (pgbench, the greedy "
        "baseline and upper bound, PyVRP) was measured in the same benchmark run.",
        "",
        "Reproduce everything with `make bench` (`python -m bench`: about 20 min inventory, "
        "6 min Nantong, 45 min the held-out scenario families, 8 min the unseen days, 1 h "
        "Solomon with 3 runs per instance, about 40 min readiness, 10 min provincial "
        "imports, 8 min per load-test "
        "run, about 15 min the disaster day, 11 min schema fuzzing), or one part with "
        "`.venv/bin/python -m bench --only "
        "inventory|nantong|families|unseen|solomon|readiness|exchange|load|disaster_day|fuzz`.",
        "",
        "## At a glance",
        "",
        *glance(),
    ]
    for filename, title, command in SECTIONS:
        if not (RESULTS / filename).exists():
            continue
        lines += ["", f"## {title}", "", f"Page: [bench/results/{filename}](results/{filename})"
                  f" (with any notes and variant studies); reproduce: `.venv/bin/{command}`.",
                  "", *section(RESULTS / filename)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Write bench/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    args.out.write_text(build(), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
