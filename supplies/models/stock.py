"""The double-entry stock ledger: locations, moves, cached balances, reservations, transfers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, change_stamp_column, str_enum, utcnow
from supplies.models.catalogue import Quality


class LocationKind(StrEnum):
    """Internal locations hold stock; the others are the ledger's virtual counter-accounts."""

    internal = "internal"
    supplier = "supplier"
    distribution = "distribution"
    inventory = "inventory"
    scrap = "scrap"
    transit = "transit"


# Locations whose balance is a physical quantity that must never go negative.
STOCKED_KINDS = frozenset({LocationKind.internal, LocationKind.transit})


class MoveKind(StrEnum):
    """Why a move happened; kept on every ledger row for reporting."""

    receipt = "receipt"
    issue = "issue"
    transfer_out = "transfer_out"
    transfer_in = "transfer_in"
    transfer_loss = "transfer_loss"
    adjustment_gain = "adjustment_gain"
    adjustment_loss = "adjustment_loss"
    scrap = "scrap"
    dispatch = "dispatch"
    delivery = "delivery"
    dispatch_return = "dispatch_return"


class Location(SQLModel, table=True):
    """A place stock can be: one internal location per depot plus singleton virtual locations."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    kind: LocationKind = Field(sa_type=str_enum(LocationKind))
    depot_id: int | None = Field(default=None, foreign_key="depot.id", unique=True)


class Quant(SQLModel, table=True):
    """Cached balance of (location, item, lot), written in the same transaction as its moves.

    Only internal and transit locations have quants. The CHECK constraints are the last line of
    defence behind the ledger's own checks: nothing on hand below zero, nothing reserved that
    is not on hand. ``quality`` is this location's verdict on its goods of the lot: a depot
    quarantining a batch changes its own quant only, never another depot's.
    """

    __table_args__ = (
        UniqueConstraint("location_id", "item_id", "lot_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_nonnegative"),
        CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_quant_item_location", "item_id", "location_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    location_id: int = Field(foreign_key="location.id")
    item_id: int = Field(foreign_key="item.id")
    lot_id: int = Field(foreign_key="lot.id", index=True)
    on_hand: int = 0
    reserved: int = 0
    quality: Quality = Field(default=Quality.good, sa_type=str_enum(Quality),
                             sa_column_kwargs={"server_default": Quality.good.value})
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    change_stamp: int = Field(default=0, sa_column=change_stamp_column(), exclude=True,
                              repr=False)


class StockMove(SQLModel, table=True):
    """One append-only ledger row: ``quantity`` of an item lot went from one location to another.

    Rows are never updated or deleted; a mistake is corrected by a reversing move.
    """

    __tablename__ = "stock_move"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("from_location_id <> to_location_id", name="distinct_locations"),
        Index("ix_stock_move_item_lot", "item_id", "lot_id"),
        Index("ix_stock_move_from", "from_location_id", "item_id"),
        Index("ix_stock_move_to", "to_location_id", "item_id"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    item_id: int = Field(foreign_key="item.id")
    lot_id: int = Field(foreign_key="lot.id")
    quantity: int
    from_location_id: int = Field(foreign_key="location.id")
    to_location_id: int = Field(foreign_key="location.id")
    kind: MoveKind = Field(sa_type=str_enum(MoveKind))
    state: str = Field(default="done", max_length=12)
    operation: str = Field(max_length=36, index=True, description="Groups the moves of one request")
    reference: str | None = Field(default=None, max_length=120, index=True)
    reason: str | None = Field(default=None, max_length=300)
    actor: str = Field(max_length=120)
    idempotency_key: str | None = Field(default=None, max_length=200, index=True)
    transfer_id: int | None = Field(default=None, foreign_key="transfer.id", index=True)
    reservation_id: int | None = Field(default=None, foreign_key="reservation.id")
    change_stamp: int = Field(default=0, sa_column=change_stamp_column(), exclude=True,
                              repr=False)


class ReservationState(StrEnum):
    """Active reservations hold stock; released and consumed ones no longer do."""

    active = "active"
    released = "released"
    consumed = "consumed"


class Reservation(SQLModel, table=True):
    """Stock held at a depot for a later dispatch, picked FEFO into lot lines."""

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    depot_id: int = Field(foreign_key="depot.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    quantity: int
    reference: str = Field(max_length=120, index=True)
    state: ReservationState = Field(
        default=ReservationState.active, sa_type=str_enum(ReservationState)
    )
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReservationLine(SQLModel, table=True):
    """The part of a reservation held on one lot; ``quantity`` is what is still held."""

    __tablename__ = "reservation_line"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
        UniqueConstraint("reservation_id", "lot_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reservation_id: int = Field(
        sa_column=Column(ForeignKey("reservation.id", ondelete="CASCADE"), nullable=False)
    )
    lot_id: int = Field(foreign_key="lot.id")
    quantity: int


class TransferState(StrEnum):
    """A transfer is in transit until the receiving depot books it in."""

    in_transit = "in_transit"
    received = "received"


class Transfer(SQLModel, table=True):
    """Stock sent from one depot to another; it sits in the transit location meanwhile."""

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("from_depot_id <> to_depot_id", name="distinct_depots"),
        CheckConstraint(
            "received_quantity IS NULL OR "
            "(received_quantity >= 0 AND received_quantity <= quantity)",
            name="received_within_sent",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    from_depot_id: int = Field(foreign_key="depot.id", index=True)
    to_depot_id: int = Field(foreign_key="depot.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    quantity: int
    received_quantity: int | None = None
    state: TransferState = Field(default=TransferState.in_transit, sa_type=str_enum(TransferState))
    reference: str | None = Field(default=None, max_length=120)
    sent_by: str = Field(max_length=120)
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    received_by: str | None = Field(default=None, max_length=120)
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    discrepancy_note: str | None = Field(default=None, max_length=300)


class TransferLine(SQLModel, table=True):
    """The part of a transfer drawn from one lot."""

    __tablename__ = "transfer_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        UniqueConstraint("transfer_id", "lot_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transfer_id: int = Field(foreign_key="transfer.id")
    lot_id: int = Field(foreign_key="lot.id")
    quantity: int
    received_quantity: int | None = None
