"""The error envelope as a schema, and the OpenAPI that documents it on every error response.

Every 4xx and 5xx answer of the API has the one shape built by
``relief.platform.errors.error_envelope``; these models describe it, and
:func:`document_errors` writes it into the OpenAPI document: each operation lists the error
statuses it can answer with (400, 401, 403, 404, 409, 413, 422, 429, 500; 503 on the readiness
probe), each with this schema, in place of FastAPI's default 422 body (which the API never
sends). Clients and the fuzzing suite (``bench/fuzz.py``) validate error bodies against it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    """One offending input field."""

    field: str = Field(description="Dotted path of the field (``quantity``, ``lines.0.lot``)")
    message: str = Field(description="English text")
    message_zh: str = Field(description="Chinese text (the catalogue's, with its numbers)")


class ErrorBody(BaseModel):
    """What went wrong, in both languages, with the fields it is about."""

    code: str = Field(description="Machine-readable kind: not_found, invalid_input, ...")
    key: str | None = Field(description="Catalogue key of the message (``err.<key>``), when any")
    message: str = Field(description="English text")
    message_zh: str = Field(description="Chinese text")
    fields: list[FieldError] = Field(description="The offending fields; empty when none")
    details: dict[str, Any] = Field(description="The error's numbers (available, retry_after_s...)")


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorBody


# status -> description, for every API operation
API_ERRORS: dict[str, str] = {
    "400": "Bad request (a malformed request the framework refused)",
    "401": "Missing, malformed, unknown, expired or revoked token",
    "403": "Outside the token's role, depots or scopes",
    "404": "A referenced record does not exist",
    "409": "Conflicts with the current state (stock moved, state changed, key reused)",
    "413": "Request body larger than the limit",
    "422": "Invalid input: the fields are named in ``error.fields``",
    "429": "Too many requests; ``Retry-After`` says when to try again",
    "500": "Internal error (answered in the envelope; the connection stays usable)",
}
OTHER_ERRORS = {"413": API_ERRORS["413"], "500": API_ERRORS["500"]}
REF = "#/components/schemas/ErrorEnvelope"
_METHODS = {"get", "post", "put", "patch", "delete"}


def _components(schema: dict[str, Any]) -> dict[str, Any]:
    defs = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(defs.pop("$defs", {}))
    components["ErrorEnvelope"] = defs
    return components


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Write the envelope into ``schema`` (an OpenAPI document, changed in place and returned):
    every error status of every operation refers to ``ErrorEnvelope``; FastAPI's own validation
    error schemas are dropped."""
    components = _components(schema)
    body = {"application/json": {"schema": {"$ref": REF}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            wanted = API_ERRORS if path.startswith("/api/") else OTHER_ERRORS
            for status, description in wanted.items():
                responses[status] = {"description": description, "content": body}
            if "429" in responses:
                responses["429"]["headers"] = {"Retry-After": {
                    "description": "Seconds to wait", "schema": {"type": "integer"}}}
            for status, response in responses.items():
                if status[:1] in {"4", "5"} and status not in wanted:  # 503 of /readyz
                    response["content"] = body
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
