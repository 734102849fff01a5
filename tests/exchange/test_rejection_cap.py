"""Issue 16: rejected import records are kept for follow-up, capped per run and truncated."""

from __future__ import annotations

from sqlalchemy import func, select

from exchange.imports import MAX_KEPT_RECORD_CHARS, MAX_KEPT_REJECTIONS_PER_RUN
from exchange.models import Entity, ExchangeRejection
from tests.exchange.conftest import Exchange
from tests.exchange.province import warehouse


def test_rejected_records_are_capped_per_run_and_truncated(exchange: Exchange) -> None:
    """300 bad records: all reported and counted, 200 kept; a 100,000-character record is kept
    as its beginning only."""
    report = exchange.push(Entity.warehouses, ["not an object"] * 300)
    assert [r["status"] for r in report["records"]] == ["rejected"] * 300
    run = exchange.reader.get(f"/exchange/sync-runs/{report['run_id']}").json()
    assert run["rejected"] == 300
    with exchange.world.db.read_session() as s:
        kept = s.execute(select(func.count()).select_from(ExchangeRejection)).scalar_one()
    assert kept == MAX_KEPT_REJECTIONS_PER_RUN
    huge = warehouse("CKX", CKMC="仓" * 100_000, CKLX="99")
    report = exchange.push(Entity.warehouses, [huge], batch="B2")
    assert [r["status"] for r in report["records"]] == ["rejected"]
    with exchange.world.db.read_session() as s:
        row = s.execute(select(ExchangeRejection).where(ExchangeRejection.batch_id == "B2")
                        ).scalar_one()
    assert row.record["truncated"] is True and len(row.record["head"]) == MAX_KEPT_RECORD_CHARS
