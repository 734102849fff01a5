"""The connector cannot hang or loop: a stand-in province that never ends a feed, trickles a
body, sends a huge one, asks to wait (Retry-After, retry_after_ms) or just keeps going; the
run limits, the cursor reset (CLI and API) and the run's heartbeat in the API."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from exchange import connector, service
from exchange.models import Entity, ExchangeSourceUpdate, RunStatus, SyncRunPublic
from relief.app.cli import app as cli_app
from relief.platform.models import Role
from relief.platform.settings import get_settings
from supplies.models import Depot
from tests.exchange.conftest import SOURCE
from tests.exchange.province import Province
from tests.exchange.test_connector import assert_matches_truth
from tests.world import TODAY, Api, World, make_token


def _options(world: World, **options: Any) -> None:
    world.db.write(lambda s: service.update_source(
        s, name=SOURCE, data=ExchangeSourceUpdate(options=options), actor="test"))


def _pull(world: World, **kwargs: Any) -> SyncRunPublic:
    return connector.pull(world.db, source=SOURCE, today=lambda: TODAY, **kwargs)


def _committed(world: World, feed: Entity) -> str | None:
    with world.db.read_session() as s:
        source_id = service.get_source(s, SOURCE).id or 0
        return service.committed_cursor(s, source_id=source_id, feed=feed)


def test_endless_empty_pages_fail_the_run_and_commit_no_cursor(world: World,
                                                              configured: Province) -> None:
    """A feed answering has_more with a new cursor and no records, forever: the run fails
    after max_empty_pages such pages (a bounded number of requests) and none of their
    cursors is committed."""
    configured.endless.add("warehouses")
    _options(world, max_empty_pages=4)
    run = _pull(world)
    assert run.status == RunStatus.failed
    assert "has_more but no records" in run.errors[-1]["message"]
    assert len(configured.cursors_asked(Entity.warehouses)) == 5
    assert _committed(world, Entity.warehouses) is None


def test_empty_pages_before_records_commit_only_with_the_records(world: World,
                                                                 configured: Province) -> None:
    """A few empty has_more pages followed by records: the cursor is committed together with
    the records, and the data ends exactly right."""
    configured.endless.add("logistics")
    _options(world, max_empty_pages=2, feeds=["warehouses", "logistics"])
    assert _pull(world).status == RunStatus.failed
    assert _committed(world, Entity.logistics) is None
    configured.endless.clear()
    _options(world, feeds=["warehouses", "logistics", "producers", "stock"])
    assert _pull(world).status == RunStatus.succeeded
    assert_matches_truth(world, configured)


def test_a_trickling_body_hits_the_total_deadline(world: World, configured: Province) -> None:
    """A body sent one byte every 50 ms never trips the per-read timeout (0.3 s) but is cut
    off by the request's total deadline (0.5 s), retried, and the run gives up in seconds,
    long before the body would have ended."""
    _options(world, deadline_s=0.5, retries=1)
    configured.fail(Entity.warehouses, None, "trickle", "trickle")
    started = time.monotonic()
    run = _pull(world)
    elapsed = time.monotonic() - started
    assert run.status == RunStatus.failed and run.retries == 1
    assert "deadline" in run.errors[-1]["message"]
    assert elapsed < 10  # the whole body would take about 30 s per attempt
    assert _committed(world, Entity.warehouses) is None


def test_a_huge_body_is_abandoned_at_the_size_limit(world: World,
                                                    configured: Province) -> None:
    """A 50 MB answer without a Content-Length is read as a stream and abandoned just past
    max_body_bytes (100 kB): the run fails at once (not retried) and the server could not
    even write most of it."""
    _options(world, max_body_bytes=100_000)
    configured.fail(Entity.warehouses, None, "huge")
    run = _pull(world)
    assert run.status == RunStatus.failed and run.retries == 0
    message = run.errors[-1]["message"]
    assert "max_body_bytes 100000" in message
    read = int(message.split("abandoned after ")[1].split(" ")[0])
    assert 100_000 < read < 100_000 + 1_000_000
    time.sleep(0.2)
    assert configured.bytes_sent and configured.bytes_sent[0] < configured.huge_bytes / 2


def test_retry_after_is_honoured_up_to_its_maximum(world: World, configured: Province) -> None:
    """A 429 with Retry-After: 2 is waited for in full (not cut to backoff_max_s 0.05); one
    asking for 600 s, more than retry_after_max_s (5 s), ends the run without asking again."""
    _options(world, retry_after_max_s=5)
    slept: list[float] = []
    configured.fail(Entity.warehouses, None, "429:2")
    run = _pull(world, sleep=slept.append)
    assert run.status == RunStatus.succeeded and slept[0] == 2.0
    assert_matches_truth(world, configured)
    configured.publish(Entity.warehouses, *configured.log["warehouses"][:1])
    configured.fail(Entity.warehouses, "8", "429:600")
    configured.requests.clear()
    run = _pull(world, sleep=slept.append)
    assert run.status == RunStatus.failed and "retry_after_max_s" in run.errors[-1]["message"]
    assert configured.cursors_asked(Entity.warehouses) == ["8"]


def test_a_page_held_back_at_the_province_is_waited_for(world: World,
                                                        configured: Province) -> None:
    """Empty pages that ask to wait (retry_after_ms) are waited for and asked again with the
    same cursor, never counted as empty pages nor committed; the pull then completes."""
    _options(world, max_empty_pages=1)
    slept: list[float] = []
    configured.fail(Entity.stock, "3", "held:200", "held:200", "held:200")
    run = _pull(world, sleep=slept.append)
    assert run.status == RunStatus.succeeded, run.errors
    assert slept.count(0.2) == 3
    assert configured.cursors_asked(Entity.stock)[:5] == [None, "3", "3", "3", "3"]
    assert_matches_truth(world, configured)


def test_run_limits_stop_a_pull_that_resumes_later(world: World, configured: Province) -> None:
    """max_pages ends a run after that many requests and max_run_s after that long (a fake
    clock); what was committed stays, and the next pull resumes from there."""
    _options(world, max_pages=2)
    run = _pull(world)
    assert run.status == RunStatus.failed and "max_pages 2" in run.errors[-1]["message"]
    assert _committed(world, Entity.warehouses) == "6"
    now = [0.0]

    def clock() -> float:
        now[0] += 10
        return now[0]

    _options(world, max_pages=10_000, max_run_s=45)
    run = _pull(world, clock=clock)
    assert run.status == RunStatus.failed and "max_run_s 45" in run.errors[-1]["message"]
    configured.requests.clear()
    assert _pull(world).status == RunStatus.succeeded
    assert configured.cursors_asked(Entity.warehouses)[0] is not None
    assert_matches_truth(world, configured)


def test_heartbeat_and_progress_of_a_running_pull_in_the_api(world: World,
                                                             configured: Province) -> None:
    """While a pull runs, the API shows it running, the feed it reads, its pages so far and a
    recent heartbeat; once finished, no current feed."""
    seen: list[dict[str, Any]] = []

    def look(feed: Entity, page: int, _counts: dict[str, int]) -> None:
        if page == 2:
            runs = world.admin.get("/exchange/sync-runs").json()["items"]
            seen.append({**runs[0], "feed_read": feed.value})

    run = _pull(world, on_page=look)
    assert run.status == RunStatus.succeeded and run.current_feed is None
    assert [s["feed_read"] for s in seen] == ["warehouses", "stock"]  # feeds of 2+ pages
    for snapshot in seen:
        assert snapshot["status"] == "running"
        assert snapshot["current_feed"] == snapshot["feed_read"]
        assert snapshot["heartbeat_at"] is not None and snapshot["pages"] >= 2


def test_cursor_reset_by_cli_and_api(world: World, configured: Province, db_url: str,
                                     monkeypatch: Any) -> None:
    """An admin resets the stock cursor through the API (an integration token may not), the
    CLI resets the warehouses cursor; the next pull reads both from the start and, records
    being versioned, changes nothing."""
    assert _pull(world).status == RunStatus.succeeded
    reader = Api(world.client, make_token(world.db, Role.integration, scopes=["exchange:read"],
                                          name="r"))
    url = f"/exchange/sources/{SOURCE}/reset-cursor"
    assert reader.post(url, {"feeds": ["stock"]}).status_code == 403
    bad = world.admin.post(url, {"feeds": ["nope"]})
    assert bad.status_code == 422
    done = world.admin.post(url, {"feeds": ["stock"]})
    assert done.status_code == 200, done.text
    assert done.json()["cursors"]["stock"] is None
    assert world.admin.post("/exchange/sources/nowhere/reset-cursor", {}).status_code == 404
    monkeypatch.setenv("RELIEF_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(cli_app, ["sync", "reset-cursor", "--source", SOURCE,
                                           "--feed", "warehouses"])
        assert out.exit_code == 0, out.output
    finally:
        get_settings.cache_clear()
    assert _committed(world, Entity.warehouses) is None
    configured.requests.clear()
    with world.db.read_session() as s:
        depots = len(s.execute(select(Depot.id)).all())
    run = _pull(world)
    assert run.status == RunStatus.succeeded and run.created == 0
    assert configured.cursors_asked(Entity.stock)[0] is None
    assert configured.cursors_asked(Entity.warehouses)[0] is None
    with world.db.read_session() as s:
        assert len(s.execute(select(Depot.id)).all()) == depots
    assert_matches_truth(world, configured)
