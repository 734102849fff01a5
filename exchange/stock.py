"""Provincial stock records, applied many at a time through the stock ledger.

A stock record is the province's absolute quantity and quality of one lot at one warehouse.
A chunk of them is applied with a handful of queries: the warehouses, items and lots of the
whole chunk are looked up at once, lots are found or created with :func:`ledger.ensure_lots`
(the same per-warehouse rules as a receipt), and :func:`ledger.count_many` locks every quant
involved in the ledger's global order and books the differences (a receipt from the supplier
when nothing is on hand, otherwise a count gain or loss), all in the caller's transaction. Each
record stays all-or-nothing: a record that breaks a rule (an unknown warehouse, another expiry
for a batch number the warehouse holds, a count below what is reserved) gets its error and
writes nothing, while the others are applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from exchange.mapping import MappedStock
from exchange.models import Entity, ExchangeRecord
from exchange.service import ImportContext
from relief.platform.audit import record as audit
from relief.platform.errors import InvalidInput, NotFound, ReliefError
from supplies import ledger
from supplies.ledger import CountLine, LotRequest, MoveContext
from supplies.models import Depot, Item, Location, Lot


@dataclass(frozen=True)
class StockEntry:
    """A screened stock record to apply: its position, mapping and version."""

    index: int
    record: MappedStock
    version: int


@dataclass(frozen=True)
class Applied:
    """A record applied: whether our data changed, and our key of it (depot/item/lot)."""

    changed: bool
    local_id: str


def apply_stock_records(ctx: ImportContext, entries: Sequence[StockEntry]
                        ) -> dict[int, Applied | ReliefError]:
    """Apply ``entries`` (each all-or-nothing); per index, what happened or why not."""
    session = ctx.session
    outcome: dict[int, Applied | ReliefError] = {}
    locations = _warehouse_locations(ctx, {e.record.warehouse for e in entries})
    items = {item.code: item for item in session.execute(
        select(Item).where(Item.code.in_(sorted({e.record.item for e in entries})))).scalars()}
    ready: list[tuple[StockEntry, Depot, Location, Item, str]] = []
    for entry in entries:
        rec = entry.record
        place = locations.get(rec.warehouse)
        item = items.get(rec.item)
        base = rec.lot or (f"AUTO-{rec.expiry:%Y%m%d}" if rec.expiry else "AUTO-NOEXP")
        number = f"{ctx.lot_prefix}{base}"
        if place is None:
            outcome[entry.index] = NotFound(f"CKBM: warehouse {rec.warehouse} has not been "
                                            f"imported from {ctx.source.name}")
        elif item is None:
            outcome[entry.index] = NotFound(f"item {rec.item} not found",
                                            fields=[{"field": "WZBM", "message": "unknown"}])
        elif len(number) > 64:
            outcome[entry.index] = InvalidInput("lot", "lot number too long once prefixed")
        else:
            ready.append((entry, place[0], place[1], item, number))
    lots = ledger.ensure_lots(session, [
        LotRequest(location=location, item=item, lot_number=number, expiry=entry.record.expiry)
        for entry, _, location, item, number in ready])
    lines: list[tuple[StockEntry, Depot, Item, Lot, CountLine]] = []
    for (entry, depot, location, item, _), lot in zip(ready, lots, strict=True):
        if isinstance(lot, ReliefError):
            outcome[entry.index] = lot
            continue
        move_ctx = MoveContext(actor=ctx.actor, today=ctx.today, reference=ctx.reference,
                               reason=f"provincial stock {entry.record.external_id} "
                                      f"v{entry.version}"[:300])
        lines.append((entry, depot, item, lot, CountLine(
            location=location, item=item, lot=lot, counted=entry.record.quantity,
            quality=entry.record.quality, ctx=move_ctx)))
    counted = ledger.count_many(session, [line for *_, line in lines])
    for (entry, depot, item, lot, line), result in zip(lines, counted, strict=True):
        if result.error is not None:
            outcome[entry.index] = result.error
            continue
        if result.quality_changed:
            audit(session, actor=ctx.actor, action="lot.quality", entity="lot",
                  entity_id=str(lot.id), details={
                      "depot": depot.code, "from": result.quality_before or "good",
                      "to": line.quality, "reason": f"provincial report {ctx.reference}"})
        outcome[entry.index] = Applied(changed=result.changed,
                                       local_id=f"{depot.code}/{item.code}/{lot.lot_number}"[:160])
    return outcome


def _warehouse_locations(ctx: ImportContext, external_ids: set[str]
                         ) -> dict[str, tuple[Depot, Location]]:
    """The depots (and their stock locations) imported from this source as these
    warehouses."""
    session = ctx.session
    codes = dict(session.execute(
        select(ExchangeRecord.external_id, ExchangeRecord.local_id)
        .where(ExchangeRecord.source_id == ctx.source.id,
               ExchangeRecord.entity == Entity.warehouses,
               ExchangeRecord.external_id.in_(sorted(external_ids)))).all())
    depots = {d.code: d for d in session.execute(
        select(Depot).where(Depot.code.in_(sorted(set(codes.values()))))).scalars()}
    found: dict[str, tuple[Depot, Location]] = {}
    for external_id, code in codes.items():
        depot = depots.get(code)
        if depot is not None:
            found[external_id] = (depot, ledger.depot_location(session, depot))
    return found
