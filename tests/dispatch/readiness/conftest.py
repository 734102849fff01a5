"""A small readiness world: two townships of Tongzhou with people and places, stock of the
default standard's four items at the county and city depots, a few trucks, and an app whose
engine runs in-process with no schedule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from relief.app.main import create_app
from relief.platform.settings import Settings
from supplies.models import Division, Item
from tests.world import QUILT, TENT, TODAY, WATER, World

RICE = "1050103"
# Two townships of Tongzhou (320612): placeholders near the county depot, with populations.
TOWNS = [("320612101", 32.10, 121.00, 20_000), ("320612102", 32.12, 120.95, 10_000)]


@dataclass
class Ready:
    """The world plus readiness helpers."""

    world: World

    def scenario(self, **changes: Any) -> dict[str, Any]:
        """A valid POST /readiness/scenarios body (Tongzhou typhoon), with changes."""
        body: dict[str, Any] = {
            "county": "320612", "hazard": "typhoon", "name": "通州区台风(测试)",
            "townships": ["320612101", "320612102"], "displaced_share": 0.01,
            "displaced_basis": "assumption", "displaced_source": "test assumption",
            "sheltered_share": 0.5, "sheltered_basis": "assumption",
            "sheltered_source": "test assumption", "townships_source": "test rule"}
        body.update(changes)
        return body

    def wait_run(self, run_id: int) -> dict[str, Any]:
        """Wait for a run submitted through the API and return it."""
        self.world.client.app.state.readiness.wait("run", run_id, timeout=300)
        return self.world.viewer.get(f"/readiness/runs/{run_id}").json()


@pytest.fixture
def ready(world: World, settings: Settings) -> Iterator[Ready]:
    """Places and people for two townships, stock, trucks, and an in-process engine app."""

    def setup(session: Any) -> None:
        for code, lat, lon, people in TOWNS:
            division = session.get(Division, code)
            if division is None:
                division = Division(code=code, name=f"镇{code[-3:]}", level="township",
                                    parent_code="320612")
            division.lat, division.lon, division.population = lat, lon, people
            session.add(division)
        session.add(Item(code=RICE, name_zh="自热米饭", name_en="ready meal", category="food",
                         unit="箱", unit_weight_kg=5.5, unit_volume_m3=0.04,
                         shelf_life_days=365))

    world.db.write(setup)
    world.receive("CTY", QUILT, 300, lot="Q-A")
    world.receive("CTY", TENT, 40, lot="T-A")
    world.receive("CTY", WATER, 80, lot="W-A", expiry=TODAY + timedelta(days=200))
    world.receive("CITY", RICE, 90, lot="R-A", expiry=TODAY + timedelta(days=200))
    for plate, depot in [("苏F-R1", "CTY"), ("苏F-R2", "CTY"), ("苏F-R3", "CITY")]:
        r = world.admin.post("/vehicles", {"plate": plate, "depot": depot,
                                           "capacity_kg": 5000, "capacity_m3": 30})
        assert r.status_code == 201, r.text
    inline = settings.model_copy(update={"planner": "inline", "readiness_interval_hours": 0.0,
                                         "readiness_parallel": 1,
                                         "readiness_time_limit_s": 2.0})
    with TestClient(create_app(settings=inline, database=world.db)) as client:
        world.client = client
        for api in (world.admin, world.manager, world.manager2, world.dispatcher, world.viewer):
            api.client = client
        yield Ready(world)
