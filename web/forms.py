"""Form helpers: turn posted fields into the API's input models and show every error at its field.

A form post builds the same pydantic model the API route takes (``ReceiptIn``, ``SiteIn``...)
and calls the same use case. Validation errors (pydantic's, and the domain's ``ReliefError``
with its ``fields``) come back as a :class:`FormState` keyed by field name, which the templates
render beside the inputs, with the values the user typed kept in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from relief.platform.errors import Forbidden, NotFound, ReliefError, Unauthorized
from relief.platform.fields import FORM
from web.i18n import Translator, pydantic_message

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass
class FormState:
    """What one form shows: the values typed, errors per field, a form-wide message."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    fields: set[str] = field(default_factory=set)  # the form's field names, besides values
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(cls, form: FormData | Mapping[str, Any], skip: Iterable[str] = ()) -> FormState:
        """The state of a posted form (its text fields, trimmed)."""
        skipped = {"csrf_token", "idem", *skip}
        values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k not in skipped}
        return cls(values=values)

    @property
    def failed(self) -> bool:
        """True when the form has any error to show."""
        return bool(self.errors or self.message)

    def value(self, name: str, default: str = "") -> str:
        """The value typed into ``name`` (or ``default``)."""
        return self.values.get(name, default)

    def error(self, name: str) -> str:
        """The error message of field ``name`` ('' when none)."""
        return self.errors.get(name, "")

    def add(self, name: str | None, message: str) -> None:
        """Attach ``message`` to field ``name``, or to the whole form when the field is unknown."""
        if name:
            self.errors.setdefault(name, message)
        elif self.message is None:
            self.message = message
        else:
            self.message = f"{self.message}; {message}"

    def absorb_validation(self, exc: ValidationError, tr: Translator,
                          fields: Iterable[str] = ()) -> None:
        """Put pydantic's errors at their fields (model-level errors go to the form)."""
        self.status = 422
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            self._place(loc, pydantic_message(err, tr), fields)

    def _place(self, loc: list[str], message: str, fields: Iterable[str] = ()) -> None:
        known = set(fields) | set(self.values) | self.fields
        joined = ".".join(loc)
        if joined in known:
            self.add(joined, message)
        elif loc and loc[0] in known:
            self.add(loc[0], message)
        else:
            self.add(None, f"{joined}: {message}" if joined else message)

    def absorb_relief(self, exc: ReliefError, tr: Translator,
                      fields: Iterable[str] = ()) -> None:
        """Put a domain error at the fields it names, else on the form, in the console's
        language (the catalogue's text of the error, with its numbers)."""
        self.status = exc.status
        self.details = exc.details
        text = exc.text(tr.lang)
        for f in exc.fields:
            message = text if exc.key is not None else f.get("message", text)
            self._place(str(f.get("field", "")).split("."), message, fields)
        if not exc.fields:
            self.add(None, text)
        elif exc.status != 422 and self.message is None:  # say what happened, not only where
            self.message = tr("form.error.domain", message=text)


def clean(values: Mapping[str, str], names: Iterable[str]) -> dict[str, Any]:
    """The non-empty fields among ``names`` (empty inputs mean "not given")."""
    return {n: values[n] for n in names if values.get(n, "") != ""}


def build(model: type[M], state: FormState, tr: Translator, **fixed: Any) -> M | None:
    """Validate the form into ``model`` (only the model's fields, plus ``fixed``), or record the
    errors in ``state`` and return None."""
    data = {**clean(state.values, model.model_fields), **fixed}
    state.fields.update(n for n in model.model_fields if n not in fixed)
    try:
        return model.model_validate(data, context={FORM: True})
    except ValidationError as exc:
        state.absorb_validation(exc, tr, fields=model.model_fields)
        return None


def attempt(state: FormState, tr: Translator, action: Callable[[], T]) -> tuple[bool, T | None]:
    """Run ``action``; a validation or domain error lands in ``state`` and gives (False, None).

    Forbidden and unauthorised requests, and unknown records that name no field, are not form
    errors: they propagate to the console's error pages.
    """
    try:
        return True, action()
    except ValidationError as exc:
        state.absorb_validation(exc, tr)
    except (Forbidden, Unauthorized):
        raise
    except NotFound as exc:
        if not exc.fields:
            raise
        state.absorb_relief(exc, tr)
    except ReliefError as exc:
        state.absorb_relief(exc, tr)
    return False, None
