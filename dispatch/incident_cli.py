"""`relief incident ...`: the plan lifecycle from the command line (plan and show) and reserve
activations (activate, activations, cancel-activation)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

import typer

from dispatch import activations, service
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
from dispatch.models.activations import ActivationCancelIn, ActivationIn
from dispatch.record import get_plan, has_record, record_of
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
    reoptimise: Annotated[bool, typer.Option(
        "--reoptimise", help="Re-plan the approved trips not yet departed with the new demand "
        "(approval cancels them)")] = False,
) -> None:
    """Plan what the incident still misses from live stock, like POST /incidents/{id}/plans."""
    settings = get_settings()
    db = _database()
    queue, executor = runner_factory(db, settings)
    job = db.write(lambda s: request_plan(s, incident_id=incident_id, time_limit_s=time_limit,
                                          actor=f"cli:{actor}", settings=settings,
                                          queue=queue, reoptimise=reoptimise))
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
    if not has_record(job):
        return
    rec = record_of(job)
    s = rec.plan.summary
    typer.echo(f"  people {s.people}, covered by the deadline {s.people_covered} "
               f"({s.coverage:.1%}; upper bound {s.bound_coverage}, greedy baseline "
               f"{s.baseline_coverage}); fill rate {s.fill_rate:.1%}")
    typer.echo(f"  checker: {'OK' if rec.verdict.ok else rec.verdict.model_dump()}")
    if job.supersedes:
        typer.echo(f"  re-optimises {len(job.supersedes)} approved trips not yet departed "
                   "(approval cancels them)")
    if rec.diagnosis and rec.diagnosis.unmet:
        typer.echo(f"  diagnosis: {rec.diagnosis.message_zh} / {rec.diagnosis.message}")
    for unmet in rec.plan.unmet:
        typer.echo(f"  unmet {unmet.site}: {unmet.qty} x {unmet.item} ({unmet.reason})")
    for route in rec.plan.routes:
        plate = rec.vehicle(route).plate
        for trip in route.trips:
            depart = (incident.onset + timedelta(minutes=trip.depart_min)).astimezone(tz)
            stops = ", ".join(
                f"{stop.site} "
                f"{(incident.onset + timedelta(minutes=stop.arrive_min)).astimezone(tz):%H:%M}"
                for stop in trip.stops)
            typer.echo(f"  {plate:<14} {trip.source:<16} {depart:%m-%d %H:%M} -> {stops}")


@app.command("activate")
def activate(
    incident_id: Annotated[int, typer.Argument(help="Incident id")],
    quantity: Annotated[int, typer.Option("--quantity", help="Units called")],
    agreement: Annotated[int | None, typer.Option(help="Agreement reserve (contract) id")]
    = None,
    capacity: Annotated[int | None, typer.Option(help="Capacity reserve id")] = None,
    at: Annotated[str | None, typer.Option(
        help="When the enterprise was called (ISO-8601 with a time zone; default now)")] = None,
    note: Annotated[str | None, typer.Option(help="Note")] = None,
    actor: Annotated[str, typer.Option(help="Who activates (recorded)")] = "cli",
) -> None:
    """Activate an agreement or capacity reserve for an incident, like POST
    /incidents/{id}/activations: its lead time counts from the call."""
    data = ActivationIn(agreement=agreement, capacity=capacity, quantity=quantity,
                        activated_at=datetime.fromisoformat(at) if at else None, note=note)
    today = get_settings().today()
    row = _database().write(lambda s: activations.public(
        s, service.get_incident(s, incident_id), activations.activate(
            s, incident_id=incident_id, data=data, actor=f"cli:{actor}", today=today)))
    typer.echo(f"activation {row.id}: {row.quantity} {row.unit} {row.item_name} at "
               f"{row.depot} ({row.kind.value}), ready {row.ready_at.isoformat()}")


@app.command("activations")
def list_activations(
    incident_id: Annotated[int, typer.Argument(help="Incident id")],
) -> None:
    """List an incident's reserve activations (quantity, drawn by plans, ready time)."""
    with _database().read_session() as session:
        rows = activations.listing(session, incident_id)
    for row in rows:
        state = f"cancelled: {row.cancel_reason}" if row.cancelled_at else "active"
        typer.echo(f"{row.id:>4} {row.kind.value:<9} {row.depot:<12} {row.item:<8} "
                   f"{row.quantity:>8} drawn {row.drawn:>8} called "
                   f"{row.activated_at.isoformat()} ready {row.ready_at.isoformat()} "
                   f"by {row.activated_by} ({state})")


@app.command("cancel-activation")
def cancel_activation(
    incident_id: Annotated[int, typer.Argument(help="Incident id")],
    activation_id: Annotated[int, typer.Argument(help="Activation id")],
    reason: Annotated[str, typer.Option(help="Why it is withdrawn")],
    actor: Annotated[str, typer.Option(help="Who withdraws it (recorded)")] = "cli",
) -> None:
    """Withdraw an activation (refused while approved plans draw on it)."""
    data = ActivationCancelIn(reason=reason)
    _database().write(lambda s: activations.cancel(
        s, incident_id=incident_id, activation_id=activation_id, data=data,
        actor=f"cli:{actor}"))
    typer.echo(f"activation {activation_id} cancelled")
