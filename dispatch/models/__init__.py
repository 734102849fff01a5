"""Tables of the dispatch domain: fleet, incidents, plans and shipments."""

from dispatch.models.activations import ReserveActivation, ReserveKind
from dispatch.models.fleet import TransportEnterprise, Vehicle, VehicleStatus
from dispatch.models.incidents import (
    AffectedSite,
    HeadCount,
    Incident,
    IncidentKind,
    IncidentStatus,
    RoadClosure,
    SiteKind,
)
from dispatch.models.plans import (
    FINISHED,
    DispatchPlan,
    JobStatus,
    PlanLane,
    PlanState,
    ReserveDraw,
    Shipment,
    ShipmentLine,
    ShipmentLot,
    ShipmentStatus,
    ShipmentStop,
    ShortReason,
    StopLine,
    StopStatus,
)

__all__ = [
    "FINISHED",
    "AffectedSite",
    "DispatchPlan",
    "HeadCount",
    "Incident",
    "IncidentKind",
    "IncidentStatus",
    "JobStatus",
    "PlanLane",
    "PlanState",
    "ReserveActivation",
    "ReserveDraw",
    "ReserveKind",
    "RoadClosure",
    "Shipment",
    "ShipmentLine",
    "ShipmentLot",
    "ShipmentStatus",
    "ShipmentStop",
    "ShortReason",
    "SiteKind",
    "StopLine",
    "StopStatus",
    "TransportEnterprise",
    "Vehicle",
    "VehicleStatus",
]
