"""`relief readiness ...`: the library, runs with progress, the county table, and advice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy import select

from dispatch.readiness import advice_service, report, service
from dispatch.readiness.models import AdviceRequestIn, Trigger
from relief.platform.db import Database
from relief.platform.settings import Settings, get_settings
from supplies.models import Item

app = typer.Typer(help="Readiness before the disaster: the scenario library, each county's "
                  "10-hour coverage from the engine on live data, and pre-positioning advice.",
                  no_args_is_help=True)

# How the commands solve scenarios; the composition root (relief.app.cli) plugs in the engine
# with the dispatcher's planner and the provincial lead times.
engine_factory: Callable[[Settings], service.Engine] | None = None

REASON_ZH = {"stock": "库存不足", "fleet_time": "运力(车辆时间)不足",
             "lead_time": "协议/产能储备响应时间过长", "unreachable": "距离/道路不可达"}


def _database() -> Database:
    return Database.from_settings(get_settings())


def _engine(settings: Settings) -> service.Engine:
    if engine_factory is None:
        raise typer.BadParameter("no engine configured (run through `relief readiness`)")
    return engine_factory(settings)


def binding_text(reason: str | None, item: str | None, names: dict[str, str]) -> str:
    """A binding reason in words (Chinese, the item's name for stock)."""
    if reason is None:
        return "—"
    text = REASON_ZH.get(reason, reason)
    return f"{text}: {names.get(item or '', item)}" if item else text


@app.command("scenarios")
def scenarios(county: Annotated[str | None, typer.Option(help="County code")] = None) -> None:
    """List the library: scenario, version, townships, displaced and sheltered people."""
    with _database().read_session() as session:
        for row in service.library_rows(session, county=county):
            sc, v = row.scenario, row.version
            flag = "" if sc.active else " (inactive)"
            typer.echo(f"{sc.code:<26} v{v.version:<3} {v.name}{flag}: {len(row.townships)} "
                       f"townships, {row.people} displaced ({v.displaced_share:.1%}, "
                       f"{v.displaced_basis.value}), {row.sheltered} sheltered "
                       f"({v.sheltered_share:.0%}, {v.sheltered_basis.value})")


@app.command("run")
def run(
    county: Annotated[str | None, typer.Option(help="Only this county's scenarios")] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit",
                                                     help="Engine seconds per scenario")]
    = None,
    actor: Annotated[str, typer.Option(help="Who asks (recorded on the run)")] = "cli",
) -> None:
    """Run readiness now (synchronously, a line per scenario as it finishes)."""
    settings = get_settings()
    db = _database()
    limit = time_limit or settings.readiness_time_limit_s
    run_row = db.write(lambda s: service.request_run(
        s, county=county, time_limit_s=limit, trigger=Trigger.on_demand,
        actor=f"cli:{actor}", today=settings.today()))
    assert run_row.id is not None
    typer.echo(f"readiness run {run_row.id}: {run_row.total} scenarios, {limit:g} s each ...")
    service.execute_run(db, run_row.id, _engine(settings), echo=typer.echo)
    with db.read_session() as session:
        done = service.get_run(session, run_row.id)
    if done.error:
        typer.echo(f"run {done.id} {done.status.value}: {done.error}", err=True)
        raise typer.Exit(1)
    show(run_id=run_row.id)


@app.command("show")
def show(run_id: Annotated[int | None, typer.Option("--run", help="A run (default: the "
                                                    "newest result of every scenario)")]
         = None) -> None:
    """Per county: each scenario's covered share, per need, and the binding reason; then the
    quota shortfall beside the scenario gap."""
    settings = get_settings()
    with _database().read_session() as session:
        names = dict(session.execute(select(Item.code, Item.name_zh)).all())
        results = (service.run_results(session, run_id) if run_id is not None
                   else service.latest_results(session))
        rows = report.counties(session, today=settings.today())
    if not results:
        typer.echo("no readiness results yet: run `relief readiness run`")
        return
    county = None
    for r in results:
        if r.county != county:
            county = r.county
            typer.echo(f"\n{r.county_name} ({r.county})")
        need = ", ".join(f"{names.get(n.need, n.need)} {n.share:.0%}" for n in r.needs)
        reason = binding_text(r.binding.reason if r.binding else None,
                              r.binding.item if r.binding else None, names)
        typer.echo(f"  {r.scenario:<26} v{r.version:<3} {r.people_covered:>7}/{r.people:<7} "
                   f"{r.coverage:6.1%}  [{need}]  binding: {reason}  "
                   f"(run {r.run_id}, inputs {r.inputs_digest[:10]})")
    typer.echo("\nquota shortfall vs scenario gap (units, tonnes):")
    for c in rows:
        lines = [f"{names.get(i.item, i.item)} {i.quota_shortfall}/{i.quota_shortfall_t:.1f} t"
                 f" vs {i.scenario_gap}/{i.scenario_gap_t:.1f} t" for i in c.items
                 if i.quota_shortfall or i.scenario_gap]
        if lines:
            typer.echo(f"  {c.name}: " + "; ".join(lines))


@app.command("advise")
def advise(
    budget_t: Annotated[float, typer.Option("--budget-t", help="Tonnes transfers may move")],
    budget_truck_km: Annotated[float | None, typer.Option(
        "--budget-truck-km", help="Truck-km transfers may drive (round trips)")] = None,
    purchase_t: Annotated[float, typer.Option("--purchase-t", help="Tonnes of new stock")]
    = 0.0,
    horizon_days: Annotated[int, typer.Option("--horizon-days", help="Evaluate on today + "
                                              "this many days")] = 30,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", help="Engine seconds per scenario")] = None,
    optimise_s: Annotated[float, typer.Option("--optimise-s", help="Optimisation seconds")]
    = 60.0,
    actor: Annotated[str, typer.Option(help="Who asks")] = "cli",
) -> None:
    """Pre-positioning advice (synchronously, with progress): the moves, and every scenario
    before and after as the engine covers it."""
    settings = get_settings()
    db = _database()
    data = AdviceRequestIn(budget_t=budget_t, budget_truck_km=budget_truck_km,
                           purchase_t=purchase_t, horizon_days=horizon_days,
                           time_limit_s=time_limit or settings.readiness_time_limit_s,
                           optimise_s=optimise_s)
    row = db.write(lambda s: advice_service.request_advice(s, data=data, actor=f"cli:{actor}",
                                                           today=settings.today()))
    assert row.id is not None
    typer.echo(f"advice {row.id}: evaluated on {row.evaluated_on} ...")
    advice_service.execute_advice(db, row.id, _engine(settings), echo=typer.echo)
    with db.read_session() as session:
        public = advice_service.advice_public(session, advice_service.get_advice(session,
                                                                                 row.id))
    if public.error:
        typer.echo(f"advice {row.id} {public.status.value}: {public.error}", err=True)
        raise typer.Exit(1)
    obj = public.objective
    assert obj is not None
    typer.echo(f"\nobjective: {obj.statement}")
    typer.echo(f"model: min share {obj.min_before:.1%} -> {obj.min_predicted:.1%}, mean "
               f"{obj.mean_before:.1%} -> {obj.mean_predicted:.1%} ({obj.solver_status}, "
               f"{obj.solve_s:.0f} s); moved {obj.tonnes_moved:.1f} t, {obj.truck_km:.0f} "
               f"truck-km, new stock {obj.new_stock_tonnes:.1f} t")
    for o in public.orders:
        where = f"{o.from_depot} -> {o.to_depot}" if o.from_depot else o.to_depot
        typer.echo(f"  #{o.seq} {o.kind.value:<9} {where:<28} {o.item_name} {o.quantity} "
                   f"{o.unit} ({o.weight_kg / 1000:.2f} t{f', {o.km:.0f} km' if o.km else ''})")
    typer.echo("\nengine check (people covered before -> after):")
    for c in sorted(public.checks, key=lambda c: c.before):
        typer.echo(f"  {c.scenario:<26} {c.before_covered:>7} -> {c.after_covered:<7} of "
                   f"{c.people:<7} {c.before:6.1%} -> {c.after:6.1%} (model "
                   f"{c.predicted_covered:.0f})")
    worst_before = min(public.checks, key=lambda c: c.before)
    worst_after = min(public.checks, key=lambda c: c.after)
    typer.echo(f"worst scenario: {worst_before.scenario} {worst_before.before:.1%} before; "
               f"after: {worst_after.scenario} {worst_after.after:.1%}")
