"""The restore drill, on both databases: back up while serving, change things, restore; the
data is the backup's, the ledger checks out, the database epoch changed and an exchange cursor
issued before the restore is refused (the mirror must start again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from relief.app import migrations
from relief.app.cli import app as cli_app
from relief.app.main import create_app
from relief.platform.db import Database, make_engine
from relief.platform.epoch import current_epoch
from relief.platform.models import Role
from relief.platform.settings import Settings, get_settings
from supplies import ledger
from supplies.models import StockMove
from tests.conftest import PG_SERVER_URL, UNLIMITED, _create_pg_database, _drop_pg_database
from tests.world import QUILT, Api, build_network, make_token


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own (a restore replaces everything in it), migrated."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'drill.db'}"
        migrations.upgrade(url)
        yield url
        return
    name, url = _create_pg_database(PG_SERVER_URL)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        _drop_pg_database(PG_SERVER_URL, name)


def _moves(db: Database) -> int:
    with db.read_session() as s:
        return int(s.execute(select(func.count()).select_from(StockMove)).scalar_one())


def test_restore_drill(fresh_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                      ) -> None:
    """backup -> more receipts -> restore: moves are back to the backup's, the ledger is
    proven, the epoch is new and old feed cursors get 409 cursor_epoch_changed."""
    db = Database(engine=make_engine(fresh_url))
    db.write(ledger.ensure_virtual_locations)
    build_network(db)
    admin = make_token(db, Role.admin, name="drill-admin")
    mirror = make_token(db, Role.integration, name="drill-mirror", scopes=["exchange:read"])
    settings = Settings(database_url=fresh_url, rate_limits=UNLIMITED)
    with TestClient(create_app(settings, db)) as client:
        api = Api(client, admin)
        for lot in ("D-1", "D-2"):
            r = api.post("/stock/receipts", {"depot": "CTY", "item": QUILT, "quantity": 10,
                                             "lot": lot})
            assert r.status_code == 201, r.text
        page = Api(client, mirror).get("/exchange/moves", limit=1).json()
        cursor = page["next_cursor"]
        assert Api(client, mirror).get("/exchange/moves", after=cursor).status_code == 200
    with db.read_session() as s:
        epoch_before = current_epoch(s)
    monkeypatch.setenv("RELIEF_DATABASE_URL", fresh_url)
    get_settings.cache_clear()
    try:
        _drill(db, tmp_path, settings, admin, mirror, cursor, epoch_before)
    finally:
        get_settings.cache_clear()
        db.dispose()


def _drill(db: Database, tmp_path: Path, settings: Settings, admin: str, mirror: str,
           cursor: str, epoch_before: str) -> None:
    runner = CliRunner()
    target = tmp_path / "relief.backup"
    made = runner.invoke(cli_app, ["backup", str(target)])
    assert made.exit_code == 0, made.output
    at_backup = _moves(db)
    with TestClient(create_app(settings, db)) as client:
        assert Api(client, admin).post("/stock/receipts", {"depot": "CTY", "item": QUILT,
                                                           "quantity": 5, "lot": "D-3"}
                                       ).status_code == 201
    assert _moves(db) == at_backup + 1
    db.dispose()
    done = runner.invoke(cli_app, ["restore", str(target), "--yes"])
    assert done.exit_code == 0, done.output
    assert "ledger OK" in done.output
    assert _moves(db) == at_backup
    with db.read_session() as s:
        epoch_after = current_epoch(s)
        assert ledger.verify(s).ok
    assert epoch_after != epoch_before
    with TestClient(create_app(settings, db)) as client:
        stale = Api(client, mirror).get("/exchange/moves", after=cursor)
        assert stale.status_code == 409
        assert stale.json()["error"]["code"] == "cursor_epoch_changed"
        assert stale.json()["error"]["details"] == {"cursor_epoch": epoch_before,
                                                   "epoch": epoch_after}
        again = Api(client, mirror).get("/exchange/moves", limit=1)
        assert again.status_code == 200
        assert Api(client, mirror).get("/exchange/moves",
                                       after=again.json()["next_cursor"]).status_code == 200
    bad = runner.invoke(cli_app, ["restore", str(tmp_path / "missing"), "--yes"])
    assert bad.exit_code == 1 and "no backup" in bad.output
