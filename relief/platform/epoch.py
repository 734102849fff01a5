"""The database epoch: which life of the database this is.

One row (``db_epoch``), given a new random value by every ``relief restore``. Anything handed
to a client that points into the database's history (the exchange feeds' cursors) carries the
epoch, so a client that kept a position from before a restore is told to start again rather
than silently skipping or repeating rows (docs/integration.md, "After a restore").
"""

from __future__ import annotations

import secrets

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from relief.platform.dbtypes import utcnow
from relief.platform.models import DatabaseEpoch


def current_epoch(session: Session) -> str:
    """The epoch of the database this session reads."""
    return str(session.execute(select(DatabaseEpoch.epoch).where(DatabaseEpoch.id == 1)
                               ).scalar_one())


def new_epoch(session: Session, *, reason: str) -> str:
    """Give the database a new epoch (after a restore); returns it."""
    epoch = secrets.token_hex(8)
    changed = session.execute(update(DatabaseEpoch).where(DatabaseEpoch.id == 1).values(
        epoch=epoch, changed_at=utcnow(), reason=reason[:200])).rowcount
    if changed != 1:
        raise RuntimeError("the db_epoch row is missing: is the database migrated?")
    return epoch
