"""Trips at scale: depart or cancel every trip still to leave of an incident, by plan and/or
by source depot, in one transaction.

The selected trips are locked first, in id order, so a bulk operation and a single depart of
one of its trips never deadlock: whichever locks the trip first wins, the other finds it gone
and skips it. A depot manager acts only on trips leaving their own depots (naming another
depot is a 403; without a depot, only their depots' trips are chosen). Run again, a bulk
operation finds nothing left to do and changes nothing.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Shipment, ShipmentStatus
from dispatch.models.plans import BulkCancelIn, BulkDepartIn, BulkOutcome
from dispatch.record import get_plan
from dispatch.service import get_incident
from dispatch.trips import cancel, depart
from relief.platform.audit import record
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies.ledger import MoveContext
from supplies.models import Depot
from supplies.service import get_depot


def _select(session: Session, incident_id: int, data: BulkDepartIn, principal: Principal
            ) -> list[Shipment]:
    """The incident's trips still to leave that the request names and the principal may act
    on, locked in id order."""
    principal.require_role(Role.dispatcher, Role.depot_manager)
    get_incident(session, incident_id)
    stmt = select(Shipment).where(Shipment.incident_id == incident_id,
                                  Shipment.status == ShipmentStatus.planned)
    if data.plan is not None:
        get_plan(session, data.plan, incident_id=incident_id)
        stmt = stmt.where(Shipment.plan_id == data.plan)
    if data.depot is not None:
        depot = get_depot(session, data.depot, field="depot")
        if not principal.has_role(Role.dispatcher):
            principal.require_depot(depot.code)
        stmt = stmt.where(Shipment.source_depot_id == depot.id)
    elif not principal.has_role(Role.dispatcher):
        mine = select(Depot.id).where(Depot.code.in_(sorted(principal.depots)))
        stmt = stmt.where(Shipment.source_depot_id.in_(mine))
    stmt = stmt.order_by(Shipment.id).with_for_update().execution_options(
        populate_existing=True)
    return [s for s in session.execute(stmt).scalars() if s.status == ShipmentStatus.planned]


def bulk_depart(session: Session, *, incident_id: int, data: BulkDepartIn,
                principal: Principal, ctx: MoveContext) -> BulkOutcome:
    """Depart every selected trip (all or nothing)."""
    done = [depart(session, shipment_id=s.id or 0, principal=principal, ctx=ctx).id or 0
            for s in _select(session, incident_id, data, principal)]
    record(session, actor=principal.actor, action="shipment.bulk_depart", entity="incident",
           entity_id=str(incident_id), details={"plan": data.plan, "depot": data.depot,
                                                "shipments": done})
    return BulkOutcome(action="depart", count=len(done), shipments=done)


def bulk_cancel(session: Session, *, incident_id: int, data: BulkCancelIn,
                principal: Principal, ctx: MoveContext) -> BulkOutcome:
    """Cancel every selected trip still to leave (reservations and draws released), all or
    nothing."""
    done = [cancel(session, shipment_id=s.id or 0, reason=data.reason, principal=principal,
                   ctx=ctx).id or 0
            for s in _select(session, incident_id, data, principal)]
    record(session, actor=principal.actor, action="shipment.bulk_cancel", entity="incident",
           entity_id=str(incident_id), details={"plan": data.plan, "depot": data.depot,
                                                "reason": data.reason, "shipments": done})
    return BulkOutcome(action="cancel", count=len(done), shipments=done)
