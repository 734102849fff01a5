"""Dispatch use cases: the fleet (and, with the plan lifecycle, incidents and plans).

Functions run inside the caller's transaction and never commit.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import TransportEnterprise, Vehicle
from dispatch.models.fleet import (
    TransportEnterpriseCreate,
    TransportEnterprisePublic,
    TransportEnterpriseUpdate,
    VehicleCreate,
    VehiclePublic,
    VehicleUpdate,
)
from relief.errors import Conflict, NotFound
from supplies import masterdata
from supplies.models import Depot
from supplies.service import get_depot


def get_enterprise(session: Session, code: str, *, field: str = "enterprise"
                   ) -> TransportEnterprise:
    """The transport enterprise ``code`` or a 404 naming ``field``."""
    row = session.execute(select(TransportEnterprise).where(TransportEnterprise.code == code)
                          ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"transport enterprise {code} not found",
                       fields=[{"field": field, "message": "unknown"}])
    return row


def get_vehicle(session: Session, plate: str) -> Vehicle:
    """The vehicle with ``plate`` or a 404."""
    row = session.execute(select(Vehicle).where(Vehicle.plate == plate)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"vehicle {plate} not found", fields=[{"field": "plate",
                                                               "message": "unknown"}])
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
        raise Conflict(f"vehicle {data.plate} exists", details={"plate": data.plate})
    depot = get_depot(session, data.depot) if data.depot else None
    enterprise = get_enterprise(session, data.enterprise) if data.enterprise else None
    vehicle = Vehicle(**data.model_dump(exclude={"depot", "enterprise"}),
                      depot_id=depot.id if depot else None,
                      enterprise_id=enterprise.id if enterprise else None)
    return masterdata.created(session, vehicle, actor=actor, entity="vehicle",
                              entity_id=data.plate)


def update_vehicle(session: Session, *, plate: str, data: VehicleUpdate, actor: str) -> Vehicle:
    """Change a vehicle's capacity, status, speed or driver."""
    return masterdata.apply(session, get_vehicle(session, plate), data, actor=actor,
                            entity="vehicle", entity_id=plate)


def create_enterprise(session: Session, *, data: TransportEnterpriseCreate, actor: str
                      ) -> TransportEnterprise:
    """Register a transport enterprise under agreement."""
    exists = select(TransportEnterprise.id).where(TransportEnterprise.code == data.code)
    if session.execute(exists).first():
        raise Conflict(f"transport enterprise {data.code} exists", details={"code": data.code})
    masterdata.get_division(session, data.division_code)
    return masterdata.created(session, TransportEnterprise.model_validate(data), actor=actor,
                              entity="transport_enterprise", entity_id=data.code)


def update_enterprise(session: Session, *, code: str, data: TransportEnterpriseUpdate,
                      actor: str) -> TransportEnterprise:
    """Change a transport enterprise's details."""
    return masterdata.apply(session, get_enterprise(session, code, field="code"), data,
                            actor=actor, entity="transport_enterprise", entity_id=code)
