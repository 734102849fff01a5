"""HTTP routes of the inventory domain under /api/v1. Thin: parse, authorise, call a use case."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from relief.platform import crud
from relief.platform.api import (
    Cursor,
    IdempotencyKey,
    Limit,
    Offset,
    Page,
    PathId,
    QueryId,
    idempotent_post,
    settings_of,
)
from relief.platform.auth import Admin, CurrentUser, DatabaseDep, Reader, require
from relief.platform.errors import NotFound
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import masterdata, reports, service
from supplies.ledger import MoveContext
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
    MoveKind,
    Quant,
    Reservation,
    ReservationState,
    ReserveTarget,
    Tier,
    Transfer,
    TransferState,
)
from supplies.models.catalogue import (
    ItemCreate,
    ItemPublic,
    ItemUpdate,
    LotHoldingPublic,
    LotPublic,
)
from supplies.models.network import (
    DepotCreate,
    DepotPublic,
    DepotUpdate,
    DivisionCreate,
    DivisionPublic,
    DivisionUpdate,
)
from supplies.models.operations import (
    AdjustmentIn,
    IssueIn,
    LotQualityPublic,
    MovePublic,
    OperationPublic,
    QualityIn,
    ReceiptIn,
    ReleaseIn,
    ReservationIn,
    ReservationPublic,
    ScrapIn,
    TransferIn,
    TransferPublic,
    TransferReceiveIn,
)
from supplies.models.reserves import (
    AgreementReserveCreate,
    AgreementReservePublic,
    AgreementReserveUpdate,
    CapacityReserveCreate,
    CapacityReservePublic,
    CapacityReserveUpdate,
    ReserveTargetCreate,
    ReserveTargetPublic,
    ReserveTargetUpdate,
)

router = APIRouter(prefix="/api/v1")

StockWriter = Annotated[Principal, Depends(require(Role.depot_manager))]
Reserver = Annotated[Principal, Depends(require(Role.depot_manager, Role.dispatcher))]


def _context(request: Request, user: Principal, key: str | None, body: BaseModel | None
             ) -> MoveContext:
    return MoveContext(
        actor=user.actor,
        today=settings_of(request).today(),
        reference=getattr(body, "reference", None),
        reason=getattr(body, "reason", None),
        idempotency_key=key,
    )


def _stock_post(
    request: Request,
    user: Principal,
    key: str | None,
    body: BaseModel,
    run: Callable[[Session, MoveContext], BaseModel],
    status_code: int = 201,
) -> JSONResponse:
    ctx = _context(request, user, key, body)
    return idempotent_post(
        request,
        principal=user,
        key=key,
        body=body,
        use_case=lambda session: run(session, ctx),
        status_code=status_code,
    )


# ---------------------------------------------------------------------------------------------
# Stock operations


@router.post("/stock/receipts", status_code=201, response_model=OperationPublic, tags=["stock"])
def post_receipt(body: ReceiptIn, request: Request, user: StockWriter, key: IdempotencyKey = None
                 ) -> JSONResponse:
    """Receive goods into a depot (creates the lot when new; perishables need an expiry)."""
    return _stock_post(request, user, key, body,
                       lambda s, c: service.receive_stock(s, principal=user, data=body, ctx=c))


@router.post("/stock/issues", status_code=201, response_model=OperationPublic, tags=["stock"])
def post_issue(body: IssueIn, request: Request, user: StockWriter, key: IdempotencyKey = None
               ) -> JSONResponse:
    """Issue goods to affected people: FEFO over good, unexpired lots unless a lot is named."""
    return _stock_post(request, user, key, body,
                       lambda s, c: service.issue_stock(s, principal=user, data=body, ctx=c))


@router.post("/stock/transfers", status_code=201, response_model=TransferPublic, tags=["stock"])
def post_transfer(body: TransferIn, request: Request, user: StockWriter, key: IdempotencyKey = None
                  ) -> JSONResponse:
    """Send goods to another depot; they are in transit until the receiver books them in."""
    return _stock_post(request, user, key, body,
                       lambda s, c: service.send_transfer(s, principal=user, data=body, ctx=c))


@router.post("/stock/transfers/{transfer_id}/receive", response_model=TransferPublic,
             tags=["stock"])
def post_transfer_receive(transfer_id: PathId, body: TransferReceiveIn, request: Request,
                          user: StockWriter, key: IdempotencyKey = None) -> JSONResponse:
    """Book a transfer in; a smaller quantity records the discrepancy as a transit loss."""
    return _stock_post(
        request, user, key, body,
        lambda s, c: service.receive_transfer(s, principal=user, transfer_id=transfer_id,
                                              data=body, ctx=c),
        status_code=200,
    )


@router.post("/stock/adjustments", status_code=201, response_model=OperationPublic,
             tags=["stock"])
def post_adjustment(body: AdjustmentIn, request: Request, user: StockWriter,
                    key: IdempotencyKey = None) -> JSONResponse:
    """Record a stock count; the difference becomes an inventory gain or loss move."""
    return _stock_post(request, user, key, body,
                       lambda s, c: service.adjust_stock(s, principal=user, data=body, ctx=c))


@router.post("/stock/scrap", status_code=201, response_model=OperationPublic, tags=["stock"])
def post_scrap(body: ScrapIn, request: Request, user: StockWriter, key: IdempotencyKey = None
               ) -> JSONResponse:
    """Write off goods of a lot (expired, damaged, quarantined)."""
    return _stock_post(request, user, key, body,
                       lambda s, c: service.scrap_stock(s, principal=user, data=body, ctx=c))


def _lot_public(session: Session, lot: Lot) -> LotPublic:
    assert lot.id is not None
    holdings = [
        LotHoldingPublic(depot=code, quality=quant.quality, on_hand=quant.on_hand,
                         reserved=quant.reserved)
        for quant, code in session.execute(
            select(Quant, Depot.code)
            .join(Location, Location.id == Quant.location_id)
            .join(Depot, Depot.id == Location.depot_id)
            .where(Quant.lot_id == lot.id)
            .order_by(Depot.code)
        ).all()
    ]
    return LotPublic(id=lot.id, item_code=session.get_one(Item, lot.item_id).code,
                     lot_number=lot.lot_number, expiry=lot.expiry, updated_at=lot.updated_at,
                     holdings=holdings)


@router.post("/stock/lots/{lot_id}/quality", response_model=LotQualityPublic, tags=["stock"])
def post_lot_quality(lot_id: PathId, body: QualityIn, request: Request, user: StockWriter,
                     key: IdempotencyKey = None) -> JSONResponse:
    """Set one depot's quality verdict on its stock of a lot: quarantined or damaged stock is
    never issued or reserved. The same lot at other depots keeps its own quality."""
    return _stock_post(
        request, user, key, body,
        lambda s, c: service.set_lot_quality(s, principal=user, lot_id=lot_id, data=body, ctx=c),
        status_code=200,
    )


@router.post("/stock/reservations", status_code=201, response_model=ReservationPublic,
             tags=["stock"])
def post_reservation(body: ReservationIn, request: Request, user: Reserver,
                     key: IdempotencyKey = None) -> JSONResponse:
    """Hold available stock at a depot for a later dispatch (FEFO lots)."""
    return _stock_post(
        request, user, key, body,
        lambda s, c: service.create_reservation(s, principal=user, data=body, ctx=c),
    )


@router.post("/stock/reservations/{reservation_id}/release", response_model=ReservationPublic,
             tags=["stock"])
def post_release(reservation_id: PathId, body: ReleaseIn, request: Request, user: Reserver,
                 key: IdempotencyKey = None) -> JSONResponse:
    """Give back part or all of a reservation."""
    return _stock_post(
        request, user, key, body,
        lambda s, _c: service.release_reservation(s, principal=user,
                                                  reservation_id=reservation_id, data=body),
        status_code=200,
    )


# ---------------------------------------------------------------------------------------------
# Stock reads


@router.get("/stock", response_model=Page[reports.StockRow], tags=["stock"])
def get_stock(
    request: Request,
    db: DatabaseDep,
    _user: Reader,
    limit: Limit = 100,
    offset: Offset = 0,
    depot: str | None = None,
    item: str | None = None,
    lot: str | None = None,
    tier: Tier | None = None,
    division: Annotated[str | None, Query(description="Division code; includes sub-divisions")]
    = None,
    include_empty: bool = False,
) -> Page[reports.StockRow]:
    """Stock by depot, item and lot with on hand, reserved, available and expiry."""
    with db.read_session() as session:
        codes = masterdata.division_descendants(session, division) if division else None
        if division and session.get(Division, division) is None:
            raise NotFound.of("division.unknown", field="division", code=division)
        rows, total = reports.stock_rows(
            session,
            today=settings_of(request).today(),
            filters=reports.StockFilter(depot=depot, item=item, lot=lot, tier=tier,
                                        division_codes=codes, include_empty=include_empty),
            limit=limit,
            offset=offset,
        )
    return Page(items=rows, total=total, limit=limit, offset=offset)


@router.get("/stock/summary", response_model=list[reports.SummaryRow], tags=["stock"])
def get_stock_summary(request: Request, db: DatabaseDep, _user: Reader,
                      group_by: reports.GroupBy = reports.GroupBy.division,
                      item: str | None = None) -> list[reports.SummaryRow]:
    """Totals by tier, item, or division (each division includes everything below it)."""
    with db.read_session() as session:
        return reports.stock_summary(session, today=settings_of(request).today(),
                                     group_by=group_by, item=item)


class MovePage(BaseModel):
    """A page of the ledger; pass ``next_after`` as ``after`` to continue."""

    items: list[MovePublic]
    next_after: int | None


@router.get("/stock/moves", response_model=MovePage, tags=["stock"])
def get_moves(
    db: DatabaseDep,
    _user: Reader,
    limit: Limit = 100,
    after: Cursor = None,
    depot: str | None = None,
    item: str | None = None,
    lot_id: QueryId = None,
    kind: MoveKind | None = None,
    reference: str | None = None,
    operation: str | None = None,
    transfer_id: QueryId = None,
) -> MovePage:
    """The append-only ledger, oldest first, with filters and a cursor."""
    with db.read_session() as session:
        rows, next_after = reports.moves(
            session,
            filters=reports.MoveFilter(depot=depot, item=item, lot_id=lot_id, kind=kind,
                                       reference=reference, operation=operation,
                                       transfer_id=transfer_id),
            after=after,
            limit=limit,
        )
    return MovePage(items=rows, next_after=next_after)


@router.get("/stock/lots", response_model=Page[LotPublic], tags=["stock"])
def get_lots(db: DatabaseDep, _user: Reader, item: str | None = None, limit: Limit = 100,
             offset: Offset = 0) -> Page[LotPublic]:
    """Lots, optionally of one item."""
    with db.read_session() as session:
        stmt = select(Lot).order_by(Lot.id)
        if item:
            stmt = stmt.where(Lot.item_id == service.get_item(session, item).id)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[_lot_public(session, r) for r in rows], total=total, limit=limit,
                    offset=offset)


@router.get("/stock/lots/{lot_id}", response_model=LotPublic, tags=["stock"])
def get_lot(lot_id: PathId, db: DatabaseDep, _user: Reader) -> LotPublic:
    """One lot."""
    with db.read_session() as session:
        lot = session.get(Lot, lot_id)
        if lot is None:
            raise NotFound.of("lot.unknown", id=lot_id)
        return _lot_public(session, lot)


@router.get("/stock/transfers", response_model=Page[TransferPublic], tags=["stock"])
def get_transfers(db: DatabaseDep, _user: Reader, state: TransferState | None = None,
                  depot: str | None = None, limit: Limit = 100, offset: Offset = 0
                  ) -> Page[TransferPublic]:
    """Transfers, newest first; ``depot`` matches either end."""
    with db.read_session() as session:
        stmt = select(Transfer).order_by(Transfer.id.desc())
        if state:
            stmt = stmt.where(Transfer.state == state)
        if depot:
            depot_id = service.get_depot(session, depot).id
            stmt = stmt.where((Transfer.from_depot_id == depot_id)
                              | (Transfer.to_depot_id == depot_id))
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[service.transfer_public(session, t) for t in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/stock/transfers/{transfer_id}", response_model=TransferPublic, tags=["stock"])
def get_transfer(transfer_id: PathId, db: DatabaseDep, _user: Reader) -> TransferPublic:
    """One transfer with its lots."""
    with db.read_session() as session:
        return service.get_transfer(session, transfer_id)


@router.get("/stock/reservations", response_model=Page[ReservationPublic], tags=["stock"])
def get_reservations(db: DatabaseDep, _user: Reader, state: ReservationState | None = None,
                     depot: str | None = None, reference: str | None = None,
                     limit: Limit = 100, offset: Offset = 0) -> Page[ReservationPublic]:
    """Reservations, newest first."""
    with db.read_session() as session:
        stmt = select(Reservation).order_by(Reservation.id.desc())
        if state:
            stmt = stmt.where(Reservation.state == state)
        if depot:
            stmt = stmt.where(Reservation.depot_id == service.get_depot(session, depot).id)
        if reference:
            stmt = stmt.where(Reservation.reference == reference)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[service.reservation_public(session, r) for r in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/stock/reservations/{reservation_id}", response_model=ReservationPublic,
            tags=["stock"])
def get_reservation(reservation_id: PathId, db: DatabaseDep, _user: Reader) -> ReservationPublic:
    """One reservation with what it still holds per lot."""
    with db.read_session() as session:
        return service.get_reservation(session, reservation_id)


# ---------------------------------------------------------------------------------------------
# Reports


@router.get("/reports/expiring", response_model=list[reports.ExpiringRow], tags=["reports"])
def get_expiring(request: Request, db: DatabaseDep, _user: Reader,
                 within_days: Annotated[int, Query(ge=0, le=3650)] = 30
                 ) -> list[reports.ExpiringRow]:
    """Expired stock still on hand and stock expiring within ``within_days`` (rotation)."""
    with db.read_session() as session:
        return reports.expiring(session, today=settings_of(request).today(),
                                within_days=within_days)


@router.get("/reports/shortfall", response_model=list[reports.ShortfallRow], tags=["reports"])
def get_shortfall(request: Request, db: DatabaseDep, _user: Reader, depot: str | None = None,
                  tier: Tier | None = None, include_met: bool = False,
                  rotation_days: Annotated[int, Query(ge=0, le=365)] = 30
                  ) -> list[reports.ShortfallRow]:
    """Usable stock against reserve targets, with a suggested replenishment (回补)."""
    with db.read_session() as session:
        if depot:
            service.get_depot(session, depot)
        return reports.shortfall(session, today=settings_of(request).today(), depot=depot,
                                 tier=tier, only_short=not include_met,
                                 rotation_days=rotation_days)


@router.get("/reports/reserves", response_model=list[reports.ReservesRow], tags=["reports"])
def get_reserves(request: Request, db: DatabaseDep, _user: Reader,
                 hours: Annotated[float, Query(gt=0, le=720)] = 10
                 ) -> list[reports.ReservesRow]:
    """Per county and item: physical, agreement and capacity reserves, and what is at hand
    within ``hours``."""
    with db.read_session() as session:
        return reports.reserves(session, today=settings_of(request).today(), hours=hours)


# ---------------------------------------------------------------------------------------------
# Master data


def _admin_post(request: Request, user: Principal, key: str | None, body: BaseModel,
                run: Callable[[Session], BaseModel]) -> JSONResponse:
    return idempotent_post(request, principal=user, key=key, body=body, use_case=run)


def _public(model: type[BaseModel], row: Any) -> BaseModel:
    return model.model_validate(row, from_attributes=True)


@router.get("/divisions", response_model=Page[DivisionPublic], tags=["network"])
def list_divisions(db: DatabaseDep, _user: Reader, level: DivisionLevel | None = None,
                   parent: str | None = None, limit: Limit = 200, offset: Offset = 0
                   ) -> Page[DivisionPublic]:
    """Administrative divisions (NBS codes)."""
    with db.read_session() as session:
        stmt = select(Division).order_by(Division.code)
        if level:
            stmt = stmt.where(Division.level == level)
        if parent:
            stmt = stmt.where(Division.parent_code == parent)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[DivisionPublic.model_validate(r, from_attributes=True) for r in rows],
                    total=total, limit=limit, offset=offset)


@router.get("/divisions/{code}", response_model=DivisionPublic, tags=["network"])
def get_division(code: str, db: DatabaseDep, _user: Reader) -> DivisionPublic:
    """One division."""
    with db.read_session() as session:
        return DivisionPublic.model_validate(masterdata.get_division(session, code, field="code"),
                                             from_attributes=True)


@router.post("/divisions", status_code=201, response_model=DivisionPublic, tags=["network"])
def post_division(body: DivisionCreate, request: Request, user: Admin, key: IdempotencyKey = None
                  ) -> JSONResponse:
    """Add a division (admin)."""
    return _admin_post(request, user, key, body, lambda s: _public(
        DivisionPublic, masterdata.create_division(s, data=body, actor=user.actor)))


@router.patch("/divisions/{code}", response_model=DivisionPublic, tags=["network"])
def patch_division(code: str, body: DivisionUpdate, db: DatabaseDep, user: Admin
                   ) -> BaseModel:
    """Change a division (admin)."""
    return db.write(lambda s: _public(
        DivisionPublic, masterdata.update_division(s, code=code, data=body, actor=user.actor)))


@router.get("/depots", response_model=Page[DepotPublic], tags=["network"])
def list_depots(db: DatabaseDep, _user: Reader, tier: Tier | None = None,
                kind: DepotKind | None = None, division: str | None = None,
                active: bool | None = None, limit: Limit = 200, offset: Offset = 0
                ) -> Page[DepotPublic]:
    """Depots; ``division`` includes depots in every division below it."""
    with db.read_session() as session:
        stmt = select(Depot).order_by(Depot.code)
        if tier:
            stmt = stmt.where(Depot.tier == tier)
        if kind:
            stmt = stmt.where(Depot.kind == kind)
        if division:
            stmt = stmt.where(Depot.division_code.in_(
                masterdata.division_descendants(session, division)))
        if active is not None:
            stmt = stmt.where(Depot.active.is_(active))
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[DepotPublic.model_validate(r, from_attributes=True) for r in rows],
                    total=total, limit=limit, offset=offset)


@router.get("/depots/{code}", response_model=DepotPublic, tags=["network"])
def get_depot(code: str, db: DatabaseDep, _user: Reader) -> DepotPublic:
    """One depot."""
    with db.read_session() as session:
        return DepotPublic.model_validate(service.get_depot(session, code, field="code"),
                                          from_attributes=True)


@router.post("/depots", status_code=201, response_model=DepotPublic, tags=["network"])
def post_depot(body: DepotCreate, request: Request, user: Admin, key: IdempotencyKey = None
               ) -> JSONResponse:
    """Register a depot (admin)."""
    return _admin_post(request, user, key, body, lambda s: _public(
        DepotPublic, masterdata.create_depot(s, data=body, actor=user.actor)))


@router.patch("/depots/{code}", response_model=DepotPublic, tags=["network"])
def patch_depot(code: str, body: DepotUpdate, db: DatabaseDep, user: Admin) -> BaseModel:
    """Change a depot (admin)."""
    return db.write(lambda s: _public(
        DepotPublic, masterdata.update_depot(s, code=code, data=body, actor=user.actor)))


@router.get("/items", response_model=Page[ItemPublic], tags=["catalogue"])
def list_items(db: DatabaseDep, _user: Reader, category: str | None = None,
               limit: Limit = 200, offset: Offset = 0) -> Page[ItemPublic]:
    """The relief-item catalogue."""
    with db.read_session() as session:
        stmt = select(Item).order_by(Item.code)
        if category:
            stmt = stmt.where(Item.category == category)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[ItemPublic.model_validate(r, from_attributes=True) for r in rows],
                    total=total, limit=limit, offset=offset)


@router.get("/items/{code}", response_model=ItemPublic, tags=["catalogue"])
def get_item(code: str, db: DatabaseDep, _user: Reader) -> ItemPublic:
    """One item."""
    with db.read_session() as session:
        return ItemPublic.model_validate(service.get_item(session, code, field="code"),
                                         from_attributes=True)


@router.post("/items", status_code=201, response_model=ItemPublic, tags=["catalogue"])
def post_item(body: ItemCreate, request: Request, user: Admin, key: IdempotencyKey = None
              ) -> JSONResponse:
    """Add a catalogue item (admin)."""
    return _admin_post(request, user, key, body, lambda s: _public(
        ItemPublic, masterdata.create_item(s, data=body, actor=user.actor)))


@router.patch("/items/{code}", response_model=ItemPublic, tags=["catalogue"])
def patch_item(code: str, body: ItemUpdate, db: DatabaseDep, user: Admin) -> BaseModel:
    """Change an item (admin)."""
    return db.write(lambda s: _public(
        ItemPublic, masterdata.update_item(s, code=code, data=body, actor=user.actor)))


@router.get("/agreements", response_model=Page[AgreementReservePublic], tags=["reserves"])
def list_agreements(request: Request, db: DatabaseDep, _user: Reader, depot: str | None = None,
                    item: str | None = None, valid_on: date | None = None,
                    limit: Limit = 200, offset: Offset = 0) -> Page[AgreementReservePublic]:
    """Agreement reserves (协议储备); ``valid_on`` keeps contracts valid on that date."""
    with db.read_session() as session:
        stmt = select(AgreementReserve).order_by(AgreementReserve.id)
        if depot:
            stmt = stmt.where(AgreementReserve.depot_id == service.get_depot(session, depot).id)
        if item:
            stmt = stmt.where(AgreementReserve.item_id == service.get_item(session, item).id)
        if valid_on:
            stmt = stmt.where(AgreementReserve.valid_from <= valid_on,
                              AgreementReserve.valid_to >= valid_on)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[masterdata.agreement_public(session, r) for r in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/agreements/{agreement_id}", response_model=AgreementReservePublic,
            tags=["reserves"])
def get_agreement(agreement_id: PathId, db: DatabaseDep, _user: Reader) -> AgreementReservePublic:
    """One agreement reserve."""
    with db.read_session() as session:
        return masterdata.agreement_public(session, masterdata.get_agreement(session, agreement_id))


@router.post("/agreements", status_code=201, response_model=AgreementReservePublic,
             tags=["reserves"])
def post_agreement(body: AgreementReserveCreate, request: Request, user: Admin,
                   key: IdempotencyKey = None) -> JSONResponse:
    """Record an agreement reserve contract (admin)."""
    return _admin_post(request, user, key, body, lambda s: masterdata.agreement_public(
        s, masterdata.create_agreement(s, data=body, actor=user.actor)))


@router.patch("/agreements/{agreement_id}", response_model=AgreementReservePublic,
              tags=["reserves"])
def patch_agreement(agreement_id: PathId, body: AgreementReserveUpdate, db: DatabaseDep,
                    user: Admin) -> BaseModel:
    """Change an agreement reserve (admin)."""
    return db.write(lambda s: masterdata.agreement_public(s, masterdata.update_agreement(
        s, agreement_id=agreement_id, data=body, actor=user.actor)))


@router.get("/capacity-reserves", response_model=Page[CapacityReservePublic], tags=["reserves"])
def list_capacity(db: DatabaseDep, _user: Reader, depot: str | None = None,
                  item: str | None = None, limit: Limit = 200, offset: Offset = 0
                  ) -> Page[CapacityReservePublic]:
    """Capacity reserves (产能储备)."""
    with db.read_session() as session:
        stmt = select(CapacityReserve).order_by(CapacityReserve.id)
        if depot:
            stmt = stmt.where(CapacityReserve.depot_id == service.get_depot(session, depot).id)
        if item:
            stmt = stmt.where(CapacityReserve.item_id == service.get_item(session, item).id)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[masterdata.capacity_public(session, r) for r in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/capacity-reserves/{capacity_id}", response_model=CapacityReservePublic,
            tags=["reserves"])
def get_capacity(capacity_id: PathId, db: DatabaseDep, _user: Reader) -> CapacityReservePublic:
    """One capacity reserve."""
    with db.read_session() as session:
        return masterdata.capacity_public(session, masterdata.get_capacity(session, capacity_id))


@router.post("/capacity-reserves", status_code=201, response_model=CapacityReservePublic,
             tags=["reserves"])
def post_capacity(body: CapacityReserveCreate, request: Request, user: Admin,
                  key: IdempotencyKey = None) -> JSONResponse:
    """Record a capacity reserve (admin)."""
    return _admin_post(request, user, key, body, lambda s: masterdata.capacity_public(
        s, masterdata.create_capacity(s, data=body, actor=user.actor)))


@router.patch("/capacity-reserves/{capacity_id}", response_model=CapacityReservePublic,
              tags=["reserves"])
def patch_capacity(capacity_id: PathId, body: CapacityReserveUpdate, db: DatabaseDep, user: Admin
                   ) -> BaseModel:
    """Change a capacity reserve (admin)."""
    return db.write(lambda s: masterdata.capacity_public(s, masterdata.update_capacity(
        s, capacity_id=capacity_id, data=body, actor=user.actor)))


@router.get("/targets", response_model=Page[ReserveTargetPublic], tags=["reserves"])
def list_targets(db: DatabaseDep, _user: Reader, tier: Tier | None = None,
                 depot: str | None = None, item: str | None = None, limit: Limit = 200,
                 offset: Offset = 0) -> Page[ReserveTargetPublic]:
    """Reserve catalogue quotas per tier or depot."""
    with db.read_session() as session:
        stmt = select(ReserveTarget).order_by(ReserveTarget.id)
        if tier:
            stmt = stmt.where(ReserveTarget.tier == tier)
        if depot:
            stmt = stmt.where(ReserveTarget.depot_id == service.get_depot(session, depot).id)
        if item:
            stmt = stmt.where(ReserveTarget.item_id == service.get_item(session, item).id)
        rows, total = crud.page(session, stmt, limit=limit, offset=offset)
        return Page(items=[masterdata.target_public(session, r) for r in rows], total=total,
                    limit=limit, offset=offset)


@router.get("/targets/{target_id}", response_model=ReserveTargetPublic, tags=["reserves"])
def get_target(target_id: PathId, db: DatabaseDep, _user: Reader) -> ReserveTargetPublic:
    """One reserve target."""
    with db.read_session() as session:
        row = session.get(ReserveTarget, target_id)
        if row is None:
            raise NotFound.of("target.unknown", id=target_id)
        return masterdata.target_public(session, row)


@router.post("/targets", status_code=201, response_model=ReserveTargetPublic, tags=["reserves"])
def post_target(body: ReserveTargetCreate, request: Request, user: Admin, key: IdempotencyKey = None
                ) -> JSONResponse:
    """Set a reserve target for a depot or a tier (admin)."""
    return _admin_post(request, user, key, body, lambda s: masterdata.target_public(
        s, masterdata.create_target(s, data=body, actor=user.actor)))


@router.patch("/targets/{target_id}", response_model=ReserveTargetPublic, tags=["reserves"])
def patch_target(target_id: PathId, body: ReserveTargetUpdate, db: DatabaseDep, user: Admin
                 ) -> BaseModel:
    """Change a reserve target's quantity (admin)."""
    return db.write(lambda s: masterdata.target_public(s, masterdata.update_target(
        s, target_id=target_id, data=body, actor=user.actor)))


@router.get("/me", tags=["access"])
def get_me(user: CurrentUser) -> dict[str, Any]:
    """Who the token belongs to and what it may do."""
    return {"name": user.name, "role": user.role, "depots": sorted(user.depots),
            "scopes": sorted(user.scopes)}
