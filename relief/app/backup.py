"""``relief backup`` and ``relief restore``: a consistent copy of the whole database, and
putting one back.

* PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot, taken while the service
  runs) and ``pg_restore --clean --if-exists --single-transaction`` (all or nothing). The
  client tools must be the server's major version or newer.
* SQLite: the SQLite online backup API (``sqlite3.Connection.backup``), page by page under the
  database's own locks, in both directions.

A restore gives the database a new epoch (``relief.platform.epoch``) in the same step, so
exchange mirrors holding cursors from before it are told to start again; it then checks the
ledger (quants equal the sum of their moves). Stop the API processes and planning workers
before restoring and start them after (docs/operations.md, "Backup and restore").
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from relief.platform.db import Database, is_sqlite, make_engine
from relief.platform.epoch import current_epoch, new_epoch
from relief.platform.jobqueue import conninfo


class BackupError(Exception):
    """A backup or restore could not be done; the message says why."""


@dataclass(frozen=True)
class Restored:
    """What a restore did: the epoch before, the new one, and the ledger check."""

    old_epoch: str
    new_epoch: str
    ledger_ok: bool
    problems: list[str]


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install PostgreSQL's client tools "
                          "(Debian: postgresql-client) of the server's major version")
    return found


def backup(url: str, target: Path) -> Path:
    """Write a consistent backup of the database at ``url`` to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_sqlite(url):
        source = sqlite3.connect(_sqlite_path(url))
        dest = sqlite3.connect(target)
        try:
            with dest:
                source.backup(dest)
        finally:
            dest.close()
            source.close()
        return target
    done = subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner",
                           "--no-privileges", f"--file={target}", conninfo(url)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()[-2000:]}")
    return target


def _restore_files(url: str, source: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    if is_sqlite(url):
        try:
            backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            backup_db.execute("PRAGMA schema_version").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not a SQLite database: {exc}") from None
        live = sqlite3.connect(_sqlite_path(url))
        try:
            with live:
                backup_db.backup(live)
        finally:
            live.close()
            backup_db.close()
        return
    done = subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
                           "--no-privileges", "--single-transaction", "--exit-on-error",
                           f"--dbname={conninfo(url)}", str(source)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed (nothing was changed): "
                          f"{done.stderr.strip()[-2000:]}")


def restore(url: str, source: Path) -> Restored:
    """Replace the database at ``url`` with the backup ``source``, give it a new epoch and
    check the ledger."""
    from supplies.ledger import verify

    database = Database(engine=make_engine(url))
    try:
        with database.read_session() as session:
            before = current_epoch(session)
        database.dispose()  # no pooled connection may hold the tables being replaced
        _restore_files(url, source)
        epoch = database.write(lambda s: new_epoch(s, reason=f"restored from {source.name}"))
        with database.read_session() as session:
            check = verify(session)
    finally:
        database.dispose()
    return Restored(old_epoch=before, new_epoch=epoch, ledger_ok=check.ok,
                    problems=list(check.problems))
