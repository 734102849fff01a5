"""Plans (planning jobs and their results), and the shipments an approved plan becomes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydField
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, str_enum, utcnow
from relief.platform.fields import Count, RowId
from relief.platform.leasedjob import LeasedJob


class JobStatus(StrEnum):
    """Where a planning job is."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


# A job in one of these states will not run again.
FINISHED = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})


class PlanLane(StrEnum):
    """Which queue a job waits in: short (urgent) jobs never wait behind long ones."""

    urgent = "urgent"
    long = "long"


class PlanState(StrEnum):
    """A plan's standing: drafts can be approved; approving one supersedes the other drafts."""

    draft = "draft"
    approved = "approved"
    superseded = "superseded"


class DispatchPlan(LeasedJob, table=True):
    """A planning job and, when it succeeded, the plan, the scenario it used and the verdict."""

    __tablename__ = "dispatch_plan"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    status: JobStatus = Field(default=JobStatus.queued, sa_type=str_enum(JobStatus), index=True)
    state: PlanState = Field(default=PlanState.draft, sa_type=str_enum(PlanState))
    phase: str | None = Field(default=None, max_length=40)
    progress: float = 0.0
    time_limit_s: float = 30.0
    as_of_min: int = Field(default=0, description="Minutes after onset the plan starts from")
    requested_by: str = Field(max_length=120)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    scenario: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    verdict: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    sources: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True),
        description="Scenario source id -> depot code, tier and what it held at planning time")
    vehicles: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True),
        description="Engine vehicle unit id -> plate and vehicle id (dispatch.record)")
    approved_by: str | None = Field(default=None, max_length=120)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lane: PlanLane = Field(default=PlanLane.long, sa_type=str_enum(PlanLane))
    cancel_requested_by: str | None = Field(default=None, max_length=120)
    cancel_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reoptimise: bool = Field(default=False, description="Re-plan the approved trips not yet "
                             "departed together with what is still missing")
    supersedes: list[int] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True),
        description="Re-optimisation: the trips (shipment ids) approval cancels and re-plans")
    diagnosis: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True),
        description="Why demand stays unmet: the engine's reasons, fleet busy until when")


class ShipmentStatus(StrEnum):
    """A trip's life: planned at approval, departed, completed or cancelled."""

    planned = "planned"
    departed = "departed"
    completed = "completed"
    cancelled = "cancelled"


class Shipment(SQLModel, table=True):
    """One trip of one vehicle from its source, as a plan's approval created it."""

    __table_args__ = (UniqueConstraint("plan_id", "vehicle", "trip_no"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="dispatch_plan.id", index=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    source_depot_id: int = Field(foreign_key="depot.id", index=True)
    source_tier: str = Field(max_length=20)
    vehicle: str = Field(max_length=60, description="Plate, or the scenario's vehicle name")
    vehicle_id: int | None = Field(default=None, foreign_key="vehicle.id")
    driver: str | None = Field(default=None, max_length=120)
    driver_phone: str | None = Field(default=None, max_length=40)
    trip_no: int
    status: ShipmentStatus = Field(default=ShipmentStatus.planned,
                                   sa_type=str_enum(ShipmentStatus), index=True)
    planned_depart_min: int
    planned_return_min: int
    departed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=300)


class ShipmentLine(SQLModel, table=True):
    """What a trip carries of one item, and the reservation holding it until departure."""

    __tablename__ = "shipment_line"
    __table_args__ = (
        UniqueConstraint("shipment_id", "item_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(sa_column=Column(ForeignKey("shipment.id"), nullable=False,
                                              index=True))
    item_id: int = Field(foreign_key="item.id")
    quantity: int
    reservation_id: int | None = Field(default=None, foreign_key="reservation.id")


class ShipmentLot(SQLModel, table=True):
    """Per lot: what left the depot on a trip, what was delivered and what came back."""

    __tablename__ = "shipment_lot"
    __table_args__ = (UniqueConstraint("shipment_id", "lot_id"),)

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipment.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    lot_id: int = Field(foreign_key="lot.id")
    departed: int = 0
    delivered: int = 0
    returned: int = 0
    damaged: int = Field(default=0, sa_column_kwargs={"server_default": "0"},
                         description="Of what returned: units that came back damaged (they "
                         "went to a damaged lot at the depot, never to good stock)")


class StopStatus(StrEnum):
    """A stop is pending until the driver or site confirms it."""

    pending = "pending"
    delivered = "delivered"


class ShipmentStop(SQLModel, table=True):
    """A stop of a trip at an affected site."""

    __tablename__ = "shipment_stop"
    __table_args__ = (UniqueConstraint("shipment_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipment.id", index=True)
    seq: int
    site_id: int = Field(foreign_key="affected_site.id", index=True)
    planned_arrival_min: int
    status: StopStatus = Field(default=StopStatus.pending, sa_type=str_enum(StopStatus))
    arrived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_by: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=300)


class ShortReason(StrEnum):
    """Why a stop got less than planned (the rest goes back to the depot)."""

    damaged = "damaged"  # 破损: returns to a damaged lot, never to good stock
    refused = "refused"  # 拒收: the site did not take it (wrong item, no need any more)
    no_access = "no_access"  # 无法卸货: could not be unloaded there
    other = "other"  # 其他 (say what in the note)


class StopLine(SQLModel, table=True):
    """Per stop and item: what the plan unloads, what was delivered, and the shortfall."""

    __tablename__ = "stop_line"
    __table_args__ = (UniqueConstraint("stop_id", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    stop_id: int = Field(foreign_key="shipment_stop.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    planned: int
    delivered: int | None = None
    shortfall: int | None = None
    short_reason: str | None = Field(default=None, max_length=20,
                                     description="A ShortReason when delivered < planned")
    damaged: int = Field(default=0, sa_column_kwargs={"server_default": "0"},
                         description="Of the shortfall: units damaged on the way")


class ReserveDraw(SQLModel, table=True):
    """What an approved plan draws on an agreement or capacity reserve (contracts, not stock).

    Draws of approved plans count against the contract, so two plans never call the same units.
    """

    __tablename__ = "reserve_draw"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="dispatch_plan.id", index=True)
    depot_id: int = Field(foreign_key="depot.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    quantity: int
    released: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# ---------------------------------------------------------------------------------------------
# API bodies and views


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PlanRequestIn(_Body):
    """Body of POST /incidents/{id}/plans."""

    time_limit_s: float = PydField(default=30, ge=1, le=600)
    reoptimise: bool = PydField(
        default=False, description="Re-plan every approved trip not yet departed together "
        "with the new demand; approval cancels those trips and re-plans them atomically")


class StopConfirmIn(_Body):
    """Confirm a stop: what was delivered per item (default: everything planned)."""

    delivered: dict[str, int] | None = PydField(
        default=None, description="Item code -> units delivered; less than planned is a shortfall")
    arrived_at: datetime | None = PydField(
        default=None, description="When the truck arrived (ISO-8601 with a time zone); never "
        "in the future nor before the trip departed; default now")
    short_reasons: dict[str, ShortReason] | None = PydField(
        default=None, description="Item code -> why it was delivered short (required for "
        "every item delivered short)")
    damaged: dict[str, Count] | None = PydField(
        default=None, description="Item code -> units short because damaged (default: the "
        "whole shortfall of an item short for damage); they return to a damaged lot")
    note: str | None = PydField(default=None, max_length=300)

    @model_validator(mode="after")
    def _aware(self) -> StopConfirmIn:
        if self.arrived_at is not None and self.arrived_at.tzinfo is None:
            raise PydanticCustomError(
                "arrived_timezone", "arrived_at needs a time zone, e.g. 2026-08-01T06:00:00+08:00")
        return self


class CancelIn(_Body):
    """Why a trip is cancelled."""

    reason: str = PydField(min_length=1, max_length=300)


class DriverIn(_Body):
    """Who drives a trip and how to reach them."""

    driver: str = PydField(min_length=1, max_length=120)
    phone: str | None = PydField(default=None, min_length=3, max_length=40,
                                 pattern=r"^[0-9+\- ()]+$")


class BulkDepartIn(_Body):
    """Which trips leave at once: every trip still to leave of the incident, narrowed to one
    plan and/or one source depot."""

    plan: RowId | None = None
    depot: str | None = PydField(default=None, min_length=1, max_length=32)


class BulkCancelIn(BulkDepartIn):
    """Which trips still to leave are called off at once, and why."""

    reason: str = PydField(min_length=1, max_length=300)


class BulkOutcome(BaseModel):
    """What a bulk operation did: the trips it departed or cancelled (none when every
    matching trip had already left or been cancelled)."""

    action: str
    count: int
    shipments: list[int]


class PlanJobPublic(BaseModel):
    """A planning job: status, progress, and when done the plan and the checker's verdict."""

    id: int
    incident_id: int
    status: JobStatus
    state: PlanState
    phase: str | None
    progress: float
    time_limit_s: float
    as_of_min: int
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_zh: str | None = None
    error: str | None
    error_key: str | None = None
    error_params: dict[str, Any] | None = None
    summary: dict[str, Any] | None
    verdict: dict[str, Any] | None
    approved_by: str | None
    approved_at: datetime | None
    lane: PlanLane
    attempts: int
    cancel_requested_by: str | None
    cancel_requested_at: datetime | None
    plan: dict[str, Any] | None = None
    scenario: dict[str, Any] | None = None
    reoptimise: bool = False
    supersedes: list[int] | None = None
    diagnosis: dict[str, Any] | None = None


class StopLinePublic(BaseModel):
    """One item at one stop."""

    item: str
    item_name: str = ""
    unit: str = ""
    planned: int
    delivered: int | None
    shortfall: int | None
    short_reason: ShortReason | None = None
    damaged: int = 0


class StopPublic(BaseModel):
    """A stop with its planned and actual figures."""

    id: int
    seq: int
    site: str
    site_name: str
    site_contact: str | None = None
    site_contact_phone: str | None = None
    lat: float | None = None
    lon: float | None = None
    planned_arrival_min: int
    planned_arrival: datetime
    status: StopStatus
    arrived_at: datetime | None
    lines: list[StopLinePublic]


class LoadPublic(BaseModel):
    """Per item and lot: what a trip carries."""

    item: str
    item_name: str
    unit: str
    lot: str | None
    expiry: str | None
    quantity: int


class ShipmentPublic(BaseModel):
    """A trip: vehicle, driver, load and stops with expected times."""

    id: int
    plan_id: int
    incident_id: int
    source: str
    source_name: str
    source_tier: str
    source_contact: str | None = None
    vehicle: str
    driver: str | None
    driver_phone: str | None = None
    trip_no: int
    status: ShipmentStatus
    planned_depart_min: int
    planned_depart: datetime
    planned_return_min: int
    planned_return: datetime | None = None
    departed_at: datetime | None
    finished_at: datetime | None
    load: list[LoadPublic]
    stops: list[StopPublic]
