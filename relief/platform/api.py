"""Shared pieces of the HTTP layer: pagination, idempotent POSTs, the write context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from relief.platform import idempotency
from relief.platform.auth import get_database
from relief.platform.fields import INT32_MAX, INT64_MAX
from relief.platform.principal import Principal
from relief.platform.settings import Settings

T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any unique string (e.g. a UUID). A retry with the same key returns the "
        "first response and writes nothing; the same key with a different body is a 409.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
MAX_OFFSET = 100_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")]
# Ids in paths and filters: a number outside the INTEGER column's range names no row, and is
# refused (422) before it reaches the database (PostgreSQL would fail on it).
PathId = Annotated[int, Path(ge=1, le=INT32_MAX, description="Id")]
QueryId = Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Id")]
Seq = Annotated[int, Path(ge=1, le=INT32_MAX, description="Position, from 1")]
# Cursors over BIGINT ids (the ledger's moves).
Cursor = Annotated[int | None, Query(ge=0, le=INT64_MAX, description="Cursor: last id seen")]


class Page(BaseModel, Generic[T]):
    """One page of a list and the total number of rows matching the filters."""

    items: list[T]
    total: int
    limit: int
    offset: int


def settings_of(request: Request) -> Settings:
    """The application's settings."""
    return request.app.state.settings  # type: ignore[no-any-return]


def idempotent_post(
    request: Request,
    *,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    use_case: Callable[[Session], BaseModel],
    status_code: int = 201,
) -> JSONResponse:
    """Run a POST's use case in one transaction, honouring its Idempotency-Key."""
    status, content = idempotency.run(
        get_database(request),
        principal=principal,
        key=key,
        method=request.method,
        path=request.url.path,
        payload=body.model_dump(mode="json") if body is not None else None,
        status_code=status_code,
        use_case=use_case,
    )
    return JSONResponse(content=content, status_code=status)
