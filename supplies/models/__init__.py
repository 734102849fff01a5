"""Tables of the inventory domain, grouped by topic; import them from here."""

from supplies.models.catalogue import Item, Lot, Quality
from supplies.models.network import Depot, DepotKind, Division, DivisionLevel, Tier
from supplies.models.reserves import AgreementReserve, CapacityReserve, ReserveTarget
from supplies.models.stock import (
    Location,
    LocationKind,
    MoveKind,
    Quant,
    Reservation,
    ReservationLine,
    ReservationState,
    StockMove,
    Transfer,
    TransferLine,
    TransferState,
)

__all__ = [
    "AgreementReserve",
    "CapacityReserve",
    "Depot",
    "DepotKind",
    "Division",
    "DivisionLevel",
    "Item",
    "Location",
    "LocationKind",
    "Lot",
    "MoveKind",
    "Quality",
    "Quant",
    "Reservation",
    "ReservationLine",
    "ReservationState",
    "ReserveTarget",
    "StockMove",
    "Tier",
    "Transfer",
    "TransferLine",
    "TransferState",
]
