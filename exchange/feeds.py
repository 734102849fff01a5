"""The export feeds: depots, items, stock by lot, agreement and capacity reserves, moves.

Each feed pages on a key (change_stamp, id). Database triggers stamp every insert and update of
the underlying rows (migration 0005): on PostgreSQL with the id of the writing transaction, on
SQLite, whose writers are serialised, with a global counter. The stock feed's key takes the
larger of the quant's and its lot's stamps, so a quality change re-sends the lot's rows.

Why a page never skips or repeats a row, while writes go on:

* Only committed rows are ever read, and a page ends at the last row it returns.
* PostgreSQL: transaction ids are handed out at a transaction's first write, not at commit, so
  a transaction with a lower id can commit after a reader has passed its id. A page therefore
  only serves rows whose stamp is below the snapshot's xmin, the oldest transaction still in
  progress (``pg_snapshot_xmin(pg_current_snapshot())``): every transaction below it has
  finished, and every later write gets a higher stamp. So nothing can still appear behind a
  cursor. Rows held back this way are counted in ``pending`` and come on a later page.
* SQLite: one writer at a time, stamps drawn inside the write transaction, so stamp order is
  commit order and everything committed is served.
* A row that changes after it was served comes again, with a higher stamp, in its new state. No
  row version is served twice; every row's latest version is served once the reader catches up.

Deletions come as tombstones (``exchange_tombstone``, written by AFTER DELETE triggers with
the row's key in its feed, stamped the same way) merged into the same order: at one stamp rows
first, then tombstones. A page that ends only because an open transaction holds the next rows
back says so (``held_back``, ``retry_after_ms``).

Each page is read in one snapshot (REPEATABLE READ, read only, on PostgreSQL; one read
transaction on SQLite) together with the feed's totals, so ``snapshot.complete`` means a mirror
built from all pages equals ``snapshot.totals`` exactly. Nothing here writes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, and_, case, false, func, or_, select, text, true
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from exchange.models import (
    AgreementKey,
    AgreementRow,
    CapacityKey,
    CapacityRow,
    Deleted,
    DepotKey,
    DepotRow,
    ExchangeDepot,
    Feed,
    FeedPage,
    FeedSnapshot,
    FeedTotals,
    ItemKey,
    ItemRow,
    MoveRow,
    StockFeedRow,
    StockKey,
    Tombstone,
)
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.epoch import current_epoch
from relief.platform.errors import Conflict, InvalidInput
from supplies import ledger
from supplies.models import (
    AgreementReserve,
    CapacityReserve,
    Depot,
    Item,
    Location,
    Lot,
    Quant,
    StockMove,
)

# ---------------------------------------------------------------------------------------------
# Cursors


class EpochChanged(Conflict):
    """The cursor was issued before the database was restored from a backup (409): its
    position means nothing now; read the feed again from the start."""

    code = "cursor_epoch_changed"


@dataclass(frozen=True)
class Cursor:
    """A position in a feed, in one database epoch: after the entry with key (stamp, tomb,
    id). Rows and tombstones share the stamp order; at one stamp rows come first."""

    stamp: int
    id: int
    tomb: bool = False

    def encode(self, feed: Feed, local_only: bool, epoch: str) -> str:
        """The opaque token handed to readers."""
        body: dict[str, Any] = {"f": feed.value, "s": self.stamp, "i": self.id,
                                "l": int(local_only), "e": epoch}
        if self.tomb:
            body["t"] = 1
        raw = json.dumps(body, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, feed: Feed, local_only: bool, epoch: str) -> Cursor:
        """Parse a token; it must come from the same feed with the same filter, issued in
        this database epoch (else 409 ``cursor_epoch_changed``: start again)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body = json.loads(raw)
            cursor = cls(stamp=int(body["s"]), id=int(body["i"]), tomb=bool(body.get("t", 0)))
            same = body["f"] == feed.value and bool(body.get("l", 0)) == local_only
            issued_in = body.get("e")
            if not (-1 <= cursor.stamp < 2**63 and 0 <= cursor.id < 2**63):
                raise ValueError("out of range")
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise InvalidInput.of("feed.cursor_bad", field="after", feed=feed.value) from None
        if not same:
            raise InvalidInput.of("feed.cursor_other", field="after", feed=feed.value)
        if issued_in != epoch:
            raise EpochChanged.of("feed.epoch_changed", field="after",
                                  details={"cursor_epoch": issued_in, "epoch": epoch})
        return cursor


START = Cursor(stamp=-1, id=0)

# ---------------------------------------------------------------------------------------------
# Snapshots


@contextmanager
def snapshot_session(db: Database) -> Iterator[Session]:
    """A read-only session whose statements all see one snapshot."""
    with db.read_session() as session:
        if not db.is_sqlite:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ",
                                                  "postgresql_readonly": True})
        yield session


def horizon(session: Session) -> int | None:
    """Stamps below this are final (PostgreSQL: the snapshot's xmin); None on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(session.execute(
        text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")).scalar_one())


def _greatest(session: Session, *exprs: Any) -> ColumnElement[int]:
    if session.get_bind().dialect.name == "postgresql":
        return func.greatest(*exprs)
    return func.max(*exprs)  # SQLite's scalar max() of several arguments


# ---------------------------------------------------------------------------------------------
# Feed definitions


@dataclass(frozen=True)
class Spec:
    """How one feed is read: its rows, key, row shape and totals."""

    base: Callable[[date, bool], Select[Any]]
    stamp: Callable[[Session], ColumnElement[int]]
    ident: Any
    row: Callable[[Any, date], BaseModel]
    sums: dict[str, Any]
    append_only: bool = False
    # The table whose deletions this feed announces (tombstones), and its key model.
    tombstones: str | None = None
    key: type[BaseModel] | None = None


def _provincial_ids() -> Select[Any]:
    return select(ExchangeDepot.depot_id)


def _depots(_today: date, local_only: bool) -> Select[Any]:
    stmt = select(Depot, ExchangeDepot.depot_id.is_not(None).label("provincial")).outerjoin(
        ExchangeDepot, ExchangeDepot.depot_id == Depot.id)
    return stmt.where(ExchangeDepot.depot_id.is_(None)) if local_only else stmt


def _depot_row(row: Any, _today: date) -> DepotRow:
    depot: Depot = row[0]
    return DepotRow(**depot.model_dump(include=set(DepotRow.model_fields) - {"provincial"}),
                    provincial=bool(row.provincial))


def _items(_today: date, _local_only: bool) -> Select[Any]:
    return select(Item)


def _item_row(row: Any, _today: date) -> ItemRow:
    return ItemRow.model_validate(row[0], from_attributes=True)


def _stock(today: date, local_only: bool) -> Select[Any]:
    stmt = (
        select(Quant, Lot, Item.code.label("item_code"), Depot.code.label("depot_code"),
               ledger.available_sql(today).label("available"))
        .join(Lot, Lot.id == Quant.lot_id)
        .join(Item, Item.id == Quant.item_id)
        .join(Location, Location.id == Quant.location_id)
        .join(Depot, Depot.id == Location.depot_id)
    )
    return stmt.where(Depot.id.not_in(_provincial_ids())) if local_only else stmt


def _stock_row(row: Any, _today: date) -> StockFeedRow:
    quant, lot = row[0], row[1]
    return StockFeedRow(depot=row.depot_code, item=row.item_code, lot=lot.lot_number,
                    expiry=lot.expiry, quality=quant.quality, on_hand=quant.on_hand,
                    reserved=quant.reserved, available=int(row.available),
                    updated_at=max(quant.updated_at, lot.updated_at))


def _reserve_spec(model: Any, row_type: type[AgreementRow] | type[CapacityRow],
                  total: str, key: type[BaseModel]) -> Spec:
    """The feed of one kind of reserve (agreement or capacity), by depot and item code."""

    def base(_today: date, local_only: bool) -> Select[Any]:
        stmt = (select(model, Depot.code.label("depot_code"), Item.code.label("item_code"))
                .join(Depot, Depot.id == model.depot_id)
                .join(Item, Item.id == model.item_id))
        return stmt.where(Depot.id.not_in(_provincial_ids())) if local_only else stmt

    def row(found: Any, _today: date) -> BaseModel:
        fields = set(row_type.model_fields) - {"depot", "item"}
        return row_type(**found[0].model_dump(include=fields), depot=found.depot_code,
                        item=found.item_code)

    return Spec(base, lambda _s: model.change_stamp, model.id, row,
                {total: getattr(model, total)}, tombstones=model.__tablename__, key=key)


_FROM = aliased(Location, name="from_location")
_TO = aliased(Location, name="to_location")


def _moves(_today: date, local_only: bool) -> Select[Any]:
    stmt = (select(StockMove, Item.code.label("item_code"), Lot.lot_number,
                   _FROM.code.label("from_code"), _TO.code.label("to_code"))
            .join(Item, Item.id == StockMove.item_id)
            .join(Lot, Lot.id == StockMove.lot_id)
            .join(_FROM, _FROM.id == StockMove.from_location_id)
            .join(_TO, _TO.id == StockMove.to_location_id))
    if local_only:
        provincial = select(Location.id).where(Location.depot_id.in_(_provincial_ids()))
        stmt = stmt.where(StockMove.from_location_id.not_in(provincial),
                          StockMove.to_location_id.not_in(provincial))
    return stmt


def _move_row(row: Any, _today: date) -> MoveRow:
    move: StockMove = row[0]
    assert move.id is not None
    return MoveRow(id=move.id, at=move.at, kind=move.kind, item=row.item_code,
                   lot=row.lot_number, quantity=move.quantity, from_location=row.from_code,
                   to_location=row.to_code, reference=move.reference, operation=move.operation)


SPECS: dict[Feed, Spec] = {
    Feed.depots: Spec(_depots, lambda _s: Depot.change_stamp, Depot.id, _depot_row,
                      {"active": case((Depot.active.is_(True), 1), else_=0)},
                      tombstones="depot", key=DepotKey),
    Feed.items: Spec(_items, lambda _s: Item.change_stamp, Item.id, _item_row, {},
                     tombstones="item", key=ItemKey),
    Feed.stock: Spec(_stock, lambda s: _greatest(s, Quant.change_stamp, Lot.change_stamp),
                     Quant.id, _stock_row,
                     {"on_hand": Quant.on_hand, "reserved": Quant.reserved},
                     tombstones="quant", key=StockKey),
    Feed.agreements: _reserve_spec(AgreementReserve, AgreementRow, "committed_quantity",
                                   AgreementKey),
    Feed.capacity_reserves: _reserve_spec(CapacityReserve, CapacityRow, "units_per_day",
                                          CapacityKey),
    Feed.moves: Spec(_moves, lambda _s: StockMove.change_stamp, StockMove.id, _move_row,
                     {"quantity": StockMove.quantity}, append_only=True),
}

# ---------------------------------------------------------------------------------------------
# Reading a page


def _totals(session: Session, stmt: Select[Any], spec: Spec) -> FeedTotals:
    # The key column keeps the feed's FROM clause (a bare literal would drop it).
    sub = stmt.with_only_columns(
        spec.ident.label("k_id"),
        *[expr.label(name) for name, expr in spec.sums.items()],
    ).subquery()
    values = session.execute(select(func.count(), *[
        func.coalesce(func.sum(sub.c[name]), 0) for name in spec.sums
    ]).select_from(sub)).one()
    return FeedTotals(count=int(values[0]),
                      sums={name: int(v) for name, v in zip(spec.sums, values[1:], strict=True)})


def _tombstones(session: Session, spec: Spec, cursor: Cursor, local_only: bool,
                limit_stamp: int | None, limit: int) -> tuple[list[Tombstone], int]:
    """The feed's tombstones after ``cursor`` below the horizon (at most ``limit + 1``), and how
    many more are held back above it."""
    if spec.tombstones is None:
        return [], 0
    beyond = or_(Tombstone.change_stamp > cursor.stamp,
                 and_(Tombstone.change_stamp == cursor.stamp,
                      Tombstone.id > cursor.id if cursor.tomb else true()))
    stmt = select(Tombstone).where(Tombstone.table_name == spec.tombstones, beyond)
    if local_only:
        provincial = select(Depot.code).join(ExchangeDepot, ExchangeDepot.depot_id == Depot.id)
        stmt = stmt.where(or_(Tombstone.depot.is_(None), Tombstone.depot.not_in(provincial)))
    stable = stmt if limit_stamp is None else stmt.where(Tombstone.change_stamp < limit_stamp)
    found = list(session.execute(stable.order_by(Tombstone.change_stamp, Tombstone.id)
                                 .limit(limit + 1)).scalars())
    held = 0
    if limit_stamp is not None:
        held = session.execute(select(func.count()).select_from(
            stmt.where(Tombstone.change_stamp >= limit_stamp).subquery())).scalar_one()
    return found, held


def read_page(session: Session, *, feed: Feed, after: str | None, limit: int, today: date,
              local_only: bool = False, retry_after_ms: int = 500) -> FeedPage[Any, Any]:
    """One page of ``feed`` after the cursor ``after`` (None: from the start), with totals.

    Rows and tombstones (deleted rows) are merged in stamp order. A page that ends only
    because an open transaction holds the next rows back says so (``held_back``) with the
    time to wait (``retry_after_ms``).
    """
    spec = SPECS[feed]
    epoch = current_epoch(session)
    cursor = Cursor.decode(after, feed, local_only, epoch) if after else START
    stamp, ident = spec.stamp(session), spec.ident
    limit_stamp = horizon(session)
    base = spec.base(today, local_only)
    beyond = or_(stamp > cursor.stamp,
                 and_(stamp == cursor.stamp, false() if cursor.tomb else ident > cursor.id))
    unread = base.where(beyond)
    stable = unread if limit_stamp is None else unread.where(stamp < limit_stamp)
    rows = session.execute(
        stable.add_columns(stamp.label("k_stamp"), ident.label("k_id"))
        .order_by(stamp, ident).limit(limit + 1)
    ).all()
    tombs, tombs_held = _tombstones(session, spec, cursor, local_only, limit_stamp, limit)
    # Merge the two streams on (stamp, kind, id): rows (kind 0) before tombstones (kind 1).
    entries: list[tuple[int, int, int, Any]] = sorted(
        [(int(r.k_stamp), 0, int(r.k_id), r) for r in rows]
        + [(t.change_stamp, 1, t.id or 0, t) for t in tombs], key=lambda e: e[:3])
    more = len(entries) > limit
    entries = entries[:limit]
    last = (Cursor(stamp=entries[-1][0], id=entries[-1][2], tomb=entries[-1][1] == 1)
            if entries else cursor)
    pending = tombs_held
    if limit_stamp is not None:
        pending += session.execute(select(func.count()).select_from(
            unread.where(stamp >= limit_stamp).subquery())).scalar_one()
    has_more = more or pending > 0
    held_back = pending > 0 and not more
    through = None
    if spec.append_only:
        upto = or_(stamp < last.stamp, and_(stamp == last.stamp, ident <= last.id))
        through = _totals(session, base.where(upto), spec)
    deleted = []
    if spec.key is not None:
        deleted = [Deleted[Any](key=spec.key.model_validate(json.loads(e[3].key)),
                                deleted_at=e[3].deleted_at) for e in entries if e[1] == 1]
    return FeedPage[Any, Any](
        feed=feed,
        items=[spec.row(e[3], today) for e in entries if e[1] == 0],
        deleted=deleted,
        next_cursor=last.encode(feed, local_only, epoch),
        has_more=has_more,
        pending=pending,
        held_back=held_back,
        retry_after_ms=retry_after_ms if held_back else None,
        snapshot=FeedSnapshot(as_of=utcnow(), totals=_totals(session, base, spec),
                              complete=not has_more),
        through_cursor=through,
    )
