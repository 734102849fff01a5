"""Writing a benchmark's markdown page without losing the hand-written notes below it."""

from __future__ import annotations

from pathlib import Path

NOTES_MARKER = "<!-- notes: kept when the tables above are regenerated -->"


def write_keeping_notes(path: Path, page: str, marker: str = NOTES_MARKER) -> None:
    """Write ``page`` to ``path``, followed by whatever the old file held from ``marker`` on."""
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    notes = previous[previous.index(marker):] if marker in previous else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page.rstrip("\n") + "\n" + ("\n" + notes if notes else ""), encoding="utf-8")
