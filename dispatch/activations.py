"""Reserve activations: record, withdraw and read the calls that set agreement and capacity
reserves going for an incident, and what each still offers live plans.

Rules (docs/dispatch.md, "Reserve activations"):

* an activation names one agreement reserve (a contract) or one capacity reserve (a producer),
  a quantity and when the enterprise was called (default now; never in the future; as early as
  24 hours before the earlier of the incident's onset and its opening, so an incident with a
  future onset can activate before it);
* an agreement's activations, over every incident, never exceed its committed quantity (the
  contract's row is locked, so two activations cannot both take the last units); a capacity
  reserve is called for any quantity, but what it offers a plan is what it makes by the
  deadline from the activation's ready time;
* the lead time counts from the activation: its goods are ready at ``activated_at`` + the
  reserve's lead time (the lead time it had when activated);
* plans of the incident draw on its activations and nothing else: per depot and item, the
  quantity activated minus what the incident's approved plans draw caps what a plan may take;
  the draws are charged to the activations earliest first;
* an activation is withdrawn whole, and only while the incident's other activations still
  cover what its approved plans draw (409 otherwise: cancel those trips first).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.models import DispatchPlan, Incident, PlanState, ReserveDraw
from dispatch.models.activations import (
    ActivationCancelIn,
    ActivationIn,
    ActivationPublic,
    ReserveActivation,
    ReserveKind,
)
from dispatch.service import get_incident, open_incident
from relief.platform.audit import record
from relief.platform.db import one_or_none
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InvalidInput, NotFound
from supplies.models import AgreementReserve, CapacityReserve, Depot, Item

# How long before the incident's onset (or its opening, if earlier) a call may be dated.
EARLIEST_BEFORE = timedelta(hours=24)
# Clock skew tolerated on an activation time given by the client.
FUTURE_SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class Offer:
    """What one activation still offers the incident's plans: ``quantity`` units of ``item``
    at ``depot``, ready ``ready_min`` minutes after onset (before clamping to now)."""

    activation_id: int
    kind: ReserveKind
    depot_id: int
    item_id: int
    quantity: int
    ready_min: int


def _minutes(onset: datetime, at: datetime) -> int:
    """Whole minutes from onset to ``at`` (negative before onset; floor)."""
    return math.floor((at - onset).total_seconds() / 60)


def lead_min(activation: ReserveActivation) -> int:
    """The activation's lead time in whole minutes."""
    return round(activation.lead_time_hours * 60)


def active(session: Session, incident_id: int) -> list[ReserveActivation]:
    """The incident's activations not withdrawn, earliest first."""
    return list(session.execute(select(ReserveActivation).where(
        ReserveActivation.incident_id == incident_id,
        ReserveActivation.cancelled_at.is_(None))
        .order_by(ReserveActivation.activated_at, ReserveActivation.id)).scalars())


def incident_draws(session: Session, incident_id: int) -> dict[tuple[int, int], int]:
    """Per (depot id, item id): what the incident's approved plans draw on its reserves
    (drawn minus released by cancelled trips)."""
    rows = session.execute(
        select(ReserveDraw.depot_id, ReserveDraw.item_id,
               func.sum(ReserveDraw.quantity - ReserveDraw.released))
        .join(DispatchPlan, DispatchPlan.id == ReserveDraw.plan_id)
        .where(DispatchPlan.state == PlanState.approved,
               DispatchPlan.incident_id == incident_id)
        .group_by(ReserveDraw.depot_id, ReserveDraw.item_id)).all()
    return {(d, i): int(q or 0) for d, i, q in rows}


def produced(units_per_day: int, ready_min: int, deadline_min: int) -> int:
    """What a producer makes between ``ready_min`` and the deadline."""
    return math.floor(units_per_day * max(0, deadline_min - ready_min) / 1440)


def _charges(session: Session, incident: Incident, *, deadline_min: int,
             freed: Mapping[tuple[int, int], int] | None = None
             ) -> list[tuple[ReserveActivation, int, int, int]]:
    """Per active activation, earliest first: (activation, what it offers before draws, what
    the incident's draws take of it, its ready minute). A capacity activation offers at most
    what the producer makes by the deadline from its ready time."""
    assert incident.id is not None
    rates = {c.id: c.units_per_day for c in session.execute(select(CapacityReserve)).scalars()}
    taken = dict(incident_draws(session, incident.id))
    for key, qty in (freed or {}).items():
        taken[key] = taken.get(key, 0) - qty
    out = []
    for a in active(session, incident.id):
        ready = _minutes(incident.onset, a.activated_at) + lead_min(a)
        qty = a.quantity
        if a.kind == ReserveKind.capacity:
            qty = min(qty, produced(rates.get(a.capacity_id, 0), ready, deadline_min))
        key = (a.depot_id, a.item_id)
        charged = max(0, min(qty, taken.get(key, 0)))
        taken[key] = taken.get(key, 0) - charged
        out.append((a, qty, charged, ready))
    return out


def offers(session: Session, incident: Incident, *, deadline_min: int,
           freed: Mapping[tuple[int, int], int] | None = None) -> list[Offer]:
    """What each of the incident's activations still offers its plans: its quantity (for a
    capacity reserve, at most what it makes by the deadline from its ready time) minus the
    incident's draws, charged earliest activation first (``freed``: draws a re-optimisation
    gives back, per depot id and item id)."""
    return [Offer(a.id or 0, a.kind, a.depot_id, a.item_id, qty - charged, ready)
            for a, qty, charged, ready in _charges(session, incident,
                                                   deadline_min=deadline_min, freed=freed)
            if qty - charged > 0]


def left(session: Session, incident: Incident, depot_id: int, item_id: int, *,
         deadline_min: int) -> int:
    """What the incident's plans may still draw of an item at a reserve's depot."""
    return sum(o.quantity for o in offers(session, incident, deadline_min=deadline_min)
               if o.depot_id == depot_id and o.item_id == item_id)


def agreement_activated(session: Session, agreement_id: int) -> int:
    """Units of a contract activated by every incident (not withdrawn)."""
    return int(session.execute(select(func.coalesce(func.sum(ReserveActivation.quantity), 0))
                               .where(ReserveActivation.agreement_id == agreement_id,
                                      ReserveActivation.cancelled_at.is_(None))).scalar_one())


def open_volume(session: Session, today: date) -> list[tuple[ReserveKind, int, int, int, int]]:
    """Every reserve's volume no incident has activated yet, as (kind, depot id, item id,
    units, lead minutes): contracts valid ``today`` (committed minus activated), and capacity
    reserves (``-1`` units: a rate, not a volume). Readiness counts these as activated at its
    hypothetical onset."""
    out: list[tuple[ReserveKind, int, int, int, int]] = []
    for a in session.execute(select(AgreementReserve).where(
            AgreementReserve.valid_from <= today, AgreementReserve.valid_to >= today)
            .order_by(AgreementReserve.id)).scalars():
        units = a.committed_quantity - agreement_activated(session, a.id or 0)
        if units > 0:
            out.append((ReserveKind.agreement, a.depot_id, a.item_id, units,
                        round(a.lead_time_hours * 60)))
    for c in session.execute(select(CapacityReserve).order_by(CapacityReserve.id)).scalars():
        out.append((ReserveKind.capacity, c.depot_id, c.item_id, -1,
                    round(c.lead_time_hours * 60)))
    return out


# ---------------------------------------------------------------------------------------------
# Use cases


def activate(session: Session, *, incident_id: int, data: ActivationIn, actor: str,
             today: date) -> ReserveActivation:
    """Record an activation (one transaction; the incident and the reserve's row are locked)."""
    incident = open_incident(session, incident_id, lock=True)
    now = utcnow()
    at = data.activated_at or now
    if at > now + FUTURE_SLACK:
        raise InvalidInput.of("activation.future", field="activated_at", at=at.isoformat())
    earliest = min(incident.onset, incident.created_at) - EARLIEST_BEFORE
    if at < earliest:
        raise InvalidInput.of("activation.too_early", field="activated_at",
                              at=at.isoformat(), earliest=earliest.isoformat())
    if data.agreement is not None:
        contract = one_or_none(session, select(AgreementReserve).where(
            AgreementReserve.id == data.agreement), lock=True)
        if contract is None:
            raise NotFound.of("activation.unknown_reserve", field="agreement",
                              reserve=data.agreement)
        if not contract.valid_from <= today <= contract.valid_to:
            raise Conflict.of("activation.contract_not_valid", field="agreement",
                              reserve=contract.id, valid_from=contract.valid_from.isoformat(),
                              valid_to=contract.valid_to.isoformat())
        open_units = contract.committed_quantity - agreement_activated(session, contract.id or 0)
        if data.quantity > open_units:
            raise Conflict.of("activation.exceeds", field="quantity", reserve=contract.id,
                              quantity=data.quantity, open=max(0, open_units))
        row = ReserveActivation(
            incident_id=incident_id, kind=ReserveKind.agreement, agreement_id=contract.id,
            depot_id=contract.depot_id, item_id=contract.item_id, quantity=data.quantity,
            lead_time_hours=contract.lead_time_hours, activated_at=at, activated_by=actor,
            note=data.note)
    else:
        producer = one_or_none(session, select(CapacityReserve).where(
            CapacityReserve.id == data.capacity), lock=True)
        if producer is None:
            raise NotFound.of("activation.unknown_reserve", field="capacity",
                              reserve=data.capacity)
        row = ReserveActivation(
            incident_id=incident_id, kind=ReserveKind.capacity, capacity_id=producer.id,
            depot_id=producer.depot_id, item_id=producer.item_id, quantity=data.quantity,
            lead_time_hours=producer.lead_time_hours, activated_at=at, activated_by=actor,
            note=data.note)
    session.add(row)
    session.flush()
    record(session, actor=actor, action="reserve.activate", entity="reserve_activation",
           entity_id=str(row.id), details={"incident": incident_id, "kind": row.kind.value,
                                           "reserve": data.agreement or data.capacity,
                                           "quantity": data.quantity,
                                           "activated_at": at.isoformat()})
    return row


def get_activation(session: Session, incident_id: int, activation_id: int, *,
                   lock: bool = False) -> ReserveActivation:
    """One activation of the incident or a 404."""
    row = one_or_none(session, select(ReserveActivation).where(
        ReserveActivation.id == activation_id), lock=lock)
    if row is None or row.incident_id != incident_id:
        raise NotFound.of("activation.unknown", activation=activation_id)
    return row


def cancel(session: Session, *, incident_id: int, activation_id: int,
           data: ActivationCancelIn, actor: str) -> ReserveActivation:
    """Withdraw an activation, unless the incident's approved plans draw on it."""
    incident = open_incident(session, incident_id, lock=True)
    row = get_activation(session, incident_id, activation_id, lock=True)
    if row.cancelled_at is not None:
        raise Conflict.of("activation.cancelled", activation=activation_id)
    others = sum(a.quantity for a in active(session, incident_id)
                 if a.id != row.id and (a.depot_id, a.item_id) == (row.depot_id, row.item_id))
    drawn = incident_draws(session, incident.id or 0).get((row.depot_id, row.item_id), 0)
    if drawn > others:
        raise Conflict.of("activation.drawn", activation=activation_id, drawn=drawn,
                          others=others)
    row.cancelled_at, row.cancelled_by, row.cancel_reason = utcnow(), actor, data.reason
    session.add(row)
    session.flush()
    record(session, actor=actor, action="reserve.activation_cancel",
           entity="reserve_activation", entity_id=str(activation_id),
           details={"incident": incident_id, "reason": data.reason})
    return row


def listing(session: Session, incident_id: int, *, include_cancelled: bool = True
            ) -> list[ActivationPublic]:
    """The incident's activations, earliest first, with what its plans drew on each."""
    incident = get_incident(session, incident_id)
    stmt = select(ReserveActivation).where(ReserveActivation.incident_id == incident_id)
    if not include_cancelled:
        stmt = stmt.where(ReserveActivation.cancelled_at.is_(None))
    rows = list(session.execute(stmt.order_by(ReserveActivation.activated_at,
                                              ReserveActivation.id)).scalars())
    return [public(session, incident, r) for r in rows]


def public(session: Session, incident: Incident, row: ReserveActivation) -> ActivationPublic:
    """An activation as the API returns it (``drawn``: the incident's draws charged to it)."""
    depot = session.get_one(Depot, row.depot_id)
    item = session.get_one(Item, row.item_id)
    deadline = round(incident.deadline_hours * 60)
    drawn = next((charged for a, _, charged, _ in _charges(session, incident,
                                                          deadline_min=deadline)
                  if a.id == row.id), 0)
    return ActivationPublic(
        id=row.id or 0, incident_id=row.incident_id, kind=row.kind,
        reserve_id=row.agreement_id or row.capacity_id or 0, depot=depot.code,
        depot_name=depot.name, item=item.code, item_name=item.name_zh, unit=item.unit,
        quantity=row.quantity, drawn=drawn, lead_time_hours=row.lead_time_hours,
        activated_at=row.activated_at,
        activated_min=_minutes(incident.onset, row.activated_at),
        ready_at=row.activated_at + timedelta(minutes=lead_min(row)),
        activated_by=row.activated_by, recorded_at=row.recorded_at, note=row.note,
        cancelled_at=row.cancelled_at, cancelled_by=row.cancelled_by,
        cancel_reason=row.cancel_reason)
