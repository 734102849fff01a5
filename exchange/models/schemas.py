"""API schemas of the provincial exchange: source options, the sync log, import batches and
reports, the export feeds and provincial planning sources. No tables here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from exchange.models.enums import (
    PULL_ORDER,
    Entity,
    Feed,
    ImportJobStatus,
    RecordStatus,
    RunKind,
    RunStatus,
)
from supplies.models import DepotKind, MoveKind, Quality, Tier

T = TypeVar("T")
K = TypeVar("K")


class SourceOptions(BaseModel):
    """Per-source settings (stored as JSON on the source; every field has a default)."""

    model_config = ConfigDict(extra="forbid")

    page_size: int = Field(default=200, ge=1, le=1000)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    retries: int = Field(default=4, ge=0, le=20, description="Retries per request")
    backoff_s: float = Field(default=0.5, ge=0, le=60, description="First retry delay")
    backoff_max_s: float = Field(default=30.0, ge=0, le=600)
    max_repeats: int = Field(default=3, ge=1, le=100,
                             description="Pages in a row that may fail to advance the cursor")
    deadline_s: float = Field(default=60.0, gt=0, le=3600, description="Total time one "
                              "request may take, body included (not per read)")
    max_body_bytes: int = Field(default=20_000_000, ge=1024, le=500_000_000,
                                description="Largest page body read; a larger one is refused")
    max_run_s: float = Field(default=3600.0, gt=0, le=86_400,
                             description="Longest a pull may run (it then stops; the next "
                             "pull resumes)")
    max_pages: int = Field(default=10_000, ge=1, le=1_000_000,
                           description="Most pages one pull reads (then it stops)")
    max_empty_pages: int = Field(default=5, ge=1, le=1000, description="Pages in a row with "
                                 "has_more but no records (and no wait asked) before the run "
                                 "fails; their cursors are never committed")
    retry_after_max_s: float = Field(default=300.0, ge=0, le=3600, description="Longest "
                                     "Retry-After (or retry_after_ms) honoured; a longer one "
                                     "ends the run")
    feeds: list[Entity] = Field(default_factory=lambda: list(PULL_ORDER))
    paths: dict[Entity, str] = Field(default_factory=dict,
                                     description="URL path per feed (default: the feed name)")
    token_env: str | None = Field(default=None, description="Environment variable holding the "
                                  "bearer token for the provincial endpoint")
    code_prefix: str | None = Field(default=None, max_length=10,
                                    description="Prefix of local codes (default: NAME upper)")
    lot_prefix: str | None = Field(default=None, max_length=20,
                                   description="Prefix of provincial lot numbers (default NAME:)")
    item_codes: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Extra provincial item codes: {code: {item: our code, units: {unit: "
        "factor}}}",
    )



# ---------------------------------------------------------------------------------------------
# Sync log schemas


class RejectionPublic(BaseModel):
    """A rejected record in the sync log."""

    entity: Entity
    batch_id: str
    position: int
    external_id: str | None
    reason: str
    record: Any


class SyncRunPublic(BaseModel):
    """One entry of the sync log."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 42, "source": "jiangsu", "kind": "pull", "status": "succeeded",
        "actor": "system:sync:jiangsu", "feeds": ["warehouses", "logistics", "producers", "stock"],
        "started_at": "2026-11-28T02:00:00Z", "finished_at": "2026-11-28T02:00:41Z",
        "pages": 12, "created": 3, "updated": 40, "unchanged": 1180, "stale": 0, "rejected": 1,
        "retries": 2, "per_feed": {"stock": {"pages": 9, "created": 3, "updated": 40,
                                             "unchanged": 1180, "stale": 0, "rejected": 1}},
        "errors": [{"at": "2026-11-28T02:00:05Z", "feed": "stock",
                    "message": "stock: HTTP 503; retry 1 of 3 in 0.52 s",
                    "message_zh": "stock:HTTP 503;第 1/3 次重试,0.52 秒后",
                    "key": "sync.retry", "params": {
                        "feed": "stock", "attempt": 1, "retries": 3, "delay": "0.52",
                        "reason": {"key": "sync.http_status", "params": {"status": 503}}}}],
        "rejections": []}]})

    id: int
    source: str
    kind: RunKind
    status: RunStatus
    actor: str
    feeds: list[str]
    started_at: datetime
    finished_at: datetime | None
    pages: int
    created: int
    updated: int
    unchanged: int
    stale: int
    rejected: int
    retries: int
    per_feed: dict[str, dict[str, int]] = {}
    heartbeat_at: datetime | None = Field(
        default=None, description="Last sign of life of the run (every request, page, retry "
        "and wait); a running pull whose heartbeat is old has died or hangs")
    current_feed: str | None = Field(default=None, description="The feed a running pull reads")
    errors: list[dict[str, Any]] = Field(
        description="What went wrong, oldest first: at, feed, message (English), message_zh, "
        "and the catalogue key and params both texts come from")
    rejections: list[RejectionPublic] | None = None



# ---------------------------------------------------------------------------------------------
# Import schemas


class ImportBatchIn(BaseModel):
    """A batch of provincial records (their field names are the province's; see mapping)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "source": "jiangsu", "batch_id": "CK-20261128-0001",
        "records": [{"CKBM": "JS-CK-3201-001", "CKMC": "江苏省救灾物资储备库(南京)",
                     "CKLX": "01", "XZQHDM": "320115", "JD": 118.86, "WD": 31.95,
                     "CKMJ": 12000, "XYSJ": 4, "LXR": "值班室", "LXDH": "025-00000000",
                     "ZT": "1", "BBH": 3}]}]})

    source: str = Field(min_length=1, max_length=40, description="Name of a configured source")
    batch_id: str = Field(min_length=1, max_length=100, description="The province's batch id")
    records: list[Any] = Field(max_length=1000, description="Provincial records (objects)")


class RecordResult(BaseModel):
    """What happened to one record of a batch."""

    index: int
    external_id: str | None
    status: RecordStatus
    version: int | None = None
    local_id: str | None = None
    reason: str | None = None
    unknown_fields: list[str] = Field(
        default_factory=list, description="Fields the provincial format does not have: "
        "reported, and ignored")


class ImportReport(BaseModel):
    """The per-record report of a batch."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "source": "jiangsu", "entity": "warehouses", "batch_id": "CK-20261128-0001", "run_id": 7,
        "job_id": 12, "dry_run": False,
        "counts": {"created": 1, "updated": 0, "unchanged": 0, "stale": 0, "rejected": 1},
        "records": [
            {"index": 0, "external_id": "JS-CK-3201-001", "status": "created", "version": 3,
             "local_id": "JIANGSU-W-JS-CK-3201-001", "reason": None, "unknown_fields": []},
            {"index": 1, "external_id": "JS-CK-3201-002", "status": "rejected", "version": 1,
             "local_id": None, "reason": "JD: not a number: '东经118'",
             "unknown_fields": ["BZ"]}]}]})

    source: str
    entity: Entity
    batch_id: str
    run_id: int | None
    job_id: int | None = None
    dry_run: bool = Field(default=False, description="True: nothing was written; the statuses "
                          "say what applying the batch would do")
    counts: dict[str, int]
    records: list[RecordResult]


class ImportJobPublic(BaseModel):
    """An import job: progress while it runs, the report once it has finished."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 12, "source": "jiangsu", "entity": "stock", "batch_id": "KC-20261128-0001",
        "status": "running", "dry_run": False, "total": 10000, "done": 4000,
        "counts": {"created": 3990, "updated": 0, "unchanged": 0, "stale": 0, "rejected": 10},
        "run_id": 31, "error": None, "created_at": "2026-11-28T02:00:00Z",
        "started_at": "2026-11-28T02:00:00Z", "finished_at": None,
        "heartbeat_at": "2026-11-28T02:00:09Z", "report": None}]})

    id: int
    source: str
    entity: Entity
    batch_id: str
    status: ImportJobStatus
    dry_run: bool
    total: int
    done: int = Field(description="Records applied so far (in committed chunks)")
    counts: dict[str, int]
    run_id: int | None
    error_zh: str | None = Field(default=None, description="Why the job failed, in Chinese")
    error: str | None
    error_key: str | None = Field(default=None, description="Catalogue key of the error text")
    error_params: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    report: ImportReport | None = Field(default=None, description="Once the job has ended")



# ---------------------------------------------------------------------------------------------
# Export feed schemas


class FeedTotals(BaseModel):
    """Row count and quantity sums of a set of feed rows."""

    count: int
    sums: dict[str, int] = {}


class FeedSnapshot(BaseModel):
    """Totals of everything the feed holds as of the page's database snapshot.

    When ``complete`` is true the reader has now received every row as of that snapshot, so a
    mirror built from all pages must match ``totals`` exactly.
    """

    as_of: datetime
    totals: FeedTotals
    complete: bool


class Deleted(BaseModel, Generic[K]):
    """A row deleted from the feed's table (a tombstone): drop the row with this key."""

    key: K
    deleted_at: datetime


class FeedPage(BaseModel, Generic[T, K]):
    """One page of an export feed; pass ``next_cursor`` as ``after`` to continue."""

    feed: Feed
    items: list[T]
    deleted: list[Deleted[K]] = Field(
        default_factory=list, description="Rows deleted since the cursor (tombstones), each by "
        "its key in this feed, in the same order as the changes (see docs/integration.md)")
    next_cursor: str
    has_more: bool
    pending: int = Field(description="Rows already committed but held back because an older "
                         "transaction is still open; they come on a later page")
    held_back: bool = Field(
        default=False, description="True when this page ends only because an open transaction "
        "elsewhere holds the next rows back (PostgreSQL): has_more is true, but asking again at "
        "once gives nothing new. Wait retry_after_ms (also the Retry-After header)")
    retry_after_ms: int | None = Field(
        default=None, description="With held_back: how long to wait before the next request")
    snapshot: FeedSnapshot
    through_cursor: FeedTotals | None = Field(
        default=None, description="Append-only feeds (moves): totals of every row up to and "
        "including next_cursor; final, so a mirror can be checked after every page")


class DepotKey(BaseModel):
    """The key of a depot in the depots feed."""

    code: str


class ItemKey(BaseModel):
    """The key of an item in the items feed."""

    code: str


class StockKey(BaseModel):
    """The key of a stock row: depot, item, lot number and expiry (a depot may hold two lots of
    one number with different expiries)."""

    depot: str
    item: str
    lot: str
    expiry: date | None


class AgreementKey(BaseModel):
    """The key of an agreement reserve: unique and immutable."""

    depot: str
    item: str
    contract_ref: str


class CapacityKey(BaseModel):
    """The key of a capacity reserve: one per depot and item."""

    depot: str
    item: str


class MoveKey(BaseModel):
    """The key of a ledger move (moves are never deleted: no tombstones)."""

    id: int


class DepotRow(BaseModel):
    """A depot in the export feed (key: ``code``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "NT-320612", "name": "通州区应急物资储备库", "tier": "county",
        "kind": "government", "division_code": "320612", "lat": 32.06, "lon": 121.07,
        "coords_approximate": False, "floor_area_m2": 1200.0, "fire_protected": True,
        "flood_protected": True, "theft_protected": True, "contact": "值班室", "active": True,
        "provincial": False, "updated_at": "2026-11-28T01:00:00Z"}]})

    code: str
    name: str
    tier: Tier
    kind: DepotKind
    division_code: str
    lat: float
    lon: float
    coords_approximate: bool
    floor_area_m2: float | None
    fire_protected: bool
    flood_protected: bool
    theft_protected: bool
    contact: str | None
    active: bool
    provincial: bool = Field(description="Imported from a provincial source")
    updated_at: datetime


class ItemRow(BaseModel):
    """A catalogue item in the export feed (key: ``code``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "1040101", "name_zh": "瓶装饮用水(24×550 ml)",
        "name_en": "bottled water, case of 24 x 550 ml", "category": "water", "unit": "箱",
        "unit_weight_kg": 13.6, "unit_volume_m3": 0.023, "shelf_life_days": 540,
        "updated_at": "2026-11-28T01:00:00Z"}]})

    code: str
    name_zh: str
    name_en: str
    category: str
    unit: str
    unit_weight_kg: float
    unit_volume_m3: float
    shelf_life_days: int | None
    updated_at: datetime


class StockFeedRow(BaseModel):
    """One lot's balance at one depot (key: ``depot`` + ``item`` + ``lot`` + ``expiry``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "depot": "NT-320612", "item": "1040101", "lot": "W-2611", "expiry": "2028-05-01",
        "quality": "good", "on_hand": 1200, "reserved": 100, "available": 1100,
        "updated_at": "2026-11-28T01:00:00Z"}]})

    depot: str
    item: str
    lot: str
    expiry: date | None
    quality: Quality
    on_hand: int
    reserved: int
    available: int = Field(description="As of the snapshot date: 0 for expired or non-good lots")
    updated_at: datetime


class AgreementRow(BaseModel):
    """An agreement reserve (key: ``depot`` + ``item`` + ``contract_ref``; ``id`` is ours)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 5, "depot": "AG-01", "item": "1040101", "contract_ref": "NTYJ-2026-07",
        "committed_quantity": 20000, "lead_time_hours": 6, "valid_from": "2026-01-01",
        "valid_to": "2026-12-31", "updated_at": "2026-11-28T01:00:00Z"}]})

    id: int
    depot: str
    item: str
    contract_ref: str
    committed_quantity: int
    lead_time_hours: float
    valid_from: date
    valid_to: date
    updated_at: datetime


class CapacityRow(BaseModel):
    """A capacity reserve (key: ``depot`` + ``item``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 2, "depot": "CP-01", "item": "1020101", "units_per_day": 3000,
        "lead_time_hours": 12, "updated_at": "2026-11-28T01:00:00Z"}]})

    id: int
    depot: str
    item: str
    units_per_day: int
    lead_time_hours: float
    updated_at: datetime


class MoveRow(BaseModel):
    """One ledger move (key: ``id``; append-only, never changes)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 310, "at": "2026-11-28T01:00:00Z", "kind": "receipt", "item": "1040101",
        "lot": "W-2611", "quantity": 200, "from_location": "VIRTUAL/SUPPLIER",
        "to_location": "DEPOT/NT-320612", "reference": "PO-881", "operation": "9f2c..."}]})

    id: int
    at: datetime
    kind: MoveKind
    item: str
    lot: str
    quantity: int
    from_location: str
    to_location: str
    reference: str | None
    operation: str



# ---------------------------------------------------------------------------------------------
# Provincial sources for planning


class CapacityLine(BaseModel):
    """A provincial producer's output of one item."""

    item: str
    units_per_day: int
    lead_time_hours: float


class ProvincialDepotPublic(BaseModel):
    """A provincial depot or producer as a planning source: where, how fast, what it holds."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "code": "JIANGSU-W-JS-CK-3201-001", "name": "江苏省救灾物资储备库(南京)",
        "tier": "province", "kind": "government", "division_code": "320000", "lat": 31.95,
        "lon": 118.86, "active": True, "source": "jiangsu", "external_id": "JS-CK-3201-001",
        "lead_time_hours": 4.0, "reported_division_code": "320115",
        "stock": {"1010101": 800, "1020101": 5000}, "capacity": []}]})

    code: str
    name: str
    tier: Tier
    kind: DepotKind
    division_code: str
    lat: float
    lon: float
    active: bool
    source: str
    external_id: str
    lead_time_hours: float | None
    reported_division_code: str | None
    stock: dict[str, int] = Field(description="Usable (good, unexpired, unreserved) per item")
    capacity: list[CapacityLine] = []
