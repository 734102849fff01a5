"""Dispatch use cases: the fleet, incidents, affected sites, head counts and road closures.

Functions run inside the caller's transaction and never commit.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import boundaries
from dispatch.models import (
    AffectedSite,
    HeadCount,
    Incident,
    IncidentStatus,
    RoadClosure,
    SiteKind,
    TransportEnterprise,
    Vehicle,
)
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
from dispatch.roads import load_graph
from relief.platform import crud
from relief.platform.audit import record
from relief.platform.db import one_or_none
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InvalidInput, NotFound
from supplies import masterdata
from supplies.models import Depot, DepotKind, DivisionLevel
from supplies.service import get_depot


def get_enterprise(session: Session, code: str, *, field: str = "enterprise"
                   ) -> TransportEnterprise:
    """The transport enterprise ``code`` or a 404 naming ``field``."""
    row = session.execute(select(TransportEnterprise).where(TransportEnterprise.code == code)
                          ).scalar_one_or_none()
    if row is None:
        raise NotFound.of("enterprise.unknown", field=field, code=code)
    return row


def get_vehicle(session: Session, plate: str) -> Vehicle:
    """The vehicle with ``plate`` or a 404."""
    row = session.execute(select(Vehicle).where(Vehicle.plate == plate)).scalar_one_or_none()
    if row is None:
        raise NotFound.of("vehicle.unknown", field="plate", plate=plate)
    return row


def vehicle_public(session: Session, vehicle: Vehicle) -> VehiclePublic:
    """A vehicle with its home depot or enterprise code."""
    return VehiclePublic(
        **vehicle.model_dump(exclude={"depot_id", "enterprise_id"}),
        depot=session.get_one(Depot, vehicle.depot_id).code if vehicle.depot_id else None,
        enterprise=(session.get_one(TransportEnterprise, vehicle.enterprise_id).code
                    if vehicle.enterprise_id else None),
    )


def enterprise_public(enterprise: TransportEnterprise) -> TransportEnterprisePublic:
    """A transport enterprise as the API returns it."""
    return TransportEnterprisePublic.model_validate(enterprise, from_attributes=True)


def create_vehicle(session: Session, *, data: VehicleCreate, actor: str) -> Vehicle:
    """Register a vehicle at a depot or with a transport enterprise."""
    if session.execute(select(Vehicle.id).where(Vehicle.plate == data.plate)).first():
        raise Conflict.of("vehicle.exists", field="plate", plate=data.plate)
    depot = get_depot(session, data.depot) if data.depot else None
    enterprise = get_enterprise(session, data.enterprise) if data.enterprise else None
    vehicle = Vehicle(**data.model_dump(exclude={"depot", "enterprise"}),
                      depot_id=depot.id if depot else None,
                      enterprise_id=enterprise.id if enterprise else None)
    return crud.created(session, vehicle, actor=actor, entity="vehicle",
                              entity_id=data.plate)


def update_vehicle(session: Session, *, plate: str, data: VehicleUpdate, actor: str) -> Vehicle:
    """Change a vehicle's capacity, status, speed or driver."""
    return crud.apply(session, get_vehicle(session, plate), data, actor=actor,
                            entity="vehicle", entity_id=plate)


def create_enterprise(session: Session, *, data: TransportEnterpriseCreate, actor: str
                      ) -> TransportEnterprise:
    """Register a transport enterprise under agreement."""
    exists = select(TransportEnterprise.id).where(TransportEnterprise.code == data.code)
    if session.execute(exists).first():
        raise Conflict.of("enterprise.exists", field="code", code=data.code)
    masterdata.get_division(session, data.division_code)
    return crud.created(session, TransportEnterprise.model_validate(data), actor=actor,
                              entity="transport_enterprise", entity_id=data.code)


def update_enterprise(session: Session, *, code: str, data: TransportEnterpriseUpdate,
                      actor: str) -> TransportEnterprise:
    """Change a transport enterprise's details."""
    return crud.apply(session, get_enterprise(session, code, field="code"), data,
                            actor=actor, entity="transport_enterprise", entity_id=code)


# ---------------------------------------------------------------------------------------------
# Incidents, affected sites, head counts and road closures


def get_incident(session: Session, incident_id: int, *, lock: bool = False) -> Incident:
    """The incident or a 404; ``lock`` takes its row lock (serialises approvals)."""
    incident = one_or_none(session, select(Incident).where(Incident.id == incident_id),
                           lock=lock)
    if incident is None:
        raise NotFound.of("incident.unknown", incident=incident_id)
    return incident


def open_incident(session: Session, incident_id: int, *, lock: bool = False) -> Incident:
    """An incident that is still open (409 when closed)."""
    incident = get_incident(session, incident_id, lock=lock)
    if incident.status != IncidentStatus.open:
        raise Conflict.of("incident.closed", incident=incident_id)
    return incident


def create_incident(session: Session, *, data: IncidentIn, actor: str) -> Incident:
    """Open an incident."""
    incident = Incident(kind=data.kind, name=data.name, onset=data.onset,
                        deadline_hours=data.deadline_hours,
                        needs=data.needs.model_dump() if data.needs else None,
                        note=data.note, created_by=actor)
    return crud.created(session, incident, actor=actor, entity="incident",
                              entity_id=data.name)


def close_incident(session: Session, *, incident_id: int, actor: str) -> Incident:
    """Close an incident; nothing more can be planned for it."""
    incident = open_incident(session, incident_id, lock=True)
    incident.status = IncidentStatus.closed
    incident.closed_at = incident.updated_at = utcnow()
    session.add(incident)
    record(session, actor=actor, action="incident.close", entity="incident",
           entity_id=str(incident_id))
    return incident


def _site_place(session: Session, data: SiteIn) -> tuple[str, str, SiteKind, float, float]:
    """Code, name, kind and coordinates of a site from its reference."""
    if data.shelter:
        depot = get_depot(session, data.shelter, field="shelter")
        if depot.kind != DepotKind.shelter:
            raise InvalidInput.of("site.not_shelter", field="shelter", depot=depot.code,
                                  kind=depot.kind.value)
        return depot.code, data.name or depot.name, SiteKind.shelter, depot.lat, depot.lon
    if data.township:
        division = masterdata.get_division(session, data.township, field="township")
        if division.level not in (DivisionLevel.township, DivisionLevel.township_other):
            raise InvalidInput.of("site.not_township", field="township", code=division.code,
                                  level=division.level.value)
        if division.lat is None or division.lon is None:
            raise InvalidInput.of("site.no_coordinates", field="township", code=division.code)
        return (division.code, data.name or division.name, SiteKind.township, division.lat,
                division.lon)
    assert data.code and data.name and data.lat is not None and data.lon is not None
    where = boundaries.load().where(data.lat, data.lon)
    if where == boundaries.Where.water:
        raise PointNotInNantong.of("site.point_water", field="lat", also=("lon",),
                                   lat=data.lat, lon=data.lon, where=where.value)
    if where == boundaries.Where.outside:
        raise PointNotInNantong.of("site.point_outside", field="lat", also=("lon",),
                                   lat=data.lat, lon=data.lon, where=where.value)
    return data.code, data.name, SiteKind.point, data.lat, data.lon


class PointNotInNantong(InvalidInput):
    """An ad-hoc point in the sea, in the Yangtze or outside the city (422 naming lat and lon)."""

    code = "point_not_in_nantong"


def add_site(session: Session, *, incident_id: int, data: SiteIn, actor: str) -> AffectedSite:
    """Add an affected site with its first head count."""
    incident = open_incident(session, incident_id)
    code, name, kind, lat, lon = _site_place(session, data)
    exists = select(AffectedSite.id).where(AffectedSite.incident_id == incident.id,
                                           AffectedSite.code == code)
    if session.execute(exists).first():
        raise Conflict.of("site.exists", field="code", site=code, incident=incident_id)
    site = AffectedSite(incident_id=incident.id or 0, code=code, name=name, kind=kind, lat=lat,
                        lon=lon, people=data.people, households=data.households,
                        service_min=data.service_min,
                        sheltered=kind == SiteKind.shelter or bool(data.sheltered),
                        contact=data.contact, contact_phone=data.contact_phone)
    session.add(site)
    session.flush()
    session.add(HeadCount(site_id=site.id or 0, people=data.people, households=data.households,
                          reported_at=data.reported_at or utcnow(), reported_by=data.reported_by,
                          recorded_by=actor))
    _touch(incident)
    session.add(incident)
    return site


def get_site(session: Session, incident_id: int, code: str) -> AffectedSite:
    """A site of an incident by its code, or a 404."""
    site = session.execute(select(AffectedSite).where(
        AffectedSite.incident_id == incident_id, AffectedSite.code == code)).scalar_one_or_none()
    if site is None:
        raise NotFound.of("site.unknown", site=code, incident=incident_id)
    return site


def report_head_count(session: Session, *, incident_id: int, code: str, data: HeadCountIn,
                      actor: str) -> AffectedSite:
    """Record a new head count; the site's people become the latest report's."""
    open_incident(session, incident_id)
    site = get_site(session, incident_id, code)
    reported_at = data.reported_at or utcnow()
    session.add(HeadCount(site_id=site.id or 0, people=data.people, households=data.households,
                          reported_at=reported_at, reported_by=data.reported_by,
                          recorded_by=actor, note=data.note))
    latest = session.execute(select(func.max(HeadCount.reported_at)).where(
        HeadCount.site_id == site.id)).scalar_one()
    if latest is None or reported_at >= latest:
        site.people, site.households = data.people, data.households
        site.updated_at = utcnow()
        session.add(site)
    session.flush()
    return site


def head_counts(session: Session, site: AffectedSite) -> list[HeadCount]:
    """A site's head-count history, oldest first."""
    return list(session.execute(select(HeadCount).where(HeadCount.site_id == site.id)
                                .order_by(HeadCount.reported_at, HeadCount.id)).scalars())


def add_closure(session: Session, *, incident_id: int, data: ClosureIn, actor: str
                ) -> RoadClosure:
    """Close a road edge, or every edge crossing a polygon."""
    open_incident(session, incident_id)
    graph = load_graph()
    if data.a is not None and data.b is not None:
        if graph.edge(data.a, data.b) is None:
            raise InvalidInput.of("closure.no_edge", field="a", a=data.a, b=data.b)
        edges = [[data.a, data.b]]
    else:
        assert data.polygon is not None
        edges = [[a, b] for a, b in graph.crossing(list(data.polygon))]
        if not edges:
            raise InvalidInput.of("closure.no_edges_in_polygon", field="polygon")
    closure = RoadClosure(incident_id=incident_id, edges=edges,
                          polygon=[list(p) for p in data.polygon] if data.polygon else None,
                          reason=data.reason, created_by=actor)
    return crud.created(session, closure, actor=actor, entity="road_closure",
                              entity_id=f"incident {incident_id}")


def lift_closure(session: Session, *, incident_id: int, closure_id: int, actor: str
                 ) -> RoadClosure:
    """Reopen the roads of a closure."""
    closure = session.get(RoadClosure, closure_id)
    if closure is None or closure.incident_id != incident_id:
        raise NotFound.of("closure.unknown", closure=closure_id, incident=incident_id)
    if closure.lifted_at is None:
        closure.lifted_at = utcnow()
        session.add(closure)
        record(session, actor=actor, action="road_closure.lift", entity="road_closure",
               entity_id=str(closure_id))
    return closure


def active_closures(session: Session, incident_id: int) -> list[RoadClosure]:
    """Closures of an incident that are not lifted."""
    return list(session.execute(select(RoadClosure).where(
        RoadClosure.incident_id == incident_id, RoadClosure.lifted_at.is_(None))
        .order_by(RoadClosure.id)).scalars())


def incident_public(session: Session, incident: Incident) -> IncidentPublic:
    """An incident with its sites and closures."""
    sites = list(session.execute(select(AffectedSite).where(
        AffectedSite.incident_id == incident.id).order_by(AffectedSite.id)).scalars())
    closures = list(session.execute(select(RoadClosure).where(
        RoadClosure.incident_id == incident.id).order_by(RoadClosure.id)).scalars())
    assert incident.id is not None
    return IncidentPublic(
        id=incident.id, kind=incident.kind, name=incident.name, onset=incident.onset,
        deadline_hours=incident.deadline_hours,
        deadline=incident.onset + timedelta(hours=incident.deadline_hours),
        needs=incident.needs, status=incident.status, note=incident.note,
        created_by=incident.created_by, created_at=incident.created_at,
        people=sum(s.people for s in sites if s.active),
        sites=[SitePublic.model_validate(s, from_attributes=True) for s in sites],
        closures=[ClosurePublic.model_validate(c, from_attributes=True) for c in closures],
    )


def _touch(incident: Incident) -> None:
    incident.updated_at = utcnow()
