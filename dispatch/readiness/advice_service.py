"""Pre-positioning advice as a job: build the optimisation's inputs from the live scenarios of
the library, optimise (``advice.optimise``), verify by re-planning every scenario with the
engine on the moved stock (before and after), and store the draft orders; then a depot manager
accepts a transfer order through the ledger (idempotent: once accepted, accepting again
changes nothing) or declines it.

The evaluation date is today + ``horizon_days``: the live scenarios are built as of that date,
so stock expiring before it is not counted unless it is rotated (replaced); transfers send only
stock still usable then.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dispatch import live
from dispatch.flows import PlanningFailed, failure_text
from dispatch.planning.network import TravelNetwork, build_network, earliest_arrival
from dispatch.planning.problem import Scenario, ScenarioError, load_scenario
from dispatch.readiness import advice, library
from dispatch.readiness.evaluate import primary_item
from dispatch.readiness.models import (
    Advice,
    AdviceOrder,
    AdvicePublic,
    AdviceRequestIn,
    JobStatus,
    Objective,
    OrderKind,
    OrderPublic,
    OrderState,
    ReadinessScenario,
    ScenarioCheck,
    ScenarioVersion,
)
from dispatch.readiness.scenario import Built, build
from dispatch.readiness.service import Engine, solve_version
from relief.platform.audit import record
from relief.platform.background import JobSink
from relief.platform.db import Database, one_or_none
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InsufficientStock, NotFound, ReliefError
from relief.platform.leases import LeaseLost
from relief.platform.principal import Principal
from relief.platform.statustext import StatusText, public_fields
from supplies import ledger
from supplies import service as stock_service
from supplies.ledger import MoveContext
from supplies.models import Depot, DepotKind, Item, Location, Lot, Quality, Quant
from supplies.models.operations import TransferIn

log = logging.getLogger(__name__)

# Storage volume per m² of floor area (assumption, docs/readiness.md): 60 % of a depot's floor
# area holds goods, stacked 2.5 m high (pallets two high; relief depots have at least 6 m of
# clear height, 浙江省救灾物资储备库建设指导标准(试行)).
STORAGE_M3_PER_M2 = 0.6 * 2.5
STATEMENT = ("maximise the smallest covered share over the library's scenarios, then the "
             "population-weighted mean share, then move as little as possible (tonne-km, "
             "tonnes bought, units rotated); within the tonnes (and truck-km) budget of "
             "transfers, the tonnes of new stock, and each depot's free volume "
             f"(floor area x {STORAGE_M3_PER_M2:g} m³/m² minus what it holds)")


# ---------------------------------------------------------------------------------------------
# Requests and reading


ADVICE_TASK = "relief.readiness.advice"


def request_advice(session: Session, *, data: AdviceRequestIn, actor: str, today: date,
                   queue: JobSink | None = None) -> Advice:
    """Queue an advice job over the active library: on ``queue`` in this transaction (None:
    the caller runs it itself, the CLI)."""
    if not library.scenarios(session):
        raise Conflict.of("readiness.no_scenario")
    row = Advice(params=data.model_dump(mode="json"), requested_by=actor,
                 evaluated_on=today + timedelta(days=data.horizon_days))
    session.add(row)
    session.flush()
    if queue is not None:
        queue.enqueue(session, ADVICE_TASK, row.id or 0)
    record(session, actor=actor, action="readiness_advice.request", entity="readiness_advice",
           entity_id=str(row.id), details=data.model_dump(mode="json"))
    return row


def get_advice(session: Session, advice_id: int, *, lock: bool = False) -> Advice:
    """An advice job or a 404."""
    row = one_or_none(session, select(Advice).where(Advice.id == advice_id), lock=lock)
    if row is None:
        raise NotFound.of("readiness.advice_unknown", advice=advice_id)
    return row  # type: ignore[no-any-return]


def orders(session: Session, advice_id: int) -> list[AdviceOrder]:
    """An advice's orders in their order."""
    return list(session.execute(select(AdviceOrder).where(AdviceOrder.advice_id == advice_id)
                                .order_by(AdviceOrder.seq)).scalars())


def order_public(session: Session, order: AdviceOrder) -> OrderPublic:
    """An order as the API returns it."""
    item = session.get_one(Item, order.item_id)
    return OrderPublic(
        id=order.id or 0, seq=order.seq, kind=order.kind,
        from_depot=session.get_one(Depot, order.from_depot_id).code
        if order.from_depot_id else None,
        to_depot=session.get_one(Depot, order.to_depot_id).code, item=item.code,
        item_name=item.name_zh, unit=item.unit, quantity=order.quantity,
        weight_kg=order.weight_kg, volume_m3=order.volume_m3, km=order.km, state=order.state,
        transfer_ids=list(order.transfer_ids), decided_by=order.decided_by,
        decided_at=order.decided_at, note=order.note)


def advice_public(session: Session, row: Advice) -> AdvicePublic:
    """An advice with its orders and checks."""
    return AdvicePublic(
        id=row.id or 0, status=row.status, phase=row.phase, progress=row.progress,
        params=AdviceRequestIn.model_validate(row.params), evaluated_on=row.evaluated_on,
        objective=Objective.model_validate(row.objective) if row.objective else None,
        checks=[ScenarioCheck.model_validate(c) for c in row.checks or []],
        orders=[order_public(session, o) for o in orders(session, row.id or 0)],
        requested_by=row.requested_by, requested_at=row.requested_at,
        finished_at=row.finished_at, **public_fields(row))


def advice_list(session: Session, *, limit: int = 20) -> list[Advice]:
    """The newest advice first."""
    return list(session.execute(select(Advice).order_by(Advice.id.desc()).limit(limit))
                .scalars())


# ---------------------------------------------------------------------------------------------
# Building the optimisation's inputs


@dataclass(frozen=True)
class Library:
    """The active scenarios with their current versions, fixed when a job starts."""

    pairs: tuple[tuple[ReadinessScenario, ScenarioVersion], ...]


def load_library(session: Session) -> Library:
    """The active scenarios and their current versions."""
    return Library(tuple((sc, library.current_version(session, sc))
                         for sc in library.scenarios(session)))


def _classes(scenario: Scenario, network: TravelNetwork, ea: np.ndarray
             ) -> tuple[advice.SiteClass, ...]:
    """Sites grouped by the set of sources reaching them by the deadline, with each lane's
    trip cycle (load + drive out + service + drive back, class means, speed factor 1)."""
    deadline = scenario.deadline_min
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for j in range(len(scenario.sites)):
        reach = tuple(int(s) for s in np.nonzero(ea[:, j] <= deadline)[0])
        groups[reach].append(j)
    out = []
    for reach, members in sorted(groups.items(), key=lambda kv: kv[1][0]):
        lanes = []
        for s in reach:
            src = scenario.sources[s]
            loc = network.source_loc(src.id)
            legs = [network.base_min[loc, network.site_loc(scenario.sites[j].id)]
                    + network.base_min[network.site_loc(scenario.sites[j].id), loc]
                    + scenario.sites[j].service_min for j in members]
            lanes.append(advice.Lane(source=src.id,
                                     cycle_min=src.load_min + float(np.mean(legs))))
        out.append(advice.SiteClass(sites=tuple(scenario.sites[j].id for j in members),
                                    lanes=tuple(lanes)))
    return tuple(out)


def _fleets(scenario: Scenario, network: TravelNetwork) -> dict[str, advice.Fleet]:
    """Per source: vehicle-minutes by the deadline (from each vehicle's start, plus a drive
    home the last trip need not make) and mean capacity per trip."""
    sources = {s.id: s for s in scenario.sources}
    minutes: dict[str, float] = defaultdict(float)
    kg: dict[str, list[float]] = defaultdict(list)
    m3: dict[str, list[float]] = defaultdict(list)
    for v in scenario.vehicle_units:
        home = v.source if v.source in sources else next(
            (s for s in v.loads_at if s in sources), None)
        if home is None:
            continue
        src = sources[home]
        loc = network.source_loc(home)
        nearest = float(np.min(network.base_min[loc, network.sites])) if scenario.sites else 0
        start = max(src.ready_min, v.available_min)
        minutes[home] += max(0.0, scenario.deadline_min - start + nearest)
        kg[home].append(v.capacity_kg)
        m3[home].append(v.capacity_m3)
    return {s: advice.Fleet(minutes=minutes[s], kg=float(np.mean(kg[s])),
                            m3=float(np.mean(m3[s]))) for s in minutes}


def scenario_model(key: str, county: str, built: Built) -> tuple[advice.ScenarioModel,
                                                                 TravelNetwork, Scenario]:
    """One library scenario's built live scenario as the model sees it."""
    parsed = load_scenario(json.dumps(built.live.scenario))
    network = build_network(parsed)
    ea = earliest_arrival(parsed, network)
    # live scenarios give every site its demand explicitly (per need, what is still missing);
    # the model counts each need in its primary item (evaluate.primary_item), units rounded up
    per_site: dict[str, dict[str, int]] = {}
    for site in parsed.sites:
        units: dict[str, int] = defaultdict(int)
        for need, qty in (site.demand or {}).items():
            item, eq = primary_item(parsed, need)
            units[item] += math.ceil(qty / eq - 1e-9)
        per_site[site.id] = dict(units)
    model = advice.ScenarioModel(
        key=key, county=county, people=sum(s.people for s in parsed.sites),
        site_people={s.id: s.people for s in parsed.sites},
        demand={j: dict(d) for j, d in per_site.items()},
        classes=_classes(parsed, network, ea), fleets=_fleets(parsed, network),
        stock={s.id: dict(s.stock) for s in parsed.sources})
    return model, network, parsed


def _volume_now(session: Session) -> dict[int, float]:
    """Per depot id: the volume of everything on hand (every lot, any quality)."""
    rows = session.execute(
        select(Location.depot_id, func.sum(Quant.on_hand * Item.unit_volume_m3))
        .join(Location, Location.id == Quant.location_id)
        .join(Item, Item.id == Quant.item_id)
        .where(Location.depot_id.is_not(None)).group_by(Location.depot_id)).all()
    return {d: float(v or 0) for d, v in rows}


def build_problem(session: Session, lib: Library, built: dict[str, Built], *, today: date,
                  evaluated_on: date, budget: advice.Budget) -> advice.AdviceProblem:
    """The optimisation's inputs: depots (stock at the evaluation date, what expires before
    it, free volume), agreement sources, road km between depots, one model per scenario."""
    items = {i.code: advice.ItemSpec(code=i.code, kg=i.unit_weight_kg, m3=i.unit_volume_m3)
             for i in session.execute(select(Item)).scalars()}
    models, network = [], None
    for sc, _v in lib.pairs:
        model, net, _parsed = scenario_model(sc.code, sc.county_code, built[sc.code])
        models.append(model)
        network = network or net
    first = built[lib.pairs[0][0].code].live
    now_stock = live.usable_stock(session, today)
    then_stock = live.usable_stock(session, evaluated_on)
    volume = _volume_now(session)
    ids = {i.code: i.id for i in session.execute(select(Item)).scalars()}
    depots: dict[str, advice.DepotState] = {}
    for sid, info in first.sources.items():
        if info.kind != "stock":
            continue
        depot = session.get_one(Depot, info.depot_id)
        expiring = {code: now_stock.get((info.depot_id, ids[code]), 0)
                    - then_stock.get((info.depot_id, ids[code]), 0) for code in items}
        free = (None if depot.floor_area_m2 is None else
                max(0.0, depot.floor_area_m2 * STORAGE_M3_PER_M2
                    - volume.get(info.depot_id, 0.0)))
        depots[sid] = advice.DepotState(
            code=sid, stock=dict(info.stock), movable=dict(info.stock),
            expiring={c: q for c, q in expiring.items() if q > 0}, free_m3=free,
            can_buy=depot.kind == DepotKind.government)
    contracts = tuple(
        advice.Contract(source=sid, depot=info.depot, items=frozenset(info.stock))
        for sid, info in first.sources.items() if info.kind == "agreement")
    km: dict[tuple[str, str], float] = {}
    assert network is not None
    codes = list(depots)
    for a in codes:
        for b in codes:
            if a != b:
                d = network.km[network.source_loc(a), network.source_loc(b)]
                if math.isfinite(d):
                    km[(a, b)] = float(d)
    return advice.AdviceProblem(items=items, depots=depots, contracts=contracts, km=km,
                                scenarios=tuple(models), budget=budget)


# ---------------------------------------------------------------------------------------------
# The job


def _adjust(session: Session, moves: tuple[advice.Move, ...]) -> dict[tuple[int, int], int]:
    """The moves as usable-stock changes per (depot id, item id) (agreements apart)."""
    depot = dict(session.execute(select(Depot.code, Depot.id)).all())
    item = dict(session.execute(select(Item.code, Item.id)).all())
    out: dict[tuple[int, int], int] = defaultdict(int)
    for mv in moves:
        if mv.kind == OrderKind.agreement:
            continue
        out[(depot[mv.target], item[mv.item])] += mv.quantity
        if mv.kind == OrderKind.transfer and mv.source is not None:
            out[(depot[mv.source], item[mv.item])] -= mv.quantity
    return dict(out)


def _contracts(moves: tuple[advice.Move, ...]) -> dict[tuple[str, str], int]:
    """The agreement volumes per (enterprise depot code, item code)."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for mv in moves:
        if mv.kind == OrderKind.agreement:
            out[(mv.target, mv.item)] += mv.quantity
    return dict(out)


def execute_advice(db: Database, advice_id: int, engine: Engine, *,
                   echo: Callable[[str], None] | None = None, leased: bool = False) -> None:
    """Run a queued advice job to completion, or record why it failed.

    ``leased``: the caller already claimed the job under a lease and ``db`` fences every write
    on it (a background delivery); a job taken over from a worker that died starts again (it
    stores its orders only at the end)."""
    if leased:
        db.write(lambda s: s.execute(update(Advice).where(Advice.id == advice_id).values(
            phase="model", progress=0.0)))
    else:
        claimed = db.write(lambda s: s.execute(update(Advice).where(
            Advice.id == advice_id, Advice.status == JobStatus.queued).values(
            status=JobStatus.running, started_at=utcnow(), phase="model")).rowcount)
        if not claimed:
            return
    try:
        _execute(db, advice_id, engine, echo or (lambda _line: None))
    except LeaseLost:
        raise
    except (ReliefError, ScenarioError, PlanningFailed, RuntimeError) as exc:
        _fail(db, advice_id, failure_text(exc))
    except Exception as exc:
        log.exception("advice %s crashed", advice_id)
        _fail(db, advice_id, failure_text(exc))


def _phase(db: Database, advice_id: int, phase: str, progress: float) -> None:
    db.write(lambda s: s.execute(update(Advice).where(Advice.id == advice_id).values(
        phase=phase[:80], progress=progress)))


def _execute(db: Database, advice_id: int, engine: Engine, echo: Callable[[str], None]
             ) -> None:
    now = utcnow()
    with db.read_session() as session:
        row = get_advice(session, advice_id)
        params = AdviceRequestIn.model_validate(row.params)
        evaluated_on = row.evaluated_on
        today = evaluated_on - timedelta(days=params.horizon_days)
        lib = load_library(session)
        limit = params.time_limit_s or 8.0
        leads = engine.lead_times(session, evaluated_on) if engine.lead_times else None
        built = {sc.code: build(session, sc, v, now=now, today=evaluated_on,
                                time_limit_s=limit, lead_minutes=leads)
                 for sc, v in lib.pairs}
        problem = build_problem(session, lib, built, today=today, evaluated_on=evaluated_on,
                                budget=advice.Budget(tonnes=params.budget_t,
                                                     truck_km=params.budget_truck_km,
                                                     new_tonnes=params.purchase_t))
    if not lib.pairs:
        raise Conflict.of("readiness.no_scenario")
    echo(f"model: {len(problem.scenarios)} scenarios, {len(problem.depots)} depots")
    _phase(db, advice_id, "optimise", 0.05)
    solution = advice.optimise(problem, time_limit_s=params.optimise_s)
    echo(f"optimised ({solution.status}, {solution.solve_s:.1f} s): {len(solution.moves)} "
         f"moves, {solution.tonnes_moved:.1f} t moved")
    with db.read_session() as session:
        adjust = _adjust(session, solution.moves)
    contracts = _contracts(solution.moves)
    total = 2 * len(lib.pairs)
    done = [0]

    def check(pair: tuple[ReadinessScenario, ScenarioVersion]) -> ScenarioCheck:
        sc, v = pair
        out = []
        for stage, stock, volume in (("before", None, None), ("after", adjust, contracts)):
            with db.read_session() as session:
                result, _ = solve_version(session, engine, sc, v, now=now,
                                          today=evaluated_on, time_limit_s=limit,
                                          stock_adjust=stock, contract_adjust=volume)
            out.append(result)
            done[0] += 1
            _phase(db, advice_id, f"{stage} {sc.code}", 0.1 + 0.9 * done[0] / total)
        before, after = out
        echo(f"{sc.code}: {before.people_covered} -> {after.people_covered} of "
             f"{before.people} covered")
        return ScenarioCheck(
            scenario=sc.code, version_id=v.id or 0, county_code=sc.county_code,
            hazard=sc.hazard, people=before.people, before_covered=before.people_covered,
            after_covered=after.people_covered,
            predicted_covered=round(solution.predicted.get(sc.code, 0.0), 1),
            before_digest=before.inputs_digest, after_digest=after.inputs_digest)

    with ThreadPoolExecutor(engine.parallel, thread_name_prefix="advice") as pool:
        checks = list(pool.map(check, lib.pairs))
    people = {k.key: k.people for k in problem.scenarios}
    shares_before = solution.share(people, solution.before)
    shares_after = solution.share(people, solution.predicted)
    weight = sum(people.values()) or 1
    objective = Objective(
        statement=STATEMENT,
        min_before=round(min(shares_before.values(), default=1.0), 4),
        min_predicted=round(min(shares_after.values(), default=1.0), 4),
        mean_before=round(sum(solution.before.values()) / weight, 4),
        mean_predicted=round(sum(solution.predicted.values()) / weight, 4),
        tonnes_moved=solution.tonnes_moved, truck_km=solution.truck_km,
        new_stock_tonnes=solution.new_tonnes, solver_status=solution.status,
        solve_s=solution.solve_s)
    db.write(lambda s: _store(s, advice_id, solution.moves, problem, checks, objective))


def _store(session: Session, advice_id: int, moves: tuple[advice.Move, ...],
           problem: advice.AdviceProblem, checks: list[ScenarioCheck],
           objective: Objective) -> None:
    depot = dict(session.execute(select(Depot.code, Depot.id)).all())
    item = dict(session.execute(select(Item.code, Item.id)).all())
    for seq, mv in enumerate(moves, start=1):
        spec = problem.items[mv.item]
        session.add(AdviceOrder(
            advice_id=advice_id, seq=seq, kind=mv.kind,
            from_depot_id=depot[mv.source] if mv.source else None,
            to_depot_id=depot[mv.target], item_id=item[mv.item], quantity=mv.quantity,
            weight_kg=round(spec.kg * mv.quantity, 3),
            volume_m3=round(spec.m3 * mv.quantity, 4), km=mv.km))
    session.execute(update(Advice).where(Advice.id == advice_id).values(
        status=JobStatus.succeeded, phase="done", progress=1.0, finished_at=utcnow(),
        objective=objective.model_dump(mode="json"),
        checks=[c.model_dump(mode="json") for c in checks]))


def _fail(db: Database, advice_id: int, reason: StatusText) -> None:
    db.write(lambda s: s.execute(update(Advice).where(Advice.id == advice_id).values(
        status=JobStatus.failed, **reason.columns(), finished_at=utcnow())))


# ---------------------------------------------------------------------------------------------
# Deciding orders


def _order(session: Session, advice_id: int, seq: int) -> AdviceOrder:
    row = one_or_none(session, select(AdviceOrder).where(
        AdviceOrder.advice_id == advice_id, AdviceOrder.seq == seq), lock=True)
    if row is None:
        raise NotFound.of("readiness.order_unknown", advice=advice_id, seq=seq)
    return row  # type: ignore[no-any-return]


def _usable_lots(session: Session, depot: Depot, item: Item, evaluated_on: date, today: date
                 ) -> list[tuple[Lot, int]]:
    """Lots of an item at a depot usable on the evaluation date, with their available units,
    earliest expiry first (so the transfer keeps the freshest stock at home last)."""
    location = ledger.depot_location(session, depot)
    rows = session.execute(
        select(Lot, Quant).join(Quant, Quant.lot_id == Lot.id)
        .where(Quant.location_id == location.id, Quant.item_id == item.id,
               Quant.quality == Quality.good.value)).all()
    out = []
    for lot, quant in rows:
        if lot.expiry is not None and lot.expiry < max(evaluated_on, today):
            continue
        left = quant.on_hand - quant.reserved
        if left > 0:
            out.append((lot, left))
    return sorted(out, key=lambda pair: ledger.fefo_key(pair[0]))


def accept_order(session: Session, *, advice_id: int, seq: int, principal: Principal,
                 ctx: MoveContext, note: str | None = None) -> AdviceOrder:
    """Accept an order. A transfer is sent through the ledger from lots still usable on the
    evaluation date (one transfer per lot); the sending depot's manager (or an admin) accepts
    it. Accepting an accepted order returns it unchanged; a declined one is a 409; stock that
    moved since the advice, or a receiving depot now too full, is a 409 and nothing is sent."""
    row = get_advice(session, advice_id)
    order = _order(session, advice_id, seq)
    if order.state == OrderState.accepted:
        return order
    if order.state == OrderState.declined:
        raise Conflict.of("readiness.order_declined", advice=advice_id, seq=seq,
                          details={"state": order.state})
    target = session.get_one(Depot, order.to_depot_id)
    item = session.get_one(Item, order.item_id)
    if order.kind == OrderKind.transfer:
        assert order.from_depot_id is not None
        source = session.get_one(Depot, order.from_depot_id)
        principal.require_depot(source.code)
        _check_room(session, target, item, order.quantity)
        lots = _usable_lots(session, source, item, row.evaluated_on, ctx.today)
        have = sum(q for _, q in lots)
        if have < order.quantity:
            raise InsufficientStock.of("readiness.stock_moved", field="quantity",
                                       depot=source.code, item=item.code, available=have,
                                       requested=order.quantity,
                                       details={"available": have, "requested": order.quantity})
        left, ids = order.quantity, []
        for lot, qty in lots:
            if left == 0:
                break
            take = min(left, qty)
            sent = stock_service.send_transfer(session, principal=principal, ctx=ctx,
                                               data=TransferIn(
                from_depot=source.code, to_depot=target.code, item=item.code, quantity=take,
                lot=lot.lot_number, expiry=lot.expiry, reference=f"ADV-{advice_id}/{seq}"))
            ids.append(sent.id)
            left -= take
        order.transfer_ids = ids
    else:
        principal.require_depot(target.code)
    order.state = OrderState.accepted
    order.decided_by, order.decided_at, order.note = principal.actor, utcnow(), note
    session.add(order)
    session.flush()
    record(session, actor=principal.actor, action="readiness_order.accept",
           entity="readiness_advice", entity_id=str(advice_id),
           details={"seq": seq, "kind": order.kind.value, "transfers": order.transfer_ids})
    return order


def _check_room(session: Session, depot: Depot, item: Item, quantity: int) -> None:
    """A receiving depot's floor area still holds the order (409 otherwise)."""
    if depot.floor_area_m2 is None:
        raise Conflict.of("readiness.no_floor_area", depot=depot.code,
                          details={"to_depot": depot.code})
    room = depot.floor_area_m2 * STORAGE_M3_PER_M2 - _volume_now(session).get(depot.id or 0, 0)
    if quantity * item.unit_volume_m3 > room + 1e-9:
        raise Conflict.of("readiness.no_room", depot=depot.code,
                          room=f"{max(0.0, room):.1f}",
                          needed=f"{quantity * item.unit_volume_m3:.1f}",
                          details={"room_m3": round(max(0.0, room), 3)})


def decline_order(session: Session, *, advice_id: int, seq: int, principal: Principal,
                  note: str | None = None) -> AdviceOrder:
    """Decline a draft order (a manager of either depot, or an admin); declining again
    changes nothing; an accepted order cannot be declined (409)."""
    get_advice(session, advice_id)
    order = _order(session, advice_id, seq)
    if order.state == OrderState.declined:
        return order
    if order.state == OrderState.accepted:
        raise Conflict.of("readiness.order_accepted", advice=advice_id, seq=seq,
                          details={"state": order.state})
    codes = [session.get_one(Depot, order.to_depot_id).code]
    if order.from_depot_id:
        codes.append(session.get_one(Depot, order.from_depot_id).code)
    principal.require_any_depot(codes)
    order.state = OrderState.declined
    order.decided_by, order.decided_at, order.note = principal.actor, utcnow(), note
    session.add(order)
    session.flush()
    record(session, actor=principal.actor, action="readiness_order.decline",
           entity="readiness_advice", entity_id=str(advice_id), details={"seq": seq})
    return order
