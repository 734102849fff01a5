"""The reserve network: administrative divisions and depots."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, change_stamp_column, str_enum, utcnow
from relief.platform.fields import FloorAreaM2, Int32, Year


class DivisionLevel(StrEnum):
    """Administrative level; township_other marks NBS units that are not towns or streets.

    ``province`` is Jiangsu (320000), added when the provincial exchange first imports a
    warehouse outside Nantong (see docs/integration.md).
    """

    province = "province"
    city = "city"
    county = "county"
    township = "township"
    township_other = "township_other"


class Tier(StrEnum):
    """Reserve tier of a depot (三级储备), plus ``province`` for provincial depots and producers
    imported through the provincial exchange (drawn when the city's own tiers cannot cover)."""

    city = "city"
    county = "county"
    township = "township"
    province = "province"


class DepotKind(StrEnum):
    """Who holds the stock and how it may be drawn."""

    government = "government"
    agreement = "agreement"
    capacity = "capacity"
    social = "social"
    shelter = "shelter"


class DivisionBase(SQLModel):
    """Fields shared by every division schema."""

    name: str = Field(min_length=1, max_length=80)
    level: DivisionLevel = Field(sa_type=str_enum(DivisionLevel))
    parent_code: str | None = Field(default=None, foreign_key="division.code", max_length=12)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    coords_approximate: bool = True
    population: int | None = Field(default=None, ge=0)
    population_year: int | None = None


class Division(DivisionBase, table=True):
    """A real administrative division (NBS statistical division code)."""

    code: str = Field(primary_key=True, max_length=12)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class DivisionCreate(DivisionBase):
    """Body of POST /divisions."""

    population: Int32 | None = None
    population_year: Year | None = None

    code: str = Field(
        schema_extra={"pattern": r"^\d{6}(\d{3})?$"},
        description="6-digit county or 9-digit township",
    )


class DivisionUpdate(SQLModel):
    """Body of PATCH /divisions/{code}; absent fields stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=80)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    coords_approximate: bool | None = None
    population: Int32 | None = None
    population_year: Year | None = None


class DivisionPublic(DivisionBase):
    """A division as the API returns it."""

    code: str
    updated_at: datetime


class DepotBase(SQLModel):
    """Fields shared by every depot schema."""

    name: str = Field(min_length=1, max_length=120)
    tier: Tier = Field(sa_type=str_enum(Tier))
    kind: DepotKind = Field(sa_type=str_enum(DepotKind))
    division_code: str = Field(foreign_key="division.code", max_length=12, index=True)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    coords_approximate: bool = False
    floor_area_m2: float | None = Field(default=None, ge=0)
    fire_protected: bool = False
    flood_protected: bool = False
    theft_protected: bool = False
    contact: str | None = Field(default=None, max_length=200)
    active: bool = True
    note: str | None = Field(default=None, max_length=500)


class Depot(DepotBase, table=True):
    """A reserve depot, storage point, enterprise or shelter holding or promising supplies."""

    __table_args__ = (CheckConstraint("floor_area_m2 IS NULL OR floor_area_m2 >= 0", name="area"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    change_stamp: int = Field(default=0, sa_column=change_stamp_column(), exclude=True,
                              repr=False)


_DEPOT_CODE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$"


class DepotCreate(DepotBase):
    """Body of POST /depots."""

    floor_area_m2: FloorAreaM2 | None = None

    code: str = Field(schema_extra={"pattern": _DEPOT_CODE})


class DepotUpdate(SQLModel):
    """Body of PATCH /depots/{code}; absent fields stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    tier: Tier | None = None
    kind: DepotKind | None = None
    division_code: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    coords_approximate: bool | None = None
    floor_area_m2: FloorAreaM2 | None = None
    fire_protected: bool | None = None
    flood_protected: bool | None = None
    theft_protected: bool | None = None
    contact: str | None = Field(default=None, max_length=200)
    active: bool | None = None
    note: str | None = Field(default=None, max_length=500)

    @field_validator("tier", "kind", "lat", "lon", "active", "division_code", "name")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("not_null", "may be omitted but not null")
        return value


class DepotPublic(DepotBase):
    """A depot as the API returns it."""

    id: int
    code: str
    updated_at: datetime
