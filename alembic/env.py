"""Alembic environment: migrates the database named by the caller or by RELIEF_DATABASE_URL."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from sqlalchemy import Connection
from sqlmodel.sql.sqltypes import AutoString

from alembic import context
from relief.app.migrations import include_name
from relief.app.tables import metadata
from relief.platform.db import make_engine
from relief.platform.dbtypes import UTCDateTime
from relief.platform.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def _render_item(type_: str, obj: Any, _autogen_context: Any) -> str | bool:
    """Render project column types as plain SQLAlchemy types, so migrations never import app
    code (a UTC timestamp is a timezone-aware DateTime; SQLModel's AutoString is a String)."""
    if type_ == "type":
        if isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
        if isinstance(obj, AutoString):
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=False,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on a live connection (the only mode this project uses)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or get_settings().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `relief db upgrade`")
run_migrations_online()
