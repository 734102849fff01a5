"""Import jobs: every pushed batch is one, applied chunk by chunk, each chunk committed alone.

A batch of up to ``exchange_import_sync_max`` records is applied while the request waits and
answered 200 with its report; a larger one (up to 10,000), or one sent with ``Prefer:
respond-async``, is answered 202 with the job, applied in the background (on PostgreSQL by
``relief worker`` processes from the job queue, on SQLite by the API process's threads; see
``relief.platform.background``), and polled at ``GET /api/v1/exchange/import-jobs/{id}``. Every
job is queued in the transaction that creates it (a small one only for later, as a safety net
for the request applying it). Either way:

* each chunk is one short transaction that applies its records, logs them into the batch's
  sync run and advances ``done``; a crash loses at most the chunk in flight, and the job
  resumes from ``done`` once its owner's lease lapsed (a live owner's job is never touched,
  and every write of a delivery is fenced on its lease);
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
from datetime import date
from typing import Any

from sqlalchemy import select, text
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
from relief.platform import background, leases
from relief.platform.background import JobSink
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, IdempotencyMismatch, NotFound, ReliefError
from relief.platform.leases import LeaseLost
from relief.platform.principal import Principal
from relief.platform.statustext import StatusText, public_fields
from supplies import ledger

log = logging.getLogger(__name__)

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


IMPORT_TASK = "relief.exchange.import"


def create_job(session: Session, *, principal: Principal, entity: Entity, source_name: str,
               batch_id: str, records: list[Any], dry_run: bool, key: str | None,
               today: date, queue: JobSink | None = None, queue_delay_s: float = 0.0
               ) -> tuple[ImportJob, bool]:
    """The job of a pushed batch: a new one (True), or the one an earlier POST with the same
    Idempotency-Key made (False). A new job goes on ``queue`` in this transaction, so a
    committed batch is applied even if the process answering it dies; a small batch the
    request applies itself is queued ``queue_delay_s`` later, only as that safety net."""
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
    if queue is not None:
        queue.enqueue(session, IMPORT_TASK, job.id or 0, delay_s=queue_delay_s)
    return job, True


def run_job(db: Database, job_id: int, *, today: Callable[[], date], chunk_size: int,
            leased: bool = False) -> None:
    """Apply a job's remaining chunks, then close it; a failure closes it as failed (and a
    :class:`ReliefError` is raised again for the caller to report).

    ``leased``: the caller already claimed the job under a lease and ``db`` fences every write
    on it (a background delivery); a job taken over from a process that died resumes after its
    last committed chunk."""
    if leased:
        db.write(lambda s: _heartbeat(s, job_id))
    elif not db.write(lambda s: _claim(s, job_id)):
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
    except LeaseLost:
        raise
    except Exception as exc:
        if not isinstance(exc, ReliefError):
            log.exception("import job %s crashed", job_id)
        failure = StatusText.failure(exc)
        db.write(lambda s: _close(s, job_id, ImportJobStatus.failed, failure))
        raise
    db.write(lambda s: _close(s, job_id, ImportJobStatus.succeeded, None))


def _analyze(session: Session) -> None:
    session.execute(text(f"ANALYZE {', '.join(ANALYZED)}"))


def _locked(session: Session, job_id: int) -> ImportJob:
    # The records are read once per run, not with every chunk (a batch can be megabytes).
    return session.execute(select(ImportJob).options(defer(ImportJob.records))  # type: ignore[arg-type]
                           .where(ImportJob.id == job_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()


def _heartbeat(session: Session, job_id: int) -> None:
    job = _locked(session, job_id)
    job.heartbeat_at = utcnow()
    session.add(job)


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


def _close(session: Session, job_id: int, status: ImportJobStatus,
           error: StatusText | None) -> None:
    job = _locked(session, job_id)
    job.status = status
    job.error, job.error_key, job.error_params = None, None, None
    if error is not None:
        columns = error.columns()
        job.error, job.error_key, job.error_params = (columns["error"][:500],
                                                      columns["error_key"],
                                                      columns["error_params"])
    job.finished_at = utcnow()
    job.records = None  # the report holds what matters; the payload is not kept
    session.add(job)
    if job.run_id is not None:
        run = session.get_one(SyncRun, job.run_id)
        run.status = (RunStatus.succeeded if status == ImportJobStatus.succeeded
                      else RunStatus.failed)
        run.finished_at = utcnow()
        if error is not None:
            run.errors = [*(run.errors or []), service.run_error(None, error)]
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
        counts=job.counts or {}, run_id=job.run_id, **public_fields(job),
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


def job_kind(*, today: Callable[[], date], chunk_size: int) -> background.JobKind:
    """Import batches as a background job kind."""
    return background.JobKind(IMPORT_TASK, ImportJob, lambda db, job_id: run_job(
        db, job_id, today=today, chunk_size=chunk_size, leased=True))


class ImportRunner:
    """Where import batches go (``queue``), and applying one while the request waits.

    A job is queued in the transaction that creates it; on PostgreSQL ``relief worker``
    processes apply it, on SQLite this process's threads, always under a lease on the job row
    (``relief.platform.background``): a job whose process died is taken over from its first
    uncommitted chunk; a live one is never touched.
    """

    def __init__(self, db: Database, *, today: Callable[[], date], chunk_size: int,
                 jobs: background.BackgroundJobs | None = None) -> None:
        """``jobs``: this process's background jobs (None: its own, on this process's
        threads, for import batches only)."""
        self.db = db
        self.today = today
        self.chunk_size = chunk_size
        self.queue = jobs or background.BackgroundJobs(
            db, [job_kind(today=today, chunk_size=chunk_size)], owner=f"imports:{id(self):x}",
            timing=leases.LeaseTiming(), app=None)
        self._own_jobs = jobs is None

    def start(self) -> None:
        """Start this runner's own jobs, if any (they pick up what was left)."""
        if self._own_jobs:
            self.queue.start()

    def run_now(self, job_id: int, timeout: float = 600.0) -> None:
        """Apply a job while the caller waits: claim and run it here, or (when another
        process or thread got to it first) wait until it has ended."""
        try:
            self.queue.deliver(IMPORT_TASK, job_id, for_request=True)
        except leases.TryLater:
            self.wait(job_id, timeout=timeout)

    def wait(self, job_id: int, timeout: float | None = None) -> None:
        """Block until a job has ended (tests, the CLI)."""
        self.queue.wait(IMPORT_TASK, job_id, timeout=timeout or 3600.0)

    def shutdown(self) -> None:
        """Stop this runner's own jobs, if any; a running one resumes after a restart."""
        if self._own_jobs:
            self.queue.stop()
