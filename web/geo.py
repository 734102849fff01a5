"""The map's base layer, drawn without any tile server: the rough county and land outlines of
``seed/data/outlines.csv`` and the Nantong road graph (``dispatch.roads``)."""

from __future__ import annotations

import csv
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.roads import ROADS_DIR, load_graph
from supplies.models import Division, DivisionLevel

OUTLINES_CSV = ROADS_DIR.parent / "outlines.csv"
EDGES_CSV = ROADS_DIR / "edges.csv"


@lru_cache(maxsize=2)
def outlines(path: Path = OUTLINES_CSV) -> list[dict[str, Any]]:
    """Polygons as ``{"name", "kind": "land"|"county", "code", "points": [[lat, lon], ...]}``."""
    points: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            points[row["polygon"]].append((int(row["seq"]), float(row["lat"]), float(row["lon"])))
    out = []
    for name, rows in points.items():
        rows.sort()
        county = name.startswith("county_")
        out.append({"name": name, "kind": "county" if county else "land",
                    "code": name.removeprefix("county_") if county else None,
                    "points": [[round(lat, 5), round(lon, 5)] for _, lat, lon in rows]})
    return out


@lru_cache(maxsize=2)
def _edge_kinds(path: Path = EDGES_CSV) -> dict[frozenset[str], tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {frozenset((r["a"], r["b"])): (r.get("kind") or "local", r.get("road") or "")
                for r in csv.DictReader(handle)}


@lru_cache(maxsize=1)
def roads() -> dict[str, Any]:
    """The road graph for drawing and picking: nodes ``{id: [lat, lon, name]}`` and edges
    ``[a, b, kind, road name]`` (kind: expressway, national, provincial, bridge, local)."""
    graph = load_graph()
    kinds = _edge_kinds()
    return {
        "nodes": {n.id: [round(n.lat, 5), round(n.lon, 5), n.name] for n in graph.nodes.values()},
        "edges": [[e.a, e.b, *kinds.get(frozenset((e.a, e.b)), ("local", e.road))]
                  for e in graph.edges],
    }


def base_layer() -> dict[str, Any]:
    """Everything the map draws before any data: outlines and roads."""
    return {"outlines": outlines(), "roads": roads()}


def county_labels(session: Session) -> list[dict[str, Any]]:
    """Names and seats of the county-level units, to label the map."""
    rows = session.execute(select(Division).where(Division.level == DivisionLevel.county)
                           .order_by(Division.code)).scalars()
    return [{"code": d.code, "name": d.name, "lat": d.lat, "lon": d.lon} for d in rows
            if d.lat is not None and d.lon is not None]
