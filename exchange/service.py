"""Use cases of the provincial exchange: sources, applying one record of each entity, the
sync log, provincial planning sources.

Every function runs inside the caller's transaction and never commits. Batches are cut into
chunks and screened (versions, hashes, mapping) by :mod:`exchange.imports`; the functions here
apply one mapped warehouse, logistics enterprise or producer (stock records go many at a time
through :mod:`exchange.stock`). Provincial warehouses and producers become depots of tier
``province``; logistics enterprises transport enterprises with their vehicles.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.models import TransportEnterprise, Vehicle, VehicleStatus
from dispatch.models.fleet import TransportEnterpriseCreate, VehicleCreate
from exchange import mapping
from exchange.mapping import (
    ItemTable,
    MappedLogistics,
    MappedProducer,
    MappedWarehouse,
    MappingError,
)
from exchange.models import (
    CapacityLine,
    Entity,
    ExchangeCursor,
    ExchangeDepot,
    ExchangeRejection,
    ExchangeSource,
    ExchangeSourceCreate,
    ExchangeSourcePublic,
    ExchangeSourceUpdate,
    ProvincialDepotPublic,
    RejectionPublic,
    RunKind,
    RunStatus,
    SourceOptions,
    SyncRun,
    SyncRunPublic,
)
from relief.platform import crud
from relief.platform.audit import record as audit
from relief.platform.db import one_or_none
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, Forbidden, InvalidInput, NotFound, ReliefError
from relief.platform.principal import Principal
from relief.platform.statustext import StatusText, stored
from supplies import ledger, masterdata
from supplies.models import (
    CapacityReserve,
    Depot,
    DepotKind,
    Division,
    DivisionLevel,
    Item,
    Location,
    Lot,
    Quant,
    Tier,
)
from supplies.models.network import DepotCreate, DivisionCreate
from supplies.models.reserves import CapacityReserveCreate
from supplies.service import get_item

SOURCE_SCOPE_PREFIX = "exchange:source:"
MAX_RUN_ERRORS = 200

# Our field names in ledger errors, as the province calls them.
_PROVINCIAL_FIELD = {"expiry": "YXQZ", "quantity": "KCSL", "lot": "PCH", "item": "WZBM"}

# ---------------------------------------------------------------------------------------------
# Sources


def get_source(session: Session, name: str, *, lock: bool = False) -> ExchangeSource:
    """The source ``name`` (404 naming ``source``); ``lock`` serialises imports of one source."""
    source = one_or_none(session, select(ExchangeSource).where(ExchangeSource.name == name),
                         lock=lock)
    if source is None:
        raise NotFound.of("exchange.source_unknown", field="source", name=name)
    return source


def get_source_by_id(session: Session, source_id: int, *, lock: bool = False
                     ) -> ExchangeSource:
    """The source with id ``source_id`` (it exists: rows referring to it keep it)."""
    source = one_or_none(session, select(ExchangeSource).where(ExchangeSource.id == source_id),
                         lock=lock)
    assert source is not None
    return source


def source_public(session: Session, source: ExchangeSource) -> ExchangeSourcePublic:
    """A source with its committed cursors."""
    cursors = {
        str(feed): cursor
        for feed, cursor in session.execute(
            select(ExchangeCursor.feed, ExchangeCursor.cursor)
            .where(ExchangeCursor.source_id == source.id)
        )
    }
    assert source.id is not None
    return ExchangeSourcePublic(id=source.id, name=source.name, base_url=source.base_url,
                                options=source.options, active=source.active, cursors=cursors,
                                updated_at=source.updated_at)


def list_sources(session: Session) -> list[ExchangeSourcePublic]:
    """Every configured source, by name."""
    rows = session.execute(select(ExchangeSource).order_by(ExchangeSource.name)).scalars()
    return [source_public(session, s) for s in rows]


def create_source(session: Session, *, data: ExchangeSourceCreate, actor: str) -> ExchangeSource:
    """Configure a new provincial source."""
    if session.execute(select(ExchangeSource.id).where(ExchangeSource.name == data.name)).first():
        raise Conflict.of("exchange.source_exists", field="name", name=data.name)
    return crud.created(session, ExchangeSource.model_validate(data), actor=actor,
                              entity="exchange_source", entity_id=data.name)


def update_source(session: Session, *, name: str, data: ExchangeSourceUpdate, actor: str
                  ) -> ExchangeSource:
    """Change a source's URL or active flag; ``options`` are merged into the stored ones."""
    source = get_source(session, name, lock=True)
    desired: dict[str, Any] = data.model_dump(exclude_unset=True, exclude={"options"})
    if data.options is not None:
        merged = {**(source.options or {}), **data.options}
        try:
            SourceOptions.model_validate(merged)
        except ValidationError as exc:
            raise InvalidInput.of("exchange.options_invalid", field="options",
                                  detail=_validation_message(exc)) from exc
        desired["options"] = merged
    sync_fields(session, source, desired, actor=actor, entity="exchange_source", entity_id=name)
    return source


# ---------------------------------------------------------------------------------------------
# Generic helpers


def sync_fields(session: Session, row: Any, desired: dict[str, Any], *, actor: str, entity: str,
                entity_id: str) -> bool:
    """Set the fields of ``row`` that differ from ``desired``; audit them; True if any did."""
    changes = {name: {"from": getattr(row, name), "to": value}
               for name, value in desired.items() if getattr(row, name) != value}
    if not changes:
        return False
    for name, change in changes.items():
        setattr(row, name, change["to"])
    if hasattr(row, "updated_at"):
        row.updated_at = utcnow()
    session.add(row)
    session.flush()
    audit(session, actor=actor, action=f"{entity}.update", entity=entity, entity_id=entity_id,
          details=changes)
    return True


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or 'record'}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    )


def reason_of(exc: Exception) -> str:
    """Why a record was rejected, naming the provincial field where there is one."""
    if isinstance(exc, ValidationError):
        return _validation_message(exc)[:500]
    if isinstance(exc, IntegrityError):
        return f"conflicts with a database constraint: {str(exc.orig).splitlines()[0]}"[:500]
    if isinstance(exc, InvalidInput):
        return f"{_PROVINCIAL_FIELD.get(exc.field, exc.field)}: {exc.fields[0]['message']}"[:500]
    if isinstance(exc, ReliefError) and exc.key is not None and exc.fields:
        field = exc.fields[0]["field"]
        return f"{_PROVINCIAL_FIELD.get(field, field)}: {exc.message}"[:500]
    return str(exc)[:500]


# ---------------------------------------------------------------------------------------------
# Importing records


@dataclass
class ImportContext:
    """What every record of one batch shares."""

    session: Session
    source: ExchangeSource
    options: SourceOptions
    items: ItemTable
    actor: str
    today: date
    batch_id: str

    @property
    def code_prefix(self) -> str:
        """Prefix of the local codes given to this source's depots and enterprises."""
        if self.options.code_prefix:
            return re.sub(r"[^A-Za-z0-9]", "", self.options.code_prefix) or "PROV"
        return re.sub(r"[^A-Z0-9]", "", self.source.name.upper())[:8] or "PROV"

    @property
    def lot_prefix(self) -> str:
        """Prefix of this source's lot numbers, so provincial lots never merge with ours."""
        return self.options.lot_prefix if self.options.lot_prefix is not None \
            else f"{self.source.name}:"

    @property
    def reference(self) -> str:
        """The ledger reference of this batch's moves."""
        return f"SYNC:{self.source.name}:{self.batch_id}"[:120]


def import_context(session: Session, *, source: ExchangeSource, actor: str, today: date,
                   batch_id: str) -> ImportContext:
    """The shared context of one batch of ``source``."""
    options = source.parsed_options()
    try:
        items = ItemTable.with_overrides(options.item_codes)
    except MappingError as exc:
        raise InvalidInput.of("exchange.options_invalid", field="options.item_codes",
                              detail=exc.message) from exc
    return ImportContext(session=session, source=source, options=options, items=items,
                         actor=actor, today=today, batch_id=batch_id)


# ---------------------------------------------------------------------------------------------
# Applying one mapped record (inside its savepoint)


def resolve_division(ctx: ImportContext, code: str) -> str:
    """The nearest division we know for a Jiangsu code: itself, its county, its city, else the
    province (320000), which is created on first need."""
    candidates = [code, code[:6], code[:4] + "00"]
    for candidate in candidates:
        if ctx.session.get(Division, candidate) is not None:
            return candidate
    if ctx.session.get(Division, mapping.JIANGSU) is None:
        masterdata.create_division(
            ctx.session,
            data=DivisionCreate(code=mapping.JIANGSU, name="江苏省", level=DivisionLevel.province),
            actor=ctx.actor,
        )
    return mapping.JIANGSU


def _local_code(ctx: ImportContext, model: Any, letter: str, external_id: str) -> str:
    """A free local code for a new depot or enterprise: PREFIX-letter-external id, or a hash of
    the external id when that is too long, has other characters, or is taken."""
    def taken(code: str) -> bool:
        return ctx.session.execute(select(model.id).where(model.code == code)).first() is not None

    code = f"{ctx.code_prefix}-{letter}-{external_id}"
    if len(code) <= 32 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", code) and not taken(code):
        return code
    digest = hashlib.sha256(f"{ctx.source.name}:{letter}:{external_id}".encode()).hexdigest()
    code = f"{ctx.code_prefix}-{letter}-{digest[:12]}"
    if taken(code):
        raise Conflict.of("exchange.code_taken", code=code)
    return code


def _depot_by_code(session: Session, code: str | None) -> Depot | None:
    if code is None:
        return None
    return session.execute(select(Depot).where(Depot.code == code)).scalar_one_or_none()


def _upsert_depot(ctx: ImportContext, *, local_id: str | None, letter: str, external_id: str,
                  fields: dict[str, Any]) -> tuple[Depot, bool]:
    depot = _depot_by_code(ctx.session, local_id)
    if depot is None:
        code = _local_code(ctx, Depot, letter, external_id)
        depot = masterdata.create_depot(ctx.session, data=DepotCreate(code=code, **fields),
                                        actor=ctx.actor)
        return depot, True
    DepotCreate(code=depot.code, **fields)  # validates the new values
    changed = sync_fields(ctx.session, depot, fields, actor=ctx.actor, entity="depot",
                          entity_id=depot.code)
    return depot, changed


def _upsert_provincial_depot(ctx: ImportContext, depot: Depot, *, entity: Entity,
                             external_id: str, lead_time_hours: float | None,
                             reported_division: str) -> bool:
    assert depot.id is not None
    row = ctx.session.get(ExchangeDepot, depot.id)
    desired = {"source_id": ctx.source.id, "entity": entity, "external_id": external_id,
               "lead_time_hours": lead_time_hours, "reported_division_code": reported_division}
    if row is None:
        ctx.session.add(ExchangeDepot(depot_id=depot.id, **desired))
        ctx.session.flush()
        return True
    return sync_fields(ctx.session, row, desired, actor=ctx.actor, entity="exchange_depot",
                       entity_id=depot.code)


def _note(ctx: ImportContext, what: str, external_id: str, extra: str | None = None) -> str:
    text = f"{what} {external_id} (exchange source {ctx.source.name})"
    return f"{text}; {extra}"[:500] if extra else text[:500]


def apply_warehouse(ctx: ImportContext, rec: MappedWarehouse, local_id: str | None,
                    _version: int) -> tuple[bool, str]:
    """A provincial warehouse as a depot of tier province, with its lead time."""
    fields = {
        "name": rec.name, "tier": Tier.province, "kind": rec.kind,
        "division_code": resolve_division(ctx, rec.place.division_code),
        "lat": rec.place.lat, "lon": rec.place.lon, "coords_approximate": False,
        "floor_area_m2": rec.floor_area_m2, "fire_protected": rec.fire_protected,
        "flood_protected": rec.flood_protected, "theft_protected": rec.theft_protected,
        "contact": rec.contact, "active": rec.active,
        "note": _note(ctx, "provincial warehouse", rec.external_id),
    }
    depot, changed = _upsert_depot(ctx, local_id=local_id, letter="W",
                                   external_id=rec.external_id, fields=fields)
    changed |= _upsert_provincial_depot(ctx, depot, entity=Entity.warehouses,
                                        external_id=rec.external_id,
                                        lead_time_hours=rec.lead_time_hours,
                                        reported_division=rec.place.division_code)
    return changed, depot.code


def apply_logistics(ctx: ImportContext, rec: MappedLogistics, local_id: str | None,
                    _version: int) -> tuple[bool, str]:
    """A logistics enterprise and its complete vehicle list (missing vehicles are retired)."""
    session = ctx.session
    fields = {
        "name": rec.name, "division_code": resolve_division(ctx, rec.place.division_code),
        "lat": rec.place.lat, "lon": rec.place.lon, "lead_time_hours": rec.lead_time_hours,
        "contact": rec.contact, "active": rec.active,
        "note": _note(ctx, "provincial logistics enterprise", rec.external_id, rec.note),
    }
    enterprise = None if local_id is None else session.execute(
        select(TransportEnterprise).where(TransportEnterprise.code == local_id)
    ).scalar_one_or_none()
    if enterprise is None:
        code = _local_code(ctx, TransportEnterprise, "L", rec.external_id)
        enterprise = crud.created(
            session, TransportEnterprise.model_validate(TransportEnterpriseCreate(code=code,
                                                                                  **fields)),
            actor=ctx.actor, entity="transport_enterprise", entity_id=code)
        changed = True
    else:
        TransportEnterpriseCreate(code=enterprise.code, **fields)
        changed = sync_fields(session, enterprise, fields, actor=ctx.actor,
                              entity="transport_enterprise", entity_id=enterprise.code)
    assert enterprise.id is not None
    current = {v.plate: v for v in session.execute(
        select(Vehicle).where(Vehicle.enterprise_id == enterprise.id)).scalars()}
    for mv in rec.vehicles:
        desired: dict[str, Any] = {"kind": mv.kind, "capacity_kg": mv.capacity_kg,
                                   "capacity_m3": mv.capacity_m3, "status": mv.status}
        VehicleCreate(plate=mv.plate, enterprise=enterprise.code, **desired)
        vehicle = current.pop(mv.plate, None)
        if vehicle is not None:
            changed |= sync_fields(session, vehicle, desired, actor=ctx.actor, entity="vehicle",
                                   entity_id=mv.plate)
            continue
        if session.execute(select(Vehicle.id).where(Vehicle.plate == mv.plate)).first():
            raise Conflict.of("exchange.vehicle_elsewhere", field="CLLB", plate=mv.plate)
        crud.created(session, Vehicle(plate=mv.plate, enterprise_id=enterprise.id,
                                            note=_note(ctx, "vehicle of", rec.external_id),
                                            **desired),
                           actor=ctx.actor, entity="vehicle", entity_id=mv.plate)
        changed = True
    for plate, vehicle in current.items():
        changed |= sync_fields(session, vehicle, {"status": VehicleStatus.retired},
                               actor=ctx.actor, entity="vehicle", entity_id=plate)
    return changed, enterprise.code


def apply_producer(ctx: ImportContext, rec: MappedProducer, local_id: str | None,
                   _version: int) -> tuple[bool, str]:
    """A producer as a capacity depot of tier province with its complete capacity list
    (capacity reserves no longer listed are deleted)."""
    session = ctx.session
    fields = {
        "name": rec.name, "tier": Tier.province, "kind": DepotKind.capacity,
        "division_code": resolve_division(ctx, rec.place.division_code),
        "lat": rec.place.lat, "lon": rec.place.lon, "coords_approximate": False,
        "contact": rec.contact, "active": rec.active,
        "note": _note(ctx, "provincial producer", rec.external_id, rec.note),
    }
    depot, changed = _upsert_depot(ctx, local_id=local_id, letter="P",
                                   external_id=rec.external_id, fields=fields)
    current = {c.item_id: c for c in session.execute(
        select(CapacityReserve).where(CapacityReserve.depot_id == depot.id)).scalars()}
    for line in rec.capacity:
        item = get_item(session, line.item, field="WZBM")
        desired = {"units_per_day": line.units_per_day, "lead_time_hours": line.lead_time_hours}
        reserve = current.pop(item.id or 0, None)
        if reserve is None:
            masterdata.create_capacity(session, data=CapacityReserveCreate(
                depot=depot.code, item=item.code, note=_note(ctx, "capacity of",
                                                             rec.external_id), **desired),
                actor=ctx.actor)
            changed = True
        else:
            changed |= sync_fields(session, reserve, desired, actor=ctx.actor,
                                   entity="capacity", entity_id=f"{depot.code}/{item.code}")
    for reserve in current.values():
        audit(session, actor=ctx.actor, action="capacity.delete", entity="capacity",
              entity_id=str(reserve.id), details={"depot": depot.code,
                                                  "units_per_day": reserve.units_per_day})
        session.delete(reserve)
        changed = True
    session.flush()
    lead = min((c.lead_time_hours for c in rec.capacity), default=None)
    changed |= _upsert_provincial_depot(ctx, depot, entity=Entity.producers,
                                        external_id=rec.external_id, lead_time_hours=lead,
                                        reported_division=rec.place.division_code)
    return changed, depot.code


APPLY: dict[Entity, Callable[[ImportContext, Any, str | None, int], tuple[bool, str]]] = {
    Entity.warehouses: apply_warehouse,
    Entity.logistics: apply_logistics,
    Entity.producers: apply_producer,
}


# ---------------------------------------------------------------------------------------------
# Batches: push imports and pulled pages, with the sync log and the audit trail


def require_source_scope(principal: Principal, source: str) -> None:
    """A token carrying ``exchange:source:NAME`` scopes may import only for those sources."""
    allowed = {s[len(SOURCE_SCOPE_PREFIX):] for s in principal.scopes
               if s.startswith(SOURCE_SCOPE_PREFIX)}
    if allowed and source not in allowed:
        raise Forbidden.of("exchange.import_forbidden", actor=principal.actor, source=source,
                           details={"source": source})


def start_run(session: Session, *, source_name: str, actor: str, feeds: list[Entity]
              ) -> SyncRun:
    """Open a pull's sync-log entry; earlier pulls of the source still 'running' are marked
    interrupted (their process died, or is overtaken and stops at its next page)."""
    source = get_source(session, source_name, lock=True)
    if not source.active:
        raise Conflict.of("exchange.source_inactive", name=source.name)
    if not source.base_url:
        raise InvalidInput.of("exchange.no_base_url", field="base_url", name=source.name)
    session.execute(
        update(SyncRun)
        .where(SyncRun.source_id == source.id, SyncRun.kind == RunKind.pull,
               SyncRun.status == RunStatus.running)
        .values(status=RunStatus.interrupted, finished_at=utcnow())
    )
    run = SyncRun(source_id=source.id or 0, kind=RunKind.pull, actor=actor,
                  feeds=[f.value for f in feeds])
    session.add(run)
    session.flush()
    return run


def committed_cursor(session: Session, *, source_id: int, feed: Entity) -> str | None:
    """The cursor of the last page committed for ``feed`` (None: from the beginning)."""
    return session.execute(
        select(ExchangeCursor.cursor).where(ExchangeCursor.source_id == source_id,
                                            ExchangeCursor.feed == feed)
    ).scalar_one_or_none()


def run_error(feed: Entity | None, text: StatusText) -> dict[str, Any]:
    """One entry of a run's error log: when, the feed, the English text, and the catalogue
    key and parameters the console and the API render it from (Chinese first)."""
    return {"at": utcnow().isoformat(), "feed": feed.value if feed else None,
            "message": text.text("en")[:500], "key": text.key, "params": text.params}


def run_error_public(entry: dict[str, Any]) -> dict[str, Any]:
    """A logged error as the API shows it: with ``message_zh`` from its key (an entry logged
    before keys were stored shows its English text, marked as such)."""
    key, params, english = entry.get("key"), entry.get("params"), entry.get("message")
    return {**entry, "message_zh": stored(key, params, english, "zh"),
            "message": stored(key, params, english, "en")}


def note_run_error(session: Session, *, run_id: int, feed: Entity | None, message: StatusText,
                   retry: bool) -> None:
    """Append an error to a run's log (a retried request also counts as a retry)."""
    run = session.execute(select(SyncRun).where(SyncRun.id == run_id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one()
    errors = list(run.errors or [])
    if len(errors) < MAX_RUN_ERRORS:
        errors.append(run_error(feed, message))
    run.errors = errors
    if retry:
        run.retries += 1
    run.heartbeat_at = utcnow()
    session.add(run)
    session.flush()


def beat(session: Session, *, run_id: int, feed: Entity | None) -> None:
    """A running pull's heartbeat: it is alive and reading ``feed``."""
    session.execute(update(SyncRun).where(SyncRun.id == run_id)
                    .values(heartbeat_at=utcnow(), current_feed=feed.value if feed else None))


def reset_cursor(session: Session, *, source_name: str, feeds: list[Entity] | None,
                 cursor: str | None, actor: str) -> list[Entity]:
    """Set the committed cursor of ``feeds`` (default: every feed) of a source to ``cursor``
    (None: from the start), audited. A pull running meanwhile stops at its next page (its
    cursor moved)."""
    source = get_source(session, source_name, lock=True)
    assert source.id is not None
    chosen = list(feeds or list(Entity))
    for feed in chosen:
        row = session.get(ExchangeCursor, (source.id, feed))
        before = row.cursor if row is not None else None
        if row is None:
            row = ExchangeCursor(source_id=source.id, feed=feed)
        row.cursor = cursor
        row.updated_at = utcnow()
        session.add(row)
        audit(session, actor=actor, action="exchange_cursor.reset", entity="exchange_cursor",
              entity_id=f"{source.name}/{feed.value}", details={"from": before, "to": cursor})
    session.flush()
    return chosen


def finish_run(session: Session, *, run_id: int, status: RunStatus,
               error: StatusText | None = None) -> SyncRun:
    """Close a run (a run already taken over keeps its 'interrupted' status)."""
    if error is not None:
        note_run_error(session, run_id=run_id, feed=None, message=error, retry=False)
    run = session.execute(select(SyncRun).where(SyncRun.id == run_id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one()
    if run.status == RunStatus.running:
        run.status = status
    run.finished_at = run.finished_at or utcnow()
    run.current_feed = None
    session.add(run)
    session.flush()
    return run


def run_public(session: Session, run: SyncRun, *, with_rejections: bool = False
               ) -> SyncRunPublic:
    """A sync-log entry as the API shows it."""
    assert run.id is not None
    source = session.get_one(ExchangeSource, run.source_id)
    rejections = None
    if with_rejections:
        rejections = [
            RejectionPublic(entity=r.entity, batch_id=r.batch_id, position=r.position,
                            external_id=r.external_id, reason=r.reason, record=r.record)
            for r in session.execute(select(ExchangeRejection)
                                     .where(ExchangeRejection.run_id == run.id)
                                     .order_by(ExchangeRejection.id)).scalars()
        ]
    return SyncRunPublic(
        id=run.id, source=source.name, kind=run.kind, status=run.status, actor=run.actor,
        feeds=list(run.feeds or []), started_at=run.started_at, finished_at=run.finished_at,
        pages=run.pages, created=run.created, updated=run.updated, unchanged=run.unchanged,
        stale=run.stale, rejected=run.rejected, retries=run.retries,
        per_feed=dict(run.per_feed or {}), heartbeat_at=run.heartbeat_at,
        current_feed=run.current_feed,
        errors=[run_error_public(e) for e in run.errors or []], rejections=rejections,
    )


def list_runs(session: Session, *, source: str | None, status: RunStatus | None, limit: int,
              offset: int) -> tuple[list[SyncRunPublic], int]:
    """Sync-log entries, newest first."""
    stmt = select(SyncRun).order_by(SyncRun.id.desc())
    if source:
        stmt = stmt.where(SyncRun.source_id == get_source(session, source).id)
    if status:
        stmt = stmt.where(SyncRun.status == status)
    rows, total = crud.page(session, stmt, limit=limit, offset=offset)
    return [run_public(session, r) for r in rows], total


def get_run(session: Session, run_id: int) -> SyncRunPublic:
    """One sync-log entry with its rejected records, or 404."""
    run = session.get(SyncRun, run_id)
    if run is None:
        raise NotFound.of("exchange.run_unknown", run=run_id)
    return run_public(session, run, with_rejections=True)


# ---------------------------------------------------------------------------------------------
# Provincial sources for planning


def provincial_depots(session: Session, *, today: date, active_only: bool = True
                      ) -> list[ProvincialDepotPublic]:
    """Imported provincial depots and producers: where they are, the lead time the province
    reports, usable stock per item (in the ledger, at their internal locations) and capacity.

    This is the data a scenario builder needs to add them as sources of tier ``province``.
    """
    stmt = (select(Depot, ExchangeDepot, ExchangeSource.name)
            .join(ExchangeDepot, ExchangeDepot.depot_id == Depot.id)
            .join(ExchangeSource, ExchangeSource.id == ExchangeDepot.source_id)
            .order_by(Depot.code))
    if active_only:
        stmt = stmt.where(Depot.active.is_(True))
    rows = session.execute(stmt).all()
    ids = [depot.id for depot, _, _ in rows]
    stock: dict[int, dict[str, int]] = {}
    usable = (
        select(Location.depot_id, Item.code, func.sum(ledger.available_sql(today)))
        .select_from(Quant)
        .join(Lot, Lot.id == Quant.lot_id)
        .join(Item, Item.id == Quant.item_id)
        .join(Location, Location.id == Quant.location_id)
        .where(Location.depot_id.in_(ids))
        .group_by(Location.depot_id, Item.code)
    )
    for depot_id, item_code, qty in session.execute(usable):
        if qty:
            stock.setdefault(depot_id, {})[item_code] = int(qty)
    capacity: dict[int, list[CapacityLine]] = {}
    for reserve, item_code in session.execute(
        select(CapacityReserve, Item.code).join(Item, Item.id == CapacityReserve.item_id)
        .where(CapacityReserve.depot_id.in_(ids)).order_by(Item.code)
    ):
        capacity.setdefault(reserve.depot_id, []).append(CapacityLine(
            item=item_code, units_per_day=reserve.units_per_day,
            lead_time_hours=reserve.lead_time_hours))
    return [
        ProvincialDepotPublic(
            code=depot.code, name=depot.name, tier=depot.tier, kind=depot.kind,
            division_code=depot.division_code, lat=depot.lat, lon=depot.lon,
            active=depot.active, source=source_name, external_id=info.external_id,
            lead_time_hours=info.lead_time_hours,
            reported_division_code=info.reported_division_code,
            stock=stock.get(depot.id or 0, {}), capacity=capacity.get(depot.id or 0, []),
        )
        for depot, info, source_name in rows
    ]


def lead_minutes(session: Session, today: date) -> dict[int, int]:
    """Depot id -> minutes from a call until the stock of an imported provincial depot can
    leave, as the province reports it (the dispatch scenario builder's ``lead_minutes``)."""
    del today  # lead times do not depend on the date; the signature is the planner's hook
    rows = session.execute(select(ExchangeDepot.depot_id, ExchangeDepot.lead_time_hours)
                           .where(ExchangeDepot.lead_time_hours.is_not(None)))
    return {depot_id: round(hours * 60) for depot_id, hours in rows}
