"""Idempotent writes: a retry with the same ``Idempotency-Key`` returns the first response.

The key is scoped to the calling token. Its record is claimed at the start of the write
transaction and completed with the response before commit, so it commits or rolls back with
the writes it stands for. A concurrent retry blocks on the claim, then replays. The same key
with a different request (method, path or body) is a 409. Errors are not stored: a failed
request wrote nothing, so retrying it simply runs it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relief.platform.db import Database
from relief.platform.errors import IdempotencyMismatch, InvalidInput
from relief.platform.models import IdempotencyRecord
from relief.platform.principal import Principal

MAX_KEY_LENGTH = 200


def fingerprint(method: str, path: str, payload: Any) -> str:
    """A stable hash of the request a key was first used with."""
    canonical = json.dumps(
        {"method": method, "path": path, "body": payload}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, expected: str) -> tuple[int, Any]:
    if record.fingerprint != expected:
        raise IdempotencyMismatch.of("idempotency.reused", field="Idempotency-Key")
    return int(record.status_code or 200), record.response


def run(
    db: Database,
    *,
    principal: Principal,
    key: str | None,
    method: str,
    path: str,
    payload: Any,
    status_code: int,
    use_case: Callable[[Session], BaseModel],
    stored: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[int, Any]:
    """Run ``use_case`` once per key and return (status, JSON body), replaying on retries.
    ``stored``: what of the body is kept for replays (a new token's secret is not: a replay
    answers without it)."""
    if key is None:
        return status_code, db.write(use_case).model_dump(mode="json")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput.of("idempotency.length", field="Idempotency-Key", max=MAX_KEY_LENGTH)
    expected = fingerprint(method, path, payload)

    def transaction(session: Session) -> tuple[int, Any]:
        existing = session.get(IdempotencyRecord, (principal.token_id, key))
        if existing is not None:
            return _replay(existing, expected)
        claim = IdempotencyRecord(token_id=principal.token_id, key=key, fingerprint=expected)
        session.add(claim)
        session.flush()  # blocks behind a concurrent claim of the same key until it ends
        body = use_case(session).model_dump(mode="json")
        claim.status_code = status_code
        claim.response = stored(body) if stored is not None else body
        session.add(claim)
        return status_code, body

    try:
        return db.write(transaction)
    except IntegrityError:
        # A concurrent request with the same key committed first: replay its response.
        with db.read_session() as session:
            existing = session.get(IdempotencyRecord, (principal.token_id, key))
            if existing is None or existing.status_code is None:
                raise
            return _replay(existing, expected)
