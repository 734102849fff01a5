"""The console's lot-quality form speaks for its own depot's stock of a lot, never another's."""

from __future__ import annotations

from collections.abc import Callable

from tests.web.conftest import Console
from tests.world import QUILT, World

MakeConsole = Callable[[str | None], Console]


def test_console_quality_changes_only_the_pages_depot(world: World, console: MakeConsole
                                                      ) -> None:
    """Quarantining a lot shared with another depot from one's own depot page leaves the other
    depot's stock available; the other depot's page refuses the form (403) and writes nothing."""
    body = world.receive("CTY2", QUILT, 5080, lot="RG-2611")
    world.receive("CTY", QUILT, 1, lot="RG-2611")
    lot_id = str(body["moves"][0]["lot_id"])
    manager = console(world.manager.token)
    assert manager.post("/console/depots/CTY/quality", {
        "lot_id": lot_id, "status": "damaged", "reason": "wet"}).status_code == 303
    assert world.available("CTY", QUILT) == 0
    assert world.available("CTY2", QUILT) == 5080
    assert manager.post("/console/depots/CTY2/quality", {
        "lot_id": lot_id, "status": "damaged"}).status_code == 403
    assert world.available("CTY2", QUILT) == 5080
