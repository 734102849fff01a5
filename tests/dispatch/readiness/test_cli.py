"""`relief readiness scenarios | run | show | advise` on the small world, engine in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from relief.app.cli import app
from relief.platform.settings import get_settings
from supplies.models import Depot
from tests.dispatch.readiness.conftest import Ready
from tests.world import TENT


@pytest.fixture
def cli(ready: Ready, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner on the test database, the engine in this process, one scenario at once."""
    monkeypatch.setenv("RELIEF_DATABASE_URL", db_url)
    monkeypatch.setenv("RELIEF_PLANNER", "inline")
    monkeypatch.setenv("RELIEF_READINESS_PARALLEL", "1")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_run_show_and_advise_print_progress_and_results(ready: Ready, cli: CliRunner) -> None:
    """The library lists; a run prints a line per scenario and the county table with the
    binding reason; advice prints its orders and every scenario before and after."""
    world = ready.world
    world.dispatcher.post("/readiness/scenarios", ready.scenario())
    listed = cli.invoke(app, ["readiness", "scenarios"])
    assert listed.exit_code == 0 and "320612-typhoon" in listed.output
    assert "300 displaced" in listed.output
    run = cli.invoke(app, ["readiness", "run", "--county", "320612", "--time-limit", "2"])
    assert run.exit_code == 0, run.output
    assert "[1/1] 320612-typhoon v1:" in run.output
    assert "binding: 库存不足: 救灾帐篷" in run.output
    shown = cli.invoke(app, ["readiness", "show"])
    assert shown.exit_code == 0 and "320612-typhoon" in shown.output
    world.db.write(lambda s: s.execute(update(Depot).where(Depot.code == "CTY")
                                       .values(floor_area_m2=500.0)))
    world.receive("TWN", TENT, 30, lot="T-TWN")
    advised = cli.invoke(app, ["readiness", "advise", "--budget-t", "1", "--horizon-days", "0",
                               "--time-limit", "2", "--optimise-s", "10"])
    assert advised.exit_code == 0, advised.output
    assert "transfer  TWN -> CTY" in advised.output
    assert "320612-typhoon" in advised.output and "-> 300" in advised.output
    bad = cli.invoke(app, ["readiness", "run", "--county", "320699"])
    assert bad.exit_code != 0
