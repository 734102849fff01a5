"""Tables of the dispatch domain: fleet (and, with the plan lifecycle, incidents and plans)."""

from dispatch.models.fleet import TransportEnterprise, Vehicle, VehicleStatus

__all__ = ["TransportEnterprise", "Vehicle", "VehicleStatus"]
