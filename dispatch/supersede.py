"""Approval of a re-optimising plan: the approved trips it re-plans are cancelled in the same
transaction that reserves its own loads, so reservations and draws are released and re-made
atomically (docs/dispatch.md, "Re-planning mid-incident").

A trip that departed (or was cancelled) after planning makes the plan stale: the approval is
refused with 409 ``plan.trips_changed`` naming those trips, and nothing is written. Trips are
locked in id order (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers), so a
departure racing the approval either commits first (the approval then sees it departed and
fails cleanly) or waits and finds its trip cancelled (409 ``shipment.not_planned``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from dispatch.cargo import get_shipment
from dispatch.models import DispatchPlan, ShipmentStatus
from dispatch.trips import cancel
from relief.platform.errors import Conflict
from relief.platform.principal import Principal
from supplies.ledger import MoveContext


def supersede(session: Session, plan: DispatchPlan, *, principal: Principal,
              ctx: MoveContext) -> list[int]:
    """Cancel the trips a re-optimising plan re-plans (all or nothing); their ids."""
    ids = sorted(plan.supersedes or [])
    changed = []
    for shipment_id in ids:
        shipment = get_shipment(session, shipment_id, lock=True)
        if shipment.status != ShipmentStatus.planned:
            changed.append({"shipment": shipment_id, "status": shipment.status.value})
    if changed:
        raise Conflict.of("plan.trips_changed", plan=plan.id, n=len(changed),
                          details={"trips": changed})
    for shipment_id in ids:
        cancel(session, shipment_id=shipment_id,
                         reason=f"re-planned by plan {plan.id} (重新优化)", principal=principal,
                         ctx=ctx)
    return ids
