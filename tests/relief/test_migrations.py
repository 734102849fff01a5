"""Schema changes only through Alembic: the chain runs both ways and matches the models."""

from __future__ import annotations

from sqlalchemy import inspect

from relief.app import migrations
from relief.platform.db import make_engine


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_no_autogenerate_diff(db_url: str) -> None:
    """head -> base -> head works and autogenerate finds nothing the models add or drop."""
    migrations.upgrade(db_url)
    assert migrations.schema_differences(db_url) == []
    assert {"stock_move", "quant", "depot", "item", "lot"} <= _tables(db_url)
    migrations.downgrade(db_url, "base")
    assert _tables(db_url) == set()
    migrations.upgrade(db_url)
    assert migrations.schema_differences(db_url) == []
