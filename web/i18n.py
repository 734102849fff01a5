"""Console labels in Chinese (the default) and English.

Every visible label goes through :class:`Translator`: ``t("key", name=...)`` for text,
``t.label("tier", value)`` for enum values. The language comes from ``?lang=`` or the
``relief_lang`` cookie (set by ``/console/lang/{code}``). Data (depot and place names, item
names in the catalogue's language, messages the API itself returns) is shown as stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from relief.platform.messages import CATALOGUE, pydantic_text, render
from relief.platform.statustext import stored

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "relief_lang"

MESSAGES = CATALOGUE  # the console's view of the one catalogue


class Translator:
    """Looks labels up in one language; missing keys show the key (and are logged)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else DEFAULT_LANG
        self._index = LANGS.index(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        """The label ``key``, with ``{name}`` placeholders filled from ``values``."""
        entry = MESSAGES.get(key)
        if entry is None:
            log.warning("missing console label %r", key)
            return key
        text = entry[self._index]
        return text.format(**values) if values else text

    def __contains__(self, key: object) -> bool:
        return key in MESSAGES

    def render(self, key: str, params: Mapping[str, Any]) -> str:
        """A stored catalogue key with its parameters, in this language."""
        return render(key, self.lang, params)

    def stored(self, row: Any) -> str | None:
        """A job row's stored status text (why it failed: ``error_key`` and ``error_params``)
        in this language."""
        return stored(row.error_key, row.error_params, row.error, self.lang)

    def label(self, group: str, value: Any) -> str:
        """The label of an enum value (``tier``, ``city``): its own text when unknown."""
        raw = getattr(value, "value", value)
        key = f"{group}.{raw}"
        return self(key) if key in MESSAGES else str(raw)

    def map_labels(self) -> dict[str, str]:
        """The labels the map script shows."""
        out = {k.removeprefix("js."): self(k) for k in MESSAGES if k.startswith("js.")}
        out.update({"loading": self("map.loading"), "open_desk": self("map.open_desk"),
                    "layer_depots": self("map.layer.depots"),
                    "layer_shelters": self("map.layer.shelters"),
                    "layer_incidents": self("map.layer.incidents"),
                    "layer_roads": self("map.layer.roads")})
        return out


def lang_of(request: Request) -> str:
    """The request's language: ``?lang=``, else the cookie, else Chinese."""
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return wanted if wanted in LANGS else DEFAULT_LANG


def pydantic_message(error: Mapping[str, Any], tr: Translator) -> str:
    """A pydantic validation error as a message in the console's language."""
    return pydantic_text(error, tr.lang)
