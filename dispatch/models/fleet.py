"""The fleet: vehicles at depots, and transport enterprises under agreement with theirs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, str_enum, utcnow


class VehicleStatus(StrEnum):
    """Only available vehicles are planned with."""

    available = "available"
    in_service = "in_service"
    maintenance = "maintenance"
    retired = "retired"


class TransportEnterpriseBase(SQLModel):
    """Fields shared by transport enterprise schemas."""

    name: str = Field(min_length=1, max_length=120)
    division_code: str = Field(foreign_key="division.code", max_length=12)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    lead_time_hours: float = Field(ge=0, le=240, description="Hours from call to vehicles ready")
    contact: str | None = Field(default=None, max_length=200)
    active: bool = True
    note: str | None = Field(default=None, max_length=500)


class TransportEnterprise(TransportEnterpriseBase, table=True):
    """A logistics enterprise under agreement; its vehicles are ready after a lead time."""

    __tablename__ = "transport_enterprise"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class TransportEnterpriseCreate(TransportEnterpriseBase):
    """Body of POST /transport-enterprises."""

    code: str = Field(min_length=1, max_length=32)


class TransportEnterpriseUpdate(SQLModel):
    """Body of PATCH /transport-enterprises/{code}."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lead_time_hours: float | None = Field(default=None, ge=0, le=240)
    contact: str | None = Field(default=None, max_length=200)
    active: bool | None = None
    note: str | None = Field(default=None, max_length=500)


class TransportEnterprisePublic(TransportEnterpriseBase):
    """A transport enterprise as the API returns it."""

    id: int
    code: str
    updated_at: datetime


class VehicleBase(SQLModel):
    """Fields shared by vehicle schemas."""

    plate: str = Field(min_length=1, max_length=32)
    capacity_kg: float = Field(gt=0, le=100_000)
    capacity_m3: float = Field(gt=0, le=500)
    kind: str = Field(default="truck", max_length=40)
    status: VehicleStatus = Field(default=VehicleStatus.available,
                                  sa_type=str_enum(VehicleStatus))
    speed_factor: float = Field(default=1.0, gt=0, le=2, description="1.0 = road speed")
    driver: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=500)


class Vehicle(VehicleBase, table=True):
    """A vehicle based at a depot, or belonging to a transport enterprise (exactly one)."""

    __table_args__ = (
        CheckConstraint("(depot_id IS NULL) <> (enterprise_id IS NULL)", name="one_home"),
        CheckConstraint("capacity_kg > 0 AND capacity_m3 > 0", name="capacity_positive"),
        UniqueConstraint("plate"),
    )

    id: int | None = Field(default=None, primary_key=True)
    depot_id: int | None = Field(default=None, foreign_key="depot.id", index=True)
    enterprise_id: int | None = Field(default=None, foreign_key="transport_enterprise.id",
                                      index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class VehicleCreate(VehicleBase):
    """Body of POST /vehicles: give ``depot`` or ``enterprise``."""

    depot: str | None = None
    enterprise: str | None = None

    @model_validator(mode="after")
    def _one_home(self) -> VehicleCreate:
        if (self.depot is None) == (self.enterprise is None):
            raise PydanticCustomError(
                "depot_or_enterprise", "give exactly one of depot or enterprise")
        return self


class VehicleUpdate(SQLModel):
    """Body of PATCH /vehicles/{plate}."""

    capacity_kg: float | None = Field(default=None, gt=0, le=100_000)
    capacity_m3: float | None = Field(default=None, gt=0, le=500)
    kind: str | None = Field(default=None, max_length=40)
    status: VehicleStatus | None = None
    speed_factor: float | None = Field(default=None, gt=0, le=2)
    driver: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=500)


class VehiclePublic(VehicleBase):
    """A vehicle as the API returns it."""

    id: int
    depot: str | None
    enterprise: str | None
    updated_at: datetime
