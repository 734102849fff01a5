"""Applying provincial records chunk by chunk: screening, applying, and the sync log.

A batch (pushed to the import API or pulled page by page) is cut into chunks of at most
``chunk_size`` records (:func:`chunk_plan`); each chunk is applied in one short transaction,
so an import never holds the export feeds back for long (see docs/integration.md, "Feeds under
long transactions"). Records are keyed by (source, entity, external id) in ``exchange_record``
with the last applied version and a content hash:

* a version older than the applied one is ``stale`` (ignored, nothing written);
* the applied version again with the same content is ``unchanged`` (a replay writes nothing;
  numbers are compared by value, so ``12000.0`` replays ``12000``);
* the applied version with different content is ``rejected`` (a version must change with it);
* a newer version is applied; it is ``updated`` if that changed our data, else ``unchanged``.

Each record is all-or-nothing: warehouses, logistics enterprises and producers one at a time in
a savepoint, stock records many at a time through :mod:`exchange.stock`. A chunk never holds
the same external id twice (the plan starts a new chunk instead), so every record is judged
against the state its predecessors left. Stock records are applied in (warehouse, material,
lot) order, so concurrent imports lock quants in one order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange import mapping, service
from exchange.mapping import Mapped, MappedStock, MappingError
from exchange.models import (
    Entity,
    ExchangeCursor,
    ExchangeRecord,
    ExchangeRejection,
    ExchangeSource,
    RecordResult,
    RecordStatus,
    RunStatus,
    SyncRun,
)
from exchange.service import ImportContext
from exchange.stock import Applied, StockEntry, apply_stock_records
from relief.platform.audit import record as audit
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, ReliefError
from supplies import ledger

# A rejected record is kept for follow-up, but never more than this much of it, and a run keeps
# at most this many (its ``rejected`` count still counts them all): a flood of bad records
# cannot fill the database (issue 16: 36 MB of rejected records in 1.2 s).
MAX_KEPT_RECORD_CHARS = 4000
MAX_KEPT_REJECTIONS_PER_RUN = 200


@dataclass(frozen=True)
class Chunk:
    """Records applied in one transaction: ``start`` is the position of the first in the
    batch's plan (stock sorted by warehouse, material, lot; others as sent)."""

    start: int
    records: list[tuple[int, Any]]  # (index in the batch, the record as sent)


def chunk_plan(entity: Entity, records: Sequence[Any], size: int) -> list[Chunk]:
    """Cut a batch into chunks of at most ``size`` records, none holding one external id
    twice; the same records always give the same plan (a job resumes on it)."""
    order = list(range(len(records)))
    if entity == Entity.stock:
        order.sort(key=lambda i: _stock_sort_key(records[i]))
    chunks: list[Chunk] = []
    current: list[tuple[int, Any]] = []
    keys: set[str] = set()
    position = 0
    for index in order:
        key = _key_or_none(entity, records[index])
        if current and (len(current) >= size or (key is not None and key in keys)):
            chunks.append(Chunk(start=position, records=current))
            position += len(current)
            current, keys = [], set()
        current.append((index, records[index]))
        if key is not None:
            keys.add(key)
    if current:
        chunks.append(Chunk(start=position, records=current))
    return chunks


def _stock_sort_key(raw: Any) -> tuple[str, str, str]:
    if not isinstance(raw, dict):
        return ("", "", "")
    return (str(raw.get("CKBM", "")), str(raw.get("WZBM", "")), str(raw.get("PCH", "")))


def _key_or_none(entity: Entity, raw: Any) -> str | None:
    try:
        return mapping.external_id(entity, mapping.ensure_object(raw))
    except MappingError:
        return None


@dataclass
class _Screened:
    """A record that passed screening and is to be applied."""

    result: RecordResult
    key: str
    version: int
    digest: str
    existing: ExchangeRecord | None
    mapped: Mapped


def apply_chunk(ctx: ImportContext, *, entity: Entity, records: Sequence[tuple[int, Any]]
                ) -> list[RecordResult]:
    """Apply one chunk in the caller's transaction; results in the chunk's order."""
    results: dict[int, RecordResult] = {}
    parsed: list[tuple[int, dict[str, Any], str, int]] = []
    for index, raw in records:
        try:
            obj = dict(mapping.ensure_object(raw))
            parsed.append((index, obj, mapping.external_id(entity, obj), mapping.version(obj)))
        except MappingError as exc:
            results[index] = RecordResult(index=index, external_id=_key_or_none(entity, raw),
                                          status=RecordStatus.rejected, reason=str(exc)[:500])
    known = _mappings(ctx, entity, [key for _, _, key, _ in parsed])
    screened: list[_Screened] = []
    for index, obj, key, ver in parsed:
        existing = known.get(key)
        result = RecordResult(index=index, external_id=key, status=RecordStatus.rejected,
                              version=ver, local_id=existing.local_id if existing else None,
                              unknown_fields=mapping.unknown_fields(entity, obj))
        results[index] = result
        digest = mapping.content_hash(obj)
        if existing is not None and ver < existing.version:
            result.status = RecordStatus.stale
            result.reason = f"version {ver} is older than the applied version {existing.version}"
            continue
        if existing is not None and ver == existing.version:
            if existing.content_hash in (digest, mapping.legacy_content_hash(obj)):
                result.status = RecordStatus.unchanged
                result.reason = "version already applied"
            else:
                result.reason = (f"version {ver} was already applied with different content: "
                                 "a changed record needs a new version")
            continue
        try:
            mapped = mapping.map_record(entity, obj, ctx.items)
        except MappingError as exc:
            result.reason = str(exc)[:500]
            continue
        screened.append(_Screened(result=result, key=key, version=ver, digest=digest,
                                  existing=existing, mapped=mapped))
    if entity == Entity.stock:
        outcomes = apply_stock_records(ctx, [
            StockEntry(index=s.result.index, record=s.mapped, version=s.version)
            for s in screened if isinstance(s.mapped, MappedStock)])
    else:
        outcomes = {s.result.index: _apply_one(ctx, entity, s) for s in screened}
    for item in screened:
        outcome = outcomes[item.result.index]
        if isinstance(outcome, Exception):
            item.result.reason = service.reason_of(outcome)
            continue
        _remember(ctx, entity, item, outcome)
    ctx.session.flush()
    return [results[index] for index, _ in records]


def _mappings(ctx: ImportContext, entity: Entity, keys: list[str]) -> dict[str, ExchangeRecord]:
    if not keys:
        return {}
    return {r.external_id: r for r in ctx.session.execute(
        select(ExchangeRecord).where(ExchangeRecord.source_id == ctx.source.id,
                                     ExchangeRecord.entity == entity,
                                     ExchangeRecord.external_id.in_(sorted(set(keys))))
    ).scalars()}


def _apply_one(ctx: ImportContext, entity: Entity, item: _Screened) -> Applied | Exception:
    """One warehouse, logistics enterprise or producer, all-or-nothing in a savepoint."""
    session = ctx.session
    savepoint = session.begin_nested()
    try:
        changed, local_id = service.APPLY[entity](
            ctx, item.mapped, item.existing.local_id if item.existing else None, item.version)
        session.flush()
        savepoint.commit()
    except (ReliefError, MappingError, ValidationError, IntegrityError) as exc:
        savepoint.rollback()
        ledger.forget_locations(session)
        return exc
    return Applied(changed=changed, local_id=local_id)


def _remember(ctx: ImportContext, entity: Entity, item: _Screened, applied: Applied) -> None:
    """Record the applied version in the mapping table and settle the record's status."""
    existing = item.existing
    if existing is None:
        ctx.session.add(ExchangeRecord(
            source_id=ctx.source.id or 0, entity=entity, external_id=item.key,
            local_id=applied.local_id, version=item.version, content_hash=item.digest,
            batch_id=ctx.batch_id))
        item.result.status = RecordStatus.created
    else:
        existing.local_id = applied.local_id
        existing.version = item.version
        existing.content_hash = item.digest
        existing.batch_id = ctx.batch_id
        existing.updated_at = utcnow()
        ctx.session.add(existing)
        item.result.status = RecordStatus.updated if applied.changed else RecordStatus.unchanged
        if not applied.changed:
            item.result.reason = "newer version, nothing to change"
    item.result.local_id = applied.local_id


# ---------------------------------------------------------------------------------------------
# The sync log


def counts_of(results: Iterable[RecordResult]) -> dict[str, int]:
    """How many records ended in each status."""
    counts = {status.value: 0 for status in RecordStatus}
    for result in results:
        counts[result.status.value] += 1
    return counts


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """``total`` plus ``more``, status by status (a new dict)."""
    return {status.value: total.get(status.value, 0) + more.get(status.value, 0)
            for status in RecordStatus}


def kept_record(raw: Any) -> Any:
    """A rejected record as it is kept: whole when small, else its beginning as text."""
    text = json.dumps(raw, ensure_ascii=False, default=str)
    if len(text) <= MAX_KEPT_RECORD_CHARS:
        return raw
    return {"truncated": True, "chars": len(text), "head": text[:MAX_KEPT_RECORD_CHARS]}


def log_chunk(session: Session, *, run: SyncRun, entity: Entity, batch_id: str,
              records: Sequence[tuple[int, Any]], results: Sequence[RecordResult],
              new_page: bool) -> dict[str, int]:
    """Count a chunk into its run (``new_page``: it starts a page or a pushed batch) and keep
    its rejected records."""
    counts = counts_of(results)
    per_feed = {feed: dict(values) for feed, values in (run.per_feed or {}).items()}
    feed_counts = per_feed.setdefault(entity.value, {"pages": 0, **dict.fromkeys(counts, 0)})
    if new_page:
        feed_counts["pages"] += 1
        run.pages += 1
    for status, count in counts.items():
        setattr(run, status, getattr(run, status) + count)
        feed_counts[status] += count
    run.per_feed = per_feed
    run.heartbeat_at = utcnow()
    session.add(run)
    session.flush()
    assert run.id is not None
    raw_by_index = dict(records)
    kept = run.rejected - counts.get(RecordStatus.rejected.value, 0)  # by earlier chunks
    for result in results:
        if result.status == RecordStatus.rejected:
            if kept >= MAX_KEPT_REJECTIONS_PER_RUN:
                break
            kept += 1
            session.add(ExchangeRejection(
                run_id=run.id, entity=entity, batch_id=batch_id, position=result.index,
                external_id=result.external_id, reason=result.reason or "rejected",
                record=kept_record(raw_by_index.get(result.index))))
    return counts


def audit_batch(session: Session, *, actor: str, source: str, entity: Entity, batch_id: str,
                run_id: int | None, records: int, counts: dict[str, int]) -> None:
    """The audit event of one applied batch (or pulled page)."""
    audit(session, actor=actor, action="exchange.import", entity="exchange_batch",
          entity_id=f"{source}/{entity.value}/{batch_id}"[:120],
          details={"run": run_id, "records": records, **counts})


# ---------------------------------------------------------------------------------------------
# Pulled pages


def apply_page_chunk(session: Session, *, run_id: int, entity: Entity, batch_id: str,
                     chunk: Chunk, cursor_before: str | None, cursor_after: str | None,
                     first: bool, last: bool, today: date) -> dict[str, int]:
    """Apply one chunk of a pulled page; the page's last chunk also moves the feed's cursor
    to ``cursor_after``, in the same transaction.

    Every chunk checks that the cursor is still ``cursor_before`` and that this run was not
    taken over: if another pull moved it, nothing is written (409).
    """
    run = session.execute(select(SyncRun).where(SyncRun.id == run_id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one()
    source = session.execute(select(ExchangeSource).where(ExchangeSource.id == run.source_id)
                             .with_for_update()).scalar_one()
    if run.status != RunStatus.running:
        raise Conflict.of("exchange.run_taken", run=run_id, status=run.status.value)
    cursor = session.get(ExchangeCursor, (source.id, entity))
    current = cursor.cursor if cursor is not None else None
    if current != cursor_before:
        raise Conflict.of("exchange.cursor_moved", entity=entity.value)
    ctx = service.import_context(session, source=source, actor=run.actor, today=today,
                                 batch_id=batch_id)
    results = apply_chunk(ctx, entity=entity, records=chunk.records)
    counts = log_chunk(session, run=run, entity=entity, batch_id=batch_id,
                       records=chunk.records, results=results, new_page=first)
    audit_batch(session, actor=run.actor, source=source.name, entity=entity,
                batch_id=batch_id, run_id=run.id, records=len(chunk.records), counts=counts)
    if last:
        if cursor is None:
            cursor = ExchangeCursor(source_id=source.id or 0, feed=entity)
        cursor.cursor = cursor_after
        cursor.pages += 1
        cursor.updated_at = utcnow()
        session.add(cursor)
    session.flush()
    return counts
