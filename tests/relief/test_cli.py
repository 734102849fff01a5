"""The relief command: tokens, the ledger check and the schema diff."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from relief.app.cli import app
from relief.app.main import create_app
from relief.platform.db import Database
from relief.platform.settings import Settings, get_settings
from supplies.models import Quant
from tests.world import TENT, Api, build_network


@pytest.fixture
def cli(db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner aimed at the test database."""
    build_network(db)
    monkeypatch.setenv("RELIEF_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_token_create_prints_a_working_token_last(cli: CliRunner, db: Database,
                                                  db_url: str) -> None:
    """`relief token create` prints the secret as its last line and the API accepts it."""
    result = cli.invoke(app, ["token", "create", "--role", "depot_manager", "--depot", "CTY",
                              "--name", "zhang"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    with TestClient(create_app(Settings(database_url=db_url), db)) as client:
        api = Api(client, secret)
        assert api.get("/me").json()["depots"] == ["CTY"]
        assert api.post("/stock/receipts", {"depot": "CTY", "item": TENT, "quantity": 2}
                        ).status_code == 201
        assert api.post("/stock/receipts", {"depot": "CTY2", "item": TENT, "quantity": 2}
                        ).status_code == 403


def test_token_create_rejects_unknown_depot(cli: CliRunner) -> None:
    """A token cannot be scoped to a depot that does not exist."""
    result = cli.invoke(app, ["token", "create", "--role", "depot_manager", "--depot", "NOPE",
                              "--name", "x"])
    assert result.exit_code != 0


def test_check_passes_then_fails_on_a_broken_ledger(cli: CliRunner, db: Database) -> None:
    """`relief check` exits 0 on a whole ledger and 1 when a quant disagrees with its moves."""
    token = cli.invoke(app, ["token", "create", "--role", "admin", "--name", "a"])
    secret = token.output.strip().splitlines()[-1]
    with TestClient(create_app(Settings(database_url=str(db.engine.url.render_as_string(
            hide_password=False))), db)) as client:
        Api(client, secret).post("/stock/receipts", {"depot": "CTY", "item": TENT,
                                                     "quantity": 3})
    ok = cli.invoke(app, ["check"])
    assert ok.exit_code == 0 and "ledger OK" in ok.output
    db.write(lambda s: s.execute(Quant.__table__.update().values(on_hand=99)))
    bad = cli.invoke(app, ["check"])
    assert bad.exit_code == 1


def test_db_diff_is_clean(cli: CliRunner) -> None:
    """`relief db diff` finds no difference between migrations and models."""
    assert cli.invoke(app, ["db", "diff"]).exit_code == 0


def test_demo_tokens_give_one_working_token_per_role(cli: CliRunner, db: Database,
                                                     db_url: str) -> None:
    """`relief demo-tokens` prints a token for every role that the API accepts as that role,
    and a second run revokes the first run's tokens."""
    first = cli.invoke(app, ["demo-tokens"])
    assert first.exit_code == 0, first.output
    second = cli.invoke(app, ["demo-tokens"])
    lines = second.output.splitlines()
    secrets = {}
    for label, secret in itertools.pairwise(lines):
        if secret.strip().startswith("rlf_"):
            secrets[label.split()[0]] = secret.strip()
    assert set(secrets) == {"admin", "depot_manager", "dispatcher", "viewer", "integration"}
    old = next(ln.strip() for ln in first.output.splitlines() if ln.strip().startswith("rlf_"))
    with TestClient(create_app(Settings(database_url=db_url), db)) as client:
        for role, secret in secrets.items():
            assert Api(client, secret).get("/me").json()["role"] == role
        assert Api(client, secrets["integration"]).get("/exchange/depots").status_code == 200
        assert Api(client, secrets["viewer"]).get("/exchange/depots").status_code == 403
        assert Api(client, old).get("/me").status_code == 401
