"""HTTP routes of the provincial exchange under /api/v1/exchange. Thin: parse, authorise, call.

Access: the export feeds need scope ``exchange:read``, imports ``exchange:write``; both need
role ``integration`` (admins hold every role and scope). Every token is rate limited, by
role (a bucket per token shared by all API processes; relief.platform.ratelimit).
``/provincial-depots`` is a read for every role.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from exchange import feeds, jobs, service
from exchange.models import (
    AgreementKey,
    AgreementRow,
    CapacityKey,
    CapacityRow,
    DepotKey,
    DepotRow,
    Entity,
    ExchangeSourcePublic,
    Feed,
    FeedPage,
    ImportJob,
    ImportJobPublic,
    ImportJobStatus,
    ImportReport,
    ItemKey,
    ItemRow,
    MoveKey,
    MoveRow,
    ProvincialDepotPublic,
    RunStatus,
    StockFeedRow,
    StockKey,
    SyncRunPublic,
)
from exchange.models.records import (
    LogisticsBatchIn,
    ProducerBatchIn,
    StockBatchIn,
    WarehouseBatchIn,
)
from relief.platform.api import IdempotencyKey, Limit, Offset, Page, PathId, settings_of
from relief.platform.auth import Admin, CurrentUser, DatabaseDep, Reader, get_database
from relief.platform.db import Database
from relief.platform.errors import Conflict
from relief.platform.etag import ETAG_RESPONSES, conditional_json
from relief.platform.models import Role
from relief.platform.principal import Principal

READ_SCOPE = "exchange:read"
WRITE_SCOPE = "exchange:write"

router = APIRouter(
    prefix="/api/v1/exchange",
    tags=["exchange"],
    responses={
        401: {"description": "Missing, unknown or revoked token",
              "content": {"application/json": {"example": {"error": {
                  "code": "unauthorized", "message": "missing bearer token", "fields": [],
                  "details": {}}}}}},
        403: {"description": "Not an integration token, or without the scope",
              "content": {"application/json": {"example": {"error": {
                  "code": "forbidden", "message": "integration:prov lacks scope exchange:write",
                  "fields": [], "details": {"scope": "exchange:write"}}}}}},
        429: {"description": "Rate limit of the integration token exceeded",
              "headers": {"Retry-After": {"description": "Seconds to wait",
                                          "schema": {"type": "integer"}}},
              "content": {"application/json": {"example": {"error": {
                  "code": "rate_limited", "message": "rate limit exceeded", "fields": [],
                  "details": {"retry_after_s": 1}}}}}},
    },
)

def exchange_access(scope: str) -> Callable[[Principal], Principal]:
    """A dependency admitting integration tokens holding ``scope`` (and admins); like every
    request, rate limited per token (relief.platform.auth)."""

    def dependency(user: CurrentUser) -> Principal:
        user.require_role(Role.integration)
        user.require_scope(scope)
        return user

    return dependency


ExchangeReader = Annotated[Principal, Depends(exchange_access(READ_SCOPE))]
ExchangeWriter = Annotated[Principal, Depends(exchange_access(WRITE_SCOPE))]

After = Annotated[str | None, Query(
    description="Cursor: the `next_cursor` of the previous page (omit to start from the "
    "beginning). Opaque; valid for this feed and filter on this database.",
    examples=["eyJmIjoic3RvY2siLCJzIjo4ODEyLCJpIjozMTAsImwiOjB9"])]
LocalOnly = Annotated[bool, Query(description="Leave out provincial depots imported from an "
                                  "exchange source (and their stock, reserves and moves)")]
FeedLimit = Annotated[int, Query(ge=1, le=1000, description="Page size")]


def _page_example(row: type[BaseModel], sums: dict[str, int], *, append_only: bool = False
                  ) -> dict[str, Any]:
    example = (row.model_config.get("json_schema_extra") or {}).get("examples", [{}])[0]
    page: dict[str, Any] = {
        "feed": "...", "items": [example],
        "next_cursor": "eyJmIjoic3RvY2siLCJzIjo4ODEyLCJpIjozMTAsImwiOjB9",
        "deleted": [], "has_more": True, "pending": 0, "held_back": False,
        "retry_after_ms": None,
        "snapshot": {"as_of": "2026-11-28T02:00:00Z",
                     "totals": {"count": 1757, "sums": sums}, "complete": False},
        "through_cursor": {"count": 310, "sums": sums} if append_only else None,
    }
    return {200: {"content": {"application/json": {"example": page}},
                  "headers": {"ETag": {"description": "Validator of this page's content",
                                       "schema": {"type": "string"}},
                              "Retry-After": {"description": "With held_back: seconds to wait",
                                              "schema": {"type": "integer"}}}},
            **ETAG_RESPONSES}


def _feed(request: Request, db: Database, feed: Feed, after: str | None, limit: int,
          local_only: bool) -> Response:
    """A feed page as JSON with its ETag (304 when If-None-Match has it) and, when the page is
    held back by an open transaction, a Retry-After header."""
    settings = settings_of(request)
    with feeds.snapshot_session(db) as session:
        page = feeds.read_page(session, feed=feed, after=after, limit=limit,
                               today=settings.today(), local_only=local_only,
                               retry_after_ms=settings.exchange_feed_retry_after_ms)
    body = page.model_dump(mode="json")
    headers = {}
    if page.held_back and page.retry_after_ms is not None:
        headers["Retry-After"] = str(max(1, math.ceil(page.retry_after_ms / 1000)))
    return conditional_json(request, body, headers=headers,
                            volatile=lambda b: b["snapshot"].pop("as_of", None))


# ---------------------------------------------------------------------------------------------
# Export feeds


@router.get("/depots", response_model=FeedPage[DepotRow, DepotKey],
            responses=_page_example(DepotRow, {"active": 116}))
def feed_depots(request: Request, db: DatabaseDep, _user: ExchangeReader, after: After = None,
                limit: FeedLimit = 200, local_only: LocalOnly = False) -> Response:
    """Depots that changed after the cursor (key: `code`)."""
    return _feed(request, db, Feed.depots, after, limit, local_only)


@router.get("/items", response_model=FeedPage[ItemRow, ItemKey],
            responses=_page_example(ItemRow, {}))
def feed_items(request: Request, db: DatabaseDep, _user: ExchangeReader, after: After = None,
               limit: FeedLimit = 200) -> Response:
    """Catalogue items that changed after the cursor (key: `code`)."""
    return _feed(request, db, Feed.items, after, limit, False)


@router.get("/stock", response_model=FeedPage[StockFeedRow, StockKey],
            responses=_page_example(StockFeedRow, {"on_hand": 945252, "reserved": 1200}))
def feed_stock(request: Request, db: DatabaseDep, _user: ExchangeReader, after: After = None,
               limit: FeedLimit = 200, local_only: LocalOnly = False) -> Response:
    """Stock by depot, item and lot (key: `depot` + `item` + `lot` + `expiry`) that changed
    after the cursor: on hand, reserved, available, expiry and quality. Empty lots are included
    (a lot that went to 0 must reach the reader); deleted rows come in `deleted`."""
    return _feed(request, db, Feed.stock, after, limit, local_only)


@router.get("/agreements", response_model=FeedPage[AgreementRow, AgreementKey],
            responses=_page_example(AgreementRow, {"committed_quantity": 93700}))
def feed_agreements(request: Request, db: DatabaseDep, _user: ExchangeReader,
                    after: After = None, limit: FeedLimit = 200,
                    local_only: LocalOnly = False) -> Response:
    """Agreement reserves (协议储备) that changed after the cursor (key: `depot` + `item` +
    `contract_ref`, unique and immutable)."""
    return _feed(request, db, Feed.agreements, after, limit, local_only)


@router.get("/capacity-reserves", response_model=FeedPage[CapacityRow, CapacityKey],
            responses=_page_example(CapacityRow, {"units_per_day": 13780}))
def feed_capacity(request: Request, db: DatabaseDep, _user: ExchangeReader,
                  after: After = None, limit: FeedLimit = 200,
                  local_only: LocalOnly = False) -> Response:
    """Capacity reserves (产能储备) that changed after the cursor (key: `depot` + `item`)."""
    return _feed(request, db, Feed.capacity_reserves, after, limit, local_only)


@router.get("/moves", response_model=FeedPage[MoveRow, MoveKey],
            responses=_page_example(MoveRow, {"quantity": 945252}, append_only=True))
def feed_moves(request: Request, db: DatabaseDep, _user: ExchangeReader, after: After = None,
               limit: FeedLimit = 200, local_only: LocalOnly = False) -> Response:
    """Ledger moves after the cursor (key: `id`; append-only). `through_cursor` totals every
    move up to `next_cursor` and never changes, so a mirror can be checked after each page."""
    return _feed(request, db, Feed.moves, after, limit, local_only)


# ---------------------------------------------------------------------------------------------
# Imports

IMPORT_EXAMPLES: dict[str, Any] = {
    "warehouses": {"summary": "仓储设施 warehouses (POST .../import/warehouses)", "value": {
        "source": "jiangsu", "batch_id": "CK-20261128-0001", "records": [{
            "CKBM": "JS-CK-3201-001", "CKMC": "江苏省救灾物资储备库(南京)", "CKLX": "01",
            "XZQHDM": "320115", "JD": 118.86, "WD": 31.95, "CKMJ": 12000, "XYSJ": 4,
            "SFFH": "1", "SFFX": "1", "SFFD": "1", "LXR": "值班室", "LXDH": "025-00000000",
            "ZT": "1", "BBH": 3}]}},
    "logistics": {"summary": "物流运输企业 logistics (POST .../import/logistics)", "value": {
        "source": "jiangsu", "batch_id": "WL-20261128-0001", "records": [{
            "QYBM": "JS-WL-0007", "QYMC": "江苏某应急物流有限公司", "TYSHXYDM":
            "91320000000000000X", "XZQHDM": "320105", "JD": 118.77, "WD": 32.0, "XYSJ": 3,
            "ZT": "1", "GXSJ": "2026-11-28 09:30:00", "CLLB": [
                {"CPHM": "苏A·D1234", "CLLX": "H11", "HZ": 18, "RJ": 45, "ZT": "1"},
                {"CPHM": "苏A·D5678", "CLLX": "H32", "HZ": 1.5, "ZT": "1"}]}]}},
    "producers": {"summary": "生产企业 producers (POST .../import/producers)", "value": {
        "source": "jiangsu", "batch_id": "SC-20261128-0001", "records": [{
            "QYBM": "JS-SC-0101", "QYMC": "江苏某被服厂", "XZQHDM": "320281", "JD": 120.28,
            "WD": 31.57, "ZT": "1", "BBH": 2, "CNLB": [
                {"WZBM": "B0101", "JLDW": "床", "RCN": 3000, "ZBSJ": 24},
                {"WZBM": "D0101", "JLDW": "瓶", "RCN": 120000, "ZBSJ": 12}]}]}},
    "stock": {"summary": "储备物资库存 stock (POST .../import/stock)", "value": {
        "source": "jiangsu", "batch_id": "KC-20261128-0001", "records": [
            {"CKBM": "JS-CK-3201-001", "WZBM": "A0101", "WZMC": "单帐篷", "JLDW": "顶",
             "PCH": "2026-07", "KCSL": 800, "ZLZT": "01", "BBH": 12},
            {"CKBM": "JS-CK-3201-001", "WZBM": "D0101", "JLDW": "瓶", "PCH": "W2611",
             "YXQZ": "2028-05-31", "KCSL": 24000, "ZLZT": "01", "BBH": 12}]}},
}


DryRun = Annotated[bool, Query(description="Check the batch without writing: the report says "
                               "what applying it would do")]
Prefer = Annotated[str | None, Header(
    description="`respond-async`: answer 202 with the job at once, whatever the batch size")]
IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The batch was applied (or, dry, checked): the per-record report"},
    202: {"model": ImportJobPublic, "description": "A large batch (or `Prefer: respond-async`):"
          " the job, applied in the background; poll its `Location`",
          "headers": {"Location": {"description": "The job to poll",
                                   "schema": {"type": "string"}}}},
}


def _import(entity: Entity, request: Request, user: Principal, body: Any, key: str | None,
            dry_run: bool, prefer: str | None) -> JSONResponse:
    """Create (or, on an Idempotency-Key retry, find) the batch's job; apply it now or in the
    background; answer with the report (200) or the job (202)."""
    settings = settings_of(request)
    db = get_database(request)
    records = list(body.records)
    runner = request.app.state.import_runner
    waiting = len(records) <= settings.exchange_import_sync_max and \
        "respond-async" not in (prefer or "").lower()
    # A batch applied while the request waits is queued too, for later, in case this
    # process dies midway (the delivery then finds it finished, or takes it over).
    delay = 2 * settings.plan_lease_s if waiting else 0.0
    job_id, new = db.write(lambda s: _job_id(jobs.create_job(
        s, principal=user, entity=entity, source_name=body.source, batch_id=body.batch_id,
        records=records, dry_run=dry_run, key=key, today=settings.today(),
        queue=runner.queue, queue_delay_s=delay)))
    if new and waiting:
        runner.run_now(job_id)
    with db.read_session() as session:
        job = jobs.job_public(session, session.get_one(ImportJob, job_id))
    if waiting and job.status == ImportJobStatus.failed:
        raise Conflict.of("exchange.job_failed", job=job.id, error=_why(job),
                          details={"job": job.id})
    if waiting and job.report is not None:
        return JSONResponse(job.report.model_dump(mode="json"), status_code=200)
    return JSONResponse(job.model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/api/v1/exchange/import-jobs/{job.id}"})


def _why(job: ImportJobPublic) -> dict[str, Any]:
    """A failed job's stored error as a text inside the refusal's text (each language's own)."""
    if job.error_key is not None:
        return {"key": job.error_key, "params": job.error_params or {}}
    return {"key": "status.unkeyed", "params": {"text": job.error or ""}}


def _job_id(found: tuple[ImportJob, bool]) -> tuple[int, bool]:
    job, new = found
    assert job.id is not None
    return job.id, new


@router.post("/import/warehouses", response_model=ImportReport, responses=IMPORT_RESPONSES)
def import_warehouses(
    request: Request, user: ExchangeWriter,
    body: Annotated[WarehouseBatchIn, Body(openapi_examples={
        "warehouses": IMPORT_EXAMPLES["warehouses"]})],
    key: IdempotencyKey = None, dry_run: DryRun = False, prefer: Prefer = None,
) -> JSONResponse:
    """Upsert provincial warehouses (仓储设施) as depots of tier `province`.

    Records are keyed by the source's external ids and versions: a replay changes nothing,
    an older version is `stale`, each record is all-or-nothing and a rejected one is reported
    with the provincial field named. See docs/integration.md.
    """
    return _import(Entity.warehouses, request, user, body, key, dry_run, prefer)


@router.post("/import/logistics", response_model=ImportReport, responses=IMPORT_RESPONSES)
def import_logistics(
    request: Request, user: ExchangeWriter,
    body: Annotated[LogisticsBatchIn, Body(openapi_examples={
        "logistics": IMPORT_EXAMPLES["logistics"]})],
    key: IdempotencyKey = None, dry_run: DryRun = False, prefer: Prefer = None,
) -> JSONResponse:
    """Upsert logistics enterprises (物流运输企业) with their complete vehicle lists."""
    return _import(Entity.logistics, request, user, body, key, dry_run, prefer)


@router.post("/import/producers", response_model=ImportReport, responses=IMPORT_RESPONSES)
def import_producers(
    request: Request, user: ExchangeWriter,
    body: Annotated[ProducerBatchIn, Body(openapi_examples={
        "producers": IMPORT_EXAMPLES["producers"]})],
    key: IdempotencyKey = None, dry_run: DryRun = False, prefer: Prefer = None,
) -> JSONResponse:
    """Upsert producers (生产企业) as capacity depots with their complete capacity lists."""
    return _import(Entity.producers, request, user, body, key, dry_run, prefer)


@router.post("/import/stock", response_model=ImportReport, responses=IMPORT_RESPONSES)
def import_stock(
    request: Request, user: ExchangeWriter,
    body: Annotated[StockBatchIn, Body(openapi_examples={"stock": IMPORT_EXAMPLES["stock"]})],
    key: IdempotencyKey = None, dry_run: DryRun = False, prefer: Prefer = None,
) -> JSONResponse:
    """Reconcile reserve stock (储备物资库存): absolute quantities per warehouse lot, booked
    through the stock ledger (reference `SYNC:<source>:<batch_id>`)."""
    return _import(Entity.stock, request, user, body, key, dry_run, prefer)


@router.get("/import-jobs/{job_id}", response_model=ImportJobPublic)
def get_import_job(job_id: Annotated[int, Path(ge=1, le=2**31 - 1)], db: DatabaseDep,
                   user: ExchangeWriter) -> ImportJobPublic:
    """An import job: `done` of `total` records applied so far, and the report once it has
    ended (`succeeded` or `failed`; a failed job keeps what its committed chunks applied)."""
    with db.read_session() as session:
        return jobs.job_public(session, jobs.get_job(session, job_id, user))


# ---------------------------------------------------------------------------------------------
# Sync log, sources, provincial depots


@router.get("/sync-runs", response_model=Page[SyncRunPublic], responses={200: {"content": {
    "application/json": {"example": {
        "items": SyncRunPublic.model_config["json_schema_extra"]["examples"],  # type: ignore
        "total": 1, "limit": 50, "offset": 0}}}}})
def list_sync_runs(db: DatabaseDep, _user: ExchangeReader, source: str | None = None,
                   status: RunStatus | None = None, limit: Limit = 50, offset: Offset = 0
                   ) -> Page[SyncRunPublic]:
    """The sync log, newest first: pulls by the connector and batches pushed to the API."""
    with db.read_session() as session:
        rows, total = service.list_runs(session, source=source, status=status, limit=limit,
                                        offset=offset)
    return Page(items=rows, total=total, limit=limit, offset=offset)


@router.get("/sync-runs/{run_id}", response_model=SyncRunPublic)
def get_sync_run(run_id: PathId, db: DatabaseDep, _user: ExchangeReader) -> SyncRunPublic:
    """One sync-log entry with its rejected records and their reasons."""
    with db.read_session() as session:
        return service.get_run(session, run_id)


@router.get("/sources", response_model=list[ExchangeSourcePublic])
def list_sources(db: DatabaseDep, _user: ExchangeReader) -> list[ExchangeSourcePublic]:
    """Configured provincial sources and where each feed's pull has got to."""
    with db.read_session() as session:
        return service.list_sources(session)


class CursorResetIn(BaseModel):
    """Which feeds of a source to reset, and to what."""

    model_config = ConfigDict(extra="forbid")

    feeds: list[Entity] | None = Field(default=None, description="Default: every feed")
    cursor: str | None = Field(default=None, max_length=2000, description="The position to "
                               "pull from next; null (default): from the beginning")


@router.post("/sources/{name}/reset-cursor", response_model=ExchangeSourcePublic)
def reset_cursor(name: str, body: CursorResetIn, db: DatabaseDep, user: Admin
                 ) -> ExchangeSourcePublic:
    """Admins: set where the next pull of a source's feeds starts (`relief sync reset-cursor`).

    Audited (`exchange_cursor.reset`). A pull running meanwhile stops at its next page (its
    cursor moved under it); the next pull reads from the new position. Re-reading from the
    beginning is safe: records are versioned, so what was applied comes back `unchanged`.
    """
    def reset(session: Any) -> ExchangeSourcePublic:
        service.reset_cursor(session, source_name=name, feeds=body.feeds, cursor=body.cursor,
                             actor=user.actor)
        return service.source_public(session, service.get_source(session, name))

    return db.write(reset)


@router.get("/provincial-depots", response_model=list[ProvincialDepotPublic],
            responses=ETAG_RESPONSES)
def list_provincial_depots(request: Request, db: DatabaseDep, _user: Reader,
                           include_inactive: bool = False) -> Response:
    """Imported provincial depots and producers as planning sources (tier `province`): place,
    the lead time the province reports, usable stock per item, capacity. Any role may read.
    With an ETag: If-None-Match answers 304 while nothing changed."""
    with db.read_session() as session:
        rows = service.provincial_depots(session, today=settings_of(request).today(),
                                         active_only=not include_inactive)
    return conditional_json(request, [row.model_dump(mode="json") for row in rows])
