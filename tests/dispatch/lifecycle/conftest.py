"""Fixtures of the lifecycle tests: the test world with stock and vehicles, served by an app
whose planner runs the real engine in-process (tests/dispatch/lifecycle/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relief.platform.settings import Settings
from tests.dispatch.lifecycle.helpers import stocked_desk
from tests.world import World


@pytest.fixture
def desk(world: World, settings: Settings) -> Iterator[World]:
    """County and city stock of quilts, tents and water; two county trucks, one city truck."""
    yield from stocked_desk(world, settings)
