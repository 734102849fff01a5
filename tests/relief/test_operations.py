"""Operability: /metrics, /readyz, JSON logs with the request id, and rate limits that every
API process shares (PostgreSQL) for every role."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from pythonjsonlogger.json import JsonFormatter

from relief.app import migrations
from relief.app.main import create_app
from relief.platform import logs
from relief.platform.db import Database, make_engine
from relief.platform.models import Role
from relief.platform.settings import RateLimit, Settings
from tests.world import QUILT, Api, World, make_token


def _metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus exposition text (None when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


def test_metrics_by_route_template_queue_depth_and_ledger_moves(world: World) -> None:
    """/metrics counts requests by route template (never by raw path), exposes the planning
    queue's depth per lane and counts committed ledger moves by kind."""
    before = world.client.get("/metrics").text
    moves_before = _metric(before, "relief_ledger_moves_total", kind="receipt") or 0.0
    assert world.admin.get("/depots/CTY").status_code == 200
    world.receive("CTY", QUILT, 5, lot="M-1")
    world.receive("CTY", QUILT, 5, lot="M-2")
    assert world.admin.post("/stock/receipts", {"depot": "CTY", "item": QUILT, "quantity": 0}
                            ).status_code == 422  # rolled back: counts nothing
    response = world.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    count = _metric(text, "relief_http_request_duration_seconds_count", method="GET",
                    route="/api/v1/depots/{code}")
    assert count is not None and count >= 1
    assert "/api/v1/depots/CTY" not in text
    assert _metric(text, "relief_ledger_moves_total", kind="receipt") == moves_before + 2
    for lane in ("urgent", "long"):
        assert _metric(text, "relief_plan_jobs", lane=lane, status="queued") == 0
        assert _metric(text, "relief_plan_queue_oldest_seconds", lane=lane) == 0


def test_readyz_checks_the_database_and_the_migrations(world: World, tmp_path: Path) -> None:
    """Ready when the database answers at the newest migration; 503 with the reason when the
    schema is behind or the database cannot be reached."""
    ready = world.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "database": "ok",
                            "revision": migrations.head_revision(),
                            "head": migrations.head_revision()}
    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    previous = str(ScriptDirectory.from_config(migrations.alembic_config(behind))
                   .get_revision(migrations.head_revision()).down_revision)
    migrations.upgrade(behind, previous)
    old = Database(engine=make_engine(behind))
    with TestClient(create_app(Settings(database_url=behind), old)) as client:
        r = client.get("/readyz")
    old.dispose()
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "not_ready"
    assert r.json()["error"]["details"]["revision"] == previous
    gone = Database(engine=make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none"))
    with TestClient(create_app(Settings(database_url=str(gone.engine.url)), gone)) as client:
        r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["details"]["database"] == "unreachable"


def test_json_logs_carry_the_request_id_returned_in_the_header(world: World,
                                                               settings: Settings) -> None:
    """Every log line of a request carries its id; the id is the client's X-Request-ID when
    sane (else a new one) and comes back in the response header."""
    stream = io.StringIO()
    # The handler the logging configuration installs (logs.dict_config), on a string stream.
    spec = logs.dict_config(settings)["formatters"]["default"]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(spec["fmt"], rename_fields=spec["rename_fields"]))
    handler.addFilter(logs.RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        headers = {"Authorization": f"Bearer {world.admin.token}", "X-Request-ID": "trace-42"}
        r = world.client.get("/api/v1/depots/CTY", headers=headers)
        assert r.headers["X-Request-ID"] == "trace-42"
        fresh = world.client.get("/healthz", headers={"X-Request-ID": "bad id\n"})
        assert fresh.headers["X-Request-ID"] != "bad id\n"
        assert len(fresh.headers["X-Request-ID"]) == 32
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "relief.access"]
    assert {line["request_id"] for line in access} == {"trace-42",
                                                       fresh.headers["X-Request-ID"]}
    first = next(line for line in access if line["request_id"] == "trace-42")
    assert (first["route"], first["status"], first["level"]) == (
        "/api/v1/depots/{code}", 200, "INFO")


def test_every_role_is_rate_limited_with_its_own_budget(world: World, db_url: str) -> None:
    """A viewer's token runs out after its burst (429 with Retry-After in the envelope) while
    another token of the same role, and the console, keep their own buckets."""
    limits = {"viewer": RateLimit(per_s=0.01, burst=3)}
    app = create_app(Settings(database_url=db_url, rate_limits=limits), world.db)
    with TestClient(app) as client:
        viewer = Api(client, world.viewer.token)
        codes = [viewer.get("/depots").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = viewer.get("/depots")
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        other = Api(client, make_token(world.db, Role.viewer, name="viewer-2"))
        assert other.get("/depots").status_code == 200
        admin = Api(client, world.admin.token)
        assert all(admin.get("/depots").status_code == 200 for _ in range(5))


def test_rate_limit_is_shared_by_two_api_processes(world: World, db_url: str,
                                                   backend: str) -> None:
    """PostgreSQL: two app instances (two API processes' worth of state) draw from one bucket
    per token, so together they admit the burst once, not twice."""
    if backend != "postgresql":
        pytest.skip("SQLite serves from one process; its buckets are that process's")
    limits = {"dispatcher": RateLimit(per_s=0.01, burst=4)}
    settings = Settings(database_url=db_url, rate_limits=limits)
    one = create_app(settings, Database(engine=make_engine(db_url)))
    two = create_app(settings, Database(engine=make_engine(db_url)))
    with TestClient(one) as a, TestClient(two) as b:
        apis = [Api(a, world.dispatcher.token), Api(b, world.dispatcher.token)]
        codes = [apis[i % 2].get("/depots").status_code for i in range(8)]
    assert codes == [200, 200, 200, 200, 429, 429, 429, 429]
    for app in (one, two):
        app.state.db.dispose()
