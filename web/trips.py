"""Trips: the paged, filtered trip list (on the desk and on a depot's page), and departing,
confirming and cancelling one trip.

With htmx, an action answers with that trip's row alone, swapped in place (no reload of the
desk); without it, the form posts and the browser is redirected back (post-redirect-get).
Each action calls the dispatch use case the API route calls (``dispatch.trips``,
``dispatch.deliveries``) after the same role check.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from dispatch import cargo, deliveries, manifest, readmodels, service
from dispatch import trips as trip_moves
from dispatch.models.plans import CancelIn, DriverIn, StopConfirmIn
from relief.platform.api import PathId, Seq, settings_of
from relief.platform.auth import get_database
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies.models import Item
from supplies.service import get_depot
from web.forms import FormState, attempt, build
from web.render import SECURITY_HEADERS, page, translator
from web.routing import ConsoleRoute, is_htmx, move_context, redirect, write
from web.session import ConsoleUser, Form, safe_next
from web.tripquery import TripPage, TripQuery, trip_page

router = APIRouter(route_class=ConsoleRoute)


class _Done(BaseModel):
    id: int


def items_by_code(session: Session) -> dict[str, Item]:
    """The catalogue by item code (names and units for the trip rows)."""
    return {i.code: i for i in session.execute(select(Item).order_by(Item.code)).scalars()}


def panel_values(trips: TripPage, *, list_url: str, page_url: str, items: dict[str, Item],
                 show_incident: bool) -> dict[str, Any]:
    """What ``_trips.html`` needs besides the shared context."""
    return {"trips": trips, "list_url": list_url, "page_url": page_url, "trip_items": items,
            "show_incident": show_incident, "trip_forms": defaultdict(FormState),
            "trip_done": {}}


def _panel(request: Request, user: Principal, *, incident_id: int | None,
           depot: str | None, list_url: str, page_url: str) -> Response:
    query = TripQuery.of(request.query_params)
    with get_database(request).read_session() as session:
        trips = trip_page(session, query, incident_id=incident_id, source_depot=depot)
        items = items_by_code(session)
    qs = trips.query.query_string()
    headers = {"HX-Push-Url": f"{page_url}{'?' + qs if qs else ''}"} if is_htmx(request) else {}
    return page(request, user, "_trips.html", headers=headers,
                **panel_values(trips, list_url=list_url, page_url=page_url, items=items,
                               show_incident=depot is not None))


@router.get("/incidents/{incident_id}/trips", response_class=HTMLResponse)
def incident_trips(request: Request, incident_id: PathId, user: ConsoleUser) -> Response:
    """The trip list of an incident (the desk swaps it in when filtered or paged)."""
    with get_database(request).read_session() as session:
        service.get_incident(session, incident_id)
    return _panel(request, user, incident_id=incident_id, depot=None,
                  list_url=f"/console/incidents/{incident_id}/trips",
                  page_url=f"/console/incidents/{incident_id}")


@router.get("/depots/{code}/trips", response_class=HTMLResponse)
def depot_trips(request: Request, code: str, user: ConsoleUser) -> Response:
    """The trips leaving a depot, across incidents (its page swaps this in)."""
    with get_database(request).read_session() as session:
        get_depot(session, code, field="code")
    return _panel(request, user, incident_id=None, depot=code,
                  list_url=f"/console/depots/{code}/trips", page_url=f"/console/depots/{code}")


# ---------------------------------------------------------------------------------------------
# Actions on one trip


def _render_row(request: Request, user: Principal, shipment_id: int, *, name: str = "",
                state: FormState | None = None, done: str = "", status: int = 200,
                back: str = "", template: str = "_trip.html") -> Response:
    with get_database(request).read_session() as session:
        shipment = cargo.get_shipment(session, shipment_id)
        incident = service.get_incident(session, shipment.incident_id)
        public = readmodels.shipment_public(session, shipment, incident)
        items = items_by_code(session)
    forms: dict[str, FormState] = defaultdict(FormState)
    if state is not None:
        forms[name] = state
    return page(request, user, template, status=status, sh=public, trip_items=items,
                trip_forms=forms, trip_done={public.id: done} if done else {},
                show_incident=back.startswith("/console/depots/"),
                page_url=back or f"/console/incidents/{public.incident_id}",
                canonical=back or f"/console/incidents/{public.incident_id}")


def _back(request: Request, form: Any, incident_id: int) -> str:
    value = str(form.get("back") or "") if form is not None else ""
    return safe_next(value, default=f"/console/incidents/{incident_id}")


def _trip_action(request: Request, user: Principal, form: Any, shipment_id: int, name: str,
                 run: Any, *, data: BaseModel | None = None, state: FormState | None = None,
                 model: type[BaseModel] | None = None, done: str) -> Response:
    """Validate, run the use case once per idempotency key, answer with the row (htmx) or a
    redirect back to the page the form was on."""
    user.require_role(Role.dispatcher, Role.depot_manager)
    tr = translator(request)
    with get_database(request).read_session() as session:
        incident_id = cargo.get_shipment(session, shipment_id).incident_id
    state = state or FormState.of(form, skip=("back",))
    if data is None and model is not None and not state.failed:
        data = build(model, state, tr)
    ok = False
    if not state.failed:
        key = str(form.get("idem") or "") or None
        payload = data.model_dump(mode="json") if data is not None else None
        ok, _ = attempt(state, tr, lambda: write(
            request, user, key=key, payload=payload,
            use_case=lambda s: run(s, data, move_context(request, user, key))))
    back = _back(request, form, incident_id)
    if is_htmx(request):
        return _render_row(request, user, shipment_id, name=name, state=None if ok else state,
                           done=done if ok else "", status=200 if ok else state.status,
                           back=back)
    if ok:
        joiner = "&" if "?" in back else "?"
        return redirect(f"{back}{joiner}done={done}#trip-{shipment_id}")
    # Without htmx, the failed trip alone with its error and a way back (the address bar
    # shows the page the form was on, so a reload does not repeat the post).
    return _render_row(request, user, shipment_id, name=name, state=state,
                       status=state.status, back=back, template="trip_failed.html")


@router.post("/shipments/{shipment_id}/depart", response_class=HTMLResponse)
def post_depart(request: Request, shipment_id: PathId, user: ConsoleUser, form: Form) -> Response:
    """The truck leaves (dispatch.trips.depart)."""
    return _trip_action(
        request, user, form, shipment_id, f"trip-{shipment_id}",
        lambda s, _d, c: _Done(id=trip_moves.depart(
            s, shipment_id=shipment_id, principal=user, ctx=c).id or 0),
        done="departed")


@router.post("/shipments/{shipment_id}/cancel", response_class=HTMLResponse)
def post_cancel(request: Request, shipment_id: PathId, user: ConsoleUser, form: Form) -> Response:
    """Cancel a trip (dispatch.trips.cancel): its load is released or returned."""
    return _trip_action(
        request, user, form, shipment_id, f"cancel-{shipment_id}",
        lambda s, d, c: _Done(id=trip_moves.cancel(
            s, shipment_id=shipment_id, reason=d.reason, principal=user, ctx=c).id or 0),
        model=CancelIn, done="cancelled")


@router.post("/shipments/{shipment_id}/stops/{seq}/confirm", response_class=HTMLResponse)
def post_confirm(request: Request, shipment_id: PathId, seq: Seq, user: ConsoleUser, form: Form
                 ) -> Response:
    """Confirm a stop with the quantities delivered, why any item came short (and how much
    of it is damaged) and the arrival time (dispatch.deliveries.confirm_stop)."""
    tr = translator(request)
    state = FormState.of(form, skip=("back",))

    def prefixed(prefix: str) -> dict[str, str]:
        return {k.removeprefix(prefix): v for k, v in state.values.items()
                if k.startswith(prefix) and v != ""}

    delivered = {k.removeprefix("delivered."): v for k, v in state.values.items()
                 if k.startswith("delivered.")}
    arrived = state.value("arrived_at")
    data = None
    try:
        data = StopConfirmIn.model_validate({
            "delivered": delivered, "note": state.value("note") or None,
            "short_reasons": prefixed("short_reasons.") or None,
            "damaged": prefixed("damaged.") or None,
            "arrived_at": aware(arrived, request) if arrived else None})
    except ValidationError as exc:
        state.absorb_validation(exc, tr)
    return _trip_action(
        request, user, form, shipment_id, f"confirm-{shipment_id}-{seq}",
        lambda s, d, c: _Done(id=deliveries.confirm_stop(
            s, shipment_id=shipment_id, seq=seq, data=d, principal=user, ctx=c).id or 0),
        data=data, state=state, done="confirmed")


@router.post("/shipments/{shipment_id}/driver", response_class=HTMLResponse)
def post_driver(request: Request, shipment_id: PathId, user: ConsoleUser, form: Form) -> Response:
    """Name the trip's driver and phone (dispatch.trips.set_driver)."""
    return _trip_action(
        request, user, form, shipment_id, f"driver-{shipment_id}",
        lambda s, d, _c: _Done(id=trip_moves.set_driver(
            s, shipment_id=shipment_id, data=d, principal=user).id or 0),
        model=DriverIn, done="driver_set")


def aware(value: str, request: Request) -> Any:
    """A datetime-local value in the configured time zone (the raw text when unparsable, so
    validation names the field)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=settings_of(request).tz)


@router.get("/shipments/{shipment_id}/manifest", response_class=HTMLResponse)
def manifest_page(request: Request, shipment_id: PathId, user: ConsoleUser) -> Response:
    """The printable manifest of a trip (the API's manifest, with the console session)."""
    with get_database(request).read_session() as session:
        shipment = cargo.get_shipment(session, shipment_id)
        incident = service.get_incident(session, shipment.incident_id)
        public = readmodels.shipment_public(session, shipment, incident)
    html = manifest.manifest_html(public, incident_name=incident.name,
                                  tz=settings_of(request).tz)
    return HTMLResponse(html, headers=SECURITY_HEADERS)
