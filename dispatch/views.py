"""HTTP routes of the dispatch domain under /api/v1: fleet, incidents, plans, shipments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import (
    activations,
    approval,
    bulk,
    cargo,
    deliveries,
    flows,
    manifest,
    readmodels,
    record,
    reports,
    service,
    trips,
)
from dispatch.models import (
    DispatchPlan,
    Incident,
    IncidentStatus,
    Shipment,
    ShipmentStatus,
    TransportEnterprise,
    Vehicle,
    VehicleStatus,
)
from dispatch.models.activations import ActivationCancelIn, ActivationIn, ActivationPublic
from dispatch.models.fleet import (
    TransportEnterpriseCreate,
    TransportEnterprisePublic,
    TransportEnterpriseUpdate,
    VehicleCreate,
    VehiclePublic,
    VehicleUpdate,
)
from dispatch.models.incidents import (
    ClosureIn,
    ClosurePublic,
    HeadCountIn,
    IncidentIn,
    IncidentPublic,
    SiteIn,
    SitePublic,
)
from dispatch.models.plans import (
    BulkCancelIn,
    BulkDepartIn,
    BulkOutcome,
    CancelIn,
    DriverIn,
    PlanJobPublic,
    PlanRequestIn,
    ShipmentPublic,
    StopConfirmIn,
)
from dispatch.roads import load_graph
from relief.platform import crud
from relief.platform.api import (
    IdempotencyKey,
    Limit,
    Offset,
    Page,
    PathId,
    Seq,
    idempotent_post,
    settings_of,
)
from relief.platform.auth import Admin, DatabaseDep, Reader, require
from relief.platform.dbtypes import utcnow
from relief.platform.models import Role
from relief.platform.principal import Principal
from relief.platform.statustext import public_fields
from supplies.ledger import MoveContext
from supplies.service import get_depot

router = APIRouter(prefix="/api/v1")


@router.get("/vehicles", response_model=Page[VehiclePublic], tags=["fleet"])
def list_vehicles(db: DatabaseDep, _user: Reader, depot: str | None = None,
                  enterprise: str | None = None, status: VehicleStatus | None = None,
                  limit: Limit = 200, offset: Offset = 0) -> Page[VehiclePublic]:
    """Vehicles, at depots or with transport enterprises."""
    with db.read_session() as session:
        stmt = select(Vehicle).order_by(Vehicle.plate)
        if depot:
            stmt = stmt.where(Vehicle.depot_id == get_depot(session, depot).id)
        if enterprise:
            stmt = stmt.where(Vehicle.enterprise_id
                              == service.get_enterprise(session, enterprise).id)
        if status:
            stmt = stmt.where(Vehicle.status == status)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[service.vehicle_public(session, v) for v in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/vehicles/{plate}", response_model=VehiclePublic, tags=["fleet"])
def get_vehicle(plate: str, db: DatabaseDep, _user: Reader) -> VehiclePublic:
    """One vehicle."""
    with db.read_session() as session:
        return service.vehicle_public(session, service.get_vehicle(session, plate))


@router.post("/vehicles", status_code=201, response_model=VehiclePublic, tags=["fleet"])
def post_vehicle(body: VehicleCreate, request: Request, user: Admin,
                 key: IdempotencyKey = None) -> JSONResponse:
    """Register a vehicle (admin)."""
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           service.vehicle_public(s, service.create_vehicle(
                               s, data=body, actor=user.actor)))


@router.patch("/vehicles/{plate}", response_model=VehiclePublic, tags=["fleet"])
def patch_vehicle(plate: str, body: VehicleUpdate, db: DatabaseDep, user: Admin) -> BaseModel:
    """Change a vehicle (admin): status, capacity, driver."""
    return db.write(lambda s: service.vehicle_public(s, service.update_vehicle(
        s, plate=plate, data=body, actor=user.actor)))


@router.get("/transport-enterprises", response_model=Page[TransportEnterprisePublic],
            tags=["fleet"])
def list_enterprises(db: DatabaseDep, _user: Reader, limit: Limit = 200, offset: Offset = 0
                     ) -> Page[TransportEnterprisePublic]:
    """Transport enterprises under agreement."""
    with db.read_session() as session:
        stmt = select(TransportEnterprise).order_by(TransportEnterprise.code)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[service.enterprise_public(e) for e in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/transport-enterprises/{code}", response_model=TransportEnterprisePublic,
            tags=["fleet"])
def get_enterprise(code: str, db: DatabaseDep, _user: Reader) -> TransportEnterprisePublic:
    """One transport enterprise."""
    with db.read_session() as session:
        return service.enterprise_public(service.get_enterprise(session, code, field="code"))


@router.post("/transport-enterprises", status_code=201, response_model=TransportEnterprisePublic,
             tags=["fleet"])
def post_enterprise(body: TransportEnterpriseCreate, request: Request, user: Admin,
                    key: IdempotencyKey = None) -> JSONResponse:
    """Register a transport enterprise (admin)."""
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           service.enterprise_public(service.create_enterprise(
                               s, data=body, actor=user.actor)))


@router.patch("/transport-enterprises/{code}", response_model=TransportEnterprisePublic,
              tags=["fleet"])
def patch_enterprise(code: str, body: TransportEnterpriseUpdate, db: DatabaseDep, user: Admin
                     ) -> BaseModel:
    """Change a transport enterprise (admin)."""
    return db.write(lambda s: service.enterprise_public(service.update_enterprise(
        s, code=code, data=body, actor=user.actor)))


# ---------------------------------------------------------------------------------------------
# Incidents


Dispatcher = Annotated[Principal, Depends(require(Role.dispatcher))]
TripActor = Annotated[Principal, Depends(require(Role.dispatcher, Role.depot_manager))]


def _ctx(request: Request, user: Principal, key: str | None) -> MoveContext:
    return MoveContext(actor=user.actor, today=settings_of(request).today(),
                       idempotency_key=key)


@router.post("/incidents", status_code=201, response_model=IncidentPublic, tags=["incidents"])
def post_incident(body: IncidentIn, request: Request, user: Dispatcher,
                  key: IdempotencyKey = None) -> JSONResponse:
    """Open an incident (kind, name, onset, deadline hours, optional needs standard)."""
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           service.incident_public(s, service.create_incident(
                               s, data=body, actor=user.actor)))


@router.get("/incidents", response_model=Page[IncidentPublic], tags=["incidents"])
def list_incidents(db: DatabaseDep, _user: Reader, status: IncidentStatus | None = None,
                   limit: Limit = 50, offset: Offset = 0) -> Page[IncidentPublic]:
    """Incidents, newest first."""
    with db.read_session() as session:
        stmt = select(Incident).order_by(Incident.id.desc())
        if status:
            stmt = stmt.where(Incident.status == status)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[service.incident_public(session, i) for i in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/incidents/{incident_id}", response_model=IncidentPublic, tags=["incidents"])
def get_incident(incident_id: PathId, db: DatabaseDep, _user: Reader) -> IncidentPublic:
    """An incident with its sites (latest head counts) and road closures."""
    with db.read_session() as session:
        return service.incident_public(session, service.get_incident(session, incident_id))


@router.post("/incidents/{incident_id}/close", response_model=IncidentPublic,
             tags=["incidents"])
def post_close(incident_id: PathId, request: Request, user: Dispatcher,
               key: IdempotencyKey = None) -> JSONResponse:
    """Close an incident."""
    return idempotent_post(request, principal=user, key=key, body=None, status_code=200,
                           use_case=lambda s: service.incident_public(s, service.close_incident(
                               s, incident_id=incident_id, actor=user.actor)))


@router.post("/incidents/{incident_id}/sites", status_code=201, response_model=SitePublic,
             tags=["incidents"])
def post_site(incident_id: PathId, body: SiteIn, request: Request, user: Dispatcher,
              key: IdempotencyKey = None) -> JSONResponse:
    """Add an affected site: a shelter (depot code), a township (division code) or a point."""
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           SitePublic.model_validate(service.add_site(
                               s, incident_id=incident_id, data=body, actor=user.actor),
                               from_attributes=True))


class SiteHistory(BaseModel):
    """A site and its head-count reports."""

    site: SitePublic
    head_counts: list[dict[str, Any]]


@router.get("/incidents/{incident_id}/sites/{code}", response_model=SiteHistory,
            tags=["incidents"])
def get_site(incident_id: PathId, code: str, db: DatabaseDep, _user: Reader) -> SiteHistory:
    """A site with its head-count history (who reported what, when)."""
    with db.read_session() as session:
        site = service.get_site(session, incident_id, code)
        return SiteHistory(
            site=SitePublic.model_validate(site, from_attributes=True),
            head_counts=[h.model_dump(mode="json", exclude={"site_id"})
                         for h in service.head_counts(session, site)])


@router.post("/incidents/{incident_id}/sites/{code}/head-counts", status_code=201,
             response_model=SitePublic, tags=["incidents"])
def post_head_count(incident_id: PathId, code: str, body: HeadCountIn, request: Request,
                    user: Dispatcher, key: IdempotencyKey = None) -> JSONResponse:
    """Record a new head count for a site (the latest report wins)."""
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           SitePublic.model_validate(service.report_head_count(
                               s, incident_id=incident_id, code=code, data=body,
                               actor=user.actor), from_attributes=True))


@router.post("/incidents/{incident_id}/closures", status_code=201, response_model=ClosurePublic,
             tags=["incidents"])
def post_closure(incident_id: PathId, body: ClosureIn, request: Request, user: Dispatcher,
                 key: IdempotencyKey = None) -> JSONResponse:
    """Close a road edge (a, b) or every edge crossing a polygon."""
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           ClosurePublic.model_validate(service.add_closure(
                               s, incident_id=incident_id, data=body, actor=user.actor),
                               from_attributes=True))


@router.post("/incidents/{incident_id}/closures/{closure_id}/lift",
             response_model=ClosurePublic, tags=["incidents"])
def post_lift(incident_id: PathId, closure_id: PathId, request: Request, user: Dispatcher,
              key: IdempotencyKey = None) -> JSONResponse:
    """Reopen the roads of a closure."""
    return idempotent_post(request, principal=user, key=key, body=None, status_code=200,
                           use_case=lambda s: ClosurePublic.model_validate(service.lift_closure(
                               s, incident_id=incident_id, closure_id=closure_id,
                               actor=user.actor), from_attributes=True))


@router.get("/roads", tags=["incidents"])
def get_roads(_user: Reader) -> dict[str, Any]:
    """The road graph closures refer to: node ids with names and coordinates, and edges."""
    graph = load_graph()
    return {"nodes": [vars(n) for n in graph.nodes.values()],
            "edges": [vars(e) for e in graph.edges]}


# ---------------------------------------------------------------------------------------------
# Reserve activations

_DRAW_RESERVES = "draw:agreement"


@router.post("/incidents/{incident_id}/activations", status_code=201,
             response_model=ActivationPublic, tags=["incidents"])
def post_activation(incident_id: PathId, body: ActivationIn, request: Request, user: Dispatcher,
                    key: IdempotencyKey = None) -> JSONResponse:
    """Activate an agreement reserve (``agreement``: contract id) or a capacity reserve
    (``capacity``) for the incident: ``quantity`` units, called at ``activated_at`` (default
    now; may precede a future onset). Its lead time counts from then, and the incident's plans
    draw on what was activated. Needs scope ``draw:agreement``."""
    user.require_scope(_DRAW_RESERVES)
    today = settings_of(request).today()
    return idempotent_post(request, principal=user, key=key, body=body, use_case=lambda s:
                           activations.public(s, service.get_incident(s, incident_id),
                                              activations.activate(
                                                  s, incident_id=incident_id, data=body,
                                                  actor=user.actor, today=today)))


@router.get("/incidents/{incident_id}/activations", response_model=list[ActivationPublic],
            tags=["incidents"])
def list_activations(incident_id: PathId, db: DatabaseDep, _user: Reader,
                     include_cancelled: bool = True) -> list[ActivationPublic]:
    """The incident's reserve activations, earliest first, with what its plans drew on each."""
    with db.read_session() as session:
        return activations.listing(session, incident_id, include_cancelled=include_cancelled)


@router.post("/incidents/{incident_id}/activations/{activation_id}/cancel",
             response_model=ActivationPublic, tags=["incidents"])
def post_cancel_activation(incident_id: PathId, activation_id: PathId, body: ActivationCancelIn,
                           request: Request, user: Dispatcher, key: IdempotencyKey = None
                           ) -> JSONResponse:
    """Withdraw an activation (409 while approved plans draw on it). Needs ``draw:agreement``."""
    user.require_scope(_DRAW_RESERVES)
    return idempotent_post(request, principal=user, key=key, body=body, status_code=200,
                           use_case=lambda s: activations.public(
                               s, service.get_incident(s, incident_id), activations.cancel(
                                   s, incident_id=incident_id, activation_id=activation_id,
                                   data=body, actor=user.actor)))


# ---------------------------------------------------------------------------------------------
# Plans


def _job_public(plan: DispatchPlan, *, full: bool = False) -> PlanJobPublic:
    summary = (record.record_of(plan).plan.summary.model_dump()
               if record.has_record(plan) else None)
    return PlanJobPublic(
        id=plan.id or 0, incident_id=plan.incident_id, status=plan.status, state=plan.state,
        phase=plan.phase, progress=plan.progress, time_limit_s=plan.time_limit_s,
        as_of_min=plan.as_of_min, requested_by=plan.requested_by,
        requested_at=plan.requested_at, started_at=plan.started_at,
        finished_at=plan.finished_at, **public_fields(plan), summary=summary,
        verdict=plan.verdict, approved_by=plan.approved_by, approved_at=plan.approved_at,
        lane=plan.lane, attempts=plan.attempts, cancel_requested_by=plan.cancel_requested_by,
        cancel_requested_at=plan.cancel_requested_at,
        plan=plan.result if full else None, scenario=plan.scenario if full else None,
        reoptimise=plan.reoptimise, supersedes=plan.supersedes, diagnosis=plan.diagnosis)


def plan_queue(request: Request) -> flows.PlanQueue:
    """Where this application's planning jobs go (relief.app.wiring builds it)."""
    return request.app.state.runner.queue  # type: ignore[no-any-return]


_CAPPED = {429: {"description": "Too many planning jobs queued or running for the incident "
                  "or for the user (`plan_cap_reached`; details: scope, active, cap)"}}


@router.post("/incidents/{incident_id}/plans", status_code=202, response_model=PlanJobPublic,
             tags=["plans"], responses=_CAPPED)
def post_plan(incident_id: PathId, body: PlanRequestIn, request: Request, user: Dispatcher,
              key: IdempotencyKey = None) -> JSONResponse:
    """Start planning what the incident still misses from live stock; 202 with the job.

    The job is queued in the same transaction (it runs even if this process dies next), in
    the urgent lane when its time limit is short. At most ``plan_cap_per_incident`` jobs may be
    queued or running per incident and ``plan_cap_per_user`` per dispatcher (429).
    Poll ``GET /incidents/{id}/plans/{plan_id}`` for status, progress and the result.
    Vehicles on the road are planned from when their live trips end (re-timed); with
    ``reoptimise`` the approved trips not yet departed are re-planned with the new demand
    (approval cancels them and reserves anew in one transaction). ``diagnosis`` says why
    demand stays unmet (e.g. the fleet busy until 14:20, not "no stock").
    """
    settings, queue = settings_of(request), plan_queue(request)
    return idempotent_post(
        request, principal=user, key=key, body=body, status_code=202,
        use_case=lambda s: _job_public(flows.request_plan(
            s, incident_id=incident_id, time_limit_s=body.time_limit_s, actor=user.actor,
            settings=settings, queue=queue, reoptimise=body.reoptimise)))


@router.post("/incidents/{incident_id}/plans/{plan_id}/cancel", response_model=PlanJobPublic,
             tags=["plans"], responses={409: {"description": "The job already finished"}})
def post_cancel_plan(incident_id: PathId, plan_id: PathId, request: Request, user: Dispatcher,
                     key: IdempotencyKey = None) -> JSONResponse:
    """Cancel a planning job: a queued one is cancelled at once; a running one stops within a
    couple of seconds (``cancel_requested_at`` is set, ``status`` becomes ``cancelled``)."""
    queue = plan_queue(request)
    return idempotent_post(
        request, principal=user, key=key, body=None, status_code=200,
        use_case=lambda s: _job_public(flows.cancel_plan(
            s, incident_id=incident_id, plan_id=plan_id, actor=user.actor, queue=queue)))


@router.get("/incidents/{incident_id}/plans", response_model=list[PlanJobPublic],
            tags=["plans"])
def list_plans(incident_id: PathId, db: DatabaseDep, _user: Reader) -> list[PlanJobPublic]:
    """The incident's planning jobs, newest first (without the plan bodies)."""
    with db.read_session() as session:
        service.get_incident(session, incident_id)
        rows = session.execute(select(DispatchPlan).where(
            DispatchPlan.incident_id == incident_id).order_by(DispatchPlan.id.desc())).scalars()
        return [_job_public(p) for p in rows]


@router.get("/incidents/{incident_id}/plans/{plan_id}", response_model=PlanJobPublic,
            tags=["plans"])
def get_plan(incident_id: PathId, plan_id: PathId, db: DatabaseDep, _user: Reader,
             full: Annotated[bool, Query(description="Include the plan and scenario JSON")]
             = True) -> PlanJobPublic:
    """A planning job: status, progress, and when done the plan and the checker's verdict."""
    with db.read_session() as session:
        return _job_public(record.get_plan(session, plan_id, incident_id=incident_id),
                           full=full)


@router.post("/incidents/{incident_id}/plans/{plan_id}/approve", response_model=PlanJobPublic,
             tags=["plans"])
def post_approve(incident_id: PathId, plan_id: PathId, request: Request, user: Dispatcher,
                 key: IdempotencyKey = None) -> JSONResponse:
    """Approve a plan: reserve its stock and create its shipments, in one transaction.

    409 with ``details.changes`` when stock moved since planning (re-plan), when another plan
    was approved meanwhile, or when the plan failed the checker. Drawing on city-tier stock
    needs scope ``draw:city``; agreement or capacity reserves ``draw:agreement``.
    """
    ctx = _ctx(request, user, key)
    return idempotent_post(request, principal=user, key=key, body=None, status_code=200,
                           use_case=lambda s: _job_public(approval.approve(
                               s, incident_id=incident_id, plan_id=plan_id, principal=user,
                               ctx=ctx)))


# ---------------------------------------------------------------------------------------------
# Shipments


def _shipment(session: Session, shipment: Shipment) -> ShipmentPublic:
    incident = service.get_incident(session, shipment.incident_id)
    return readmodels.shipment_public(session, shipment, incident)


@router.get("/incidents/{incident_id}/shipments", response_model=list[ShipmentPublic],
            tags=["shipments"])
def list_shipments(incident_id: PathId, db: DatabaseDep, _user: Reader,
                   status: ShipmentStatus | None = None) -> list[ShipmentPublic]:
    """The incident's trips with loads and stops."""
    with db.read_session() as session:
        incident = service.get_incident(session, incident_id)
        stmt = select(Shipment).where(Shipment.incident_id == incident_id).order_by(Shipment.id)
        if status:
            stmt = stmt.where(Shipment.status == status)
        return [readmodels.shipment_public(session, s, incident)
                for s in session.execute(stmt).scalars()]


@router.get("/shipments/{shipment_id}", response_model=ShipmentPublic, tags=["shipments"])
def get_shipment(shipment_id: PathId, db: DatabaseDep, _user: Reader) -> ShipmentPublic:
    """One trip."""
    with db.read_session() as session:
        return _shipment(session, cargo.get_shipment(session, shipment_id))


@router.get("/shipments/{shipment_id}/manifest.html", response_class=HTMLResponse,
            tags=["shipments"])
def get_manifest_html(shipment_id: PathId, request: Request, db: DatabaseDep, _user: Reader
                      ) -> HTMLResponse:
    """The printable manifest: vehicle, driver, load by item and lot, stops and times."""
    with db.read_session() as session:
        shipment = cargo.get_shipment(session, shipment_id)
        incident = service.get_incident(session, shipment.incident_id)
        public = readmodels.shipment_public(session, shipment, incident)
    return HTMLResponse(manifest.manifest_html(public, incident_name=incident.name,
                                               tz=settings_of(request).tz))


@router.get("/shipments/{shipment_id}/manifest.csv", response_class=PlainTextResponse,
            tags=["shipments"])
def get_manifest_csv(shipment_id: PathId, request: Request, db: DatabaseDep, _user: Reader
                     ) -> Response:
    """The manifest as CSV."""
    with db.read_session() as session:
        public = _shipment(session, cargo.get_shipment(session, shipment_id))
    filename = f"manifest-{shipment_id}.csv"
    return Response(manifest.manifest_csv(public, tz=settings_of(request).tz),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/shipments/{shipment_id}/depart", response_model=ShipmentPublic,
             tags=["shipments"])
def post_depart(shipment_id: PathId, request: Request, user: TripActor,
                key: IdempotencyKey = None) -> JSONResponse:
    """The truck leaves: its load moves from the depot into transit."""
    ctx = _ctx(request, user, key)
    return idempotent_post(request, principal=user, key=key, body=None, status_code=200,
                           use_case=lambda s: _shipment(s, trips.depart(
                               s, shipment_id=shipment_id, principal=user, ctx=ctx)))


@router.post("/shipments/{shipment_id}/stops/{seq}/confirm", response_model=ShipmentPublic,
             tags=["shipments"])
def post_confirm(shipment_id: PathId, seq: Seq, body: StopConfirmIn, request: Request,
                 user: TripActor, key: IdempotencyKey = None) -> JSONResponse:
    """Confirm a stop: delivered goods go to the affected people; less than planned is a
    recorded shortfall. The last stop completes the trip and returns what is left."""
    ctx = _ctx(request, user, key)
    return idempotent_post(request, principal=user, key=key, body=body, status_code=200,
                           use_case=lambda s: _shipment(s, deliveries.confirm_stop(
                               s, shipment_id=shipment_id, seq=seq, data=body,
                               principal=user, ctx=ctx)))


@router.post("/shipments/{shipment_id}/cancel", response_model=ShipmentPublic,
             tags=["shipments"])
def post_cancel(shipment_id: PathId, body: CancelIn, request: Request, user: TripActor,
                key: IdempotencyKey = None) -> JSONResponse:
    """Cancel a trip: release its stock, or bring back what is still on the truck."""
    ctx = _ctx(request, user, key)
    return idempotent_post(request, principal=user, key=key, body=body, status_code=200,
                           use_case=lambda s: _shipment(s, trips.cancel(
                               s, shipment_id=shipment_id, reason=body.reason, principal=user,
                               ctx=ctx)))


@router.post("/shipments/{shipment_id}/driver", response_model=ShipmentPublic,
             tags=["shipments"])
def post_driver(shipment_id: PathId, body: DriverIn, request: Request, user: TripActor,
                key: IdempotencyKey = None) -> JSONResponse:
    """Name the trip's driver and their phone (shown on the manifest)."""
    return idempotent_post(request, principal=user, key=key, body=body, status_code=200,
                           use_case=lambda s: _shipment(s, trips.set_driver(
                               s, shipment_id=shipment_id, data=body, principal=user)))


@router.post("/incidents/{incident_id}/shipments/depart", response_model=BulkOutcome,
             tags=["shipments"])
def post_bulk_depart(incident_id: PathId, body: BulkDepartIn, request: Request, user: TripActor,
                     key: IdempotencyKey = None) -> JSONResponse:
    """Depart every trip of the incident still to leave, or those of one plan and/or one
    source depot, in one transaction (a depot manager: only their depots' trips)."""
    ctx = _ctx(request, user, key)
    return idempotent_post(request, principal=user, key=key, body=body, status_code=200,
                           use_case=lambda s: bulk.bulk_depart(
                               s, incident_id=incident_id, data=body, principal=user, ctx=ctx))


@router.post("/incidents/{incident_id}/shipments/cancel", response_model=BulkOutcome,
             tags=["shipments"])
def post_bulk_cancel(incident_id: PathId, body: BulkCancelIn, request: Request, user: TripActor,
                     key: IdempotencyKey = None) -> JSONResponse:
    """Cancel every trip of the incident still to leave, or those of one plan and/or one
    source depot, in one transaction (reservations and contract draws released)."""
    ctx = _ctx(request, user, key)
    return idempotent_post(request, principal=user, key=key, body=body, status_code=200,
                           use_case=lambda s: bulk.bulk_cancel(
                               s, incident_id=incident_id, data=body, principal=user, ctx=ctx))


# ---------------------------------------------------------------------------------------------
# Incident reports


@router.get("/incidents/{incident_id}/coverage", response_model=reports.CoverageReport,
            tags=["incidents"])
def get_coverage(incident_id: PathId, db: DatabaseDep, _user: Reader) -> reports.CoverageReport:
    """People covered by the deadline over time, as planned and as delivered."""
    with db.read_session() as session:
        incident = service.get_incident(session, incident_id)
        return reports.coverage(session, incident, now=utcnow())


@router.get("/incidents/{incident_id}/trip-timing", response_model=reports.TimingReport,
            tags=["incidents"])
def get_trip_timing(incident_id: PathId, db: DatabaseDep, _user: Reader
                    ) -> reports.TimingReport:
    """Every approved live trip re-timed on today's roads (closures and lifted closures,
    confirmations, late departures): late, past-deadline and unreachable stops with the
    shipments affected and what they carry."""
    with db.read_session() as session:
        incident = service.get_incident(session, incident_id)
        return reports.timing(session, incident, now=utcnow())


@router.get("/incidents/{incident_id}/replenishment",
            response_model=list[reports.ReplenishDepot], tags=["incidents"])
def get_replenishment(incident_id: PathId, db: DatabaseDep, _user: Reader
                      ) -> list[reports.ReplenishDepot]:
    """What each source sent out and what it needs back (回补)."""
    with db.read_session() as session:
        return reports.replenishment(session, service.get_incident(session, incident_id))
