"""Schema fuzzing in the suite (issue 16): schemathesis draws positive and negative cases for
every operation of the OpenAPI, on SQLite and on PostgreSQL, for a short budget per database;
not one answer may be a 5xx, have a status the OpenAPI does not document, or a body that does
not match the documented schema. ``python -m bench --only fuzz`` runs the same engine at full
length on the seeded city (bench/fuzz.py)."""

from __future__ import annotations

import json

from bench.fuzz import fuzz
from relief.app.main import create_app
from relief.platform.models import Role
from relief.platform.settings import Settings
from tests.world import QUILT, TENT, World, make_token

BUDGET_S = 12  # per database after the first whole round (the full run is bench.fuzz)


def test_fuzzing_every_operation_finds_no_5xx_and_no_schema_violation(
        world: World, settings: Settings) -> None:
    """Every operation is drawn at least once, positive and negative; 0 of each failure. A
    fuzzed revoke or rotate of the run's own token gets it a new one, so the cases after it
    still reach the operations."""
    world.receive("CTY", TENT, 50, lot="F1")
    world.receive("CTY2", QUILT, 20, lot="F2")
    app = create_app(settings=settings, database=world.db)
    tally = fuzz(app, world.admin.token, seconds=BUDGET_S, seed_value=16,
                 examples_per_round=2,
                 renew=lambda: make_token(world.db, Role.admin, name="fuzz-admin"))
    summary = json.dumps(tally.as_dict(), ensure_ascii=False, indent=1)
    assert tally.operations > 100
    assert len(tally.answered) == tally.operations, summary  # each operation answered
    assert tally.server_errors == 0, summary
    assert tally.schema_violations == 0, summary
    assert tally.undocumented_status == 0, summary
    assert world.ledger_ok()
