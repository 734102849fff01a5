"""Incidents: the disaster, its affected sites and head counts, and its road closures."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydField
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, CheckConstraint, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, str_enum, utcnow
from relief.platform.fields import NEAR_NOW_YEARS, Latitude, Longitude, NearNow, WholeNumber


class IncidentKind(StrEnum):
    """The hazard behind an incident."""

    typhoon = "typhoon"
    flood = "flood"
    earthquake = "earthquake"
    storm_surge = "storm_surge"
    other = "other"


class IncidentStatus(StrEnum):
    """Open incidents can be planned for; closed ones are history."""

    open = "open"
    closed = "closed"


class SiteKind(StrEnum):
    """Where an affected site comes from: a seeded shelter or township, or a point."""

    shelter = "shelter"
    township = "township"
    point = "point"


class Incident(SQLModel, table=True):
    """A disaster the dispatchers plan relief for."""

    __table_args__ = (CheckConstraint("deadline_hours > 0", name="deadline_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: IncidentKind = Field(sa_type=str_enum(IncidentKind))
    name: str = Field(max_length=120)
    onset: datetime = Field(sa_type=UTCDateTime)
    deadline_hours: float = 10.0
    needs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: IncidentStatus = Field(default=IncidentStatus.open,
                                   sa_type=str_enum(IncidentStatus))
    note: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AffectedSite(SQLModel, table=True):
    """A place with affected people; ``people`` is the latest reported head count."""

    __tablename__ = "affected_site"
    __table_args__ = (
        UniqueConstraint("incident_id", "code"),
        CheckConstraint("people >= 0", name="people_nonnegative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    code: str = Field(max_length=40)
    name: str = Field(max_length=120)
    kind: SiteKind = Field(sa_type=str_enum(SiteKind))
    lat: float
    lon: float
    people: int
    households: int | None = None
    service_min: int = 15
    sheltered: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()},
                            description="People here are under a roof (避难场所): no tent")
    contact: str | None = Field(default=None, max_length=120)
    contact_phone: str | None = Field(default=None, max_length=40)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class HeadCount(SQLModel, table=True):
    """One head-count report for a site, as a disaster information officer gave it."""

    __tablename__ = "head_count"
    __table_args__ = (CheckConstraint("people >= 0", name="people_nonnegative"),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="affected_site.id", index=True)
    people: int
    households: int | None = None
    reported_at: datetime = Field(sa_type=UTCDateTime)
    reported_by: str = Field(max_length=120)
    recorded_by: str = Field(max_length=120)
    note: str | None = Field(default=None, max_length=300)


class RoadClosure(SQLModel, table=True):
    """Closed road-graph edges: one named edge, or every edge crossing a polygon."""

    __tablename__ = "road_closure"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    edges: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))
    polygon: list[list[float]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str | None = Field(default=None, max_length=300)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---------------------------------------------------------------------------------------------
# API bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# A closure area's vertices: a county outline drawn by hand has tens; the engine tests every
# road edge against every polygon side, so a 100,000-vertex polygon would cost minutes of CPU.
MAX_POLYGON_VERTICES = 1000
MAX_NEED_ITEMS = 200
PerUnit = Annotated[float, PydField(ge=0, le=10_000)]
People = Annotated[WholeNumber, PydField(ge=0, le=10_000_000)]


class NeedsIn(_Body):
    """A needs standard (the engine's default applies when an incident gives none)."""

    days: float = PydField(default=1.0, gt=0, le=30)
    household_size: float = PydField(default=3.0, gt=0, le=20)
    per_person: dict[str, PerUnit] = PydField(default_factory=dict, max_length=MAX_NEED_ITEMS)
    per_person_per_day: dict[str, PerUnit] = PydField(default_factory=dict,
                                                      max_length=MAX_NEED_ITEMS)
    per_household: dict[str, PerUnit] = PydField(default_factory=dict, max_length=MAX_NEED_ITEMS)


class IncidentIn(_Body):
    """Body of POST /incidents."""

    kind: IncidentKind
    name: str = PydField(min_length=1, max_length=120)
    onset: NearNow = PydField(description="ISO-8601 with a time zone, within "
                              f"{NEAR_NOW_YEARS} years of now")
    deadline_hours: float = PydField(default=10.0, gt=0, le=72)
    needs: NeedsIn | None = None
    note: str | None = PydField(default=None, max_length=500)

    @model_validator(mode="after")
    def _aware(self) -> IncidentIn:
        if self.onset.tzinfo is None:
            raise PydanticCustomError(
                "onset_timezone", "onset needs a time zone, e.g. 2026-08-01T06:00:00+08:00")
        return self


class SiteIn(_Body):
    """An affected site: a seeded shelter (depot code), a township (division code), or a point."""

    shelter: str | None = PydField(default=None, description="Depot code of kind shelter")
    township: str | None = PydField(default=None, description="Division code of a township")
    code: str | None = PydField(default=None, max_length=40, description="Id of an ad-hoc point")
    name: str | None = PydField(default=None, max_length=120)
    lat: Latitude | None = None
    lon: Longitude | None = None
    people: People
    households: People | None = None
    service_min: Annotated[WholeNumber, PydField(ge=0, le=240)] = 15
    sheltered: bool | None = PydField(
        default=None, description="People here are under a roof (a school, a gym used as a "
        "shelter, 避难场所): no tent. Always true for a seeded shelter; default false otherwise")
    contact: str | None = PydField(default=None, min_length=1, max_length=120,
                                   description="Who receives the goods on site")
    contact_phone: str | None = PydField(default=None, min_length=3, max_length=40,
                                         pattern=r"^[0-9+\- ()]+$")
    reported_by: str = PydField(min_length=1, max_length=120,
                                description="Disaster information officer (灾害信息员)")
    reported_at: NearNow | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> SiteIn:
        given = [x for x in (self.shelter, self.township, self.code) if x]
        if len(given) != 1:
            raise PydanticCustomError(
                "site_reference", "give exactly one of shelter, township or code (ad-hoc point)")
        if self.code and (self.lat is None or self.lon is None or not self.name):
            raise PydanticCustomError("point_fields", "an ad-hoc point needs name, lat and lon")
        if self.shelter and self.sheltered is False:
            raise PydanticCustomError("shelter_sheltered",
                                      "a shelter's people are always sheltered")
        return self


class HeadCountIn(_Body):
    """A new head count for a site."""

    people: People
    households: People | None = None
    reported_by: str = PydField(min_length=1, max_length=120)
    reported_at: NearNow | None = None
    note: str | None = PydField(default=None, max_length=300)


class ClosureIn(_Body):
    """Close one road edge (``a``, ``b``: road node ids) or every edge crossing ``polygon``."""

    a: str | None = None
    b: str | None = None
    polygon: list[tuple[Latitude, Longitude]] | None = PydField(
        default=None, min_length=3, max_length=MAX_POLYGON_VERTICES,
        description=f"[[lat, lon], ...] vertices (3 to {MAX_POLYGON_VERTICES})")
    reason: str | None = PydField(default=None, max_length=300)

    @model_validator(mode="after")
    def _edge_or_polygon(self) -> ClosureIn:
        edge = self.a is not None and self.b is not None
        if edge == (self.polygon is not None) or (not edge and (self.a or self.b)):
            raise PydanticCustomError("closure_shape", "give either a and b, or polygon")
        return self


class SitePublic(BaseModel):
    """An affected site as the API returns it."""

    id: int
    code: str
    name: str
    kind: SiteKind
    lat: float
    lon: float
    people: int
    households: int | None
    service_min: int
    sheltered: bool
    contact: str | None
    contact_phone: str | None
    active: bool
    updated_at: datetime


class ClosurePublic(BaseModel):
    """A road closure as the API returns it."""

    id: int
    edges: list[list[str]]
    polygon: list[list[float]] | None
    reason: str | None
    created_by: str
    created_at: datetime
    lifted_at: datetime | None


class IncidentPublic(BaseModel):
    """An incident with its sites and closures."""

    id: int
    kind: IncidentKind
    name: str
    onset: datetime
    deadline_hours: float
    deadline: datetime
    needs: dict[str, Any] | None
    status: IncidentStatus
    note: str | None
    created_by: str
    created_at: datetime
    people: int
    sites: list[SitePublic]
    closures: list[ClosurePublic]
