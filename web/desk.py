"""The dispatch desk: incidents, affected sites and head counts, road closures, planning jobs
with progress, the plan on the map with its coverage table, approval, manifests, and
stop-by-stop delivery confirmation.

Each post calls the dispatch use case the API route calls (``dispatch.service``,
``dispatch.flows.request_plan``, ``dispatch.approval``) with the API's input model, after the
same role check the API route declares.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from dispatch import approval, bulk, flows, record, reports, service
from dispatch.models import (
    FINISHED,
    DispatchPlan,
    Incident,
    IncidentKind,
    IncidentStatus,
    JobStatus,
    PlanState,
)
from dispatch.models.incidents import ClosureIn, HeadCountIn, IncidentIn, SiteIn
from dispatch.models.plans import BulkCancelIn, BulkDepartIn, PlanRequestIn
from dispatch.record import PlanRecord
from dispatch.views import plan_queue
from relief.platform.api import PathId, settings_of
from relief.platform.auth import get_database
from relief.platform.dbtypes import utcnow
from relief.platform.fields import INT32_MAX
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies.models import Depot, DepotKind, Division, DivisionLevel
from web import geo, reserves, trips
from web.forms import FormState, attempt, build
from web.render import page, translator
from web.routing import ConsoleRoute, is_htmx, move_context, redirect, write
from web.session import ConsoleUser, Form
from web.tripquery import TripQuery, trip_page

router = APIRouter(route_class=ConsoleRoute)

SITE_FIELDS = {
    "township": ("township", "people", "households", "reported_by", "name", "sheltered",
                 "contact", "contact_phone"),
    "shelter": ("shelter", "people", "households", "reported_by", "contact", "contact_phone"),
    "point": ("code", "name", "lat", "lon", "people", "households", "reported_by", "sheltered",
              "contact", "contact_phone"),
}
DEFAULT_TIME_LIMIT_S = 30


class _Done(BaseModel):
    """What a console write returns (the id of what it created or changed)."""

    id: int
    status: str = ""


# ---------------------------------------------------------------------------------------------
# Incident list and creation


def _incidents(session: Session) -> list[Any]:
    rows = session.execute(select(Incident).order_by(Incident.status, Incident.id.desc())
                           ).scalars()
    return [service.incident_public(session, i) for i in rows]


def render_incidents(request: Request, user: Principal, form: FormState | None = None,
                     status: int = 200) -> Response:
    """The incident list with the form to open one."""
    tz = settings_of(request).tz
    with get_database(request).read_session() as session:
        incidents = _incidents(session)
    default_onset = datetime.now(tz).strftime("%Y-%m-%dT%H:%M")
    state = form or FormState(values={"onset": default_onset, "deadline_hours": "10",
                                      "kind": "typhoon"})
    return page(request, user, "incidents.html", status=status, incidents=incidents,
                form=state, kinds=list(IncidentKind))


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(request: Request, user: ConsoleUser) -> Response:
    """Open and closed incidents."""
    return render_incidents(request, user)


def _aware(value: str, request: Request) -> Any:
    """A datetime-local value in the configured time zone (the raw text when unparsable)."""
    if not value:
        return datetime.now(settings_of(request).tz)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=settings_of(request).tz)


@router.post("/incidents", response_class=HTMLResponse)
def post_incident(request: Request, user: ConsoleUser, form: Form) -> Response:
    """Open an incident (dispatch.service.create_incident)."""
    user.require_role(Role.dispatcher)
    tr = translator(request)
    state = FormState.of(form)
    data = build(IncidentIn, state, tr, onset=_aware(state.value("onset"), request))
    if data is not None:
        key = str(form.get("idem") or "") or None
        ok, done = attempt(state, tr, lambda: write(
            request, user, key=key, payload=data.model_dump(mode="json"),
            use_case=lambda s: _Done(id=service.create_incident(
                s, data=data, actor=user.actor).id or 0)))
        if ok and done is not None:
            return redirect(f"/console/incidents/{done['id']}")
    return render_incidents(request, user, state, status=state.status)


# ---------------------------------------------------------------------------------------------
# The desk


def _clock_min(incident: Incident, minutes: int | None) -> datetime | None:
    return None if minutes is None else incident.onset + timedelta(minutes=minutes)


def plan_view(rec: PlanRecord, plan: DispatchPlan, incident: Incident) -> dict[str, Any]:
    """A finished plan as the desk shows it, from its typed record: summary, coverage rows,
    unmet needs, routes (by plate) and the sources used."""
    result = rec.plan
    # The diagnosis' reason when it differs from the engine's (a fleet held by approved
    # trips reads as "no stock" to the engine; docs/dispatch.md).
    why = {(u.site, u.need): u.reason for u in (rec.diagnosis.unmet if rec.diagnosis else [])}
    unmet: dict[str, list[dict[str, Any]]] = defaultdict(list)
    shown_unmet = []
    for x in result.unmet:
        u = {**x.model_dump(), "reason": why.get((x.site, x.item), x.reason)}
        unmet[x.site].append(u)
        shown_unmet.append(u)
    coverage = []
    for s in result.sites:
        place = rec.site_place(s.site)
        coverage.append({**s.model_dump(), "name": place.name if place else s.site,
                         "last_arrival": _clock_min(incident, s.last_arrival_min),
                         "unmet": unmet.get(s.site, [])})
    routes = []
    for index, route in enumerate(result.routes):
        trips = []
        for trip in route.trips:
            source = rec.source_place(trip.source)
            points = [[source.lat, source.lon] if source else [None, None]]
            stops = []
            for stop in trip.stops:
                site = rec.site_place(stop.site)
                points.append([site.lat, site.lon] if site else [None, None])
                stops.append({"site": stop.site, "name": site.name if site else stop.site,
                              "arrive_min": stop.arrive_min,
                              "arrive": _clock_min(incident, stop.arrive_min),
                              "unload": stop.unload})
            trips.append({"source": trip.source, "source_name": source.name if source else "",
                          "depart": _clock_min(incident, trip.depart_min),
                          "back": _clock_min(incident, trip.return_min),
                          "load": trip.load, "stops": stops, "points": points})
        routes.append({"vehicle": rec.vehicle(route).plate, "color": index, "trips": trips})
    used = {t.source for r in result.routes for t in r.trips}
    return {
        "summary": result.summary.model_dump(),
        "coverage": coverage,
        "unmet": shown_unmet,
        "routes": routes,
        "sources": [{"id": p.id, "name": p.name, "tier": rec.sources[p.id].tier,
                     "lat": p.lat, "lon": p.lon}
                    for p in rec.outline.sources if p.id in used],
        "deadline": _clock_min(incident, rec.outline.deadline_min),
        "latest_arrival": _clock_min(incident, result.summary.latest_arrival_min),
        "as_of": _clock_min(incident, plan.as_of_min),
        "verdict": rec.verdict.model_dump(),
    }


def desk_context(session: Session, incident_id: int, plan_id: int | None, *, now: datetime,
                 trip_query: TripQuery | None = None) -> dict[str, Any]:
    """Everything the desk page shows for one incident."""
    incident = service.get_incident(session, incident_id)
    public = service.incident_public(session, incident)
    plans = list(session.execute(select(DispatchPlan).where(
        DispatchPlan.incident_id == incident_id).order_by(DispatchPlan.id.desc())).scalars())
    selected = None
    if plan_id is not None:
        selected = record.get_plan(session, plan_id, incident_id=incident_id)
    elif plans:
        selected = plans[0]
    view = (plan_view(record.record_of(selected), selected, incident)
            if selected is not None and record.has_record(selected) else None)
    trip_list = trip_page(session, trip_query or TripQuery(), incident_id=incident_id)
    items = trips.items_by_code(session)
    divisions = {d.code: d for d in session.execute(select(Division)).scalars()}
    townships = sorted(
        (d for d in divisions.values()
         if d.level in (DivisionLevel.township, DivisionLevel.township_other)
         and d.lat is not None and d.lon is not None),
        key=lambda d: (d.parent_code or "", d.code))
    shelters = list(session.execute(select(Depot).where(
        Depot.kind == DepotKind.shelter, Depot.active.is_(True)).order_by(Depot.code)).scalars())
    try:
        coverage_now: reports.CoverageReport | None = reports.coverage(session, incident, now=now)
    except ValueError:  # a needs standard naming items the catalogue lacks: show no figure
        coverage_now = None
    # Site colours: what the approved trips cover (as planned, cancellations counted) and what
    # the plan on show would cover, so a re-plan's draft never hides the approved coverage.
    draft = {row["site"]: row["covered"] for row in (view["coverage"] if view else [])
             } if selected is not None and selected.state != PlanState.approved else {}
    approved_any = any(p.state == PlanState.approved for p in plans)
    approved = ({row.site: row.covered_as_planned for row in coverage_now.sites}
                if coverage_now is not None and approved_any else {})
    map_json = {
        "page": "desk",
        "base": geo.base_url(),
        "sites": [{"code": s.code, "name": s.name, "lat": s.lat, "lon": s.lon,
                   "people": s.people, "kind": s.kind, "approved": approved.get(s.code),
                   "draft": draft.get(s.code)}
                  for s in public.sites if s.active],
        "closures": [{"id": c.id, "edges": c.edges, "polygon": c.polygon,
                      "reason": c.reason or ""}
                     for c in public.closures if c.lifted_at is None],
        "routes_url": (f"/console/incidents/{incident_id}/plans/{selected.id}/routes.json"
                       if view and selected is not None else ""),
        "sources": view["sources"] if view else [],
    }
    return {
        "incident": public,
        "incident_open": incident.status == IncidentStatus.open,
        "plans": plans,
        "selected": selected,
        "view": view,
        "items": items,
        **trips.panel_values(trip_list, list_url=f"/console/incidents/{incident_id}/trips",
                             page_url=f"/console/incidents/{incident_id}", items=items,
                             show_incident=False),
        "townships": townships,
        "division_names": {c: d.name for c, d in divisions.items()},
        "shelters": shelters,
        "coverage_now": coverage_now,
        "map_json": map_json,
        "time_limit_default": DEFAULT_TIME_LIMIT_S,
        "route_rows": [(r, t) for r in (view["routes"] if view else []) for t in r["trips"]],
        "rpage": 1,
    }


def render_desk(request: Request, user: Principal, incident_id: int, *,
                plan_id: int | None = None, forms: dict[str, FormState] | None = None,
                status: int = 200, done: str | None = None) -> Response:
    """The desk page with the given form states in place (after a failed post, the address
    bar is set back to the desk's own address)."""
    with get_database(request).read_session() as session:
        ctx = desk_context(session, incident_id, plan_id, now=utcnow(),
                           trip_query=TripQuery.of(request.query_params))
        ctx["map_json"]["labels"] = {**translator(request).map_labels(),
                                     "counties": geo.county_labels(session)}
        ctx.update(reserves.panel(session, incident_id, settings_of(request).today(),
                                  translator(request)))
    rpage = str(request.query_params.get("rpage") or "1")
    ctx["rpage"] = max(1, min(int(rpage), 10_000)) if rpage.isdigit() else 1
    states: dict[str, FormState] = defaultdict(FormState)
    states["site"] = FormState(values={"mode": "township"})
    states["plan"] = FormState(values={"time_limit_s": str(DEFAULT_TIME_LIMIT_S)})
    states["closure"] = FormState(values={"mode": "edge"})
    states.update(forms or {})
    canonical = "" if request.method == "GET" else (
        f"/console/incidents/{incident_id}" + (f"?plan={plan_id}" if plan_id else ""))
    return page(request, user, "incident.html", status=status, forms=states, done=done or "",
                canonical=canonical, **ctx)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def desk(request: Request, incident_id: PathId, user: ConsoleUser,
         plan: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
         done: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """The dispatch desk of one incident."""
    return render_desk(request, user, incident_id, plan_id=plan, done=done)


def _desk_post(request: Request, user: Principal, form: Any, incident_id: int, name: str,
               model: type[BaseModel] | None, run: Any, *, data: BaseModel | None = None,
               state: FormState | None = None, plan_id: int | None = None,
               after: str = "", **fixed: Any) -> Response:
    """Validate a desk form, run its use case, then redirect or re-render with the errors."""
    tr = translator(request)
    state = state or FormState.of(form)
    if data is None and model is not None and not state.failed:
        data = build(model, state, tr, **fixed)
    if not state.failed:
        key = str(form.get("idem") or "") or None
        payload = data.model_dump(mode="json") if data is not None else None
        ok, done = attempt(state, tr, lambda: write(
            request, user, key=key, payload=payload,
            use_case=lambda s: run(s, data, move_context(request, user, key))))
        if ok and done is not None:
            return redirect(after or f"/console/incidents/{incident_id}")
    return render_desk(request, user, incident_id, plan_id=plan_id, forms={name: state},
                       status=state.status)


@router.post("/incidents/{incident_id}/sites", response_class=HTMLResponse)
def post_site(request: Request, incident_id: PathId, user: ConsoleUser, form: Form) -> Response:
    """Add an affected site: a township, a shelter or a point picked on the map."""
    user.require_role(Role.dispatcher)
    tr = translator(request)
    state = FormState.of(form)
    mode = state.value("mode", "township")
    names = SITE_FIELDS.get(mode, SITE_FIELDS["township"])
    only = FormState(values={k: v for k, v in state.values.items() if k in names})
    data = build(SiteIn, only, tr)
    state.errors, state.message, state.status = only.errors, only.message, only.status
    return _desk_post(
        request, user, form, incident_id, "site", None, data=data, state=state,
        run=lambda s, d, _c: _Done(id=service.add_site(s, incident_id=incident_id, data=d,
                                                       actor=user.actor).id or 0),
        after=f"/console/incidents/{incident_id}?done=site#sites")


@router.post("/incidents/{incident_id}/sites/{code}/head-counts", response_class=HTMLResponse)
def post_head_count(request: Request, incident_id: PathId, code: str, user: ConsoleUser,
                    form: Form) -> Response:
    """Record a new head count for a site."""
    user.require_role(Role.dispatcher)
    return _desk_post(
        request, user, form, incident_id, f"headcount-{code}", HeadCountIn,
        lambda s, d, _c: _Done(id=service.report_head_count(
            s, incident_id=incident_id, code=code, data=d, actor=user.actor).id or 0),
        after=f"/console/incidents/{incident_id}?done=headcount#sites")


@router.post("/incidents/{incident_id}/closures", response_class=HTMLResponse)
def post_closure(request: Request, incident_id: PathId, user: ConsoleUser, form: Form) -> Response:
    """Close a road edge picked on the map, or every edge crossing a drawn polygon."""
    user.require_role(Role.dispatcher)
    tr = translator(request)
    state = FormState.of(form)
    fixed: dict[str, Any] = {}
    if state.value("mode") == "polygon":
        try:
            fixed["polygon"] = json.loads(state.value("polygon") or "null")
        except ValueError:
            state.add("polygon", tr("closure.error.polygon"))
            state.status = 422
        only = FormState(values={"reason": state.value("reason")})
    else:
        only = FormState(values={k: state.value(k) for k in ("a", "b", "reason")})
        if not state.value("a") or not state.value("b"):
            state.add("a", tr("closure.error.edge"))
            state.status = 422
    data = None
    if not state.failed:
        data = build(ClosureIn, only, tr, **fixed)
        state.errors.update(only.errors)
        state.message, state.status = only.message, only.status
    return _desk_post(
        request, user, form, incident_id, "closure", None, data=data, state=state,
        run=lambda s, d, _c: _Done(id=service.add_closure(s, incident_id=incident_id, data=d,
                                                          actor=user.actor).id or 0),
        after=f"/console/incidents/{incident_id}?done=closure#closures")


@router.post("/incidents/{incident_id}/closures/{closure_id}/lift", response_class=HTMLResponse)
def post_lift(request: Request, incident_id: PathId, closure_id: PathId, user: ConsoleUser,
              form: Form) -> Response:
    """Reopen the roads of a closure."""
    user.require_role(Role.dispatcher)
    return _desk_post(
        request, user, form, incident_id, "closure", None,
        lambda s, _d, _c: _Done(id=service.lift_closure(
            s, incident_id=incident_id, closure_id=closure_id, actor=user.actor).id or 0),
        after=f"/console/incidents/{incident_id}?done=lift#closures")


@router.post("/incidents/{incident_id}/close", response_class=HTMLResponse)
def post_close(request: Request, incident_id: PathId, user: ConsoleUser, form: Form) -> Response:
    """Close the incident."""
    user.require_role(Role.dispatcher)
    return _desk_post(
        request, user, form, incident_id, "incident", None,
        lambda s, _d, _c: _Done(id=service.close_incident(
            s, incident_id=incident_id, actor=user.actor).id or 0),
        after=f"/console/incidents/{incident_id}?done=closed")


# ---------------------------------------------------------------------------------------------
# Planning


@router.post("/incidents/{incident_id}/plans", response_class=HTMLResponse)
def post_plan(request: Request, incident_id: PathId, user: ConsoleUser, form: Form) -> Response:
    """Queue a planning job (dispatch.flows.request_plan) and show its progress."""
    user.require_role(Role.dispatcher)
    tr = translator(request)
    state = FormState.of(form)
    data = build(PlanRequestIn, state, tr)
    if data is not None:
        key = str(form.get("idem") or "") or None
        settings, queue = settings_of(request), plan_queue(request)
        ok, job = attempt(state, tr, lambda: write(
            request, user, key=key, payload=data.model_dump(mode="json"),
            use_case=lambda s: _Done(**_job(flows.request_plan(
                s, incident_id=incident_id, time_limit_s=data.time_limit_s,
                actor=user.actor, settings=settings, queue=queue,
                reoptimise=data.reoptimise)))))
        if ok and job is not None:
            return redirect(f"/console/incidents/{incident_id}?plan={job['id']}#plan")
    return render_desk(request, user, incident_id, forms={"plan": state}, status=state.status)


@router.post("/incidents/{incident_id}/plans/{plan_id}/cancel", response_class=HTMLResponse)
def post_cancel_plan(request: Request, incident_id: PathId, plan_id: PathId, user: ConsoleUser,
                     form: Form) -> Response:
    """Cancel a queued or running planning job (dispatch.flows.cancel_plan)."""
    user.require_role(Role.dispatcher)
    queue = plan_queue(request)
    return _desk_post(
        request, user, form, incident_id, "plan", None,
        lambda s, _d, _c: _Done(id=flows.cancel_plan(
            s, incident_id=incident_id, plan_id=plan_id, actor=user.actor,
            queue=queue).id or 0),
        plan_id=plan_id,
        after=f"/console/incidents/{incident_id}?plan={plan_id}#plan")


def _job(plan: DispatchPlan) -> dict[str, Any]:
    return {"id": plan.id or 0, "status": plan.status}


@router.get("/incidents/{incident_id}/plans/{plan_id}/progress", response_class=HTMLResponse)
def plan_progress(request: Request, incident_id: PathId, plan_id: PathId, user: ConsoleUser
                  ) -> Response:
    """The job's phase and progress (htmx polls this); a finished job reloads the desk."""
    with get_database(request).read_session() as session:
        job = record.get_plan(session, plan_id, incident_id=incident_id)
    status, next_url = 200, ""
    if job.status in FINISHED:
        # 286 tells htmx to stop polling; console.js then opens the result (an address that
        # differs from the page's, not only by its hash, so the browser loads it).
        status = 286 if is_htmx(request) else 200
        done = {JobStatus.succeeded: "planned", JobStatus.cancelled: "plan_cancelled"}.get(
            job.status, "plan_failed")
        next_url = f"/console/incidents/{incident_id}?plan={plan_id}&done={done}#plan-result"
    return page(request, user, "_plan_progress.html", status=status, job=job,
                incident_id=incident_id, next_url=next_url)


@router.post("/incidents/{incident_id}/plans/{plan_id}/approve", response_class=HTMLResponse)
def post_approve(request: Request, incident_id: PathId, plan_id: PathId, user: ConsoleUser,
                 form: Form) -> Response:
    """Approve a plan (dispatch.approval.approve); a 409 lists what stock moved."""
    user.require_role(Role.dispatcher)
    return _desk_post(
        request, user, form, incident_id, "approve", None,
        lambda s, _d, c: _Done(id=approval.approve(
            s, incident_id=incident_id, plan_id=plan_id, principal=user, ctx=c).id or 0),
        plan_id=plan_id,
        after=f"/console/incidents/{incident_id}?plan={plan_id}&done=approved#trips")


@router.post("/incidents/{incident_id}/shipments/depart", response_class=HTMLResponse)
def post_bulk_depart(request: Request, incident_id: PathId, user: ConsoleUser, form: Form
                     ) -> Response:
    """Depart every trip still to leave, of one plan and/or one depot, at once
    (dispatch.bulk.bulk_depart; a depot manager: only their depots' trips)."""
    user.require_role(Role.dispatcher, Role.depot_manager)
    return _desk_post(
        request, user, form, incident_id, "bulk", BulkDepartIn,
        lambda s, d, c: bulk.bulk_depart(s, incident_id=incident_id, data=d, principal=user,
                                         ctx=c),
        after=f"/console/incidents/{incident_id}?done=bulk_departed#trips")


@router.post("/incidents/{incident_id}/shipments/cancel", response_class=HTMLResponse)
def post_bulk_cancel(request: Request, incident_id: PathId, user: ConsoleUser, form: Form
                     ) -> Response:
    """Cancel every trip still to leave, of one plan and/or one depot, at once
    (dispatch.bulk.bulk_cancel)."""
    user.require_role(Role.dispatcher, Role.depot_manager)
    return _desk_post(
        request, user, form, incident_id, "bulk", BulkCancelIn,
        lambda s, d, c: bulk.bulk_cancel(s, incident_id=incident_id, data=d, principal=user,
                                         ctx=c),
        after=f"/console/incidents/{incident_id}?done=bulk_cancelled#trips")
