"""Printable paper for the people who move the goods: the issue (or scrap) voucher of one stock
operation, and the waybill of one transfer, beside the trip manifests of the desk.

A voucher lists the operation's moves at the depot (lots and expiry, as issued FEFO); a
waybill lists a transfer's lots with their weights and leaves room for the signatures.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.responses import Response

from relief.platform.api import PathId
from relief.platform.auth import get_database
from relief.platform.errors import NotFound
from supplies import reports, service
from supplies.models import Depot, Item
from web.render import page
from web.routing import ConsoleRoute
from web.session import ConsoleUser

router = APIRouter(route_class=ConsoleRoute)


@router.get("/depots/{code}/vouchers/{operation}", response_class=HTMLResponse)
def voucher(request: Request, code: str, operation: str, user: ConsoleUser) -> Response:
    """The issue or scrap voucher of one operation at a depot."""
    with get_database(request).read_session() as session:
        depot = service.get_depot(session, code, field="code")
        moves, _ = reports.moves(session, filters=reports.MoveFilter(
            depot=depot.code, operation=operation[:36]), after=None, limit=500)
        if not moves:
            raise NotFound.of("voucher.unknown", operation=operation[:36], depot=depot.code)
        items = {i.code: i for i in session.execute(select(Item)).scalars()}
    lines = [{"move": mv, "item": items.get(mv.item)} for mv in moves]
    weight_kg = sum(mv.quantity * items[mv.item].unit_weight_kg
                    for mv in moves if mv.item in items)
    return page(request, user, "voucher.html", depot=depot, moves=moves, lines=lines,
                first=moves[0], weight_kg=weight_kg)


@router.get("/transfers/{transfer_id}/waybill", response_class=HTMLResponse)
def waybill(request: Request, transfer_id: PathId, user: ConsoleUser) -> Response:
    """The waybill of one transfer (its lots, weight and signatures)."""
    with get_database(request).read_session() as session:
        transfer = service.get_transfer(session, transfer_id)
        source = service.get_depot(session, transfer.from_depot, field="code")
        target = session.execute(select(Depot).where(Depot.code == transfer.to_depot)
                                 ).scalar_one()
        item = session.execute(select(Item).where(Item.code == transfer.item)).scalar_one()
    weight_kg = transfer.quantity * item.unit_weight_kg
    return page(request, user, "waybill.html", transfer=transfer, source=source,
                target=target, item=item, weight_kg=weight_kg)
