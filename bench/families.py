"""Scenario-family benchmark: the engine on days it was not tuned on (issue 10, item 7).

The manifest ``bench/families.json`` lists 40 scenarios (5 families x 8 sizes from 30 to
600 sites, fixed seeds), half ``tune`` and half ``held_out``. Tune on the first half only
(``--split tune``); the figures reported in bench/RESULTS.md are the held-out half's.

For every scenario of the chosen split, in one run:

* the scenario (contract v2) and its v1 twin are generated (``dispatch.families``);
* references, deterministic: the flow bound's LP, the trip-time bound (LP, and its MIP
  under a node limit), the tighter of them; the greedy baseline and the checker's verdict;
* **the engine** (``dispatch.planning.solve``, this tree) on the v2 scenario, within the
  family's time limit, in its own process (peak RSS measured);
* **today's engine**: the engine as of commit ``7f659bf`` (before contract v2), extracted
  with ``git archive`` into a temporary directory and run in its own process on the **v1
  twin** (contract v1 cannot express bases, loading anywhere, driver rules, per-tonne
  unloading or substitutes: its people covered are measured under v1's rules, against the
  same people), checked by its own checker;
* for both plans: people covered, coverage / tighter bound, time, peak memory, median fill
  per vehicle class (van <= 2 t, medium <= 6 t, heavy), vehicles idle while coverable
  demand is unmet (``dispatch.planning.diagnostics``), and whether the engine fell below
  the greedy baseline.

Usage: python -m bench.families [--split tune|held_out|all] [--family NAME ...]
       [--engine new|today|both] [--limit-scale X] [--mip-nodes N] [--out PATH]
       [--params JSON]
Results: bench/results/families-<split>.md and .json (the held-out run feeds RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
MANIFEST = ROOT / "bench" / "families.json"
TODAY_COMMIT = "7f659bf"
MIP_NODES = 50
TARGETS = {  # held-out half: mean and worst coverage / tighter bound
    "stock-bound": (0.97, 0.93), "road-flood": (0.97, 0.93), "typhoon": (0.97, 0.93),
    "earthquake": (0.97, 0.93),
}
FLEET_GAIN = 1.30  # fleet-bound: people covered >= 1.3 x today's engine


def manifest() -> list[dict[str, Any]]:
    """The committed scenario list, checked: 40 scenarios, 20 per split, unique."""
    rows = json.loads(MANIFEST.read_text(encoding="utf-8"))["scenarios"]
    keys = {(r["family"], r["sites"], r["seed"]) for r in rows}
    splits = [r["split"] for r in rows]
    if len(rows) < 40 or len(keys) != len(rows) or splits.count("tune") != splits.count(
            "held_out"):
        raise SystemExit(f"{MANIFEST}: expected >= 40 unique scenarios, half tune, half "
                         "held_out")
    return rows


# -- child processes -----------------------------------------------------------------------


def _peak_child(cmd: list[str], env: dict[str, str] | None = None,
                cwd: Path = ROOT) -> dict[str, Any]:
    """Run ``cmd`` (which prints one JSON line last) in ``cwd`` in a fresh measuring process
    so that RUSAGE_CHILDREN holds that child only; returns its JSON with ``peak_mb``."""
    wrapper = [sys.executable, "-m", "bench.families", "--measure",
               json.dumps({"cmd": cmd, "cwd": str(cwd)})]
    out = subprocess.run(wrapper, cwd=cwd, capture_output=True, text=True, check=False,
                         env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _measure(spec: dict[str, Any]) -> int:
    out = subprocess.run(spec["cmd"], cwd=spec["cwd"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-3000:])
        return out.returncode
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["peak_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(json.dumps(row))
    return 0


def solve_new(path: str, limit: float, params: str) -> dict[str, Any]:
    """Solve a v2 scenario with this tree's engine; the plan is written beside it."""
    from dispatch.planning.plan import check
    from dispatch.planning.problem import load_scenario
    from dispatch.planning.solve import SolveParams, solve

    scenario = load_scenario(path)
    t0, c0 = time.perf_counter(), time.process_time()
    plan = solve(scenario, SolveParams(time_limit_s=limit, **json.loads(params)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    report = check(plan, scenario)
    Path(path).with_suffix(".plan.json").write_text(plan.model_dump_json(), encoding="utf-8")
    s = plan.summary
    return {"people_covered": s.people_covered, "coverage": s.coverage, "status": s.status,
            "status_reason": s.status_reason, "solve_s": s.solve_s, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "check": report.ok, "violations": [str(v) for v in report.violations[:5]],
            "fill_rate": s.fill_rate}


def solve_today(path: str, limit: float) -> dict[str, Any]:
    """Solve a v1 scenario with the engine of TODAY_COMMIT (imported from PYTHONPATH, set by
    the caller to the extracted tree), checked by that tree's own checker."""
    import dispatch.planning.solve as old

    if not old.__file__.startswith(os.environ.get("BENCH_TODAY_TREE", "\0")):
        raise SystemExit(f"today's engine imported from {old.__file__}, not the archive")
    from dispatch.planning.plan import check
    from dispatch.planning.problem import load_scenario

    scenario = load_scenario(path)
    t0, c0 = time.perf_counter(), time.process_time()
    plan = old.solve(scenario, old.SolveParams(time_limit_s=limit))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    report = check(plan, scenario)
    Path(path).with_suffix(".plan.json").write_text(plan.model_dump_json(), encoding="utf-8")
    s = plan.summary
    return {"people_covered": s.people_covered, "coverage": s.coverage, "status": s.status,
            "status_reason": None, "solve_s": s.solve_s, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "check": report.ok, "violations": [str(v) for v in report.violations[:5]],
            "fill_rate": s.fill_rate}


def extract_today(into: Path) -> Path:
    """``git archive`` of TODAY_COMMIT's planning package into ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", TODAY_COMMIT, "dispatch/__init__.py",
         "dispatch/planning"], cwd=ROOT, capture_output=True, check=True)
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


# -- analysis of one scenario -------------------------------------------------------------


def _klass(kg: float) -> str:
    return "van" if kg <= 2000 else "medium" if kg <= 6000 else "heavy"


def _diagnose(scenario_path: Path, plan_path: Path) -> dict[str, Any]:
    """Fill per vehicle class, idle vehicles while coverable, for a written plan."""
    from dispatch.planning.diagnostics import idle_while_coverable, trip_fills
    from dispatch.planning.network import build_network
    from dispatch.planning.plan import Plan
    from dispatch.planning.problem import load_scenario

    sc = load_scenario(scenario_path)
    plan = Plan.model_validate_json(plan_path.read_text(encoding="utf-8"))
    net = build_network(sc)
    fills: dict[str, list[float]] = {}
    for v, fill in trip_fills(sc, plan.routes):
        fills.setdefault(_klass(v.capacity_kg), []).append(fill)
    idle = idle_while_coverable(sc, plan.routes, net)
    return {"fill": {k: round(statistics.median(x), 4) for k, x in sorted(fills.items())},
            "idle": idle.count, "idle_examples": [list(e) for e in idle.examples[:3]],
            "vehicles_used": sum(1 for r in plan.routes if r.trips)}


def references(path: Path, mip_nodes: int) -> dict[str, Any]:
    """Bounds and the greedy baseline of a v2 scenario (deterministic)."""
    from dispatch.planning.baseline import coverage_upper_bound, greedy_baseline
    from dispatch.planning.bounds import trip_time_bound
    from dispatch.planning.network import build_network
    from dispatch.planning.plan import check
    from dispatch.planning.problem import load_scenario

    sc = load_scenario(path)
    net = build_network(sc)
    t0 = time.perf_counter()
    flow = coverage_upper_bound(sc, 10.0, network=net, solver="lp")
    trip = trip_time_bound(sc, net, mip_nodes=mip_nodes)
    bound_s = time.perf_counter() - t0
    base = greedy_baseline(sc, net)
    return {
        "people": base.summary.people,
        "flow_bound": flow.people_bound, "trip_bound": trip.people_bound,
        "trip_status": trip.status, "bound": min(flow.people_bound, trip.people_bound),
        "bound_s": round(bound_s, 2),
        "baseline": base.summary.people_covered, "baseline_check": check(base, sc, net).ok,
    }


def capped_params(params: str, limit: float, cap_scale: float) -> tuple[float, str]:
    """This tree's engine's wall-clock cap and SolveParams JSON under ``cap_scale``: the
    cap is ``limit x cap_scale``; when it is raised, the work budget stays that of ``limit``
    (``SolveParams.search_work``; a ``work`` given in ``params`` is kept)."""
    if cap_scale == 1.0:
        return limit, params
    from dispatch.planning.solve import SolveParams

    fields = json.loads(params)
    fields.setdefault("work", SolveParams(**fields).search_work(limit))
    return limit * cap_scale, json.dumps(fields)


def run_scenario(row: dict[str, Any], work: Path, today: Path | None, engines: set[str],
                 limit_scale: float, mip_nodes: int, params: str, cap_scale: float = 1.0
                 ) -> dict[str, Any]:
    """Everything measured on one manifest scenario. ``cap_scale``: this tree's engine gets
    its wall-clock cap that many times the time limit and the work budget of the limit
    itself (``SolveParams.search_work``), so that on a machine slower than the budget's
    sizing the budget, not the cap, ends its search; today's engine gets the limit."""
    from dispatch.families import generate_family

    name = f"{row['family']}-{row['sites']}-s{row['seed']}"
    out: dict[str, Any] = {**row, "name": name, "load_avg": round(os.getloadavg()[0], 2)}
    v2, meta = generate_family(row["family"], row["sites"], row["seed"])
    v1, _ = generate_family(row["family"], row["sites"], row["seed"], contract=1)
    p2, p1 = work / f"{name}.json", work / f"{name}.v1.json"
    p2.write_text(json.dumps(v2, ensure_ascii=False), encoding="utf-8")
    p1.write_text(json.dumps(v1, ensure_ascii=False), encoding="utf-8")
    limit = v2["policy"]["time_limit_s"] * limit_scale
    out.update(kind=meta["kind"], vehicles=meta["vehicle_units"], limit_s=limit,
               **references(p2, mip_nodes))
    if "new" in engines:
        cap, params = capped_params(params, limit, cap_scale)
        if cap_scale != 1.0:
            out["cap_s"] = cap
        new = _peak_child([sys.executable, "-m", "bench.families", "--solve-new", str(p2),
                           str(cap), params])
        new.update(_diagnose(p2, p2.with_suffix(".plan.json")))
        out["new"] = new
    if "today" in engines and today is not None:
        # run in the extracted tree, so that its `dispatch` is imported, and this tree's
        # `bench` after it
        env = {**os.environ, "PYTHONPATH": f"{today}{os.pathsep}{ROOT}",
               "BENCH_TODAY_TREE": str(today)}
        old = _peak_child([sys.executable, "-m", "bench.families", "--solve-today", str(p1),
                           str(limit)], env=env, cwd=today)
        old.update(_diagnose(p1, p1.with_suffix(".plan.json")))
        out["today"] = old
    return out


# -- report -------------------------------------------------------------------------------


def _share(r: dict[str, Any], engine: str) -> float | None:
    e = r.get(engine)
    if e is None:
        return None
    return e["people_covered"] / r["bound"] if r["bound"] else 1.0


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per family and split: mean and worst coverage / tighter bound per engine, time, peak
    memory, fills, idle vehicles, scenarios below the greedy baseline, targets."""
    out = []
    keys = sorted({(r["family"], r["split"]) for r in rows})
    for family, split in keys:
        rs = [r for r in rows if r["family"] == family and r["split"] == split]
        entry: dict[str, Any] = {"family": family, "split": split, "scenarios": len(rs)}
        for engine in ("new", "today"):
            shares = [s for r in rs if (s := _share(r, engine)) is not None]
            if not shares:
                continue
            es = [r[engine] for r in rs]
            fills: dict[str, list[float]] = {}
            for e in es:
                for k, f in e["fill"].items():
                    fills.setdefault(k, []).append(f)
            entry[engine] = {
                "mean_of_bound": statistics.mean(shares), "worst_of_bound": min(shares),
                "people_covered": sum(e["people_covered"] for e in es),
                "max_s": max(e["solve_s"] for e in es), "peak_mb": max(e["peak_mb"] for e in es),
                "max_cpu_s": max(e.get("cpu_s", float("nan")) for e in es),
                "time_capped": sum(1 for e in es if e["status"] == "time_capped"),
                "fill": {k: round(statistics.median(x), 3) for k, x in sorted(fills.items())},
                "idle": sum(e["idle"] for e in es), "idle_max": max(e["idle"] for e in es),
                "checked": all(e["check"] for e in es),
                "below_baseline": sum(1 for r in rs if r[engine]["people_covered"]
                                      < r["baseline"]),
                "statuses": sorted({str(e["status"]) for e in es}),
            }
        entry["people"] = sum(r["people"] for r in rs)
        entry["bound"] = sum(r["bound"] for r in rs)
        entry["baseline"] = sum(r["baseline"] for r in rs)
        entry["targets"] = _targets(family, entry)
        out.append(entry)
    return out


def _targets(family: str, e: dict[str, Any]) -> dict[str, Any]:
    new, today = e.get("new"), e.get("today")
    if new is None:
        return {}
    met: dict[str, Any] = {"never_below_baseline": new["below_baseline"] == 0,
                           "no_idle_while_coverable": new["idle"] == 0,
                           "checked": new["checked"]}
    if family in TARGETS:
        mean_t, worst_t = TARGETS[family]
        met["mean_of_bound"] = new["mean_of_bound"] >= mean_t
        met["worst_of_bound"] = new["worst_of_bound"] >= worst_t
    elif today is not None:
        met["gain_over_today"] = new["people_covered"] >= FLEET_GAIN * today["people_covered"]
    return met


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render(rows: list[dict[str, Any]], summary: list[dict[str, Any]], command: str,
           split: str) -> str:
    """The results page (markdown)."""
    import ortools

    lines = [
        f"# Scenario families ({split})",
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. Machine: "
        f"{describe(f'OR-Tools {ortools.__version__}')}; shared, runs sequential and `nice`d.",
        "",
        "Load average (1 min) at the start of each scenario: "
        + (f"{min(loads):.1f}-{max(loads):.1f}" if (loads := [r["load_avg"] for r in rows
                                                            if "load_avg" in r]) else "-")
        + " on 2 cores. The engines budget work, but the wall-clock cap still applies: "
        "*capped* counts plans whose search the cap cut short (status `time_capped`), and "
        "CPU s is the solve's process CPU time beside its wall time.",
        "",
        f"Reproduce: `{command}` (scenarios: `bench/families.json`, generated by "
        "`relief scenario generate --family F --sites N --seed K`). One run per scenario; "
        "each solve in its own process (peak memory = its maximum RSS). *of bound* = people "
        "covered / the tighter of the flow bound (LP) and the trip-time bound (LP + MIP "
        f"with {MIP_NODES} nodes); **today's engine** = commit `{TODAY_COMMIT}`, extracted "
        "by `git archive` and run in the same run on each scenario's **v1 twin** (contract "
        "v1 cannot express loading anywhere, enterprise yards, driver rules, per-tonne "
        "unloading or substitutes: its people covered are under v1's rules, for the same "
        "people).",
        "",
    ]
    caps = sorted({r["cap_s"] for r in rows if "cap_s" in r})
    if caps:
        lines += [
            "This tree's engine ran with its wall-clock cap raised "
            f"({', '.join(f'{c:g} s' for c in caps)}) "
            "and the work budget of the scenario's time limit (`--cap-scale`): the budget, "
            "not the cap, ended its search, as on a machine as fast as the budget's sizing; "
            "its time column is this machine's.",
            "",
        ]
    lines += [
        "| family | split | engine | n | people | bound | greedy baseline | covered | "
        "mean / worst of bound | vs today's | max s (CPU s) | capped | peak MB | "
        "fill van / medium / heavy | "
        "idle while coverable | below baseline | targets (held out) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: "
        "| --- | ---: | ---: | --- |",
    ]
    for e in summary:
        today = e.get("today")
        for engine, label in (("new", "engine"), ("today", f"today's ({TODAY_COMMIT}, v1 twin)")):
            x = e.get(engine)
            if not x:
                continue
            gain = (f"{x['people_covered'] / today['people_covered']:.2f}x"
                    if engine == "new" and today and today["people_covered"] else "-")
            fill = " / ".join(f"{x['fill'][k]:.2f}" if k in x["fill"] else "-"
                              for k in ("van", "medium", "heavy"))
            targets = ", ".join(f"{k} {'yes' if v else '**no**'}"
                                for k, v in e["targets"].items()) if engine == "new" else "-"
            lines.append(
                f"| {e['family']} | {e['split']} | {label} | {e['scenarios']} | "
                f"{e['people']:,} | {e['bound']:,} | {e['baseline']:,} | "
                f"{x['people_covered']:,} | {_pct(x['mean_of_bound'])} / "
                f"{_pct(x['worst_of_bound'])} | {gain} | {x['max_s']:.1f} "
                f"({x.get('max_cpu_s', float('nan')):.1f}) | {x.get('time_capped', '-')} | "
                f"{x['peak_mb']:.0f} | {fill} | {x['idle']} | {x['below_baseline']} | "
                f"{targets or '-'} |")
    lines += ["", "Every scenario:", "",
              "| scenario | split | people | flow bound | trip bound | baseline | engine | "
              "status | s (CPU) | MB | idle | today's | s (CPU) | idle | check |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: "
              "| ---: | ---: | --- |"]
    for r in rows:
        new, today = r.get("new"), r.get("today")
        checks = "ok" if all(x["check"] for x in (new, today) if x) and r["baseline_check"] \
            else "FAIL"
        lines.append(
            f"| {r['name']} | {r['split']} | {r['people']:,} | {r['flow_bound']:,} | "
            f"{r['trip_bound']:,} ({r['trip_status']}) | {r['baseline']:,} | "
            + (f"{new['people_covered']:,} | {new['status']} | {new['solve_s']:.1f} "
               f"({new.get('cpu_s', float('nan')):.1f}) | "
               f"{new['peak_mb']:.0f} | {new['idle']} | " if new else "- | - | - | - | - | ")
            + (f"{today['people_covered']:,} | {today['solve_s']:.1f} "
               f"({today.get('cpu_s', float('nan')):.1f}) | {today['idle']} | "
               if today else "- | - | - | ")
            + f"{checks} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--measure":
        return _measure(json.loads(argv[1]))
    if argv and argv[0] == "--solve-new":
        print(json.dumps(solve_new(argv[1], float(argv[2]), argv[3])))
        return 0
    if argv and argv[0] == "--solve-today":
        print(json.dumps(solve_today(argv[1], float(argv[2]))))
        return 0
    if argv and argv[0] == "--render":  # --render RESULTS.json SPLIT COMMAND: rebuild a page
        data = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        page = render(data["scenarios"], summarise(data["scenarios"]), argv[3], argv[2])
        write_keeping_notes(Path(argv[1]).with_suffix(".md"), page)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("tune", "held_out", "all"), default="tune")
    parser.add_argument("--family", action="append", default=[])
    parser.add_argument("--engine", choices=("new", "today", "both"), default="both")
    parser.add_argument("--limit-scale", type=float, default=1.0,
                        help="multiply every time limit (quick looks; report only 1.0)")
    parser.add_argument("--cap-scale", type=float, default=1.0,
                        help="this tree's engine: wall-clock cap x this, work budget of the "
                        "time limit (for a machine slower than the budget's sizing)")
    parser.add_argument("--mip-nodes", type=int, default=MIP_NODES)
    parser.add_argument("--params", default="{}", help="JSON of SolveParams fields")
    parser.add_argument("--runs", type=int, default=1, help="accepted for `python -m bench`")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = [r for r in manifest() if args.split in ("all", r["split"])
            and (not args.family or r["family"] in args.family)]
    engines = {"new", "today"} if args.engine == "both" else {args.engine}
    results = []
    with tempfile.TemporaryDirectory(prefix="relief-families-") as tmp:
        work = Path(tmp)
        today = extract_today(work / "today") if "today" in engines else None
        for row in rows:
            result = run_scenario(row, work, today, engines, args.limit_scale, args.mip_nodes,
                                  args.params, args.cap_scale)
            results.append(result)
            new, old = result.get("new"), result.get("today")
            print(f"{result['name']} ({row['split']}): bound {result['bound']:,} baseline "
                  f"{result['baseline']:,}"
                  + (f" engine {new['people_covered']:,} [{new['status']}] "
                     f"{new['solve_s']:.0f}s idle {new['idle']}" if new else "")
                  + (f" today {old['people_covered']:,} {old['solve_s']:.0f}s" if old else ""),
                  flush=True)
    summary = summarise(results)
    out = args.out or ROOT / "bench" / "results" / f"families-{args.split}.md"
    command = "nice .venv/bin/python -m bench.families " + " ".join(argv)
    write_keeping_notes(out, render(results, summary, command.strip(), args.split))
    out.with_suffix(".json").write_text(json.dumps({"summary": summary, "scenarios": results},
                                                   indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    print(f"wrote {out} and its .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
