"""Planning from the command line: ``relief plan`` and ``relief scenario generate``.

Registered on the ``relief`` Typer app by relief/app/cli.py. Heavy imports (OR-Tools, the
planner) happen inside the commands, so other ``relief`` commands stay quick to start.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dispatch.planning.plan import Plan
    from dispatch.planning.problem import Scenario

scenario_app = typer.Typer(help="Planning scenarios (the planner's JSON input).",
                           no_args_is_help=True)

REASON_TEXT = {
    "unreachable": "no vehicle can get there by the deadline",
    "stock": "not enough stock within reach",
    "lead_time": "the stock exists, but its source is not ready in time",
    "fleet_time": "stock in reach, but not enough vehicle time to bring it",
    # contract-v1 plans
    "no_stock_in_reach": "not enough stock within reach",
    "no_fleet_capacity": "stock in reach, but no vehicle to bring it in time",
}


def plan_command(
    scenario_file: Annotated[Path | None, typer.Argument(
        metavar="SCENARIO.json", help="Scenario JSON (the planning contract)")] = None,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=0.1, help="Seconds for the whole solve (default: the scenario's "
        "policy.time_limit_s)")] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Where to write the plan JSON (default: SCENARIO.plan.json)")]
    = None,
    seed: Annotated[int, typer.Option(help="Random seed of the search")] = 0,
    timeline: Annotated[bool, typer.Option(help="Print every vehicle's trips")] = True,
    schema: Annotated[bool, typer.Option(
        "--schema", help="Print the JSON Schema of the planning contract (scenario and plan) "
        "and exit")] = False,
) -> None:
    """Plan deliveries for a scenario: print a summary and the vehicle timelines, write the
    plan JSON. ``--schema`` prints the contract's JSON Schema instead."""
    if schema:
        import json

        from dispatch.planning.schema import contract_schema

        sys.stdout.write(json.dumps(contract_schema(), ensure_ascii=False, indent=1) + "\n")
        return
    if scenario_file is None:
        raise typer.BadParameter("give a scenario file (or --schema)", param_hint="SCENARIO.json")

    from dispatch.planning.plan import check
    from dispatch.planning.problem import ScenarioError, load_scenario
    from dispatch.planning.solve import SolveParams, solve

    try:
        scenario = load_scenario(scenario_file)
    except FileNotFoundError:
        typer.echo(f"error: no such file: {scenario_file}", err=True)
        raise typer.Exit(2) from None
    except ScenarioError as exc:
        typer.echo(f"error: {scenario_file}: {exc}", err=True)
        raise typer.Exit(2) from None

    phase = {"name": ""}

    def progress(name: str, fraction: float) -> None:
        if name != phase["name"]:
            phase["name"] = name
            typer.echo(f"  ... {name}", err=True)

    plan = solve(scenario, SolveParams(time_limit_s=time_limit, seed=seed), progress=progress)
    report = check(plan, scenario)
    out = output or scenario_file.with_name(scenario_file.stem + ".plan.json")
    out.write_text(plan.model_dump_json(indent=1) + "\n", encoding="utf-8")
    typer.echo(render_summary(plan, scenario))
    if timeline:
        typer.echo(render_timeline(plan, scenario))
    typer.echo(f"checker: {'plan ok' if report.ok else 'VIOLATIONS'}")
    if not report.ok:
        typer.echo(str(report), err=True)
    typer.echo(f"plan written to {out}")
    if not report.ok:
        raise typer.Exit(1)


def _clock(onset: datetime, minute: int | None) -> str:
    """Local clock time of a minute since onset (``+1d`` when past midnight)."""
    if minute is None:
        return "-"
    t = onset + timedelta(minutes=minute)
    days = (t.date() - onset.date()).days
    return t.strftime("%H:%M") + (f" +{days}d" if days else "")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render_summary(plan: Plan, scenario: Scenario) -> str:
    """The readable summary: coverage beside the bound and the baseline, fill, what is
    missing where and why."""
    s = plan.summary
    onset = scenario.onset
    deadline = _clock(onset, scenario.deadline_min)
    lines = [
        f"plan for {plan.scenario}",
        f"  onset {onset.isoformat()}  deadline {deadline} (+{scenario.deadline_min} min)",
        f"  people covered by the deadline: {s.people_covered:,} of {s.people:,} = "
        f"{_pct(s.coverage)}  (upper bound {_pct(s.bound_coverage)}, "
        f"greedy baseline {_pct(s.baseline_coverage)})",
        f"  fill rate {_pct(s.fill_rate)}   last arrival {_clock(onset, s.latest_arrival_min)}"
        f"   {s.vehicles_used} vehicles, {s.distance_km:,.1f} km   "
        f"solved in {s.solve_s:.1f} s ({s.status})",
    ]
    if s.status_reason:
        lines.append(f"  status {s.status}: {s.status_reason}")
    if s.gap is not None:
        lines.append(f"  gap to the bound {100 * s.gap:.2f} points" + "".join(
            f"; {b.name} bound {_pct(b.coverage)}" for b in s.bounds or []))
    if s.needs:
        lines.append("  per need: " + ", ".join(
            f"{n.name or n.need} {_pct(n.coverage)}" for n in s.needs))
    if s.cost:
        lines.append(f"  cost {s.cost:,.2f}")
    short: dict[str, list[tuple[str, int | float, str, str]]] = defaultdict(list)
    for u in plan.unmet:
        unit = f" {u.unit}" if u.unit and u.unit != "unit" else ""
        short[u.site].append((u.item, u.qty, u.reason, unit))
    if short:
        names = {i.code: i.name or i.code for i in scenario.items}
        names.update({n.id: n.name or n.id for n in scenario.demand.needs.values()})
        people = scenario.site_map
        lines.append(f"  not covered: {len(short)} site(s)")
        order = sorted(short, key=lambda j: (-people[j].people, j))
        for j in order:
            reasons = sorted({r for _, _, r, _ in short[j]})
            missing = ", ".join(f"{names.get(c, c)} {q:,}{unit}" for c, q, _, unit in short[j])
            why = "; ".join(REASON_TEXT[r] for r in reasons)
            lines.append(f"    {j} ({people[j].name}, {people[j].people:,} people): "
                         f"short {missing} - {why}")
    else:
        lines.append("  every site is covered by the deadline")
    return "\n".join(lines)


def render_timeline(plan: Plan, scenario: Scenario) -> str:
    """Per vehicle, its trips in local clock time: load, stops (arrival), back home."""
    onset = scenario.onset
    lines = ["vehicle timelines (local time):"]
    for route in plan.routes:
        day = ""
        if route.start_min is not None:
            day = (f"  leaves base {_clock(onset, route.start_min)}, back "
                   f"{_clock(onset, route.end_min)}, {route.km or 0:,.1f} km, longest drive "
                   f"{route.longest_drive_min} min")
        lines.append(f"  {route.vehicle}{day}")
        for trip in route.trips:
            load = scenario.source_map[trip.source].load_min
            stops = ", ".join(f"{_clock(onset, st.arrive_min)} {st.site}" for st in trip.stops)
            lines.append(f"    load {_clock(onset, trip.depart_min - load)} at {trip.source}, "
                         f"leave {_clock(onset, trip.depart_min)} -> {stops} -> back "
                         f"{_clock(onset, trip.return_min)}")
    if not plan.routes:
        lines.append("  (no trips)")
    return "\n".join(lines)


@scenario_app.command("generate")
def generate_command(
    kind: Annotated[str | None, typer.Option(help="typhoon, flood or earthquake (contract v1)")]
    = None,
    family: Annotated[str | None, typer.Option(
        help="a benchmark family (contract v2): stock-bound, fleet-bound, road-flood, "
        "typhoon or earthquake")] = None,
    contract: Annotated[int, typer.Option(
        min=1, max=2, help="with --family: 1 writes the family scenario's v1 twin")] = 2,
    sites: Annotated[int, typer.Option(min=1, help="Number of affected sites")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same scenario)")] = 1,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Scenario file to write (default: print the JSON); a "
        "FILE.meta.json sidecar records how it was made")] = None,
    scale: Annotated[float, typer.Option(min=0.01, help="Multiply the synthetic head counts")]
    = 1.0,
    fleet: Annotated[float, typer.Option(
        min=0.01, max=1.0, help="Share of the seed fleet available (seeded sample of vehicles)"
    )] = 1.0,
) -> None:
    """Write a reproducible Nantong scenario from the seed data (synthetic head counts)."""
    import json

    from dispatch.families import FAMILIES, generate_family
    from dispatch.scenarios import KINDS, generate_scenario, write_scenario

    if (kind is None) == (family is None):
        raise typer.BadParameter("give exactly one of --kind and --family",
                                 param_hint="--kind/--family")
    if family is not None:
        if family not in FAMILIES:
            raise typer.BadParameter(f"must be one of {', '.join(FAMILIES)}",
                                     param_hint="--family")
        if scale != 1.0 or fleet != 1.0:
            raise typer.BadParameter("a family fixes its own scale and fleet",
                                     param_hint="--scale/--fleet")
        scenario, meta = generate_family(family, sites, seed,  # type: ignore[arg-type]
                                         contract=contract)
    else:
        if kind not in KINDS:
            raise typer.BadParameter(f"must be one of {', '.join(KINDS)}", param_hint="--kind")
        scenario, meta = generate_scenario(kind, sites, seed, scale=scale,  # type: ignore[arg-type]
                                            fleet=fleet)
    if output is None:
        sys.stdout.write(json.dumps(scenario, ensure_ascii=False, indent=1) + "\n")
        return
    side = write_scenario(scenario, meta, output)
    typer.echo(f"wrote {output} ({meta['sites']} sites, {meta['people']:,} people, synthetic "
               f"head counts) and {side}")
