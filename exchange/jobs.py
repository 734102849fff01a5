"""Import jobs: every pushed batch is one, applied chunk by chunk, each chunk committed alone.

A batch of up to ``exchange_import_sync_max`` records is applied while the request waits and
answered 200 with its report; a larger one (up to 10,000), or one sent with ``Prefer:
respond-async``, is answered 202 with the job, applied by the :class:`ImportRunner` of the API
process, and polled at ``GET /api/v1/exchange/import-jobs/{id}``. Either way:

* each chunk is one short transaction that applies its records, logs them into the batch's
  sync run and advances ``done``; a crash loses at most the chunk in flight, and the job
  resumes from ``done`` (the runner picks up jobs whose heartbeat has stopped);
* a retried POST with the same ``Idempotency-Key`` (per token) finds the job instead of
  importing again; the same key with another batch is a 409;
* a dry run applies every chunk inside a savepoint and rolls it back: the report says what
  the batch would do, and nothing is written but the job and its report.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, defer

from exchange import imports, service
from exchange.models import (
    Entity,
    ImportChunk,
    ImportJob,
    ImportJobPublic,
    ImportJobStatus,
    ImportReport,
    RecordResult,
    RunKind,
    RunStatus,
    SyncRun,
)
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, IdempotencyMismatch, NotFound, ReliefError
from relief.platform.principal import Principal
from supplies import ledger

log = logging.getLogger(__name__)

# A running job whose heartbeat is older than this is taken to be dead (its process stopped).
STALE_AFTER = timedelta(minutes=2)
# PostgreSQL: refresh the planner's statistics of the tables an import grows after this many
# records. Autovacuum analyzes them eventually, but a first load of thousands of records into
# near-empty tables otherwise runs its per-chunk lookups as sequential scans (planned on no
# statistics), which slows a 10,000-record import several times over.
ANALYZE_EVERY = 2000
ANALYZED = ("exchange_record", "lot", "quant")


def request_hash(*, entity: Entity, source: str, batch_id: str, records: list[Any],
                 dry_run: bool) -> str:
    """What makes two POSTs the same request (an Idempotency-Key retry must repeat it)."""
    body = json.dumps({"entity": entity.value, "source": source, "batch_id": batch_id,
                       "dry_run": dry_run, "records": records}, sort_keys=True,
                      ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def create_job(session: Session, *, principal: Principal, entity: Entity, source_name: str,
               batch_id: str, records: list[Any], dry_run: bool, key: str | None,
               today: date) -> tuple[ImportJob, bool]:
    """The job of a pushed batch: a new one (True), or the one an earlier POST with the same
    Idempotency-Key made (False)."""
    service.require_source_scope(principal, source_name)
    source = service.get_source(session, source_name, lock=True)
    digest = request_hash(entity=entity, source=source_name, batch_id=batch_id,
                          records=records, dry_run=dry_run)
    if key is not None:
        earlier = session.execute(select(ImportJob).where(
            ImportJob.token_id == principal.token_id, ImportJob.idempotency_key == key)
        ).scalar_one_or_none()
        if earlier is not None:
            if earlier.request_hash != digest:
                raise IdempotencyMismatch.of("exchange.batch_key_reused", job=earlier.id,
                                             details={"job": earlier.id})
            return earlier, False
    if not source.active:
        raise Conflict.of("exchange.source_inactive", name=source.name)
    service.import_context(session, source=source, actor=principal.actor, today=today,
                           batch_id=batch_id)  # checks the source's mapping options
    run_id = None
    if not dry_run:
        run = SyncRun(source_id=source.id or 0, kind=RunKind.push, actor=principal.actor,
                      feeds=[entity.value])
        session.add(run)
        session.flush()
        run_id = run.id
    job = ImportJob(source_id=source.id or 0, entity=entity, batch_id=batch_id,
                    actor=principal.actor, token_id=principal.token_id, idempotency_key=key,
                    request_hash=digest, dry_run=dry_run, total=len(records),
                    counts=imports.counts_of([]), records=records, run_id=run_id)
    session.add(job)
    session.flush()
    return job, True


def run_job(db: Database, job_id: int, *, today: Callable[[], date], chunk_size: int) -> None:
    """Apply a job's remaining chunks, then close it; a failure closes it as failed (and a
    :class:`ReliefError` is raised again for the caller to report)."""
    if not db.write(lambda s: _claim(s, job_id)):
        return
    with db.read_session() as session:
        job = session.get_one(ImportJob, job_id)
        entity, records, done = job.entity, list(job.records or []), job.done
    try:
        since_analyze = 0
        for chunk in imports.chunk_plan(entity, records, chunk_size):
            if chunk.start < done:
                continue  # committed before a restart
            db.write(lambda s, c=chunk: _apply(s, job_id, c, today()))
            since_analyze += len(chunk.records)
            if since_analyze >= ANALYZE_EVERY and not db.is_sqlite:
                db.write(_analyze)
                since_analyze = 0
    except ReliefError as exc:
        message = str(exc)
        db.write(lambda s: _close(s, job_id, ImportJobStatus.failed, message))
        raise
    except Exception as exc:
        log.exception("import job %s crashed", job_id)
        message = f"{type(exc).__name__}: {exc}"
        db.write(lambda s: _close(s, job_id, ImportJobStatus.failed, message))
        raise
    db.write(lambda s: _close(s, job_id, ImportJobStatus.succeeded, None))


def _analyze(session: Session) -> None:
    session.execute(text(f"ANALYZE {', '.join(ANALYZED)}"))


def _locked(session: Session, job_id: int) -> ImportJob:
    # The records are read once per run, not with every chunk (a batch can be megabytes).
    return session.execute(select(ImportJob).options(defer(ImportJob.records))  # type: ignore[arg-type]
                           .where(ImportJob.id == job_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()


def _claim(session: Session, job_id: int) -> bool:
    job = _locked(session, job_id)
    if job.status != ImportJobStatus.queued:
        return False
    job.status = ImportJobStatus.running
    job.started_at = job.started_at or utcnow()
    job.heartbeat_at = utcnow()
    session.add(job)
    return True


def _apply(session: Session, job_id: int, chunk: imports.Chunk, today: date) -> None:
    """One chunk in one transaction: apply (or, dry, try and roll back), log, advance."""
    job = _locked(session, job_id)
    if job.status != ImportJobStatus.running or chunk.start < job.done:
        raise Conflict.of("exchange.job_taken", job=job_id, status=str(job.status),
                          done=job.done)
    source = service.get_source_by_id(session, job.source_id, lock=True)
    ctx = service.import_context(session, source=source, actor=job.actor, today=today,
                                 batch_id=job.batch_id)
    if job.dry_run:
        savepoint = session.begin_nested()
        results = imports.apply_chunk(ctx, entity=job.entity, records=chunk.records)
        savepoint.rollback()
        ledger.forget_locations(session)
        counts = imports.counts_of(results)
    else:
        results = imports.apply_chunk(ctx, entity=job.entity, records=chunk.records)
        run = session.execute(select(SyncRun).where(SyncRun.id == job.run_id)
                              .with_for_update()).scalar_one()
        counts = imports.log_chunk(session, run=run, entity=job.entity, batch_id=job.batch_id,
                                   records=chunk.records, results=results,
                                   new_page=chunk.start == 0)
    session.add(ImportChunk(job_id=job_id, start=chunk.start,
                            results=[r.model_dump(mode="json") for r in results]))
    job.done = chunk.start + len(chunk.records)
    job.counts = imports.add_counts(job.counts or {}, counts)
    job.heartbeat_at = utcnow()
    session.add(job)
    session.flush()


def _close(session: Session, job_id: int, status: ImportJobStatus, error: str | None) -> None:
    job = _locked(session, job_id)
    job.status = status
    job.error = error[:500] if error else None
    job.finished_at = utcnow()
    job.records = None  # the report holds what matters; the payload is not kept
    session.add(job)
    if job.run_id is not None:
        run = session.get_one(SyncRun, job.run_id)
        run.status = (RunStatus.succeeded if status == ImportJobStatus.succeeded
                      else RunStatus.failed)
        run.finished_at = utcnow()
        if error:
            run.errors = [*(run.errors or []), {"at": utcnow().isoformat(), "feed": None,
                                                "message": error[:500]}]
        session.add(run)
        source = service.get_source_by_id(session, job.source_id)
        imports.audit_batch(session, actor=job.actor, source=source.name, entity=job.entity,
                            batch_id=job.batch_id, run_id=job.run_id, records=job.total,
                            counts=job.counts or {})
    session.flush()


def job_public(session: Session, job: ImportJob) -> ImportJobPublic:
    """A job as the API shows it, with its report once it has ended."""
    assert job.id is not None
    source = service.get_source_by_id(session, job.source_id)
    report = None
    if job.status in (ImportJobStatus.succeeded, ImportJobStatus.failed):
        report = report_of(session, job, source.name)
    return ImportJobPublic(
        id=job.id, source=source.name, entity=job.entity, batch_id=job.batch_id,
        status=job.status, dry_run=job.dry_run, total=job.total, done=job.done,
        counts=job.counts or {}, run_id=job.run_id, error=job.error,
        created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
        heartbeat_at=job.heartbeat_at, report=report)


def report_of(session: Session, job: ImportJob, source: str) -> ImportReport:
    """The per-record report of the chunks a job has applied, in record order."""
    results = [RecordResult.model_validate(r) for chunk in session.execute(
        select(ImportChunk).where(ImportChunk.job_id == job.id).order_by(ImportChunk.start)
    ).scalars() for r in chunk.results]
    results.sort(key=lambda r: r.index)
    return ImportReport(source=source, entity=job.entity, batch_id=job.batch_id,
                        run_id=job.run_id, job_id=job.id, dry_run=job.dry_run,
                        counts=imports.counts_of(results), records=results)


def get_job(session: Session, job_id: int, principal: Principal) -> ImportJob:
    """A job the principal may see (its source scope allows it), or 404."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound.of("exchange.job_unknown", job=job_id)
    service.require_source_scope(principal,
                                 service.get_source_by_id(session, job.source_id).name)
    return job


class ImportRunner:
    """Applies queued import jobs on one background thread of the API process.

    Several API processes may each run one: a job is claimed under a row lock, and only jobs
    whose heartbeat has stopped for ``STALE_AFTER`` are taken over.
    """

    def __init__(self, db: Database, *, today: Callable[[], date], chunk_size: int) -> None:
        self.db = db
        self.today = today
        self.chunk_size = chunk_size
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import")
        self._futures: dict[int, Future[None]] = {}

    def start(self) -> None:
        """Pick up queued jobs, and jobs left running by a process that stopped."""
        def recover(session: Session) -> list[int]:
            stale = utcnow() - STALE_AFTER
            session.execute(update(ImportJob).where(
                ImportJob.status == ImportJobStatus.running,
                or_(ImportJob.heartbeat_at.is_(None), ImportJob.heartbeat_at < stale),
            ).values(status=ImportJobStatus.queued))
            return list(session.execute(select(ImportJob.id).where(
                ImportJob.status == ImportJobStatus.queued).order_by(ImportJob.id)).scalars())

        try:
            pending = self.db.write(recover)
        except DBAPIError:
            # A database that is down or not migrated yet must not stop the process from
            # starting: /readyz reports it; recovery runs at the next start.
            log.exception("import job recovery failed; starting without it")
            pending = []
        for job_id in pending:
            self.submit(job_id)

    def submit(self, job_id: int) -> None:
        """Apply job ``job_id`` in the background."""
        self._futures[job_id] = self._pool.submit(self._run, job_id)

    def wait(self, job_id: int, timeout: float | None = None) -> None:
        """Block until a submitted job has ended (tests, the CLI)."""
        future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)

    def shutdown(self) -> None:
        """Stop taking jobs; the one running finishes its chunk and resumes after restart."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job_id: int) -> None:
        try:
            run_job(self.db, job_id, today=self.today, chunk_size=self.chunk_size)
        except Exception:  # already recorded on the job; the thread must live on
            log.warning("import job %s failed", job_id, exc_info=True)
