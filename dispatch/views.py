"""HTTP routes of the dispatch domain under /api/v1: the fleet (and the plan lifecycle)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from dispatch import service
from dispatch.models import TransportEnterprise, Vehicle, VehicleStatus
from dispatch.models.fleet import (
    TransportEnterpriseCreate,
    TransportEnterprisePublic,
    TransportEnterpriseUpdate,
    VehicleCreate,
    VehiclePublic,
    VehicleUpdate,
)
from relief.api import IdempotencyKey, Limit, Offset, Page, idempotent_post
from relief.auth import Admin, DatabaseDep, Reader
from supplies import masterdata
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
        rows, total = masterdata.page(session, stmt, limit=limit, offset=offset)
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
        rows, total = masterdata.page(session, stmt, limit=limit, offset=offset)
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
