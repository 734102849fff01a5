"""The desk's late-stop flags: every approved trip of the incident re-timed on today's roads
(``dispatch.reports.timing``: closures, lifted closures, confirmations, late departures), with
the stops now late, past the deadline or cut off, the shipments affected and their loads.

Served as a fragment the desk loads after the page (re-timing every live trip walks the road
graph, so the desk's first byte does not wait for it).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from dispatch import reports, service
from relief.platform.api import PathId
from relief.platform.auth import get_database
from relief.platform.dbtypes import utcnow
from web.render import page
from web.routing import ConsoleRoute
from web.session import ConsoleUser

router = APIRouter(route_class=ConsoleRoute)


@router.get("/incidents/{incident_id}/timing", response_class=HTMLResponse)
def trip_timing(request: Request, incident_id: PathId, user: ConsoleUser) -> Response:
    """The re-timed approved trips' flagged stops, as the desk's fragment."""
    with get_database(request).read_session() as session:
        incident = service.get_incident(session, incident_id)
        report = reports.timing(session, incident, now=utcnow())
    return page(request, user, "_timing.html", report=report, incident_id=incident_id)
