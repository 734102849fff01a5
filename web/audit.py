"""The audit log in the console (/console/audit) and its CSV and Excel downloads, which the
API's export (/api/v1/audit/export) writes the same way.

Admins see every event, depot managers their depots' (``relief.platform.auditlog`` decides);
the page filters by actor, action, depot and a range of local dates, 50 events a page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.responses import Response

from relief.platform import auditlog
from relief.platform.api import settings_of
from relief.platform.auditlog import AuditFilter
from relief.platform.auth import get_database
from relief.platform.errors import InvalidInput
from relief.platform.models import AuditEvent
from relief.platform.principal import Principal
from supplies.models import Depot
from web import tabular
from web.i18n import Translator
from web.render import SECURITY_HEADERS, page, translator
from web.routing import ConsoleRoute
from web.session import ConsoleUser

router = APIRouter(route_class=ConsoleRoute)

PAGE_SIZE = 50
COLUMNS: tuple[tuple[str, str], ...] = (
    ("at", "audit.col.at"),
    ("actor", "audit.col.actor"),
    ("action", "audit.col.action"),
    ("entity", "audit.col.entity"),
    ("entity_id", "audit.col.entity_id"),
    ("depot", "audit.col.depot"),
    ("details", "audit.col.details"),
    ("note", "audit.col.note"),
)
WIDTHS = (20, 28, 22, 16, 16, 14, 80, 30)
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def details_text(event: AuditEvent) -> str:
    """An event's details as compact JSON (Chinese kept as is)."""
    return json.dumps(event.details or {}, ensure_ascii=False, sort_keys=True)


def action_label(tr: Translator, action: str) -> str:
    """The catalogue's word for an action (``audit.action.token.create``), else the action."""
    key = f"audit.action.{action}"
    return tr(key) if key in tr else action


def _cells(event: AuditEvent, tr: Translator, tz: ZoneInfo) -> list[tabular.Cell]:
    return [event.at.astimezone(tz), event.actor, action_label(tr, event.action), event.entity,
            event.entity_id, event.depot, details_text(event), event.note]


def download(events: Sequence[AuditEvent], fmt: str, tr: Translator, tz: ZoneInfo,
             today: date) -> Response:
    """The events as a CSV or Excel download (times in local clock time)."""
    header = [tr(label) for _, label in COLUMNS]
    rows = [_cells(e, tr, tz) for e in events]
    if fmt == "csv":
        rows = [[c.isoformat(timespec="seconds") if isinstance(c, datetime) else c
                 for c in row] for row in rows]
        body: str | bytes = tabular.to_csv(header, rows)
    else:
        body = tabular.to_xlsx(tr("audit.sheet"), header, rows, widths=WIDTHS,
                               notes=[tr("audit.note.tz", tz=str(tz))],
                               notes_title=tr("xlsx.notes_sheet"))
    filename = f"audit-{today:%Y%m%d}.{fmt}"
    return Response(body, media_type=FORMATS[fmt], headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})


def export_events(session: Any, principal: Principal, filters: AuditFilter
                  ) -> list[AuditEvent]:
    """Every event an export writes: 422 (at ``since``) when more than
    :data:`relief.platform.auditlog.EXPORT_MAX_ROWS` match, rather than a silent cut."""
    rows, more = auditlog.export_rows(session, principal, filters)
    if more:
        raise InvalidInput.of("audit.export_too_many", field="since",
                              max=auditlog.EXPORT_MAX_ROWS)
    return rows


# ---------------------------------------------------------------------------------------------
# Console page

Text = Annotated[str | None, Query(max_length=120, pattern=r"^[^\x00-\x1f\x7f]*$")]


def _filters(tz: ZoneInfo, actor: str | None, action: str | None, depot: str | None,
             since: date | None, until: date | None) -> AuditFilter:
    """The console's filters: local dates, ``until`` inclusive (years 2000-2099, else 422)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and not auditlog.EARLIEST.date() <= value < auditlog.LATEST.date():
            raise InvalidInput.of("audit.time_window", field=name,
                                  earliest=auditlog.EARLIEST.date().isoformat(),
                                  latest=auditlog.LATEST.date().isoformat())
    return AuditFilter(
        actor=actor or None, action=action or None, depot=depot or None,
        since=datetime.combine(since, time(), tz) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), tz) if until else None)


def _depots(session: Any, user: Principal) -> list[str]:
    every = list(session.execute(select(Depot.code).order_by(Depot.code)).scalars())
    return auditlog.depot_choices(user, every)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: ConsoleUser, actor: Text = None, action: Text = None,
               depot: Annotated[str | None, Query(max_length=32)] = None,
               since: date | None = None, until: date | None = None,
               page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
               ) -> Response:
    """审计日志: who did what, newest first, with filters and downloads (admins: everything;
    depot managers: their depots)."""
    auditlog.require_reader(user)
    tz = settings_of(request).tz
    filters = _filters(tz, actor, action, depot, since, until)
    with get_database(request).read_session() as session:
        events, total = auditlog.page(session, user, filters, limit=PAGE_SIZE,
                                      offset=(page_no - 1) * PAGE_SIZE)
        depots = _depots(session, user)
    query = {k: v for k, v in (("actor", actor), ("action", action), ("depot", depot),
                               ("since", since.isoformat() if since else None),
                               ("until", until.isoformat() if until else None)) if v}
    pages = max(1, -(-total // PAGE_SIZE))

    def link(**changes: Any) -> str:
        return "/console/audit?" + urlencode({**query, **changes})

    return page(request, user, "audit.html", events=events, total=total, page_no=page_no,
                pages=pages, depots=depots, actor=actor or "", action=action or "",
                depot=depot or "", since=since.isoformat() if since else "",
                until=until.isoformat() if until else "", link=link,
                export_query=urlencode(query), details_text=details_text,
                action_label=action_label)


@router.get("/audit.{fmt}")
def audit_download(request: Request, fmt: str, user: ConsoleUser, actor: Text = None,
                   action: Text = None,
                   depot: Annotated[str | None, Query(max_length=32)] = None,
                   since: date | None = None, until: date | None = None) -> Response:
    """The filtered audit log as CSV or Excel."""
    if fmt not in FORMATS:
        raise InvalidInput.of("audit.format", field="format", formats=", ".join(FORMATS))
    auditlog.require_reader(user)
    settings = settings_of(request)
    filters = _filters(settings.tz, actor, action, depot, since, until)
    with get_database(request).read_session() as session:
        events = export_events(session, user, filters)
    return download(events, fmt, translator(request), settings.tz, settings.today())
