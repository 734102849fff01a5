"""Imports as jobs: chunks committed one by one, 202 for large batches with a report to poll,
resume after a crash, dry runs, and the record checks (unknown fields, numbers by value, dates
with zones, control characters) that never give a 500."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from exchange.jobs import IMPORT_TASK, run_job
from exchange.models import ExchangeRecord, ImportChunk, ImportJob, ImportJobStatus, SyncRun
from relief.platform import leases
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict
from relief.platform.leases import TryLater
from relief.platform.settings import Settings
from supplies.models import StockMove
from tests.exchange.conftest import SOURCE, Exchange
from tests.exchange.province import P_TENT, P_WATER, stock, warehouse
from tests.world import TENT, TODAY

SYNC_MAX, CHUNK = 5, 3


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Tiny chunks and a tiny synchronous limit, so a dozen records make a multi-chunk job."""
    return Settings(database_url=db_url, exchange_rate_burst=100_000, embedded_plan_workers=1,
                    exchange_import_sync_max=SYNC_MAX, exchange_import_chunk=CHUNK)


def _tents(n: int, version: int = 1, qty: int = 10) -> list[dict[str, Any]]:
    return [stock("CK1", P_TENT, qty + i, version, lot=f"L{i:02d}") for i in range(n)]


def _post(exchange: Exchange, entity: str, records: list[Any], *, batch: str = "B1",
          key: str | None = None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {exchange.writer.token}"}
    if key:
        headers["Idempotency-Key"] = key
    prefer = params.pop("prefer", None)
    if prefer:
        headers["Prefer"] = prefer
    return exchange.world.client.post(f"/api/v1/exchange/import/{entity}", params=params,
                                      headers=headers, json={"source": SOURCE,
                                                             "batch_id": batch,
                                                             "records": records})


def _wait(exchange: Exchange, job_id: int) -> dict[str, Any]:
    exchange.world.client.app.state.import_runner.wait(job_id, timeout=120)  # type: ignore
    job = exchange.writer.get(f"/exchange/import-jobs/{job_id}")
    assert job.status_code == 200, job.text
    return job.json()  # type: ignore[no-any-return]


def _moves(exchange: Exchange) -> int:
    with exchange.world.db.read_session() as s:
        return s.execute(select(func.count()).select_from(StockMove)).scalar_one()


def test_a_large_batch_is_a_job_with_a_report_to_poll(exchange: Exchange) -> None:
    """More than the synchronous limit: 202 with the job and its Location; the runner applies
    it in chunks of CHUNK records, each committed with its results; the polled job ends
    succeeded with the whole report in record order."""
    assert _post(exchange, "warehouses", [warehouse("CK1")]).status_code == 200
    response = _post(exchange, "stock", _tents(11))
    assert response.status_code == 202
    job = response.json()
    assert response.headers["Location"] == f"/api/v1/exchange/import-jobs/{job['id']}"
    assert job["total"] == 11 and job["status"] in ("queued", "running", "succeeded")
    done = _wait(exchange, job["id"])
    assert done["status"] == "succeeded" and done["done"] == 11
    report = done["report"]
    assert [r["index"] for r in report["records"]] == list(range(11))
    assert report["counts"]["created"] == 11
    with exchange.world.db.read_session() as s:
        starts = s.execute(select(ImportChunk.start).where(ImportChunk.job_id == job["id"])
                           .order_by(ImportChunk.start)).scalars().all()
        run = s.get_one(SyncRun, done["run_id"])
    assert starts == [0, 3, 6, 9]
    assert (run.status, run.created, run.pages) == ("succeeded", 11, 1)
    assert exchange.world.available(_warehouse_depot(exchange), TENT) == sum(
        10 + i for i in range(11))
    exchange.world.ledger_ok()


def test_small_batches_may_ask_for_a_job(exchange: Exchange) -> None:
    """`Prefer: respond-async` makes even a small batch a 202 job."""
    response = _post(exchange, "warehouses", [warehouse("CK1")], prefer="respond-async")
    assert response.status_code == 202
    assert _wait(exchange, response.json()["id"])["report"]["counts"]["created"] == 1


def test_a_job_resumes_after_a_crash_where_it_stopped(exchange: Exchange) -> None:
    """A job left running by a dead process (stale heartbeat, 2 chunks committed) is resumed
    by the next runner from its first uncommitted chunk: nothing is applied twice."""
    _post(exchange, "warehouses", [warehouse("CK1")])
    job_id = _post(exchange, "stock", _tents(8)).json()["id"]
    _wait(exchange, job_id)
    moves = _moves(exchange)
    # Pretend the process died after two chunks: forget the last chunk and mark it running.
    with exchange.world.db.engine.begin() as conn:
        conn.execute(ImportChunk.__table__.delete().where(ImportChunk.job_id == job_id,
                                                          ImportChunk.start == 6))
    records = _tents(8)
    exchange.world.db.write(lambda s: s.execute(update(ImportJob).where(ImportJob.id == job_id)
                                                .values(status=ImportJobStatus.running, done=6,
                                                        records=records, finished_at=None,
                                                        heartbeat_at=None, lease_until=utcnow()
                                                        - timedelta(seconds=1))))
    jobs = exchange.world.client.app.state.jobs  # type: ignore[attr-defined]
    assert jobs.sweep() == 1  # what a process's sweep (SQLite) or a re-queued delivery does
    done = _wait(exchange, job_id)
    assert done["status"] == "succeeded" and done["done"] == 8
    # The re-applied last chunk found its records already applied: unchanged, no new moves.
    assert [r["status"] for r in done["report"]["records"][6:]] == ["unchanged", "unchanged"]
    assert _moves(exchange) == moves
    exchange.world.ledger_ok()


def test_a_dry_run_writes_nothing_and_reports_what_would_happen(exchange: Exchange) -> None:
    """?dry_run=true: the report has the statuses an import would have (created, rejected
    for a count below what is reserved, ...); no move, mapping, sync run or audit is written."""
    _post(exchange, "warehouses", [warehouse("CK1")])
    _post(exchange, "stock", _tents(2))
    with exchange.world.db.read_session() as s:
        before = (s.execute(select(func.count()).select_from(ExchangeRecord)).scalar_one(),
                  s.execute(select(func.count()).select_from(SyncRun)).scalar_one())
    moves = _moves(exchange)
    records = [*_tents(2, version=2, qty=50), stock("CK1", P_TENT, 5, lot="NEW"),
               stock("CK1", P_TENT, 5, lot="BAD", KCSL="x")]
    response = _post(exchange, "stock", records, batch="B2", dry_run="true")
    assert response.status_code == 200
    report = response.json()
    assert report["dry_run"] is True
    assert [r["status"] for r in report["records"]] == ["updated", "updated", "created",
                                                        "rejected"]
    with exchange.world.db.read_session() as s:
        after = (s.execute(select(func.count()).select_from(ExchangeRecord)).scalar_one(),
                 s.execute(select(func.count()).select_from(SyncRun)).scalar_one())
    assert after == before and _moves(exchange) == moves
    large = _post(exchange, "stock", _tents(9, version=3), batch="B3", dry_run="true")
    assert large.status_code == 202
    counts = _wait(exchange, large.json()["id"])["report"]["counts"]
    assert (counts["unchanged"], counts["created"]) == (2, 7)  # v3 repeats v1's counts
    assert _moves(exchange) == moves


def test_an_idempotency_key_finds_its_job(exchange: Exchange) -> None:
    """A retried POST with the same key gets the same job back (no second import); the same
    key with another batch is a 409."""
    _post(exchange, "warehouses", [warehouse("CK1")])
    first = _post(exchange, "stock", _tents(7), key="big-1")
    job_id = first.json()["id"]
    _wait(exchange, job_id)
    again = _post(exchange, "stock", _tents(7), key="big-1")
    assert again.status_code == 202 and again.json()["id"] == job_id
    assert again.json()["status"] == "succeeded"
    other = _post(exchange, "stock", _tents(6), key="big-1")
    assert other.status_code == 409
    with exchange.world.db.read_session() as s:
        assert s.execute(select(func.count()).select_from(ImportJob)).scalar_one() == 2


def test_record_checks_report_instead_of_failing(exchange: Exchange) -> None:
    """Unknown fields are reported per record and ignored; a replay written with 12000.0 for
    12000 is a replay; an expiry with a time zone is taken as its date in Asia/Shanghai; an
    undocumented 2028/05/31 or a date in year 9999 are rejected naming the field. A NUL byte
    anywhere in the body is refused for the whole request at the edge (422 naming the record's
    field, nothing written), like every string the API takes."""
    _post(exchange, "warehouses", [warehouse("CK1")])
    expiry = TODAY + timedelta(days=300)
    zoned = f"{(expiry - timedelta(days=1)).isoformat()}T20:00:00-04:00"  # next day in 上海
    records = [
        stock("CK1", P_TENT, 12000, lot="N", BZ="备注", CKMC="extra"),
        stock("CK1", P_WATER, 24, lot="Z", YXQZ=zoned),
        stock("CK1", P_WATER, 24, lot="S", YXQZ=expiry.strftime("%Y/%m/%d")),
        stock("CK1", P_WATER, 24, lot="Y", YXQZ="9999-12-31"),
    ]
    refused = _post(exchange, "stock", [*records, stock("CK1", P_TENT, 1, lot="NUL\x00")],
                    batch="B0")
    assert refused.status_code == 422, refused.text
    assert [f["field"] for f in refused.json()["error"]["fields"]] == ["records.4.PCH"]
    assert exchange.world.viewer.get("/stock", item="1040101").json()["items"] == []
    report = _post(exchange, "stock", records).json()
    statuses = [r["status"] for r in report["records"]]
    assert statuses == ["created", "created", "rejected", "rejected"]
    assert report["records"][0]["unknown_fields"] == ["BZ", "CKMC"]
    assert [r["reason"].split(":")[0] for r in report["records"][2:]] == ["YXQZ", "YXQZ"]
    rows = exchange.world.viewer.get("/stock", item="1040101").json()["items"]
    assert [r["expiry"] for r in rows] == [expiry.isoformat()]
    replay = _post(exchange, "stock", [
        {**stock("CK1", P_TENT, 12000, lot="N", BZ="备注", CKMC="extra"), "KCSL": 12000.0,
         "BBH": 1.0}], batch="B2").json()
    assert replay["records"][0]["status"] == "unchanged"


@pytest.mark.parametrize("body", [
    {"source": "jiangsu\x00", "batch_id": "B1", "records": []},
    {"source": SOURCE, "batch_id": "B\x001", "records": []},
    {"source": SOURCE, "batch_id": "B1", "records": {"CKBM": "x"}},
    {"source": SOURCE, "batch_id": "B1", "records": [{}] * 10_001},
    {"source": SOURCE, "batch_id": "B1", "records": [], "extra": 1},
])
def test_a_malformed_batch_is_a_422_naming_the_field(exchange: Exchange, body: Any) -> None:
    """The batch envelope itself is checked: bad source, batch id, records or extra fields are
    a 422 in the error envelope naming the field, and nothing is written."""
    response = exchange.world.client.post(
        "/api/v1/exchange/import/stock", json=body,
        headers={"Authorization": f"Bearer {exchange.writer.token}"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"], response.text
    with exchange.world.db.read_session() as s:
        assert s.execute(select(func.count()).select_from(ImportJob)).scalar_one() == 0


def test_jobs_are_seen_only_within_ones_sources(exchange: Exchange) -> None:
    """An unknown job is 404; a token limited to another source cannot read a job (403)."""
    from relief.platform.models import Role
    from tests.world import Api, make_token

    job_id = _post(exchange, "warehouses", [warehouse("CK1")], prefer="respond-async"
                   ).json()["id"]
    _wait(exchange, job_id)
    assert exchange.writer.get("/exchange/import-jobs/999999").status_code == 404
    other = Api(exchange.world.client, make_token(
        exchange.world.db, Role.integration, scopes=["exchange:write", "exchange:source:zj"],
        name="zj"))
    assert other.get(f"/exchange/import-jobs/{job_id}").status_code == 403


def _warehouse_depot(exchange: Exchange) -> str:
    with exchange.world.db.read_session() as s:
        return s.execute(select(ExchangeRecord.local_id).where(
            ExchangeRecord.external_id == "CK1")).scalar_one()


def _hold(exchange: Exchange, job_id: int, *, owner: str, lease: timedelta,
          records: list[Any]) -> None:
    """Make the job look half done (two chunks) and running under ``owner``'s lease, which
    ends ``lease`` from now (negative: it lapsed, the owner is dead)."""
    with exchange.world.db.engine.begin() as conn:
        conn.execute(ImportChunk.__table__.delete().where(ImportChunk.job_id == job_id,
                                                          ImportChunk.start == 6))
    exchange.world.db.write(lambda s: s.execute(update(ImportJob).where(
        ImportJob.id == job_id).values(status=ImportJobStatus.running, done=6, records=records,
                                       finished_at=None, lease_owner=owner, attempts=1,
                                       lease_until=utcnow() + lease)))


def _row(exchange: Exchange, job_id: int) -> ImportJob:
    with exchange.world.db.read_session() as s:
        return s.get_one(ImportJob, job_id)


def test_a_live_owners_job_is_never_touched_and_a_dead_ones_is_taken_over(
        exchange: Exchange) -> None:
    """A job another process holds under a live lease: a delivery is refused (TryLater, the
    queue tries again later) and a sweep leaves it alone. Once that lease lapsed (its process
    died), the next delivery takes it over (attempt 2) and finishes it from its first
    uncommitted chunk, applying nothing twice."""
    _post(exchange, "warehouses", [warehouse("CK1")])
    job_id = _post(exchange, "stock", _tents(8)).json()["id"]
    _wait(exchange, job_id)
    moves = _moves(exchange)
    jobs = exchange.world.client.app.state.jobs  # type: ignore[attr-defined]
    live = "worker@elsewhere:4242:alive"
    _hold(exchange, job_id, owner=live, lease=timedelta(minutes=5), records=_tents(8))
    with pytest.raises(TryLater):
        jobs.deliver(IMPORT_TASK, job_id)
    jobs.sweep()
    time.sleep(1.0)
    row = _row(exchange, job_id)
    assert (row.status, row.lease_owner, row.attempts, row.done) == (
        ImportJobStatus.running, live, 1, 6)
    # The owner died: its lease lapses and the next delivery takes the job over.
    exchange.world.db.write(lambda s: s.execute(update(ImportJob).where(
        ImportJob.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1))))
    try:
        assert jobs.deliver(IMPORT_TASK, job_id) is True
    except TryLater:  # this process's own sweep (SQLite, every 15 s) took it over first
        jobs.wait(IMPORT_TASK, job_id, timeout=120)
    row = _row(exchange, job_id)
    assert (row.status, row.attempts, row.done) == (ImportJobStatus.succeeded, 2, 8)
    assert row.lease_owner == jobs.owner
    assert _moves(exchange) == moves
    exchange.world.ledger_ok()


def test_a_failed_job_says_why_in_chinese_first(exchange: Exchange) -> None:
    """A job that fails stores its error as a catalogue key and parameters beside the English
    text; the job and its sync-log entry show it in Chinese first."""
    _post(exchange, "warehouses", [warehouse("CK1")])
    job_id = _post(exchange, "stock", _tents(8)).json()["id"]
    assert _wait(exchange, job_id)["status"] == "succeeded"
    # Delivered again after it ended (records back, nothing done): its first chunk is refused.
    exchange.world.db.write(lambda s: s.execute(update(ImportJob).where(
        ImportJob.id == job_id).values(records=_tents(8), done=0)))
    with pytest.raises(Conflict):
        run_job(exchange.world.db, job_id, today=lambda: TODAY, chunk_size=CHUNK, leased=True)
    job = exchange.writer.get(f"/exchange/import-jobs/{job_id}").json()
    assert job["status"] == "failed" and job["error_key"] == "err.exchange.job_taken"
    assert job["error_params"]["job"] == job_id and job["error"] == _row(exchange, job_id).error
    assert job["error_zh"] and job["error_zh"] != job["error"]
    logged = exchange.world.admin.get(f"/exchange/sync-runs/{job['run_id']}").json()["errors"][-1]
    assert (logged["key"], logged["message_zh"], logged["message"]) == (
        job["error_key"], job["error_zh"], job["error"])


def test_a_retry_of_a_failed_batch_is_refused_in_each_language(exchange: Exchange) -> None:
    """A small batch whose job failed, delivered again with its key: 409 whose Chinese text
    carries the job's error in Chinese and whose English text carries it in English (the
    stored error is a text inside the refusal's text, not English pasted into Chinese)."""
    _post(exchange, "warehouses", [warehouse("CK1")])
    first = _post(exchange, "stock", _tents(3), key="small-1")
    assert first.status_code == 200, first.text
    job_id = first.json()["job_id"]
    exchange.world.db.write(lambda s: s.execute(update(ImportJob).where(
        ImportJob.id == job_id).values(records=_tents(3), done=0)))
    with pytest.raises(Conflict):
        run_job(exchange.world.db, job_id, today=lambda: TODAY, chunk_size=CHUNK, leased=True)
    job = exchange.writer.get(f"/exchange/import-jobs/{job_id}").json()
    again = _post(exchange, "stock", _tents(3), key="small-1")
    assert again.status_code == 409, again.text
    body = again.json()["error"]
    assert job["error_zh"] in body["message_zh"] and job["error"] not in body["message_zh"]
    assert job["error"] in body["message"] and body["details"] == {"job": job_id}


def test_a_worker_that_lost_its_lease_cannot_write(exchange: Exchange) -> None:
    """Fencing: after another process took the job over, every write of the first owner's
    run is refused (LeaseLost) before it changes anything."""
    _post(exchange, "warehouses", [warehouse("CK1")])
    job_id = _post(exchange, "stock", _tents(8), prefer="respond-async").json()["id"]
    _wait(exchange, job_id)
    exchange.world.client.app.state.jobs.stopping.set()  # type: ignore[attr-defined]
    db = exchange.world.db
    db.write(lambda s: s.execute(update(ImportJob).where(ImportJob.id == job_id).values(
        status=ImportJobStatus.queued, finished_at=None)))
    first = leases.claim(db, ImportJob, job_id, "worker@a:1:first", lease_s=0.1)
    assert first is not None and first.attempt >= 1
    time.sleep(0.3)  # the first owner stalls past its lease; a second takes the job over
    second = leases.claim(db, ImportJob, job_id, "worker@b:2:second", lease_s=60)
    assert second is not None and second.attempt == first.attempt + 1
    with pytest.raises(leases.LeaseLost):
        leases.FencedDatabase(db, first).write(lambda s: s.execute(update(ImportJob).where(
            ImportJob.id == job_id).values(error="written by a stale owner")))
    assert not leases.renew(db, first, 60)
    assert _row(exchange, job_id).error is None
    assert leases.renew(db, second, 60)


def test_a_killed_worker_processs_import_is_taken_over_by_another(
        exchange: Exchange, settings: Settings, backend: str) -> None:
    """PostgreSQL, real processes: two `relief worker`s serve the background lane; the one
    applying a large batch is killed with SIGKILL midway; the other takes the job over once
    the lease lapsed and finishes it from the first uncommitted chunk: every record applied
    exactly once."""
    if backend != "postgresql":
        pytest.skip("workers on the job queue are PostgreSQL's")
    exchange.world.client.app.state.runner.service.stop()  # type: ignore[attr-defined]
    _post(exchange, "warehouses", [warehouse("CK1")])
    moves = _moves(exchange)
    env = {**os.environ, "RELIEF_DATABASE_URL": settings.database_url,
           "RELIEF_PLAN_LEASE_S": "4", "RELIEF_PLAN_HEARTBEAT_S": "0.5",
           "RELIEF_EXCHANGE_IMPORT_CHUNK": str(CHUNK), "RELIEF_LOG_FORMAT": "text"}
    workers = [subprocess.Popen([sys.executable, "-m", "relief.app.cli", "worker"], env=env,
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        time.sleep(3)  # both listen
        total = 150
        job_id = _post(exchange, "stock", _tents(total), prefer="respond-async").json()["id"]
        _until(lambda: _row(exchange, job_id).done >= 2 * CHUNK, timeout=120)
        first = _row(exchange, job_id)
        victim = next(w for w in workers if f":{w.pid}:" in (first.lease_owner or ""))
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        assert _row(exchange, job_id).status == ImportJobStatus.running  # killed mid-job
        ended = {ImportJobStatus.succeeded, ImportJobStatus.failed}
        _until(lambda: _row(exchange, job_id).status in ended, timeout=240)
        row = _row(exchange, job_id)
        assert row.status == ImportJobStatus.succeeded, row.error
        assert row.attempts == 2 and row.lease_owner != first.lease_owner
        assert row.done == total and _moves(exchange) == moves + total
        exchange.world.ledger_ok()
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                w.wait(30)


def _until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
