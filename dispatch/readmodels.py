"""Read models of trips: a shipment with its load (per lot) and its stops, as the API, the
manifests and the console show it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.cargo import shipment_lines, shipment_lots
from dispatch.models import AffectedSite, Incident, Shipment, ShipmentLine, ShipmentStop, StopLine
from dispatch.models.plans import LoadPublic, ShipmentPublic, StopLinePublic, StopPublic
from supplies import ledger
from supplies.models import Depot, Item, Lot, Reservation


def shipment_public(session: Session, shipment: Shipment, incident: Incident) -> ShipmentPublic:
    """A trip with its load per lot (or per item before departure) and its stops."""
    depot = session.get_one(Depot, shipment.source_depot_id)
    load: list[LoadPublic] = []
    lots = shipment_lots(session, shipment)
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    if lots:
        for sl, lot in lots:
            item = items[sl.item_id]
            load.append(LoadPublic(item=item.code, item_name=item.name_zh, unit=item.unit,
                                   lot=lot.lot_number,
                                   expiry=lot.expiry.isoformat() if lot.expiry else None,
                                   quantity=sl.departed))
    else:
        for line, item in shipment_lines(session, shipment):
            for lot_number, expiry, qty in held_lots(session, line):
                load.append(LoadPublic(item=item.code, item_name=item.name_zh, unit=item.unit,
                                       lot=lot_number, expiry=expiry, quantity=qty))
    stops = []
    for stop in session.execute(select(ShipmentStop).where(
            ShipmentStop.shipment_id == shipment.id).order_by(ShipmentStop.seq)).scalars():
        site = session.get_one(AffectedSite, stop.site_id)
        lines = session.execute(select(StopLine).where(StopLine.stop_id == stop.id)).scalars()
        stops.append(StopPublic(
            id=stop.id or 0, seq=stop.seq, site=site.code, site_name=site.name,
            site_contact=site.contact, site_contact_phone=site.contact_phone, lat=site.lat,
            lon=site.lon,
            planned_arrival_min=stop.planned_arrival_min,
            planned_arrival=incident.onset + timedelta(minutes=stop.planned_arrival_min),
            status=stop.status, arrived_at=stop.arrived_at,
            lines=[StopLinePublic(item=items[x.item_id].code, item_name=items[x.item_id].name_zh,
                                  unit=items[x.item_id].unit, planned=x.planned,
                                  delivered=x.delivered, shortfall=x.shortfall,
                                  short_reason=x.short_reason, damaged=x.damaged)
                   for x in sorted(lines, key=lambda x: items[x.item_id].code)]))
    return ShipmentPublic(
        id=shipment.id or 0, plan_id=shipment.plan_id, incident_id=shipment.incident_id,
        source=depot.code, source_name=depot.name, source_tier=shipment.source_tier,
        source_contact=depot.contact, vehicle=shipment.vehicle, driver=shipment.driver,
        driver_phone=shipment.driver_phone, trip_no=shipment.trip_no,
        status=shipment.status, planned_depart_min=shipment.planned_depart_min,
        planned_depart=incident.onset + timedelta(minutes=shipment.planned_depart_min),
        planned_return_min=shipment.planned_return_min,
        planned_return=incident.onset + timedelta(minutes=shipment.planned_return_min),
        departed_at=shipment.departed_at,
        finished_at=shipment.finished_at, load=load, stops=stops)


def held_lots(session: Session, line: ShipmentLine) -> list[tuple[str | None, str | None, int]]:
    """Lots a reservation holds for a line, or one unlotted row for a contract draw."""
    if line.reservation_id is None:
        return [(None, None, line.quantity)]
    reservation = session.get_one(Reservation, line.reservation_id)
    out = []
    for rl in ledger.reservation_lines(session, reservation):
        lot = session.get_one(Lot, rl.lot_id)
        out.append((lot.lot_number, lot.expiry.isoformat() if lot.expiry else None,
                    rl.quantity))
    return out


def stamp(incident: Incident, minutes: int) -> datetime:
    """Clock time of ``minutes`` after the incident's onset."""
    return incident.onset + timedelta(minutes=minutes)
