"""Request and response bodies of the stock operations (no tables here)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from relief.platform.fields import Count, Quantity, SaneDate
from supplies.models.catalogue import Quality
from supplies.models.stock import MoveKind, ReservationState, TransferState

_CODE = Field(min_length=1, max_length=32)
_LOT_EXPIRY = Field(default=None, description="Expiry of the named lot; needed only when the "
                   "depot holds that lot number with several expiries")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _LotSelector(_Body):
    """A body that may name a lot by its number (and, when ambiguous, its expiry)."""

    lot: str | None = Field(default=None, min_length=1, max_length=64)
    expiry: date | None = _LOT_EXPIRY

    @model_validator(mode="after")
    def _expiry_needs_lot(self) -> _LotSelector:
        if self.expiry is not None and self.lot is None:
            raise PydanticCustomError(
                "expiry_needs_lot", "expiry selects among lots of one number: give lot too")
        return self


class ReceiptIn(_Body):
    """Goods arriving at a depot from a supplier or donor."""

    depot: str = _CODE
    item: str = _CODE
    quantity: Quantity
    lot: str | None = Field(default=None, min_length=1, max_length=64)
    expiry: SaneDate | None = None
    accept_expired: bool = Field(default=False, description="Receive goods whose expiry has "
                                 "already passed (they can only be scrapped); without it such a "
                                 "receipt is refused (422 naming expiry)")
    reference: str | None = Field(default=None, max_length=120)


class IssueIn(_LotSelector):
    """Goods leaving a depot to affected people (FEFO unless a lot is named)."""

    depot: str = _CODE
    item: str = _CODE
    quantity: Quantity
    reference: str = Field(min_length=1, max_length=120)


class TransferIn(_LotSelector):
    """Goods sent from one depot to another; they are in transit until received."""

    from_depot: str = _CODE
    to_depot: str = _CODE
    item: str = _CODE
    quantity: Quantity
    reference: str | None = Field(default=None, max_length=120)

    @model_validator(mode="after")
    def _two_depots(self) -> TransferIn:
        if self.from_depot == self.to_depot:
            raise PydanticCustomError("same_depot", "to_depot must differ from from_depot")
        return self


class ReceivedLotIn(_Body):
    """How much of one lot of a transfer arrived."""

    lot: str = Field(min_length=1, max_length=64)
    expiry: date | None = Field(default=None, description="Expiry of the lot; needed only "
                                "when the transfer carries that lot number with several")
    quantity: Count


class TransferReceiveIn(_Body):
    """The receiving depot books a transfer in; less than sent records a discrepancy."""

    quantity: Count | None = Field(default=None, description="Default: everything sent")
    lines: list[ReceivedLotIn] | None = Field(default=None, description="Per-lot quantities")
    note: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _one_way(self) -> TransferReceiveIn:
        if self.quantity is not None and self.lines is not None:
            raise PydanticCustomError("quantity_or_lines", "give quantity or lines, not both")
        return self


class AdjustmentIn(_LotSelector):
    """A stock count: the ledger records the difference as a gain or a loss."""

    depot: str = _CODE
    item: str = _CODE
    counted_quantity: Count
    reason: str = Field(min_length=1, max_length=300)


class ScrapIn(_Body):
    """Goods written off: expired, damaged or quarantined stock leaving the depot."""

    depot: str = _CODE
    item: str = _CODE
    lot: str = Field(min_length=1, max_length=64)
    expiry: date | None = _LOT_EXPIRY
    quantity: Quantity
    reason: str = Field(min_length=1, max_length=300)


class QualityIn(_Body):
    """A depot's new quality verdict on its stock of a lot."""

    status: Quality
    depot: str | None = Field(
        default=None, min_length=1, max_length=32,
        description="The depot whose stock of the lot this is about; may be left out when the "
        "lot is on hand at exactly one depot. Other depots' stock of the lot is never changed.")
    reason: str | None = Field(default=None, max_length=300)


class LotQualityPublic(BaseModel):
    """A depot's stock of one lot after a quality change."""

    lot_id: int
    item: str
    lot: str
    expiry: date | None
    depot: str
    quality: Quality
    on_hand: int
    reserved: int
    available: int


class ReservationIn(_LotSelector):
    """Hold available stock at a depot for a later dispatch."""

    depot: str = _CODE
    item: str = _CODE
    quantity: Quantity
    reference: str = Field(min_length=1, max_length=120)


class ReleaseIn(_Body):
    """Give back part (or, without quantity, all) of a reservation."""

    quantity: Quantity | None = None


class MovePublic(BaseModel):
    """One ledger row."""

    id: int
    at: datetime
    kind: MoveKind
    item: str
    lot: str
    lot_id: int
    quantity: int
    from_location: str
    to_location: str
    reference: str | None
    reason: str | None
    actor: str
    operation: str
    transfer_id: int | None
    reservation_id: int | None


class BalancePublic(BaseModel):
    """A depot's balance of one item after an operation."""

    depot: str
    item: str
    on_hand: int
    reserved: int
    available: int


class OperationPublic(BaseModel):
    """Result of a stock operation: the moves it wrote and the balance after it."""

    operation: str
    moves: list[MovePublic]
    balances: list[BalancePublic]


class LotLinePublic(BaseModel):
    """Quantity of one lot in a transfer or reservation."""

    lot: str
    lot_id: int
    expiry: date | None
    quantity: int
    received_quantity: int | None = None


class TransferPublic(BaseModel):
    """A transfer between depots."""

    id: int
    from_depot: str
    to_depot: str
    item: str
    quantity: int
    received_quantity: int | None
    discrepancy: int | None
    state: TransferState
    reference: str | None
    sent_by: str
    sent_at: datetime
    received_by: str | None
    received_at: datetime | None
    discrepancy_note: str | None
    lines: list[LotLinePublic]
    moves: list[MovePublic] = []


class ReservationPublic(BaseModel):
    """A reservation and what it still holds per lot."""

    id: int
    depot: str
    item: str
    quantity: int
    held: int
    reference: str
    state: ReservationState
    created_by: str
    created_at: datetime
    lines: list[LotLinePublic]
