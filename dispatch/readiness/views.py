"""HTTP routes of readiness under /api/v1/readiness: the scenario library, runs and results,
counties, exercise incidents and pre-positioning advice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydField

from dispatch.models.incidents import IncidentPublic
from dispatch.readiness import advice_service, library, report, service
from dispatch.readiness.models import (
    AdvicePublic,
    AdviceRequestIn,
    DecisionIn,
    Hazard,
    OrderPublic,
    ResultPublic,
    RunPublic,
    RunRequestIn,
    ScenarioEdit,
    ScenarioIn,
    ScenarioPublic,
    Trigger,
    VersionPublic,
)
from dispatch.readiness.runner import ReadinessRunner
from dispatch.service import incident_public
from relief.platform.api import IdempotencyKey, PathId, Seq, idempotent_post, settings_of
from relief.platform.auth import DatabaseDep, Reader, require
from relief.platform.dbtypes import utcnow
from relief.platform.errors import InvalidInput
from relief.platform.fields import NearNow
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies.ledger import MoveContext

router = APIRouter(prefix="/api/v1/readiness", tags=["readiness"])

Planner = Annotated[Principal, Depends(require(Role.dispatcher))]
StockActor = Annotated[Principal, Depends(require(Role.depot_manager))]


def runner_of(request: Request) -> ReadinessRunner:
    """The application's readiness runner."""
    return request.app.state.readiness  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# The scenario library


@router.get("/scenarios", response_model=list[ScenarioPublic])
def list_scenarios(db: DatabaseDep, _user: Reader, county: str | None = None,
                   hazard: Hazard | None = None, include_inactive: bool = False
                   ) -> list[ScenarioPublic]:
    """Library scenarios with their current version, in county and code order."""
    with db.read_session() as session:
        return [library.scenario_public(session, s) for s in
                library.scenarios(session, county=county, hazard=hazard,
                                  active=None if include_inactive else True)]


@router.post("/scenarios", status_code=201, response_model=ScenarioPublic)
def post_scenario(body: ScenarioIn, request: Request, user: Planner,
                  key: IdempotencyKey = None) -> JSONResponse:
    """Add a scenario to the library (version 1): townships of the county, the shares and
    where they come from (``*_basis``: cited, derived or assumption)."""
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           library.scenario_public(s, library.create_scenario(
                               s, data=body, actor=user.actor)))


@router.get("/scenarios/{code}", response_model=ScenarioPublic)
def get_scenario(code: str, db: DatabaseDep, _user: Reader) -> ScenarioPublic:
    """One scenario with its current version."""
    with db.read_session() as session:
        return library.scenario_public(session, library.get_scenario(session, code))


@router.patch("/scenarios/{code}", response_model=ScenarioPublic)
def patch_scenario(code: str, body: ScenarioEdit, db: DatabaseDep, user: Planner
                   ) -> BaseModel:
    """Edit a scenario: changed content becomes the next version (results keep theirs);
    ``active`` takes it in or out of runs."""
    return db.write(lambda s: library.scenario_public(s, library.edit_scenario(
        s, code=code, data=body, actor=user.actor)))


@router.get("/scenarios/{code}/versions", response_model=list[VersionPublic])
def list_versions(code: str, db: DatabaseDep, _user: Reader) -> list[VersionPublic]:
    """Every version of a scenario, oldest first."""
    with db.read_session() as session:
        scenario = library.get_scenario(session, code)
        return [library.version_public(session, v) for v in library.versions(session, scenario)]


@router.get("/scenarios/{code}/results", response_model=list[ResultPublic])
def scenario_trend(code: str, db: DatabaseDep, _user: Reader,
                   limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[ResultPublic]:
    """The scenario's readiness over time, newest first, each with its version and inputs."""
    with db.read_session() as session:
        return service.trend(session, code, limit=limit)


class ExerciseIn(BaseModel):
    """Body of POST /readiness/scenarios/{code}/exercise."""

    model_config = ConfigDict(extra="forbid")

    onset: NearNow | None = PydField(default=None, description="ISO-8601 with a time zone, "
                                     "within years of now; default now")


@router.post("/scenarios/{code}/exercise", status_code=201, response_model=IncidentPublic)
def post_exercise(code: str, body: ExerciseIn, request: Request, user: Planner,
                  key: IdempotencyKey = None) -> JSONResponse:
    """Open an exercise incident (演练) with the scenario's sites and head counts; plan it in
    the dispatch desk like any incident."""
    onset = body.onset or utcnow()
    if onset.tzinfo is None:
        raise InvalidInput.of("readiness.onset_timezone", field="onset")
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           incident_public(s, service.open_exercise(
                               s, code=code, onset=onset, actor=user.actor)))


# ---------------------------------------------------------------------------------------------
# Runs and results


@router.post("/runs", status_code=202, response_model=RunPublic)
def post_run(body: RunRequestIn, request: Request, user: Planner,
             key: IdempotencyKey = None) -> JSONResponse:
    """Run readiness now over the whole library (or one county): 202 with the run; poll
    ``GET /readiness/runs/{id}``."""
    runner = runner_of(request)
    limit = body.time_limit_s or runner.time_limit_s
    today = settings_of(request).today()
    response = idempotent_post(
        request, principal=user, key=key, body=body, status_code=202,
        use_case=lambda s: service.run_public(service.request_run(
            s, county=body.county, time_limit_s=limit, trigger=Trigger.on_demand,
            actor=user.actor, today=today, queue=runner.queue)))
    return response


@router.get("/runs", response_model=list[RunPublic])
def list_runs(db: DatabaseDep, _user: Reader,
              limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[RunPublic]:
    """The newest runs first."""
    with db.read_session() as session:
        return [service.run_public(r) for r in service.runs(session, limit=limit)]


@router.get("/runs/{run_id}", response_model=RunPublic)
def get_run(run_id: PathId, db: DatabaseDep, _user: Reader) -> RunPublic:
    """A run: status, progress (scenarios done of total), error."""
    with db.read_session() as session:
        return service.run_public(service.get_run(session, run_id))


@router.get("/runs/{run_id}/results", response_model=list[ResultPublic])
def get_run_results(run_id: PathId, db: DatabaseDep, _user: Reader) -> list[ResultPublic]:
    """Every scenario's result in a run."""
    with db.read_session() as session:
        return service.run_results(session, run_id)


@router.get("/results", response_model=list[ResultPublic])
def latest(db: DatabaseDep, _user: Reader, county: str | None = None) -> list[ResultPublic]:
    """The newest result of every active scenario (of one county)."""
    with db.read_session() as session:
        return service.latest_results(session, county=county)


@router.get("/counties", response_model=list[report.CountyReadiness])
def counties(request: Request, db: DatabaseDep, _user: Reader
             ) -> list[report.CountyReadiness]:
    """Per county: its scenarios' latest results, the worst with its binding reason, and per
    item the catalogue's quota shortfall beside the scenario gap, in units and tonnes."""
    with db.read_session() as session:
        return report.counties(session, today=settings_of(request).today())


# ---------------------------------------------------------------------------------------------
# Pre-positioning advice


@router.post("/advice", status_code=202, response_model=AdvicePublic)
def post_advice(body: AdviceRequestIn, request: Request, user: Planner,
                key: IdempotencyKey = None) -> JSONResponse:
    """Ask for pre-positioning advice within a budget: 202 with the job; poll
    ``GET /readiness/advice/{id}`` for the orders and the engine's before/after check."""
    runner = runner_of(request)
    data = body if body.time_limit_s else body.model_copy(
        update={"time_limit_s": runner.time_limit_s})
    today = settings_of(request).today()
    response = idempotent_post(
        request, principal=user, key=key, body=body, status_code=202,
        use_case=lambda s: advice_service.advice_public(s, advice_service.request_advice(
            s, data=data, actor=user.actor, today=today, queue=runner.queue)))
    return response


@router.get("/advice", response_model=list[AdvicePublic])
def list_advice(db: DatabaseDep, _user: Reader,
                limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[AdvicePublic]:
    """The newest advice first."""
    with db.read_session() as session:
        return [advice_service.advice_public(session, a)
                for a in advice_service.advice_list(session, limit=limit)]


@router.get("/advice/{advice_id}", response_model=AdvicePublic)
def get_advice(advice_id: PathId, db: DatabaseDep, _user: Reader) -> AdvicePublic:
    """An advice: status, objective, orders, and every scenario before and after."""
    with db.read_session() as session:
        return advice_service.advice_public(session, advice_service.get_advice(session,
                                                                               advice_id))


def _ctx(request: Request, user: Principal, key: str | None) -> MoveContext:
    return MoveContext(actor=user.actor, today=settings_of(request).today(),
                       reference=None, reason="pre-positioning advice", idempotency_key=key)


@router.post("/advice/{advice_id}/orders/{seq}/accept", response_model=OrderPublic)
def post_accept(advice_id: PathId, seq: Seq, body: DecisionIn, request: Request,
                user: StockActor, key: IdempotencyKey = None) -> JSONResponse:
    """Accept an order: a transfer is sent through the ledger from the sending depot (its
    manager or an admin); accepting again changes nothing. 409 when stock moved since."""
    ctx = _ctx(request, user, key)
    return idempotent_post(request, principal=user, key=key, body=body, status_code=200,
                           use_case=lambda s: advice_service.order_public(
                               s, advice_service.accept_order(
                                   s, advice_id=advice_id, seq=seq, principal=user, ctx=ctx,
                                   note=body.note)))


@router.post("/advice/{advice_id}/orders/{seq}/decline", response_model=OrderPublic)
def post_decline(advice_id: PathId, seq: Seq, body: DecisionIn, request: Request,
                 user: StockActor, key: IdempotencyKey = None) -> JSONResponse:
    """Decline a draft order (a manager of either depot, or an admin)."""
    return idempotent_post(request, principal=user, key=key, body=body, status_code=200,
                           use_case=lambda s: advice_service.order_public(
                               s, advice_service.decline_order(
                                   s, advice_id=advice_id, seq=seq, principal=user,
                                   note=body.note)))
