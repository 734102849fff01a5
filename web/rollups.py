"""Stock totals per depot and the division walk the overview pages use (read-only sums from
``supplies.reports`` and the planner's availability query)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ShortItem:
    """What a county (or the city) lacks of one item against its depots' targets."""

    item: str
    name_zh: str
    name_en: str
    unit: str
    quantity: int
    tonnes: float
    depots: int


def county_shortfall(session: Session, *, today: date, item: str | None = None
                     ) -> dict[str, list[ShortItem]]:
    """Per county code (and the city's code for the whole city): the short items, in units
    and tonnes, largest by weight first. Sums ``supplies.reports.shortfall`` per item, never
    across items (tents, quilts and water cases do not add up)."""
    divisions = {d.code: d for d in session.execute(select(Division)).scalars()}
    catalogue = {i.code: i for i in session.execute(select(Item)).scalars()}
    city = next((c for c, d in divisions.items() if d.level == DivisionLevel.city), None)
    qty: dict[tuple[str, str], int] = defaultdict(int)
    depots: dict[tuple[str, str], int] = defaultdict(int)
    for s in reports.shortfall(session, today=today):
        if s.shortfall <= 0 or (item and s.item != item):
            continue
        county = county_of(divisions, s.division_code)
        for key in {county, city}:
            if key is not None:
                qty[(key, s.item)] += s.shortfall
                depots[(key, s.item)] += 1
    out: dict[str, list[ShortItem]] = defaultdict(list)
    for (county, code), n in qty.items():
        entry = catalogue[code]
        out[county].append(ShortItem(item=code, name_zh=entry.name_zh, name_en=entry.name_en,
                                     unit=entry.unit, quantity=n,
                                     tonnes=n * entry.unit_weight_kg / 1000,
                                     depots=depots[(county, code)]))
    for rows in out.values():
        rows.sort(key=lambda r: (-r.tonnes, r.item))
    return dict(out)
