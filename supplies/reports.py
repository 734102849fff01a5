"""The read side: stock rows and roll-ups, the move journal, expiring stock, shortfalls and the
reserves report. Reads only; nothing here changes state.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from supplies import ledger
from supplies.models import (
    AgreementReserve,
    CapacityReserve,
    Depot,
    DepotKind,
    Division,
    DivisionLevel,
    Item,
    Location,
    Lot,
    Quality,
    Quant,
    ReserveTarget,
    StockMove,
    Tier,
)
from supplies.models.operations import MovePublic
from supplies.service import NameCache, move_public

# ---------------------------------------------------------------------------------------------
# Stock rows


class StockRow(BaseModel):
    """One depot's balance of one lot."""

    depot: str
    depot_name: str
    tier: Tier
    division_code: str
    item: str
    item_name: str
    unit: str
    lot: str
    lot_id: int
    expiry: date | None
    quality: Quality
    expired: bool
    on_hand: int
    reserved: int
    available: int


@dataclass(frozen=True)
class StockFilter:
    """Filters of GET /stock; ``division`` includes everything below it."""

    depot: str | None = None
    item: str | None = None
    lot: str | None = None
    tier: Tier | None = None
    division_codes: list[str] | None = None
    include_empty: bool = False


def _stock_query(today: date, filters: StockFilter) -> Select[Any]:
    stmt = (
        select(Quant, Lot, Item, Depot, ledger.available_sql(today).label("available"))
        .join(Lot, Lot.id == Quant.lot_id)
        .join(Item, Item.id == Quant.item_id)
        .join(Location, Location.id == Quant.location_id)
        .join(Depot, Depot.id == Location.depot_id)
    )
    if not filters.include_empty:
        stmt = stmt.where(Quant.on_hand > 0)
    if filters.depot:
        stmt = stmt.where(Depot.code == filters.depot)
    if filters.item:
        stmt = stmt.where(Item.code == filters.item)
    if filters.lot:
        stmt = stmt.where(Lot.lot_number == filters.lot)
    if filters.tier:
        stmt = stmt.where(Depot.tier == filters.tier)
    if filters.division_codes is not None:
        stmt = stmt.where(Depot.division_code.in_(filters.division_codes))
    return stmt


def stock_rows(
    session: Session, *, today: date, filters: StockFilter, limit: int, offset: int
) -> tuple[list[StockRow], int]:
    """A page of stock rows (depot, item, lot) and the total row count."""
    stmt = _stock_query(today, filters)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    stmt = stmt.order_by(Depot.code, Item.code, Lot.expiry.is_(None), Lot.expiry, Lot.id)
    rows = session.execute(stmt.limit(limit).offset(offset)).all()
    return [
        StockRow(
            depot=depot.code,
            depot_name=depot.name,
            tier=depot.tier,
            division_code=depot.division_code,
            item=item.code,
            item_name=item.name_zh,
            unit=item.unit,
            lot=lot.lot_number,
            lot_id=lot.id,
            expiry=lot.expiry,
            quality=quant.quality,
            expired=lot.expiry is not None and lot.expiry < today,
            on_hand=quant.on_hand,
            reserved=quant.reserved,
            available=int(avail),
        )
        for quant, lot, item, depot, avail in rows
    ], total


# ---------------------------------------------------------------------------------------------
# Summary rolled up the division tree


class GroupBy(StrEnum):
    """Ways of summarising stock."""

    tier = "tier"
    division = "division"
    item = "item"


class SummaryRow(BaseModel):
    """Totals for one group (for divisions: the division and everything below it)."""

    key: str
    name: str
    level: str | None = None
    parent: str | None = None
    depots: int
    on_hand: int
    reserved: int
    available: int
    weight_kg: float
    volume_m3: float


def stock_summary(
    session: Session, *, today: date, group_by: GroupBy, item: str | None = None
) -> list[SummaryRow]:
    """Stock totals by tier, by item, or by division rolled up to county and city."""
    stmt = (
        select(
            Depot.id,
            Depot.tier,
            Depot.division_code,
            Item.code,
            Item.name_zh,
            Item.unit_weight_kg,
            Item.unit_volume_m3,
            func.sum(Quant.on_hand),
            func.sum(Quant.reserved),
            func.sum(ledger.available_sql(today)),
        )
        .join(Lot, Lot.id == Quant.lot_id)
        .join(Item, Item.id == Quant.item_id)
        .join(Location, Location.id == Quant.location_id)
        .join(Depot, Depot.id == Location.depot_id)
        .group_by(Depot.id, Depot.tier, Depot.division_code, Item.code, Item.name_zh,
                  Item.unit_weight_kg, Item.unit_volume_m3)
    )
    if item:
        stmt = stmt.where(Item.code == item)
    acc: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}

    def add(key: str, depot_id: int, on_hand: int, reserved: int, avail: int, kg: float,
            m3: float) -> None:
        row = acc.setdefault(key, {"depots": set(), "on_hand": 0, "reserved": 0,
                                   "available": 0, "weight_kg": 0.0, "volume_m3": 0.0})
        row["depots"].add(depot_id)
        row["on_hand"] += on_hand
        row["reserved"] += reserved
        row["available"] += avail
        row["weight_kg"] += on_hand * kg
        row["volume_m3"] += on_hand * m3

    divisions = {d.code: d for d in session.execute(select(Division)).scalars()}
    for depot_id, tier, division_code, code, name, kg, m3, on_hand, reserved, avail in (
        session.execute(stmt)
    ):
        values = (depot_id, int(on_hand or 0), int(reserved or 0), int(avail or 0), kg, m3)
        if group_by == GroupBy.tier:
            add(tier, *values)
            names[tier] = tier
        elif group_by == GroupBy.item:
            add(code, *values)
            names[code] = name
        else:
            current: str | None = division_code
            while current is not None and current in divisions:
                add(current, *values)
                current = divisions[current].parent_code
    rows = []
    for key, row in acc.items():
        division = divisions.get(key) if group_by == GroupBy.division else None
        rows.append(
            SummaryRow(
                key=key,
                name=division.name if division else names.get(key, key),
                level=division.level if division else None,
                parent=division.parent_code if division else None,
                depots=len(row["depots"]),
                on_hand=row["on_hand"],
                reserved=row["reserved"],
                available=row["available"],
                weight_kg=round(row["weight_kg"], 1),
                volume_m3=round(row["volume_m3"], 2),
            )
        )
    return sorted(rows, key=lambda r: r.key)


# ---------------------------------------------------------------------------------------------
# The move journal


@dataclass(frozen=True)
class MoveFilter:
    """Filters of GET /stock/moves."""

    depot: str | None = None
    item: str | None = None
    lot_id: int | None = None
    kind: str | None = None
    reference: str | None = None
    operation: str | None = None
    transfer_id: int | None = None


def moves(
    session: Session, *, filters: MoveFilter, after: int | None, limit: int
) -> tuple[list[MovePublic], int | None]:
    """Ledger rows in id order after the cursor ``after``; returns the next cursor or None."""
    stmt = select(StockMove).order_by(StockMove.id)
    if after is not None:
        stmt = stmt.where(StockMove.id > after)
    if filters.depot:
        loc = select(Location.id).join(Depot, Depot.id == Location.depot_id).where(
            Depot.code == filters.depot
        ).scalar_subquery()
        stmt = stmt.where(or_(StockMove.from_location_id == loc, StockMove.to_location_id == loc))
    if filters.item:
        stmt = stmt.where(
            StockMove.item_id == select(Item.id).where(Item.code == filters.item).scalar_subquery()
        )
    if filters.lot_id is not None:
        stmt = stmt.where(StockMove.lot_id == filters.lot_id)
    if filters.kind:
        stmt = stmt.where(StockMove.kind == filters.kind)
    if filters.reference:
        stmt = stmt.where(StockMove.reference == filters.reference)
    if filters.operation:
        stmt = stmt.where(StockMove.operation == filters.operation)
    if filters.transfer_id is not None:
        stmt = stmt.where(StockMove.transfer_id == filters.transfer_id)
    rows = list(session.execute(stmt.limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    names = NameCache(session)
    return [move_public(m, names) for m in rows], (rows[-1].id if more and rows else None)


# ---------------------------------------------------------------------------------------------
# Expiring stock (rotation)


class ExpiringRow(BaseModel):
    """Stock of a lot that has expired or will within the window."""

    depot: str
    depot_name: str
    item: str
    item_name: str
    lot: str
    lot_id: int
    expiry: date
    days_left: int
    status: str  # expired | expiring
    quality: Quality
    on_hand: int
    reserved: int


def expiring(session: Session, *, today: date, within_days: int) -> list[ExpiringRow]:
    """Rotation candidates (expiring within ``within_days``) and expired stock still on hand."""
    horizon = today + timedelta(days=within_days)
    stmt = (
        select(Quant, Lot, Item, Depot)
        .join(Lot, Lot.id == Quant.lot_id)
        .join(Item, Item.id == Quant.item_id)
        .join(Location, Location.id == Quant.location_id)
        .join(Depot, Depot.id == Location.depot_id)
        .where(Quant.on_hand > 0, Lot.expiry.is_not(None), Lot.expiry <= horizon)
        .order_by(Lot.expiry, Depot.code, Item.code)
    )
    out = []
    for quant, lot, item, depot in session.execute(stmt).all():
        days_left = (lot.expiry - today).days
        out.append(
            ExpiringRow(
                depot=depot.code,
                depot_name=depot.name,
                item=item.code,
                item_name=item.name_zh,
                lot=lot.lot_number,
                lot_id=lot.id,
                expiry=lot.expiry,
                days_left=days_left,
                status="expired" if days_left < 0 else "expiring",
                quality=quant.quality,
                on_hand=quant.on_hand,
                reserved=quant.reserved,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Shortfall against the reserve catalogue


class ShortfallRow(BaseModel):
    """A depot's usable stock of an item against its target."""

    depot: str
    depot_name: str
    tier: Tier
    division_code: str
    item: str
    item_name: str
    unit: str
    target: int
    target_source: str  # depot | tier
    available: int
    expiring_soon: int
    shortfall: int
    suggested_replenishment: int
    fill: float


def usable_by_depot_item(
    session: Session, *, today: date, expiring_before: date | None = None
) -> dict[tuple[int, int], int]:
    """Usable stock (on hand of good, unexpired lots) per (depot id, item id).

    With ``expiring_before``, only lots expiring before that date are counted.
    """
    usable = and_(Quant.quality == Quality.good.value,
                  or_(Lot.expiry.is_(None), Lot.expiry >= today))
    stmt = (
        select(Location.depot_id, Quant.item_id, func.sum(Quant.on_hand))
        .join(Lot, Lot.id == Quant.lot_id)
        .join(Location, Location.id == Quant.location_id)
        .where(Location.depot_id.is_not(None), usable)
        .group_by(Location.depot_id, Quant.item_id)
    )
    if expiring_before is not None:
        stmt = stmt.where(Lot.expiry.is_not(None), Lot.expiry < expiring_before)
    return {(d, i): int(q or 0) for d, i, q in session.execute(stmt)}


def shortfall(
    session: Session,
    *,
    today: date,
    depot: str | None = None,
    tier: Tier | None = None,
    only_short: bool = True,
    rotation_days: int = 30,
) -> list[ShortfallRow]:
    """Targets against usable stock per depot and item, with a suggested replenishment.

    Tier quotas (储备目录 per tier) hold government reserve depots only; every other kind of
    depot (a social or enterprise store, an agreement enterprise, a producer, a shelter) is
    held to its own targets, or to none. A depot's own target overrides its tier's. The
    suggestion restocks to the target and also replaces what expires within
    ``rotation_days`` (rotation, 轮换), since that stock will have to leave before it could be
    used.
    """
    targets_by_depot: dict[tuple[int, int], tuple[int, str]] = {}
    tier_targets: dict[tuple[str, int], int] = {}
    for row in session.execute(select(ReserveTarget)).scalars():
        if row.depot_id is not None:
            targets_by_depot[(row.depot_id, row.item_id)] = (row.quantity, "depot")
        elif row.tier is not None:
            tier_targets[(row.tier, row.item_id)] = row.quantity
    depots_stmt = select(Depot).where(Depot.active.is_(True)).order_by(Depot.code)
    if depot:
        depots_stmt = depots_stmt.where(Depot.code == depot)
    if tier:
        depots_stmt = depots_stmt.where(Depot.tier == tier)
    depots = list(session.execute(depots_stmt).scalars())
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    usable = usable_by_depot_item(session, today=today)
    soon = usable_by_depot_item(
        session, today=today, expiring_before=today + timedelta(days=rotation_days + 1)
    )
    out = []
    for d in depots:
        wanted: dict[int, tuple[int, str]] = {
            item_id: (qty, "tier") for (t, item_id), qty in tier_targets.items()
            if t == d.tier and d.kind == DepotKind.government
        }
        wanted.update({i: v for (dep, i), v in targets_by_depot.items() if dep == d.id})
        for item_id, (target, source) in sorted(wanted.items(), key=lambda kv: items[kv[0]].code):
            have = usable.get((d.id, item_id), 0)
            expiring_soon = soon.get((d.id, item_id), 0)
            short = max(0, target - have)
            suggested = max(0, target - (have - expiring_soon))
            if only_short and suggested == 0:
                continue
            item = items[item_id]
            out.append(
                ShortfallRow(
                    depot=d.code,
                    depot_name=d.name,
                    tier=d.tier,
                    division_code=d.division_code,
                    item=item.code,
                    item_name=item.name_zh,
                    unit=item.unit,
                    target=target,
                    target_source=source,
                    available=have,
                    expiring_soon=expiring_soon,
                    shortfall=short,
                    suggested_replenishment=suggested,
                    fill=round(min(1.0, have / target), 4) if target else 1.0,
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# Reserves report: physical, agreement and capacity reserves per county and item


class ReservesRow(BaseModel):
    """What one county-level unit can have of one item, and how fast."""

    county: str
    county_name: str
    item: str
    item_name: str
    unit: str
    physical: int
    agreement_committed: int
    agreement_within_hours: int
    capacity_per_day: int
    capacity_within_hours: int
    within_hours: int
    hours: float


def _county_of(divisions: dict[str, Division], code: str) -> str | None:
    current: str | None = code
    while current is not None and current in divisions:
        if divisions[current].level == DivisionLevel.county:
            return current
        current = divisions[current].parent_code
    return None


def reserves(session: Session, *, today: date, hours: float) -> list[ReservesRow]:
    """Per county and item: usable physical stock, agreement and capacity reserves, and what can
    be had within ``hours`` (physical now; agreements whose lead time fits; capacity output
    produced between its lead time and ``hours``). City-level depots count as county ``320600``.
    """
    divisions = {d.code: d for d in session.execute(select(Division)).scalars()}
    active = select(Depot).where(Depot.active.is_(True))
    depots = {d.id: d for d in session.execute(active).scalars()}
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    acc: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def county(depot_id: int) -> str | None:
        depot = depots.get(depot_id)
        if depot is None:
            return None
        return _county_of(divisions, depot.division_code) or depot.division_code

    for (depot_id, item_id), qty in usable_by_depot_item(session, today=today).items():
        if (c := county(depot_id)) is not None:
            acc[(c, item_id)]["physical"] += qty
    agreements = session.execute(
        select(AgreementReserve).where(
            AgreementReserve.valid_from <= today, AgreementReserve.valid_to >= today
        )
    ).scalars()
    for a in agreements:
        if (c := county(a.depot_id)) is not None:
            acc[(c, a.item_id)]["agreement_committed"] += a.committed_quantity
            if a.lead_time_hours <= hours:
                acc[(c, a.item_id)]["agreement_within_hours"] += a.committed_quantity
    for cap in session.execute(select(CapacityReserve)).scalars():
        if (c := county(cap.depot_id)) is not None:
            acc[(c, cap.item_id)]["capacity_per_day"] += cap.units_per_day
            produced = math.floor(cap.units_per_day * max(0.0, hours - cap.lead_time_hours) / 24)
            acc[(c, cap.item_id)]["capacity_within_hours"] += produced
    out = []
    for (c, item_id), v in sorted(acc.items(), key=lambda kv: (kv[0][0], items[kv[0][1]].code)):
        item = items[item_id]
        out.append(
            ReservesRow(
                county=c,
                county_name=divisions[c].name if c in divisions else c,
                item=item.code,
                item_name=item.name_zh,
                unit=item.unit,
                physical=v["physical"],
                agreement_committed=v["agreement_committed"],
                agreement_within_hours=v["agreement_within_hours"],
                capacity_per_day=v["capacity_per_day"],
                capacity_within_hours=v["capacity_within_hours"],
                within_hours=v["physical"] + v["agreement_within_hours"]
                + v["capacity_within_hours"],
                hours=hours,
            )
        )
    return out

