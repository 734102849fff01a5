"""Console routes under /console: login, language and the one map of supplies.

The depot pages (``web.depots``), the dispatch desk (``web.desk``) and readiness
(``web.readiness``) add their routes to the same router. ``relief.app.main`` includes
:data:`router` and mounts :data:`STATIC_DIR` at /static.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from dispatch import service as dispatch_service
from dispatch.models import Incident, IncidentStatus
from relief.platform.api import settings_of
from relief.platform.auth import get_database
from relief.platform.errors import NotFound, Unauthorized
from supplies import reports
from supplies.models import Depot, Division, DivisionLevel, Item
from web import (
    activations,
    audit,
    depots,
    desk,
    geo,
    readiness,
    rollups,
    routemap,
    sessionlist,
    timing,
    trips,
    vouchers,
)
from web.forms import FormState
from web.i18n import LANG_COOKIE, LANGS, Translator
from web.render import SECURITY_HEADERS, STATIC_DIR, page, translator
from web.routing import ConsoleRoute, redirect
from web.session import (
    ConsoleUser,
    Form,
    clear_session,
    close_session,
    open_session,
    resolve,
    safe_next,
    session_secret,
    set_session,
)

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


# ---------------------------------------------------------------------------------------------
# Login, logout, language


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    """The login page (straight on to ``next`` when the session is still valid)."""
    secret = session_secret(request)
    if secret and resolve(request, secret) is not None:
        return redirect(safe_next(next))
    return page(request, None, "login.html", form=FormState(), next=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: Form) -> Response:
    """Check the API token and start a server-side session; the cookie (HttpOnly,
    SameSite=Strict) carries only the session's random id."""
    tr = translator(request)
    secret = str(form.get("token") or "").strip()
    target = safe_next(str(form.get("next") or ""))
    state = FormState()
    cookie: str | None = None
    if not secret:
        state.add("token", tr("login.error.empty"))
    else:
        try:
            principal, cookie = open_session(request, secret)
        except Unauthorized as exc:
            state.add("token", exc.text(tr.lang))
        else:
            if cookie is None:
                state.add("token", tr("login.error.role",
                                      role=tr.label("role", principal.role)))
    if state.failed or cookie is None:
        return page(request, None, "login.html", status=401, form=state, next=target)
    response = redirect(target)
    set_session(response, request, cookie)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session: revoked server-side, and the cookie forgotten."""
    close_session(request)
    response = redirect("/console/login")
    clear_session(response)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    """Switch the console language (a cookie) and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path="/", samesite="lax")
    return response


# ---------------------------------------------------------------------------------------------
# The one map of supplies


def map_data(session: Session, *, today: date, item: str | None, tr: Translator
             ) -> dict[str, Any]:
    """Depots with their stock (of ``item`` when given) and shortfall, shelters, open
    incidents, and the county roll-up table."""
    divisions = {d.code: d for d in session.execute(select(Division)).scalars()}
    on_hand, available = rollups.depot_totals(session, today=today, item=item)
    short_items: dict[str, int] = defaultdict(int)
    short_units: dict[str, int] = defaultdict(int)
    county_short: dict[str, int] = defaultdict(int)
    county_short_lines: dict[str, int] = defaultdict(int)
    for s in reports.shortfall(session, today=today):
        if item and s.item != item:
            continue
        if s.shortfall <= 0:
            continue
        short_items[s.depot] += 1
        short_units[s.depot] += s.shortfall
        county = rollups.county_of(divisions, s.division_code)
        county_short[county] += s.shortfall
        county_short_lines[county] += 1
    depots = []
    for d in session.execute(select(Depot).where(Depot.active.is_(True))
                             .order_by(Depot.code)).scalars():
        depots.append({
            "code": d.code, "name": d.name, "tier": d.tier, "kind": d.kind,
            "tier_label": tr.label("tier", d.tier), "kind_label": tr.label("kind", d.kind),
            "lat": d.lat, "lon": d.lon, "on_hand": on_hand.get(d.code, 0),
            "available": available.get(d.code, 0), "short_items": short_items.get(d.code, 0),
            "short_units": short_units.get(d.code, 0)})
    incidents = []
    for incident in session.execute(select(Incident).where(
            Incident.status == IncidentStatus.open).order_by(Incident.id)).scalars():
        public = dispatch_service.incident_public(session, incident)
        incidents.append({
            "id": public.id, "name": public.name, "kind": tr.label("incident_kind", public.kind),
            "people": public.people,
            "sites": [{"code": s.code, "name": s.name, "lat": s.lat, "lon": s.lon,
                       "people": s.people} for s in public.sites if s.active]})
    summary = reports.stock_summary(session, today=today, group_by=reports.GroupBy.division,
                                    item=item or None)
    by_key = {r.key: r for r in summary}
    shortages = rollups.county_shortfall(session, today=today, item=item)
    counties = []
    for d in sorted(divisions.values(), key=lambda x: x.code):
        if d.level not in (DivisionLevel.city, DivisionLevel.county):
            continue
        row = by_key.get(d.code)
        counties.append({
            "code": d.code, "name": d.name, "level": d.level,
            "depots": row.depots if row else 0, "on_hand": row.on_hand if row else 0,
            "available": row.available if row else 0,
            "weight_t": (row.weight_kg / 1000) if row else 0.0,
            "short": shortages.get(d.code, []),
            "short_tonnes": sum(x.tonnes for x in shortages.get(d.code, [])),
            "short_units": (sum(county_short.values()) if d.level == DivisionLevel.city
                            else county_short.get(d.code, 0)),
            "short_lines": (sum(county_short_lines.values()) if d.level == DivisionLevel.city
                            else county_short_lines.get(d.code, 0))})
    return {"depots": depots, "incidents": incidents, "counties": counties}


def _items(session: Session) -> list[Item]:
    return list(session.execute(select(Item).order_by(Item.code)).scalars())


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: ConsoleUser,
             item: Annotated[str | None, Query(max_length=7)] = None) -> Response:
    """应急物资"一张图": depots, shelters and open incidents on the base map, with the county
    roll-up beside it."""
    tr = translator(request)
    with get_database(request).read_session() as session:
        items = _items(session)
        chosen = next((i for i in items if i.code == item), None)
        data = map_data(session, today=settings_of(request).today(),
                        item=chosen.code if chosen else None, tr=tr)
        labels = {**tr.map_labels(), "counties": geo.county_labels(session)}
    map_json = {"page": "overview", "base": geo.base_url(), "labels": labels,
                "depots": data["depots"],
                "incidents": data["incidents"], "item": chosen.code if chosen else "",
                "unit": chosen.unit if chosen else ""}
    return page(request, user, "map.html", items=items, item=chosen,
                counties=data["counties"], map_json=map_json,
                depot_count=len(data["depots"]), incident_count=len(data["incidents"]))


@router.get("/map/base.json")
def map_base() -> Response:
    """The map's base layer (outlines, land, roads): the same for every page, cached by the
    browser under its versioned address."""
    return Response(geo.base_json(), media_type="application/json", headers={
        **SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/map/depots/{code}", response_class=HTMLResponse)
def depot_popup(request: Request, code: str, user: ConsoleUser,
                item: Annotated[str | None, Query(max_length=7)] = None) -> Response:
    """The map popup of one depot: stock by item and its shortfall."""
    today = settings_of(request).today()
    with get_database(request).read_session() as session:
        depot = depots.get_depot_or_404(session, code)
        stock = depots.stock_by_item(depots.stockio.depot_stock(session, depot=code,
                                                                today=today))
        short = reports.shortfall(session, today=today, depot=code)
        names = {i.code: i for i in _items(session)}
    if item:
        stock = [s for s in stock if s["item"] == item]
        short = [s for s in short if s.item == item]
    short = [s for s in short if s.shortfall > 0]
    return page(request, user, "map_popup.html", depot=depot, stock=stock, short=short,
                names=names, item=item or "")


@router.get("/shortfall", response_class=HTMLResponse)
def shortfall_view(request: Request, user: ConsoleUser,
                   county: Annotated[str | None, Query(max_length=12)] = None) -> Response:
    """Who is short of what: per county, each item's shortfall against the depots' targets,
    in its unit and in tonnes, the heaviest first (one county, or every county)."""
    with get_database(request).read_session() as session:
        divisions = {d.code: d for d in session.execute(select(Division).where(
            Division.level.in_([DivisionLevel.city, DivisionLevel.county]))).scalars()}
        short = rollups.county_shortfall(session, today=settings_of(request).today())
    if county and county not in divisions:
        raise NotFound.of("division.unknown", field="county", code=county)
    codes = [county] if county else sorted(divisions, key=lambda c: (
        divisions[c].level != DivisionLevel.city, c))
    rows = [(divisions[c], short.get(c, [])) for c in codes]
    return page(request, user, "shortfall.html", rows=rows, county=county or "")


router.include_router(depots.router)
router.include_router(readiness.router)
router.include_router(desk.router)
router.include_router(activations.router)
router.include_router(timing.router)
router.include_router(trips.router)
router.include_router(routemap.router)
router.include_router(vouchers.router)
router.include_router(audit.router)
router.include_router(sessionlist.router)


@router.get("/{rest:path}", response_class=HTMLResponse)
def not_found(rest: str, user: ConsoleUser) -> Response:
    """Any other console address: the 404 page (registered last)."""
    raise NotFound.of("console.no_page", path=f"/console/{rest}")
