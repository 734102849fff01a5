"""Which trips a list shows: filters (source depot, status, vehicle, site), sort and page, read
from the query string and turned into one paged query over the shipments.

Only the trips of the page being shown are turned into ``ShipmentPublic`` (their loads, lots
and stops), so a plan of 300 trips costs what a page of 20 costs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from dispatch import readmodels
from dispatch.models import AffectedSite, Incident, Shipment, ShipmentStatus, ShipmentStop
from dispatch.models.plans import ShipmentPublic
from supplies.models import Depot

PAGE_SIZE = 20
SORTS = {
    "id": Shipment.id,
    "depart": Shipment.planned_depart_min,
    "vehicle": Shipment.vehicle,
    "source": Depot.code,
    "status": Shipment.status,
}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class TripQuery:
    """Filters, sort and page of a trip list (every field optional)."""

    depot: str = ""
    status: str = ""
    vehicle: str = ""
    site: str = ""
    sort: str = "depart"
    page: int = 1

    @classmethod
    def of(cls, params: Any) -> TripQuery:
        """From a request's query parameters (unknown values are ignored, not errors)."""
        status = str(params.get("status") or "")
        sort = str(params.get("sort") or "depart")
        page = str(params.get("page") or "1")
        return cls(depot=str(params.get("depot") or "")[:40],
                   status=status if status in ShipmentStatus.__members__ else "",
                   vehicle=str(params.get("vehicle") or "").strip()[:60],
                   site=str(params.get("site") or "").strip()[:60],
                   sort=sort if sort.removeprefix("-") in SORTS else "depart",
                   page=max(1, min(int(page), 100_000)) if page.isdigit() else 1)

    def with_(self, **changes: Any) -> TripQuery:
        """A copy with ``changes`` (a new filter or sort goes back to page 1)."""
        if "page" not in changes:
            changes["page"] = 1
        return replace(self, **changes)

    def query_string(self) -> str:
        """The non-default fields as a query string (for links and the address bar)."""
        values = {"depot": self.depot, "status": self.status, "vehicle": self.vehicle,
                  "site": self.site, "sort": "" if self.sort == "depart" else self.sort,
                  "page": "" if self.page == 1 else str(self.page)}
        return urlencode({k: v for k, v in values.items() if v})

    def sort_link(self, column: str) -> TripQuery:
        """The query that sorts by ``column``, flipping the direction when already sorted."""
        return self.with_(sort=f"-{column}" if self.sort == column else column)


@dataclass(frozen=True)
class TripPage:
    """One page of trips and what the list needs around it."""

    query: TripQuery
    trips: list[ShipmentPublic]
    total: int
    pages: int
    depots: list[tuple[str, str]]  # the source depots of the unfiltered list, for the filter


def _filtered(stmt: Select[Any], query: TripQuery) -> Select[Any]:
    if query.depot:
        stmt = stmt.where(Depot.code == query.depot)
    if query.status:
        stmt = stmt.where(Shipment.status == ShipmentStatus(query.status))
    if query.vehicle:
        stmt = stmt.where(or_(Shipment.vehicle.ilike(_like(query.vehicle), escape="\\"),
                              Shipment.driver.ilike(_like(query.vehicle), escape="\\")))
    if query.site:
        pattern = _like(query.site)
        stmt = stmt.where(Shipment.id.in_(
            select(ShipmentStop.shipment_id).join(AffectedSite,
                                                  AffectedSite.id == ShipmentStop.site_id)
            .where(or_(AffectedSite.code.ilike(pattern, escape="\\"),
                       AffectedSite.name.ilike(pattern, escape="\\")))))
    return stmt


def trip_page(session: Session, query: TripQuery, *, incident_id: int | None = None,
              source_depot: str | None = None, page_size: int = PAGE_SIZE) -> TripPage:
    """The trips of an incident, or those leaving ``source_depot``, filtered, sorted, paged."""
    base = select(Shipment).join(Depot, Depot.id == Shipment.source_depot_id)
    if incident_id is not None:
        base = base.where(Shipment.incident_id == incident_id)
    if source_depot is not None:
        base = base.where(Depot.code == source_depot)
    depots = [(code, name) for code, name in session.execute(
        base.with_only_columns(Depot.code, Depot.name).distinct().order_by(Depot.code))]
    stmt = _filtered(base, query)
    total = session.execute(stmt.with_only_columns(func.count(Shipment.id))).scalar_one()
    pages = max(1, -(-total // page_size))
    query = replace(query, page=min(query.page, pages))
    column = SORTS[query.sort.removeprefix("-")]
    order = column.desc() if query.sort.startswith("-") else column.asc()
    rows = list(session.execute(stmt.order_by(order, Shipment.id)
                                .offset((query.page - 1) * page_size).limit(page_size)).scalars())
    incidents: dict[int, Incident] = {}
    trips = []
    for shipment in rows:
        incident = incidents.get(shipment.incident_id)
        if incident is None:
            incident = incidents[shipment.incident_id] = session.get_one(
                Incident, shipment.incident_id)
        trips.append(readmodels.shipment_public(session, shipment, incident))
    return TripPage(query=query, trips=trips, total=total, pages=pages, depots=depots)
