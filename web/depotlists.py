"""A depot's ledger and its transfers as paged lists: every move (not only the last few) and
every transfer it sent, searchable (item, lot, reference, depot), filterable by kind or state,
sortable by time, 20 a page. Query parameters: ``mq``, ``mkind``, ``msort``, ``mpage`` for the
moves and ``tq``, ``tstate``, ``tsort``, ``tpage`` for the transfers, so both lists page on
the same depot page independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from supplies import service
from supplies.models import (
    Depot,
    Item,
    Location,
    Lot,
    MoveKind,
    StockMove,
    Transfer,
    TransferState,
)
from supplies.models.operations import TransferPublic

PAGE_SIZE = 20


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page(params: Any, name: str) -> int:
    value = str(params.get(name) or "1")
    return max(1, min(int(value), 100_000)) if value.isdigit() else 1


@dataclass(frozen=True)
class ListQuery:
    """Search text, filter, sort (``new`` or ``old``) and page of one list."""

    prefix: str  # "m" (moves) or "t" (transfers)
    q: str = ""
    kind: str = ""
    sort: str = "new"
    page: int = 1

    def link(self, params: Any, **changes: Any) -> str:
        """The depot page's query string with this list changed (others kept)."""
        values = {k: str(v) for k, v in params.items()}
        names = {"q": f"{self.prefix}q", "kind": f"{self.prefix}kind" if self.prefix == "m"
                 else f"{self.prefix}state", "sort": f"{self.prefix}sort",
                 "page": f"{self.prefix}page"}
        current = {"q": self.q, "kind": self.kind, "sort": self.sort, "page": str(self.page)}
        if "page" not in changes:
            changes["page"] = 1
        current.update({k: str(v) for k, v in changes.items()})
        for key, name in names.items():
            values.pop(name, None)
            default = {"sort": "new", "page": "1"}.get(key, "")
            if current[key] != default:
                values[name] = current[key]
        values.pop("done", None)
        return urlencode(values)


@dataclass(frozen=True)
class MoveLine:
    """One ledger row as the depot sees it (signed: + in, − out)."""

    id: int
    at: Any
    kind: str
    item: str
    lot: str
    quantity: int
    incoming: bool
    reference: str | None
    actor: str
    operation: str
    transfer_id: int | None


@dataclass(frozen=True)
class Listing:
    """One page of a list."""

    query: ListQuery
    rows: list[Any]
    total: int
    pages: int


def moves_page(session: Session, depot: Depot, params: Any) -> Listing:
    """The depot's moves, newest first by default."""
    kind = str(params.get("mkind") or "")
    query = ListQuery(prefix="m", q=str(params.get("mq") or "").strip()[:60],
                      kind=kind if kind in MoveKind.__members__ else "",
                      sort="old" if params.get("msort") == "old" else "new",
                      page=_page(params, "mpage"))
    location = session.execute(select(Location.id).where(Location.depot_id == depot.id)
                               ).scalar_one_or_none()
    stmt = (select(StockMove, Item.code, Lot.lot_number)
            .join(Item, Item.id == StockMove.item_id).join(Lot, Lot.id == StockMove.lot_id)
            .where(or_(StockMove.from_location_id == location,
                       StockMove.to_location_id == location)))
    if query.kind:
        stmt = stmt.where(StockMove.kind == MoveKind(query.kind))
    if query.q:
        pattern = _like(query.q)
        stmt = stmt.where(or_(Item.code.ilike(pattern, escape="\\"),
                              Item.name_zh.ilike(pattern, escape="\\"),
                              Lot.lot_number.ilike(pattern, escape="\\"),
                              StockMove.reference.ilike(pattern, escape="\\")))
    total = session.execute(stmt.with_only_columns(func.count(StockMove.id))).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(query.page, pages)
    order = StockMove.id.asc() if query.sort == "old" else StockMove.id.desc()
    rows = [MoveLine(id=m.id or 0, at=m.at, kind=m.kind.value, item=code, lot=lot,
                     quantity=m.quantity, incoming=m.to_location_id == location,
                     reference=m.reference, actor=m.actor, operation=m.operation,
                     transfer_id=m.transfer_id)
            for m, code, lot in session.execute(
                stmt.order_by(order).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))]
    return Listing(query=ListQuery(prefix="m", q=query.q, kind=query.kind, sort=query.sort,
                                   page=page), rows=rows, total=total, pages=pages)


def transfers_page(session: Session, depot: Depot, params: Any) -> Listing:
    """The transfers the depot sent, newest first by default."""
    state = str(params.get("tstate") or "")
    query = ListQuery(prefix="t", q=str(params.get("tq") or "").strip()[:60],
                      kind=state if state in TransferState.__members__ else "",
                      sort="old" if params.get("tsort") == "old" else "new",
                      page=_page(params, "tpage"))
    target = Depot.__table__.alias("target")
    stmt = (select(Transfer).join(Item, Item.id == Transfer.item_id)
            .join(target, target.c.id == Transfer.to_depot_id)
            .where(Transfer.from_depot_id == depot.id))
    if query.kind:
        stmt = stmt.where(Transfer.state == TransferState(query.kind))
    if query.q:
        pattern = _like(query.q)
        stmt = stmt.where(or_(Item.code.ilike(pattern, escape="\\"),
                              Item.name_zh.ilike(pattern, escape="\\"),
                              target.c.code.ilike(pattern, escape="\\"),
                              target.c.name.ilike(pattern, escape="\\"),
                              Transfer.reference.ilike(pattern, escape="\\")))
    total = session.execute(stmt.with_only_columns(func.count(Transfer.id))).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(query.page, pages)
    order = Transfer.id.asc() if query.sort == "old" else Transfer.id.desc()
    rows: list[TransferPublic] = [
        service.transfer_public(session, t) for t in session.execute(
            stmt.order_by(order).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).scalars()]
    return Listing(query=ListQuery(prefix="t", q=query.q, kind=query.kind, sort=query.sort,
                                   page=page), rows=rows, total=total, pages=pages)
