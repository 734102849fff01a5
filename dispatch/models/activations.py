"""Reserve activations: the call that sets an agreement or capacity reserve going for an incident.

An activation is an event (when, who, for which incident, how much of which reserve). A reserve's
lead time counts from its activation, and live plans of the incident may draw on what was
activated and nothing more (docs/dispatch.md, "Reserve activations").
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydField
from pydantic_core import PydanticCustomError
from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, str_enum, utcnow
from relief.platform.fields import NearNow, RowId, WholeNumber


class ReserveKind(StrEnum):
    """Which kind of reserve an activation calls."""

    agreement = "agreement"
    capacity = "capacity"


class ReserveActivation(SQLModel, table=True):
    """One activation of an agreement reserve (a contract) or a capacity reserve (a producer)
    for an incident; ``cancelled_at`` set means withdrawn."""

    __tablename__ = "reserve_activation"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("(agreement_id IS NULL) <> (capacity_id IS NULL)", name="one_reserve"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    kind: ReserveKind = Field(sa_type=str_enum(ReserveKind))
    # The reserve's id, without a foreign key: a provincial import may delete a producer's
    # capacity reserve, and the activations stay as history (a deleted producer makes nothing).
    agreement_id: int | None = Field(default=None, description="Agreement reserve id")
    capacity_id: int | None = Field(default=None, description="Capacity reserve id")
    depot_id: int = Field(foreign_key="depot.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    quantity: int
    lead_time_hours: float = Field(description="The reserve's lead time when it was activated")
    activated_at: datetime = Field(sa_type=UTCDateTime)
    activated_by: str = Field(max_length=120)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=300)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_by: str | None = Field(default=None, max_length=120)
    cancel_reason: str | None = Field(default=None, max_length=300)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ActivationIn(_Body):
    """Body of POST /incidents/{id}/activations: give ``agreement`` (a contract id) or
    ``capacity`` (a capacity reserve id)."""

    agreement: RowId | None = PydField(default=None, description="Agreement reserve id")
    capacity: RowId | None = PydField(default=None, description="Capacity reserve id")
    quantity: Annotated[WholeNumber, PydField(gt=0, le=100_000_000, description="Units called")]
    activated_at: NearNow | None = PydField(
        default=None, description="When the enterprise was called (default now); may be "
        "before the incident's onset, never in the future")
    note: str | None = PydField(default=None, max_length=300)

    @model_validator(mode="after")
    def _one_reserve(self) -> ActivationIn:
        if (self.agreement is None) == (self.capacity is None):
            raise PydanticCustomError("agreement_or_capacity",
                                      "give exactly one of agreement or capacity")
        if self.activated_at is not None and self.activated_at.tzinfo is None:
            raise PydanticCustomError(
                "activated_at_timezone",
                "activated_at needs a time zone, e.g. 2026-08-01T06:00:00+08:00")
        return self


class ActivationCancelIn(_Body):
    """Why an activation is withdrawn."""

    reason: str = PydField(min_length=1, max_length=300)


class ActivationPublic(BaseModel):
    """An activation as the API returns it, with what plans drew on it."""

    id: int
    incident_id: int
    kind: ReserveKind
    reserve_id: int
    depot: str
    depot_name: str
    item: str
    item_name: str
    unit: str
    quantity: int
    drawn: int = PydField(description="Units approved plans of the incident draw on it")
    lead_time_hours: float
    activated_at: datetime
    activated_min: int = PydField(description="Minutes after onset (negative: before it)")
    ready_at: datetime = PydField(description="activated_at + lead time")
    activated_by: str
    recorded_at: datetime
    note: str | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None
