"""What the desk's reserve-activation section shows: the incident's activations (with what
its approved plans drew on each) and the reserves a dispatcher may activate."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import activations
from supplies.models import Depot, Item
from supplies.models.reserves import AgreementReserve, CapacityReserve
from web.i18n import Translator


def reserve_options(session: Session, today: date, tr: Translator) -> list[tuple[str, str]]:
    """The reserves a dispatcher may activate, as (``agreement:<id>`` or ``capacity:<id>``,
    label): contracts valid today and every capacity reserve, with their depot, item,
    volume or rate, and lead time."""
    depots = {d.id: d for d in session.execute(select(Depot)).scalars()}
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    out: list[tuple[str, str]] = []
    for a in session.execute(select(AgreementReserve).where(
            AgreementReserve.valid_from <= today, AgreementReserve.valid_to >= today)
            .order_by(AgreementReserve.id)).scalars():
        depot, item = depots[a.depot_id], items[a.item_id]
        out.append((f"agreement:{a.id}", tr(
            "activation.option.agreement", depot=depot.name, item=_name(item, tr),
            n=a.committed_quantity, unit=item.unit, h=f"{a.lead_time_hours:g}",
            ref=a.contract_ref)))
    for c in session.execute(select(CapacityReserve).order_by(CapacityReserve.id)).scalars():
        depot, item = depots[c.depot_id], items[c.item_id]
        out.append((f"capacity:{c.id}", tr(
            "activation.option.capacity", depot=depot.name, item=_name(item, tr),
            n=c.units_per_day, unit=item.unit, h=f"{c.lead_time_hours:g}")))
    return out


def _name(item: Item, tr: Translator) -> str:
    return item.name_zh if tr.lang == "zh" else item.name_en


def panel(session: Session, incident_id: int, today: date, tr: Translator) -> dict[str, Any]:
    """What the desk's activation section shows."""
    return {"activations": activations.listing(session, incident_id),
            "reserve_options": reserve_options(session, today, tr)}
