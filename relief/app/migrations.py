"""Run Alembic programmatically: upgrade, downgrade and the models-versus-schema check."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from alembic import command
from relief.platform.db import make_engine
from relief.platform.jobqueue import SCHEMA_PREFIX

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    """An Alembic config for the project's migrations, aimed at ``url``."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision``."""
    command.downgrade(alembic_config(url), revision)


def schema_differences(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models (empty = none)."""
    from relief.app.tables import metadata

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "target_metadata": metadata,
                            "include_name": include_name}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def include_name(name: str | None, type_: str, _parents: dict[str, Any]) -> bool:
    """Autogenerate leaves the job queue's own tables alone (they are not SQLModel tables;
    migration 0009 installs them from procrastinate's schema)."""
    return not (type_ == "table" and name is not None and name.startswith(SCHEMA_PREFIX))


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration in the code."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


@dataclass(frozen=True)
class Readiness:
    """Whether the database answers and its schema is at the code's newest migration."""

    ready: bool
    reason: str
    database_ok: bool
    revision: str | None
    head: str

    def details(self) -> dict[str, Any]:
        """The figures behind the verdict."""
        return {"database": "ok" if self.database_ok else "unreachable",
                "revision": self.revision, "head": self.head}


def readiness(engine: Engine) -> Readiness:
    """Check the database: it answers, and its Alembic revision is the code's head."""
    head = head_revision()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            revision = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:  # any failure to reach the database means not ready
        return Readiness(False, f"database unreachable: {type(exc).__name__}", False, None,
                         head)
    if revision != head:
        return Readiness(False, f"database schema at {revision}, code expects {head}: run "
                         "`relief db upgrade`", True, revision, head)
    return Readiness(True, "ready", True, revision, head)
