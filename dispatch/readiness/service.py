"""Readiness runs: the planning engine on live data for every library scenario, stored with
its time and inputs; the latest figures per county and the trend; exercise incidents.

A run is a job row (``readiness_run``) like a planning job: queued by a request (API, console,
CLI) or by the schedule, executed by :func:`execute_run` on a runner thread (``runner.py``).
For each active scenario in scope it builds the live scenario of the scenario's current
version (``scenario.build``: ``dispatch.live`` with an unsaved incident striking now), runs the
dispatcher's planner on it (the same callable a plan job uses: the engine in a worker process
or in-process), checks the plan with the independent checker, and stores the result with the
version it ran and the digest of the live inputs. Use-case functions take a session and never
commit; :func:`execute_run` owns its transactions (one per stored result).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dispatch.flows import LeadTimes, Planner, PlanningFailed, failure_text
from dispatch.models import HeadCount, Incident
from dispatch.planning.plan import Plan, check
from dispatch.planning.problem import ScenarioError, load_scenario
from dispatch.readiness import evaluate, library
from dispatch.readiness.models import (
    Binding,
    InputsSummary,
    ItemGap,
    JobStatus,
    NeedCoverage,
    ReadinessResult,
    ReadinessRun,
    ReadinessScenario,
    ResultPublic,
    RunPublic,
    ScenarioVersion,
    Trigger,
)
from dispatch.readiness.scenario import build, incident_for, sites_for
from relief.platform.audit import record
from relief.platform.background import JobSink
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, NotFound, ReliefError
from relief.platform.leases import LeaseLost
from relief.platform.statustext import StatusText, public_fields
from supplies.models import Division

log = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT_S = 8.0
Progress = Callable[[str, float], None]


# ---------------------------------------------------------------------------------------------
# Requests


RUN_TASK = "relief.readiness.run"


def request_run(session: Session, *, county: str | None, time_limit_s: float,
                trigger: Trigger, actor: str, today: date,
                schedule_slot: int | None = None, queue: JobSink | None = None
                ) -> ReadinessRun:
    """Queue a run over the library's active scenarios (of one county when given): on
    ``queue`` in this transaction (None: the caller runs it itself, the CLI)."""
    if county is not None:
        division = session.get(Division, county)
        if division is None:
            raise NotFound.of("division.unknown", field="county", code=county)
    total = len(library.scenarios(session, county=county))
    if total == 0:
        raise Conflict.of("readiness.no_scenario_for", county=county or "",
                          details={"county": county})
    run = ReadinessRun(trigger=trigger, county_code=county, time_limit_s=time_limit_s,
                       evaluated_on=today, total=total, requested_by=actor,
                       schedule_slot=schedule_slot)
    session.add(run)
    session.flush()
    if queue is not None:
        queue.enqueue(session, RUN_TASK, run.id or 0)
    record(session, actor=actor, action="readiness_run.request", entity="readiness_run",
           entity_id=str(run.id), details={"county": county, "trigger": trigger.value})
    return run


def get_run(session: Session, run_id: int) -> ReadinessRun:
    """A run or a 404."""
    run = session.get(ReadinessRun, run_id)
    if run is None:
        raise NotFound.of("readiness.run_unknown", run=run_id)
    return run


def run_public(run: ReadinessRun) -> RunPublic:
    """A run as the API returns it."""
    return RunPublic(id=run.id or 0, trigger=run.trigger, county=run.county_code,
                     status=run.status, phase=run.phase, progress=run.progress, done=run.done,
                     total=run.total, time_limit_s=run.time_limit_s,
                     evaluated_on=run.evaluated_on, requested_by=run.requested_by,
                     requested_at=run.requested_at, started_at=run.started_at,
                     finished_at=run.finished_at, **public_fields(run))


# ---------------------------------------------------------------------------------------------
# Executing a run


class Engine:
    """How scenarios are solved: the dispatcher's planner and lead times, and how many
    scenarios of a run are solved at once (each in its own worker process when the planner
    is the subprocess one)."""

    def __init__(self, planner: Planner, lead_times: LeadTimes | None = None,
                 parallel: int = 1) -> None:
        self.planner = planner
        self.lead_times = lead_times
        self.parallel = max(1, parallel)


def solve_version(session: Session, engine: Engine, scenario: ReadinessScenario,
                  version: ScenarioVersion, *, now: datetime, today: date,
                  time_limit_s: float,
                  stock_adjust: Mapping[tuple[int, int], int] | None = None,
                  contract_adjust: Mapping[tuple[str, str], int] | None = None,
                  progress: Progress | None = None) -> tuple[ReadinessResult, Plan]:
    """Build one version's live scenario (with an advice's what-ifs), plan it, check it: an
    unsaved result row and the plan."""
    leads = engine.lead_times(session, today) if engine.lead_times else None
    built = build(session, scenario, version, now=now, today=today,
                  time_limit_s=time_limit_s, lead_minutes=leads, stock_adjust=stock_adjust,
                  contract_adjust=contract_adjust)
    parsed = load_scenario(json.dumps(built.live.scenario))
    plan_json = engine.planner(built.live.scenario, time_limit_s,
                               progress or (lambda _p, _f: None))
    plan = Plan.model_validate(plan_json)
    report = check(plan, parsed)
    out = evaluate.outcome(plan, parsed)
    result = ReadinessResult(
        run_id=0, scenario_id=scenario.id or 0, version_id=version.id or 0,
        county_code=scenario.county_code, hazard=scenario.hazard, people=out.people,
        people_covered=out.people_covered, coverage=out.coverage,
        bound_coverage=out.bound_coverage, baseline_coverage=out.baseline_coverage,
        fill_rate=out.fill_rate, engine_status=out.engine_status, checker_ok=report.ok,
        solve_s=out.solve_s, inputs_digest=built.digest,
        inputs=built.inputs.model_dump(mode="json"),
        needs=[n.model_dump(mode="json") for n in out.needs],
        binding=out.binding.model_dump(mode="json") if out.binding else None,
        gaps=[g.model_dump(mode="json") for g in out.gaps])
    return result, plan


def _claim(session: Session, run_id: int) -> bool:
    claimed = session.execute(update(ReadinessRun).where(
        ReadinessRun.id == run_id, ReadinessRun.status == JobStatus.queued).values(
        status=JobStatus.running, started_at=utcnow(), phase="scenarios", progress=0.0))
    return bool(claimed.rowcount)


def _scope(session: Session, run: ReadinessRun) -> list[tuple[int, int]]:
    """(scenario id, current version id) of the run's scenarios, fixed when it starts."""
    out = []
    for sc in library.scenarios(session, county=run.county_code):
        out.append((sc.id or 0, library.current_version(session, sc).id or 0))
    return out


def execute_run(db: Database, run_id: int, engine: Engine, *,
                echo: Callable[[str], None] | None = None, leased: bool = False) -> None:
    """Run a queued run to completion, recording each scenario's result as it finishes, or
    the reason it failed. ``echo`` receives a line per finished scenario (the CLI).

    ``leased``: the caller already claimed the run under a lease and ``db`` fences every write
    on it (a background delivery, :mod:`relief.platform.background`); a run taken over from a
    worker that died resumes, skipping the scenarios whose results that worker stored."""
    if leased:
        db.write(lambda s: s.execute(update(ReadinessRun).where(ReadinessRun.id == run_id)
                                     .values(phase="scenarios")))
    elif not db.write(lambda s: _claim(s, run_id)):
        return
    try:
        _execute(db, run_id, engine, echo)
    except LeaseLost:
        raise
    except (ReliefError, ScenarioError, PlanningFailed) as exc:
        _fail(db, run_id, failure_text(exc))
    except Exception as exc:
        log.exception("readiness run %s crashed", run_id)
        _fail(db, run_id, failure_text(exc))


def _execute(db: Database, run_id: int, engine: Engine,
             echo: Callable[[str], None] | None) -> None:
    now = utcnow()
    with db.read_session() as session:
        run = get_run(session, run_id)
        scope = _scope(session, run)
        today, limit = run.evaluated_on, run.time_limit_s
        stored = set(session.execute(select(ReadinessResult.scenario_id).where(
            ReadinessResult.run_id == run_id)).scalars())
    db.write(lambda s: s.execute(update(ReadinessRun).where(ReadinessRun.id == run_id)
                                 .values(total=len(scope), done=len(stored))))
    scope_left = [pair for pair in scope if pair[0] not in stored]
    lock = threading.Lock()

    def one(pair: tuple[int, int]) -> None:
        scenario_id, version_id = pair
        with db.read_session() as session:
            scenario = session.get_one(ReadinessScenario, scenario_id)
            version = session.get_one(ScenarioVersion, version_id)
            result, _ = solve_version(session, engine, scenario, version, now=now,
                                      today=today, time_limit_s=limit)
        result.run_id = run_id

        def store(session: Session) -> int:
            session.add(result)
            session.execute(update(ReadinessRun).where(ReadinessRun.id == run_id).values(
                done=ReadinessRun.done + 1, phase=scenario.code))
            session.flush()
            done = session.execute(select(ReadinessRun.done).where(
                ReadinessRun.id == run_id)).scalar_one()
            session.execute(update(ReadinessRun).where(ReadinessRun.id == run_id).values(
                progress=min(1.0, done / max(1, len(scope)))))
            return int(done)

        done = db.write(store)
        if echo is not None:
            with lock:
                echo(f"[{done}/{len(scope)}] {scenario.code} v{version.version}: "
                     f"{result.people_covered}/{result.people} covered "
                     f"({result.coverage:.1%}), {result.solve_s:.1f} s")

    if engine.parallel == 1:
        for pair in scope_left:
            one(pair)
    else:
        with ThreadPoolExecutor(engine.parallel, thread_name_prefix="readiness") as pool:
            for future in [pool.submit(one, pair) for pair in scope_left]:
                future.result()
    db.write(lambda s: s.execute(update(ReadinessRun).where(ReadinessRun.id == run_id).values(
        status=JobStatus.succeeded, phase="done", progress=1.0, finished_at=utcnow())))


def _fail(db: Database, run_id: int, reason: StatusText) -> None:
    db.write(lambda s: s.execute(update(ReadinessRun).where(ReadinessRun.id == run_id).values(
        status=JobStatus.failed, **reason.columns(), finished_at=utcnow())))


# ---------------------------------------------------------------------------------------------
# Reading results


def result_public(session: Session, result: ReadinessResult,
                  names: dict[str, str] | None = None) -> ResultPublic:
    """A stored result, parsed into its typed records."""
    scenario = session.get_one(ReadinessScenario, result.scenario_id)
    version = session.get_one(ScenarioVersion, result.version_id)
    county = (names or {}).get(result.county_code) or session.get_one(
        Division, result.county_code).name
    return ResultPublic(
        run_id=result.run_id, scenario=scenario.code, version=version.version,
        version_id=version.id or 0, county=result.county_code, county_name=county,
        hazard=result.hazard, people=result.people, people_covered=result.people_covered,
        coverage=result.coverage, bound_coverage=result.bound_coverage,
        baseline_coverage=result.baseline_coverage, fill_rate=result.fill_rate,
        engine_status=result.engine_status, checker_ok=result.checker_ok,
        solve_s=result.solve_s, inputs_digest=result.inputs_digest,
        inputs=InputsSummary.model_validate(result.inputs),
        needs=[NeedCoverage.model_validate(n) for n in result.needs],
        binding=Binding.model_validate(result.binding) if result.binding else None,
        gaps=[ItemGap.model_validate(g) for g in result.gaps], created_at=result.created_at)


def latest_results(session: Session, *, county: str | None = None) -> list[ResultPublic]:
    """The newest result of every active library scenario (of one county), in county and
    scenario order; scenarios never run are absent."""
    newest = (select(ReadinessResult.scenario_id, func.max(ReadinessResult.id).label("rid"))
              .group_by(ReadinessResult.scenario_id).subquery())
    stmt = (select(ReadinessResult)
            .join(newest, newest.c.rid == ReadinessResult.id)
            .join(ReadinessScenario, ReadinessScenario.id == ReadinessResult.scenario_id)
            .where(ReadinessScenario.active.is_(True))
            .order_by(ReadinessScenario.county_code, ReadinessScenario.code))
    if county is not None:
        stmt = stmt.where(ReadinessScenario.county_code == county)
    names = dict(session.execute(select(Division.code, Division.name)).all())
    return [result_public(session, r, names) for r in session.execute(stmt).scalars()]


def run_results(session: Session, run_id: int) -> list[ResultPublic]:
    """Every result of one run, in county and scenario order."""
    get_run(session, run_id)
    rows = session.execute(
        select(ReadinessResult).join(ReadinessScenario,
                                     ReadinessScenario.id == ReadinessResult.scenario_id)
        .where(ReadinessResult.run_id == run_id)
        .order_by(ReadinessScenario.county_code, ReadinessScenario.code)).scalars()
    names = dict(session.execute(select(Division.code, Division.name)).all())
    return [result_public(session, r, names) for r in rows]


def trend(session: Session, code: str, *, limit: int = 50) -> list[ResultPublic]:
    """A scenario's results over time, newest first (each with its version and inputs)."""
    scenario = library.get_scenario(session, code)
    rows = session.execute(select(ReadinessResult).where(
        ReadinessResult.scenario_id == scenario.id).order_by(ReadinessResult.id.desc())
        .limit(limit)).scalars()
    return [result_public(session, r) for r in rows]


def runs(session: Session, *, limit: int = 20) -> list[ReadinessRun]:
    """The newest runs first."""
    return list(session.execute(select(ReadinessRun).order_by(ReadinessRun.id.desc())
                                .limit(limit)).scalars())


# ---------------------------------------------------------------------------------------------
# Exercise incidents


def open_exercise(session: Session, *, code: str, onset: datetime, actor: str) -> Incident:
    """Open a real incident with a library scenario's current sites and head counts (演练):
    a dispatcher plans it in the desk exactly as readiness planned it."""
    scenario = library.get_scenario(session, code)
    version = library.current_version(session, scenario)
    incident = incident_for(scenario, version, onset=onset, actor=actor)
    incident.name = f"演练 {incident.name}"[:120]
    session.add(incident)
    session.flush()
    for site in sites_for(library.township_people(session, version), incident.id):
        session.add(site)
        session.flush()
        session.add(HeadCount(site_id=site.id or 0, people=site.people,
                              reported_at=onset, reported_by=f"readiness {code} "
                              f"v{version.version}", recorded_by=actor))
    record(session, actor=actor, action="readiness.exercise", entity="incident",
           entity_id=str(incident.id), details={"scenario": code, "version": version.version})
    return incident


@dataclass(frozen=True)
class LibraryRow:
    """A library scenario with its current version and the people it puts in a scenario."""

    scenario: ReadinessScenario
    version: ScenarioVersion
    townships: list[library.TownshipPeople]

    @property
    def people(self) -> int:
        """Displaced people in all."""
        return sum(t.displaced for t in self.townships)

    @property
    def sheltered(self) -> int:
        """Of them, already in a standing shelter."""
        return sum(t.sheltered for t in self.townships)


def library_rows(session: Session, *, county: str | None = None) -> list[LibraryRow]:
    """Library scenarios (active or not) with their current version, for lists and the
    console."""
    out = []
    for sc in library.scenarios(session, county=county, active=None):
        v = library.current_version(session, sc)
        out.append(LibraryRow(scenario=sc, version=v,
                              townships=library.township_people(session, v)))
    return out
