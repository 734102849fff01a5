"""Contracts and quotas: agreement reserves, capacity reserves and the reserve catalogue."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, change_stamp_column, str_enum, utcnow
from relief.platform.fields import Count, PositiveInt32, SaneDate
from supplies.models.network import Tier


class AgreementReserveBase(SQLModel):
    """Fields shared by agreement reserve schemas."""

    committed_quantity: int = Field(gt=0)
    lead_time_hours: float = Field(ge=0, le=240, description="Activation lead time")
    valid_from: date
    valid_to: date
    contract_ref: str = Field(min_length=1, max_length=80)
    note: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _period(self) -> AgreementReserveBase:
        if self.valid_to < self.valid_from:
            raise PydanticCustomError("valid_to_before_from", "valid_to is before valid_from")
        return self


class AgreementReserve(AgreementReserveBase, table=True):
    """协议储备: goods an enterprise holds or supplies under contract, after a lead time.

    Its key is (depot, item, contract_ref): unique (migration 0011) and immutable (depot and
    item cannot be changed, a PATCH of ``contract_ref`` is refused), so the agreement feed's
    readers can key their mirrors on it (docs/integration.md).
    """

    __tablename__ = "agreement_reserve"
    __table_args__ = (
        CheckConstraint("committed_quantity > 0", name="quantity_positive"),
        CheckConstraint("valid_to >= valid_from", name="period"),
        Index("uq_agreement_reserve_key", "depot_id", "item_id", "contract_ref", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    depot_id: int = Field(foreign_key="depot.id", index=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    change_stamp: int = Field(default=0, sa_column=change_stamp_column(), exclude=True,
                              repr=False)


class AgreementReserveCreate(AgreementReserveBase):
    """Body of POST /agreements."""

    committed_quantity: PositiveInt32
    valid_from: SaneDate
    valid_to: SaneDate

    depot: str
    item: str


class AgreementReserveUpdate(SQLModel):
    """Body of PATCH /agreements/{id}."""

    committed_quantity: PositiveInt32 | None = None
    lead_time_hours: float | None = Field(default=None, ge=0, le=240)
    valid_from: SaneDate | None = None
    valid_to: SaneDate | None = None
    contract_ref: str | None = Field(
        default=None, min_length=1, max_length=80,
        description="Part of the agreement's key: may be sent only unchanged (another value is "
        "a 422 naming contract_ref; record a new agreement instead)")
    note: str | None = Field(default=None, max_length=500)


class AgreementReservePublic(AgreementReserveBase):
    """An agreement reserve as the API returns it."""

    id: int
    depot: str
    item: str
    updated_at: datetime


class CapacityReserveBase(SQLModel):
    """Fields shared by capacity reserve schemas."""

    units_per_day: int = Field(gt=0)
    lead_time_hours: float = Field(ge=0, le=720)
    note: str | None = Field(default=None, max_length=500)


class CapacityReserve(CapacityReserveBase, table=True):
    """产能储备: a producer's output rate, available after a lead time."""

    __tablename__ = "capacity_reserve"
    __table_args__ = (
        CheckConstraint("units_per_day > 0", name="rate_positive"),
        UniqueConstraint("depot_id", "item_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    depot_id: int = Field(foreign_key="depot.id", index=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    change_stamp: int = Field(default=0, sa_column=change_stamp_column(), exclude=True,
                              repr=False)


class CapacityReserveCreate(CapacityReserveBase):
    """Body of POST /capacity-reserves."""

    units_per_day: PositiveInt32

    depot: str
    item: str


class CapacityReserveUpdate(SQLModel):
    """Body of PATCH /capacity-reserves/{id}."""

    units_per_day: PositiveInt32 | None = None
    lead_time_hours: float | None = Field(default=None, ge=0, le=720)
    note: str | None = Field(default=None, max_length=500)


class CapacityReservePublic(CapacityReserveBase):
    """A capacity reserve as the API returns it."""

    id: int
    depot: str
    item: str
    updated_at: datetime


class ReserveTarget(SQLModel, table=True):
    """储备目录: how many of an item a depot (or every depot of a tier) should keep.

    Exactly one of ``depot_id`` and ``tier`` is set; a depot's own target overrides its tier's.
    """

    __tablename__ = "reserve_target"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
        CheckConstraint(
            "(depot_id IS NULL) <> (tier IS NULL)", name="depot_xor_tier"
        ),
        UniqueConstraint("depot_id", "item_id"),
        UniqueConstraint("tier", "item_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tier: Tier | None = Field(default=None, sa_type=str_enum(Tier))
    depot_id: int | None = Field(default=None, foreign_key="depot.id", index=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    quantity: int
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReserveTargetCreate(SQLModel):
    """Body of POST /targets: give ``depot`` or ``tier``, not both."""

    tier: Tier | None = None
    depot: str | None = None
    item: str
    quantity: Count

    @model_validator(mode="after")
    def _one_scope(self) -> ReserveTargetCreate:
        if (self.tier is None) == (self.depot is None):
            raise PydanticCustomError("depot_or_tier", "give exactly one of depot or tier")
        return self


class ReserveTargetUpdate(SQLModel):
    """Body of PATCH /targets/{id}."""

    quantity: Count


class ReserveTargetPublic(SQLModel):
    """A reserve target as the API returns it."""

    id: int
    tier: Tier | None
    depot: str | None
    item: str
    quantity: int
    updated_at: datetime
