"""The console's readiness view: per county, who would be covered within 10 hours if a library
scenario struck now (the planning engine on live stock, reserves and fleet, from
``dispatch.readiness``), why not, the catalogue's quota shortfall beside the scenario gap, the
scenario library with its editor, runs with progress, and pre-positioning advice with its
before/after check and draft orders to accept or decline.

Each post calls the use case the API route calls, with the API's input model, after the same
role check the API route declares.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from dispatch.readiness import advice_service, library, report, service
from dispatch.readiness.models import (
    AdviceRequestIn,
    Basis,
    DecisionIn,
    JobStatus,
    RunRequestIn,
    ScenarioEdit,
    Trigger,
)
from dispatch.readiness.runner import ReadinessRunner
from relief.platform.api import PathId, QueryId, Seq, settings_of
from relief.platform.auth import get_database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import NotFound
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies.models import Division, DivisionLevel, Item
from web import geo
from web.forms import FormState, attempt, build
from web.i18n import Translator
from web.render import page, translator
from web.routing import ConsoleRoute, is_htmx, move_context, redirect, write
from web.session import ConsoleUser, Form

router = APIRouter(route_class=ConsoleRoute)

# Covered share bands of the map and the tables (a county's worst scenario).
BANDS = ((0.9, "ok"), (0.5, "warn"), (0.0, "bad"))


class _Done(BaseModel):
    """What a console write returns."""

    id: int
    status: str = ""


def band(share: float | None) -> str:
    """The colour band of a covered share ('none' before any run)."""
    if share is None:
        return "none"
    return next(name for low, name in BANDS if share >= low)


def binding_text(tr: Translator, reason: str | None, item: str | None,
                 names: dict[str, Item]) -> str:
    """A binding reason in the reader's language, with the item for stock and lead time."""
    if reason is None:
        return ""
    text = tr.label("binding", reason)
    if item:
        it = names.get(item)
        name = (it.name_zh if tr.lang == "zh" else it.name_en) if it else item
        return f"{text}: {name}"
    return text


def _runner(request: Request) -> ReadinessRunner:
    return request.app.state.readiness  # type: ignore[no-any-return]


def render(request: Request, user: Principal, *, run_id: int | None = None,
           form: FormState | None = None, advice_form: FormState | None = None,
           status: int = 200) -> Response:
    """The readiness page."""
    tr = translator(request)
    today = settings_of(request).today()
    with get_database(request).read_session() as session:
        counties = report.counties(session, today=today)
        names = {i.code: i for i in session.execute(select(Item)).scalars()}
        rows = service.library_rows(session)
        runs = service.runs(session, limit=8)
        current = service.get_run(session, run_id) if run_id is not None else None
        advice = [advice_service.advice_public(session, a)
                  for a in advice_service.advice_list(session, limit=8)]
        labels = {"counties": geo.county_labels(session)}
    map_counties = [{
        "code": c.code, "name": c.name,
        "share": c.coverage, "band": band(c.coverage),
        "people": c.worst.people if c.worst else None,
        "covered": c.worst.people_covered if c.worst else None,
        "scenario": c.worst.scenario if c.worst else None,
        "hazard": tr.label("hazard", c.worst.hazard) if c.worst else None,
        "binding": binding_text(tr, c.worst.binding.reason, c.worst.binding.item, names)
        if c.worst and c.worst.binding else ""} for c in counties]
    map_json = {"page": "readiness", "base": geo.base_url(),
                "labels": {**tr.map_labels(), **labels,
                           "covered": tr("readiness.covered"),
                           "no_run": tr("readiness.no_run"),
                           "binding": tr("readiness.binding")},
                "counties": map_counties}
    return page(request, user, "readiness.html", status=status, counties=counties,
                names=names, rows=rows, runs=runs, current=current, map_json=map_json,
                band=band, binding=lambda r: binding_text(
                    tr, r.binding.reason, r.binding.item, names) if r.binding else "",
                form=form or FormState(values={"time_limit_s": ""}),
                advice=advice, advice_form=advice_form or FormState(values={
                    "budget_t": "20", "horizon_days": "30", "purchase_t": "0"}),
                default_limit=_runner(request).time_limit_s,
                county_options=[(c.code, c.name) for c in counties])


@router.get("/readiness", response_class=HTMLResponse)
def readiness_view(request: Request, user: ConsoleUser, run: QueryId = None) -> Response:
    """Per county: the worst library scenario's covered share on a map and in a table, the
    binding reason, the quota shortfall beside the scenario gap, the library and the runs."""
    return render(request, user, run_id=run)


@router.post("/readiness/runs", response_class=HTMLResponse)
def post_run(request: Request, user: ConsoleUser, form: Form) -> Response:
    """Run readiness now (the whole library or one county)."""
    user.require_role(Role.dispatcher)
    tr = translator(request)
    state = FormState.of(form)
    data = build(RunRequestIn, state, tr)
    runner = _runner(request)
    if data is not None:
        limit = data.time_limit_s or runner.time_limit_s
        today = settings_of(request).today()
        key = str(form.get("idem") or "") or None
        ok, done = attempt(state, tr, lambda: write(
            request, user, key=key, payload=data.model_dump(mode="json"),
            use_case=lambda s: _Done(id=service.request_run(
                s, county=data.county, time_limit_s=limit, trigger=Trigger.on_demand,
                actor=user.actor, today=today, queue=runner.queue).id or 0,
                status=JobStatus.queued.value)))
        if ok and done is not None:
            return redirect(f"/console/readiness?run={done['id']}#run")
    return render(request, user, form=state, status=state.status)


@router.get("/readiness/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(request: Request, run_id: PathId, user: ConsoleUser) -> Response:
    """The progress fragment of a run (htmx polls it while the run works)."""
    with get_database(request).read_session() as session:
        run = service.get_run(session, run_id)
    response = page(request, user, "_readiness_progress.html", run=run)
    if is_htmx(request) and run.status in (JobStatus.succeeded, JobStatus.failed):
        response.headers["HX-Refresh"] = "true"
    return response


# ---------------------------------------------------------------------------------------------
# The scenario library


EDIT_FIELDS = ("name", "townships", "displaced_share", "displaced_basis", "displaced_source",
               "sheltered_share", "sheltered_basis", "sheltered_source", "townships_source",
               "deadline_hours", "note")


def render_scenario(request: Request, user: Principal, code: str,
                    form: FormState | None = None, status: int = 200) -> Response:
    """One library scenario: its current version, the editor, versions and the trend."""
    with get_database(request).read_session() as session:
        scenario = library.get_scenario(session, code)
        public = library.scenario_public(session, scenario)
        versions = [library.version_public(session, v)
                    for v in reversed(library.versions(session, scenario))]
        trend = service.trend(session, code, limit=30)
        towns = list(session.execute(select(Division).where(
            Division.parent_code == scenario.county_code,
            Division.level.in_([DivisionLevel.township, DivisionLevel.township_other]))
            .order_by(Division.code)).scalars())
        names = {i.code: i for i in session.execute(select(Item)).scalars()}
    cur = public.current
    state = form or FormState(values={
        "name": cur.name, "displaced_share": f"{cur.displaced_share:g}",
        "displaced_basis": cur.displaced_basis.value, "displaced_source": cur.displaced_source,
        "sheltered_share": f"{cur.sheltered_share:g}",
        "sheltered_basis": cur.sheltered_basis.value, "sheltered_source": cur.sheltered_source,
        "townships_source": cur.townships_source, "deadline_hours": f"{cur.deadline_hours:g}",
        "note": cur.note or ""})
    chosen = set(state.values.get("townships", "").split(",")) if form else {
        t.code for t in cur.townships}
    tr = translator(request)
    return page(request, user, "readiness_scenario.html", status=status, scenario=public,
                request_saved=request.query_params.get("saved") == "1",
                versions=versions, trend=trend, towns=towns, chosen=chosen, form=state,
                bases=[(b.value, tr.label("basis", b.value)) for b in Basis],
                binding=lambda r: binding_text(tr, r.binding.reason, r.binding.item, names)
                if r.binding else "")


@router.get("/readiness/scenarios/{code}", response_class=HTMLResponse)
def scenario_view(request: Request, code: str, user: ConsoleUser) -> Response:
    """A library scenario with its editor, versions and readiness trend."""
    return render_scenario(request, user, code)


@router.post("/readiness/scenarios/{code}", response_class=HTMLResponse)
def post_scenario(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Save an edit (the next version when the content changed)."""
    user.require_role(Role.dispatcher)
    tr = translator(request)
    towns = [v for k, v in form.multi_items() if k == "townships" and isinstance(v, str)]
    state = FormState.of(form, skip=("townships", "active"))
    state.values["townships"] = ",".join(towns)
    fixed: dict[str, Any] = {"townships": towns or None,
                             "active": form.get("active") == "on"}
    data = build(ScenarioEdit, state, tr, **fixed)
    if data is not None:
        ok, _ = attempt(state, tr, lambda: get_database(request).write(
            lambda s: _Done(id=library.edit_scenario(s, code=code, data=data,
                                                     actor=user.actor).id or 0)))
        if ok:
            return redirect(f"/console/readiness/scenarios/{code}?saved=1")
    return render_scenario(request, user, code, state, status=state.status)


@router.post("/readiness/scenarios/{code}/exercise", response_class=HTMLResponse)
def post_exercise(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Open an exercise incident with the scenario's sites; continue in the dispatch desk."""
    user.require_role(Role.dispatcher)
    key = str(form.get("idem") or "") or None
    done = write(request, user, key=key, payload={"exercise": code},
                 use_case=lambda s: _Done(id=service.open_exercise(
                     s, code=code, onset=utcnow(), actor=user.actor).id or 0))
    return redirect(f"/console/incidents/{done['id']}")


# ---------------------------------------------------------------------------------------------
# Pre-positioning advice


@router.post("/readiness/advice", response_class=HTMLResponse)
def post_advice(request: Request, user: ConsoleUser, form: Form) -> Response:
    """Ask for pre-positioning advice within a budget."""
    user.require_role(Role.dispatcher)
    tr = translator(request)
    state = FormState.of(form)
    data = build(AdviceRequestIn, state, tr)
    runner = _runner(request)
    if data is not None:
        if data.time_limit_s is None:
            data = data.model_copy(update={"time_limit_s": runner.time_limit_s})
        today = settings_of(request).today()
        key = str(form.get("idem") or "") or None
        ok, done = attempt(state, tr, lambda: write(
            request, user, key=key, payload=data.model_dump(mode="json"),
            use_case=lambda s: _Done(id=advice_service.request_advice(
                s, data=data, actor=user.actor, today=today, queue=runner.queue).id or 0,
                status=JobStatus.queued.value)))
        if ok and done is not None:
            return redirect(f"/console/readiness/advice/{done['id']}")
    return render(request, user, advice_form=state, status=state.status)


def render_advice(request: Request, user: Principal, advice_id: int, *,
                  message: str | None = None, error: str | None = None,
                  status: int = 200) -> Response:
    """One advice: its objective, the engine's before/after per scenario, the orders."""
    with get_database(request).read_session() as session:
        public = advice_service.advice_public(session, advice_service.get_advice(session,
                                                                                 advice_id))
        names = dict(session.execute(select(Division.code, Division.name)).all())
    checks = sorted(public.checks, key=lambda c: (c.before, c.scenario))
    worst_before = min(checks, key=lambda c: c.before, default=None)
    worst_after = min(checks, key=lambda c: c.after, default=None)
    return page(request, user, "readiness_advice.html", status=status, advice=public,
                checks=checks, names=names, worst_before=worst_before,
                worst_after=worst_after, band=band, message=message, error=error,
                form=FormState())


@router.get("/readiness/advice/{advice_id}", response_class=HTMLResponse)
def advice_view(request: Request, advice_id: PathId, user: ConsoleUser,
                done: str | None = None) -> Response:
    """An advice with its orders to accept or decline."""
    tr = translator(request)
    message = tr(f"readiness.order_{done}") if done in ("accepted", "declined") else None
    return render_advice(request, user, advice_id, message=message)


@router.get("/readiness/advice/{advice_id}/progress", response_class=HTMLResponse)
def advice_progress(request: Request, advice_id: PathId, user: ConsoleUser) -> Response:
    """The progress fragment of an advice job."""
    with get_database(request).read_session() as session:
        row = advice_service.get_advice(session, advice_id)
    response = page(request, user, "_advice_progress.html", job=row)
    if is_htmx(request) and row.status in (JobStatus.succeeded, JobStatus.failed):
        response.headers["HX-Refresh"] = "true"
    return response


@router.post("/readiness/advice/{advice_id}/orders/{seq}/{decision}",
             response_class=HTMLResponse)
def post_decision(request: Request, advice_id: PathId, seq: Seq, decision: str,
                  user: ConsoleUser, form: Form) -> Response:
    """Accept (a transfer goes through the ledger) or decline an order."""
    if decision not in ("accept", "decline"):
        raise NotFound.of("readiness.decision_unknown", decision=decision[:20])
    user.require_role(Role.depot_manager)
    tr = translator(request)
    key = str(form.get("idem") or "") or None
    body = DecisionIn(note=str(form.get("note") or "").strip() or None)
    state = FormState()
    ctx = move_context(request, user, key)

    def use_case(session: Session) -> BaseModel:
        if decision == "accept":
            order = advice_service.accept_order(session, advice_id=advice_id, seq=seq,
                                                principal=user, ctx=ctx, note=body.note)
        else:
            order = advice_service.decline_order(session, advice_id=advice_id, seq=seq,
                                                 principal=user, note=body.note)
        return advice_service.order_public(session, order)

    ok, _ = attempt(state, tr, lambda: write(request, user, key=key,
                                             payload={"decision": decision, "seq": seq},
                                             use_case=use_case))
    if ok:
        return redirect(f"/console/readiness/advice/{advice_id}?done="
                        f"{'accepted' if decision == 'accept' else 'declined'}#orders")
    return render_advice(request, user, advice_id, error=state.message or "; ".join(
        state.errors.values()), status=state.status)
