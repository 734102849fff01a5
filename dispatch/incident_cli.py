"""`relief incident ...`: the plan lifecycle from the command line (plan and show)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

import typer

from dispatch import service
from dispatch.execution import get_plan
from dispatch.flows import (
    PlanExecutor,
    PlanQueue,
    RunInCaller,
    TryLater,
    inline_planner,
    request_plan,
    worker_name,
)
from dispatch.jobs import PlanRunner
from relief.platform.db import Database
from relief.platform.settings import Settings, get_settings

app = typer.Typer(help="Incidents: plan from live stock and inspect the result.",
                  no_args_is_help=True)

# How `plan` queues and runs its job; the composition root (relief.app.cli) plugs in the one
# that knows provincial lead times and the PostgreSQL queue. The default runs the engine here.
def _in_process(db: Database, settings: Settings) -> tuple[PlanQueue, PlanExecutor]:
    return RunInCaller(), PlanExecutor(db, settings, owner=worker_name("cli"),
                                       planner=inline_planner)


runner_factory: Callable[[Database, Settings], tuple[PlanQueue, PlanExecutor]] = _in_process


def _database() -> Database:
    return Database.from_settings(get_settings())


@app.command("plan")
def plan(
    incident_id: Annotated[int, typer.Argument(help="Incident id")],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for the engine")]
    = 30.0,
    actor: Annotated[str, typer.Option(help="Who asks (recorded on the job)")] = "cli",
) -> None:
    """Plan what the incident still misses from live stock, like POST /incidents/{id}/plans."""
    settings = get_settings()
    db = _database()
    queue, executor = runner_factory(db, settings)
    job = db.write(lambda s: request_plan(s, incident_id=incident_id, time_limit_s=time_limit,
                                          actor=f"cli:{actor}", settings=settings,
                                          queue=queue))
    assert job.id is not None
    typer.echo(f"planning job {job.id} for incident {incident_id} ({time_limit:g} s)...")
    try:
        executor.run(job.id)
    except TryLater:  # a worker took it first: wait for it
        PlanRunner(db, queue, None).wait(job.id, timeout=time_limit + 600)
    show(incident_id, job.id)


@app.command("show")
def show(
    incident_id: Annotated[int, typer.Argument(help="Incident id")],
    plan_id: Annotated[int, typer.Argument(help="Plan (job) id")],
) -> None:
    """Print a plan's status, summary, uncovered sites and trips in clock time."""
    tz = get_settings().tz
    with _database().read_session() as session:
        incident = service.get_incident(session, incident_id)
        job = get_plan(session, plan_id, incident_id=incident_id)
    typer.echo(f"plan {job.id}: {job.status.value} ({job.state.value})")
    if job.error:
        typer.echo(f"  error: {job.error}")
        raise typer.Exit(1)
    result = job.result or {}
    s = result.get("summary", {})
    if not s:
        return
    typer.echo(f"  people {s['people']}, covered by the deadline {s['people_covered']} "
               f"({s['coverage']:.1%}; upper bound {s.get('bound_coverage')}, greedy baseline "
               f"{s.get('baseline_coverage')}); fill rate {s['fill_rate']:.1%}")
    typer.echo(f"  checker: {'OK' if (job.verdict or {}).get('ok') else job.verdict}")
    for unmet in result.get("unmet", []):
        typer.echo(f"  unmet {unmet['site']}: {unmet['qty']} x {unmet['item']} "
                   f"({unmet['reason']})")
    for route in result.get("routes", []):
        for trip in route["trips"]:
            depart = (incident.onset + timedelta(minutes=trip["depart_min"])).astimezone(tz)
            stops = ", ".join(
                f"{stop['site']} "
                f"{(incident.onset + timedelta(minutes=stop['arrive_min'])).astimezone(tz):%H:%M}"
                for stop in trip["stops"])
            typer.echo(f"  {route['vehicle']:<14} {trip['source']:<16} {depart:%m-%d %H:%M} "
                       f"-> {stops}")
