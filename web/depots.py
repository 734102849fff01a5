"""Depot pages: stock by item and lot, the stock operation forms, expiring and shortfall lists,
CSV and Excel export, and the Excel stock-count import with its preview.

Every form calls the API's use case (``supplies.service``) with the API's input model; errors
come back at their fields. Each successful post redirects back to the depot page (so a reload
never repeats it) and carries an idempotency key (so a double click posts once).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import Response

from relief.platform.api import PathId, settings_of
from relief.platform.auth import get_database
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import masterdata, reports, service
from supplies.models import (
    Depot,
    Division,
    Item,
    Tier,
    Transfer,
    TransferState,
)
from supplies.models.operations import (
    AdjustmentIn,
    IssueIn,
    QualityIn,
    ReceiptIn,
    ScrapIn,
    TransferIn,
    TransferReceiveIn,
)
from web import depotlists, rollups, stockio, trips
from web.forms import FormState, attempt, build
from web.i18n import LANGS, Translator
from web.render import page, translator
from web.routing import ConsoleRoute, move_context, redirect, write
from web.session import ConsoleUser, Form
from web.tripquery import TripQuery, trip_page

router = APIRouter(route_class=ConsoleRoute)

EXPIRING_DAYS = 60
STOCK_FORMS = ("receive", "issue", "transfer", "adjust", "quality", "scrap", "count")


def get_depot_or_404(session: Session, code: str) -> Depot:
    """The depot, or the console's 404 page."""
    return service.get_depot(session, code, field="code")


def stock_by_item(rows: list[reports.StockRow]) -> list[dict[str, Any]]:
    """Stock rows grouped by item, with item totals and the lots in FEFO order."""
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(r.item, {"item": r.item, "name": r.item_name, "unit": r.unit,
                                       "on_hand": 0, "reserved": 0, "available": 0,
                                       "lots": []})
        g["on_hand"] += r.on_hand
        g["reserved"] += r.reserved
        g["available"] += r.available
        g["lots"].append(r)
    return list(groups.values())


# ---------------------------------------------------------------------------------------------
# Depot list


@router.get("/depots", response_class=HTMLResponse)
def depot_list(request: Request, user: ConsoleUser,
               tier: Tier | None = None,
               county: Annotated[str | None, Query(max_length=12)] = None,
               q: Annotated[str | None, Query(max_length=60)] = None) -> Response:
    """All depots with their stock totals and shortfall, filtered by tier, county or text."""
    today = settings_of(request).today()
    with get_database(request).read_session() as session:
        counties = list(session.execute(select(Division).where(
            Division.level == "county").order_by(Division.code)).scalars())
        stmt = select(Depot).order_by(Depot.tier, Depot.code)
        if tier:
            stmt = stmt.where(Depot.tier == tier)
        if county:
            stmt = stmt.where(Depot.division_code.in_(
                masterdata.division_descendants(session, county)))
        rows = list(session.execute(stmt).scalars())
        if q:
            needle = q.lower()
            rows = [d for d in rows if needle in d.code.lower() or needle in d.name.lower()]
        on_hand, available = rollups.depot_totals(session, today=today)
        short: dict[str, int] = defaultdict(int)
        for s in reports.shortfall(session, today=today):
            if s.shortfall > 0:
                short[s.depot] += 1
        expired = {r.depot for r in reports.expiring(session, today=today, within_days=0)}
    listing = [{"depot": d, "on_hand": on_hand.get(d.code, 0),
                "available": available.get(d.code, 0),
                "short_items": short.get(d.code, 0), "expired": d.code in expired}
               for d in rows]
    mine = sorted(user.depots) if user.role == Role.depot_manager else []
    return page(request, user, "depots.html", listing=listing, counties=counties,
                tiers=list(Tier), tier=tier or "", county=county or "", q=q or "", mine=mine)


# ---------------------------------------------------------------------------------------------
# Depot page


def depot_context(session: Session, code: str, today: date,
                  trip_query: TripQuery | None = None, params: Any = None) -> dict[str, Any]:
    """Everything the depot page shows (with one page of the trips leaving it)."""
    depot = get_depot_or_404(session, code)
    chain = []
    current: str | None = depot.division_code
    while current is not None:
        division = session.get(Division, current)
        if division is None:
            break
        chain.append(division)
        current = division.parent_code
    rows = stockio.depot_stock(session, depot=depot.code, today=today)
    lots = sorted({(r.item, r.lot, r.lot_id, r.quality, r.on_hand) for r in rows})
    transfers_in = [service.transfer_public(session, t) for t in session.execute(
        select(Transfer).where(Transfer.to_depot_id == depot.id,
                               Transfer.state == TransferState.in_transit)
        .order_by(Transfer.id)).scalars()]
    others = list(session.execute(select(Depot.code, Depot.name).where(
        Depot.active.is_(True), Depot.id != depot.id).order_by(Depot.tier, Depot.code)).all())
    items = list(session.execute(select(Item).order_by(Item.code)).scalars())
    return {
        "depot": depot,
        "divisions": list(reversed(chain)),
        "stock": stock_by_item(rows),
        "lot_rows": rows,
        "lots": lots,
        "lot_numbers": sorted({r.lot for r in rows}),
        "expiring": [r for r in reports.expiring(session, today=today,
                                                 within_days=EXPIRING_DAYS)
                     if r.depot == depot.code],
        "shortfall": reports.shortfall(session, today=today, depot=depot.code),
        "transfers_in": transfers_in,
        "transfers_out": depotlists.transfers_page(session, depot, params or {}),
        "others": others,
        "items": items,
        "item_names": {i.code: i for i in items},
        "moves": depotlists.moves_page(session, depot, params or {}),
        "params": dict(params or {}),
        "today": today,
        "expiring_days": EXPIRING_DAYS,
        **trips.panel_values(trip_page(session, trip_query or TripQuery(),
                                       source_depot=depot.code),
                             list_url=f"/console/depots/{depot.code}/trips",
                             page_url=f"/console/depots/{depot.code}",
                             items={i.code: i for i in items}, show_incident=True),
    }


def render_depot(request: Request, user: Principal, code: str, *,
                 forms: dict[str, FormState] | None = None, status: int = 200,
                 done: str | None = None) -> Response:
    """The depot page, with the given form states (values and errors) in place."""
    with get_database(request).read_session() as session:
        ctx = depot_context(session, code, settings_of(request).today(),
                            TripQuery.of(request.query_params), request.query_params)
    states = {name: FormState() for name in STOCK_FORMS}
    for transfer in ctx["transfers_in"]:
        states[f"receive-transfer-{transfer.id}"] = FormState()
    states.update(forms or {})
    canonical = "" if request.method == "GET" else f"/console/depots/{code}"
    return page(request, user, "depot.html", status=status, forms=states, done=done or "",
                canonical=canonical, **ctx)


@router.get("/depots/{code}", response_class=HTMLResponse)
def depot_page(request: Request, code: str, user: ConsoleUser,
               done: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    """One depot: stock by item and lot, operations, expiring and shortfall lists."""
    return render_depot(request, user, code, done=done)


def _stock_post(request: Request, user: Principal, form: Any, code: str, name: str,
                model: type[BaseModel], run: Any, *, done: str | None = None,
                **fixed: Any) -> Response:
    """Validate a stock form into the API's model, run the use case, redirect or re-render."""
    user.require_role(Role.depot_manager)
    tr = translator(request)
    state = FormState.of(form)
    data = build(model, state, tr, **fixed)
    if data is not None:
        key = str(form.get("idem") or "") or None
        ok, _ = attempt(state, tr, lambda: write(
            request, user, key=key, payload=data.model_dump(mode="json"),
            use_case=lambda s: run(s, data, move_context(request, user, key, data))))
        if ok:
            return redirect(f"/console/depots/{code}?done={done or name}#stock")
    return render_depot(request, user, code, forms={name: state}, status=state.status)


def _past(value: str, today: date) -> bool:
    try:
        return date.fromisoformat(value) < today
    except ValueError:
        return False  # not a date: the receipt's own validation says so at the field


@router.post("/depots/{code}/receive", response_class=HTMLResponse)
def post_receive(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Receive goods (supplies.service.receive_stock). An expiry already past is a warning the
    user must confirm (goods received expired can never be issued)."""
    expiry = str(form.get("expiry") or "")
    today = settings_of(request).today()
    if (expiry and _past(expiry, today) and form.get("accept_expired") != "1"):
        user.require_role(Role.depot_manager)
        user.require_depot(code)
        tr = translator(request)
        state = FormState.of(form)
        state.add("expiry", tr("op.receive.expired_warning", expiry=expiry,
                               today=today.isoformat()))
        state.details = {"expired": True}
        state.status = 422
        return render_depot(request, user, code, forms={"receive": state}, status=422)
    return _stock_post(request, user, form, code, "receive", ReceiptIn,
                       lambda s, d, c: service.receive_stock(s, principal=user, data=d, ctx=c),
                       depot=code)


@router.post("/depots/{code}/issue", response_class=HTMLResponse)
def post_issue(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Issue goods to affected people (supplies.service.issue_stock, FEFO)."""
    return _stock_post(request, user, form, code, "issue", IssueIn,
                       lambda s, d, c: service.issue_stock(s, principal=user, data=d, ctx=c),
                       depot=code)


@router.post("/depots/{code}/transfer", response_class=HTMLResponse)
def post_transfer(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Send goods to another depot (supplies.service.send_transfer)."""
    return _stock_post(request, user, form, code, "transfer", TransferIn,
                       lambda s, d, c: service.send_transfer(s, principal=user, data=d, ctx=c),
                       from_depot=code)


@router.post("/depots/{code}/adjust", response_class=HTMLResponse)
def post_adjust(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Record a count of one lot (supplies.service.adjust_stock)."""
    return _stock_post(request, user, form, code, "adjust", AdjustmentIn,
                       lambda s, d, c: service.adjust_stock(s, principal=user, data=d, ctx=c),
                       depot=code)


class _LotQuality(BaseModel):
    lot_id: int
    quality: str


@router.post("/depots/{code}/quality", response_class=HTMLResponse)
def post_quality(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Quarantine a lot, mark it damaged, or release it (supplies.service.set_lot_quality)."""
    state = FormState.of(form)
    lot_id = state.value("lot_id")
    if not lot_id.isdigit():
        user.require_role(Role.depot_manager)
        state.add("lot_id", translator(request)("form.error.choose"))
        state.status = 422
        return render_depot(request, user, code, forms={"quality": state}, status=422)

    def run(session: Session, data: QualityIn, ctx: Any) -> BaseModel:
        # The console's depot page speaks for its own depot's stock of the lot.
        verdict = service.set_lot_quality(
            session, principal=user, lot_id=int(lot_id),
            data=data.model_copy(update={"depot": code}), ctx=ctx)
        return _LotQuality(lot_id=verdict.lot_id, quality=verdict.quality)

    return _stock_post(request, user, form, code, "quality", QualityIn, run)


@router.post("/depots/{code}/scrap", response_class=HTMLResponse)
def post_scrap(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Write off expired, damaged or quarantined goods of one lot (supplies.service.scrap_stock);
    the lot is chosen as item|lot|expiry from the depot's lots."""
    item, _, rest = str(form.get("lot_key") or "").partition("|")
    lot, _, expiry = rest.partition("|")
    fixed: dict[str, Any] = {"depot": code, "item": item or None, "lot": lot or None}
    if expiry:
        fixed["expiry"] = expiry
    if not item or not lot:
        user.require_role(Role.depot_manager)
        state = FormState.of(form)
        state.add("lot_key", translator(request)("form.error.choose"))
        state.status = 422
        return render_depot(request, user, code, forms={"scrap": state}, status=422)
    return _stock_post(request, user, form, code, "scrap", ScrapIn,
                       lambda s, d, c: service.scrap_stock(s, principal=user, data=d, ctx=c),
                       **fixed)


@router.post("/transfers/{transfer_id}/receive", response_class=HTMLResponse)
def post_transfer_receive(request: Request, transfer_id: PathId, user: ConsoleUser,
                          form: Form) -> Response:
    """Book an incoming transfer in (supplies.service.receive_transfer)."""
    with get_database(request).read_session() as session:
        code = service.get_transfer(session, transfer_id).to_depot
    return _stock_post(
        request, user, form, code, f"receive-transfer-{transfer_id}", TransferReceiveIn,
        lambda s, d, c: service.receive_transfer(s, principal=user, transfer_id=transfer_id,
                                                 data=d, ctx=c),
        done="receive-transfer")


# ---------------------------------------------------------------------------------------------
# Export


@router.get("/depots/{code}/stock.csv")
def export_csv(request: Request, code: str, user: ConsoleUser) -> Response:
    """The depot's stock as CSV (UTF-8 with BOM)."""
    tr = translator(request)
    with get_database(request).read_session() as session:
        depot = get_depot_or_404(session, code)
        rows = stockio.depot_stock(session, depot=depot.code, today=settings_of(request).today())
    return Response(stockio.to_csv(rows, tr), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="stock-{code}.csv"',
                             "Cache-Control": "no-store"})


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/depots/{code}/stock.xlsx")
def export_xlsx(request: Request, code: str, user: ConsoleUser) -> Response:
    """The depot's stock as an Excel workbook (also the stock-count sheet)."""
    tr = translator(request)
    today = settings_of(request).today()
    with get_database(request).read_session() as session:
        depot = get_depot_or_404(session, code)
        rows = stockio.depot_stock(session, depot=depot.code, today=today)
    data = stockio.to_xlsx(rows, tr, depot=depot.code, depot_name=depot.name, today=today)
    return Response(data, media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="stock-{code}-{today:%Y%m%d}.xlsx"',
        "Cache-Control": "no-store"})


# ---------------------------------------------------------------------------------------------
# Stock-count import: upload -> preview -> apply


_PREVIEW_LINES = TypeAdapter(list[stockio.PreviewLine])


def _render_preview(request: Request, user: Principal, code: str, preview: stockio.Preview,
                    *, status: int = 200, changes: list[dict[str, Any]] | None = None,
                    form: FormState | None = None, filename: str = "") -> Response:
    with get_database(request).read_session() as session:
        depot = get_depot_or_404(session, code)
    payload = json.dumps([x.model_dump(mode="json") for x in preview.lines],
                         ensure_ascii=False)
    return page(request, user, "count_preview.html", status=status, depot=depot,
                preview=preview, payload=payload, changes=changes or [],
                form=form or FormState(), filename=filename)


@router.post("/depots/{code}/count", response_class=HTMLResponse)
def post_count_upload(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Read an uploaded count sheet and show what applying it would change."""
    user.require_role(Role.depot_manager)
    user.require_depot(code)
    tr = translator(request)
    upload = form.get("file")
    state = FormState()
    if not isinstance(upload, UploadFile) or not upload.filename:
        state.add("file", tr("count.error.no_file"))
        return render_depot(request, user, code, forms={"count": state}, status=422)
    data = upload.file.read(stockio.MAX_BYTES + 1)
    try:
        lines, problems = stockio.read_count(data, [Translator(lang) for lang in LANGS])
    except stockio.CountFileError as exc:
        state.add("file", tr(f"count.{exc.args[0]}", **(exc.args[1] if len(exc.args) > 1 else {})))
        return render_depot(request, user, code, forms={"count": state}, status=422)
    with get_database(request).read_session() as session:
        preview = stockio.preview(session, principal=user, depot_code=code, lines=lines,
                                  problems=problems, today=settings_of(request).today())
    return _render_preview(request, user, code, preview, filename=upload.filename or "")


@router.post("/depots/{code}/count/apply", response_class=HTMLResponse)
def post_count_apply(request: Request, code: str, user: ConsoleUser, form: Form) -> Response:
    """Apply a previewed count in one transaction, unless the book changed since the preview."""
    user.require_role(Role.depot_manager)
    tr = translator(request)
    state = FormState.of(form, skip=("payload",))
    try:
        expected = _PREVIEW_LINES.validate_json(str(form.get("payload") or "[]"))
    except ValidationError:
        state.add(None, tr("count.error.payload"))
        return render_depot(request, user, code, forms={"count": state}, status=422)
    if not expected:
        state.add(None, tr("count.error.nothing"))
        return render_depot(request, user, code, forms={"count": state}, status=422)
    today = settings_of(request).today()
    lines = [stockio.CountLine(row=x.row, item=x.item, lot=x.lot, counted=x.counted)
             for x in expected]
    if any(x.problem for x in expected):
        state.add(None, tr("count.error.blocked"))
        with get_database(request).read_session() as session:
            fresh = stockio.preview(session, principal=user, depot_code=code, lines=lines,
                                    today=today)
        return _render_preview(request, user, code, fresh, status=422, form=state)
    reason = state.value("reason") or tr("count.default_reason")
    key = str(form.get("idem") or "") or None
    ok, _ = attempt(state, tr, lambda: write(
        request, user, key=key, payload={"lines": [x.model_dump(mode="json") for x in expected],
                                         "reason": reason},
        use_case=lambda s: stockio.apply(s, principal=user, depot_code=code,
                                         expected=expected,
                                         reason=reason,
                                         ctx=move_context(request, user, key))))
    if ok:
        return redirect(f"/console/depots/{code}?done=count#stock")
    with get_database(request).read_session() as session:
        fresh = stockio.preview(session, principal=user, depot_code=code, lines=lines,
                                today=today)
    changes = state.details.get("changes", [])
    return _render_preview(request, user, code, fresh, status=state.status, changes=changes,
                           form=state)

