"""Stock totals per depot and the division walk the overview pages use (read-only sums from
``supplies.reports`` and the planner's availability query)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import live
from supplies import reports
from supplies.models import Depot, Division, DivisionLevel, Item


def depot_totals(session: Session, *, today: date, item: str | None = None
                 ) -> tuple[dict[str, int], dict[str, int]]:
    """Per depot code: usable stock on hand, and available (usable, not reserved) stock, of
    every item or of ``item`` (from the reports' and the planner's own sums)."""
    codes: dict[int, str] = {i: c for i, c in session.execute(select(Depot.id, Depot.code))}
    item_id = (session.execute(select(Item.id).where(Item.code == item)).scalar_one_or_none()
               if item else None)
    on_hand: dict[str, int] = defaultdict(int)
    available: dict[str, int] = defaultdict(int)
    for (depot_id, iid), qty in reports.usable_by_depot_item(session, today=today).items():
        if depot_id in codes and (item_id is None or iid == item_id):
            on_hand[codes[depot_id]] += qty
    for (depot_id, iid), qty in live.usable_stock(session, today).items():
        if depot_id in codes and (item_id is None or iid == item_id):
            available[codes[depot_id]] += qty
    return on_hand, available


def county_of(divisions: dict[str, Division], code: str) -> str:
    """The county-level (or city) division containing ``code``."""
    current: str | None = code
    while current is not None and current in divisions:
        if divisions[current].level in (DivisionLevel.county, DivisionLevel.city):
            return current
        current = divisions[current].parent_code
    return code
