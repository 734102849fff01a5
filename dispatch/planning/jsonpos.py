"""Where each key or element of a JSON text starts, so validation errors can name a line.

``scan(text)`` walks a JSON document that ``json.loads`` already accepted and records, for
every path (a tuple of object keys and array indices), the line and column where that
member's key (objects) or that element (arrays) starts. It also reports duplicate keys,
which ``json.loads`` silently collapses. It is only run when something is wrong, so it
favours clarity over speed.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from json.decoder import scanstring
from typing import Any

Path = tuple[str | int, ...]

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")


@dataclass
class JsonPositions:
    """Line/column (1-based) of each path, plus duplicate keys found while scanning."""

    where: dict[Path, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)

    def line(self, path: Path) -> int | None:
        """Line where ``path`` starts, or None when the path is not in the document."""
        pos = self.where.get(path)
        return pos[0] if pos else None


def scan(text: str) -> JsonPositions:
    """Record the start position of every key and element of a valid JSON text."""
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    out = JsonPositions()

    def lc(offset: int) -> tuple[int, int]:
        line = bisect.bisect_left(newlines, offset)
        col = offset - (newlines[line - 1] + 1 if line else 0)
        return line + 1, col + 1

    def ws(i: int) -> int:
        m = _WS.match(text, i)
        return m.end() if m else i

    def value(i: int, path: Path) -> int:
        i = ws(i)
        ch = text[i]
        if ch == "{":
            return obj(i + 1, path)
        if ch == "[":
            return arr(i + 1, path)
        if ch == '"':
            return scanstring(text, i + 1)[1]
        m = _NUMBER.match(text, i)
        if m and m.end() > i:
            return m.end()
        for lit in _LITERALS:
            if text.startswith(lit, i):
                return i + len(lit)
        raise ValueError(f"unexpected character {ch!r} at offset {i}")

    def obj(i: int, path: Path) -> int:
        seen: set[str] = set()
        i = ws(i)
        if text[i] == "}":
            return i + 1
        while True:
            i = ws(i)
            key, end = scanstring(text, i + 1)
            sub = (*path, key)
            if key in seen:
                out.duplicates.append((sub, lc(i)[0]))
            seen.add(key)
            out.where[sub] = lc(i)
            i = ws(end)
            i = value(i + 1, sub)  # skip ':'
            i = ws(i)
            if text[i] == "}":
                return i + 1
            i += 1  # ','

    def arr(i: int, path: Path) -> int:
        i = ws(i)
        if text[i] == "]":
            return i + 1
        k = 0
        while True:
            i = ws(i)
            out.where[(*path, k)] = lc(i)
            i = value(i, (*path, k))
            i = ws(i)
            if text[i] == "]":
                return i + 1
            i += 1
            k += 1

    start = ws(0)
    out.where[()] = lc(start)
    value(start, ())
    return out


def resolve(data: Any, loc: tuple[str | int, ...]) -> tuple[Path, tuple[str | int, ...]]:
    """Map a pydantic error location onto a document path.

    Returns (deepest path that exists in ``data``, location to show). Location parts that
    pydantic adds but the document lacks (union tags such as ``'road'``, ``'[key]'``) are
    dropped when the next part exists; a missing final field stays in the shown location.
    """
    found: list[str | int] = []
    shown: list[str | int] = []
    cur = data
    parts = [p for p in loc if p != "[key]"]
    descending = True
    for n, part in enumerate(parts):
        if descending and _has(cur, part):
            cur = cur[part]
            found.append(part)
            shown.append(part)
            continue
        nxt = parts[n + 1] if n + 1 < len(parts) else None
        if descending and nxt is not None and _has(cur, nxt):
            continue  # a union tag or wrapper name: not part of the document
        descending = False
        shown.append(part)
    return tuple(found), tuple(shown)


def _has(cur: Any, part: str | int) -> bool:
    if isinstance(cur, dict):
        return isinstance(part, str) and part in cur
    if isinstance(cur, list):
        return isinstance(part, int) and 0 <= part < len(cur)
    return False


def format_path(loc: tuple[str | int, ...]) -> str:
    """Render a location as ``sites[3].demand.water`` (quoted keys when not identifiers)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out
