"""The map's base layer, drawn without any tile server: the real county and city outlines and
the land (coast and Yangtze banks) of ``dispatch.boundaries``, and the Nantong road graph
(``dispatch.roads``).

The base layer is the same for every page, so it is served once as ``/console/map/base.json``
with a version in its address and cached by the browser; pages carry only that address.
"""

from __future__ import annotations

import csv
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import boundaries
from dispatch.roads import ROADS_DIR, load_graph
from supplies.models import Division, DivisionLevel

EDGES_CSV = ROADS_DIR / "edges.csv"


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


def _polygons(area: boundaries.Area) -> list[list[list[list[float]]]]:
    return [[[[lat, lon] for lat, lon in ring] for ring in polygon] for polygon in area.polygons]


@lru_cache(maxsize=1)
def base_json() -> str:
    """Everything the map draws before any data, as JSON: the land, the city and county
    outlines (polygons of rings of [lat, lon]) and the roads."""
    geo = boundaries.load()
    return json.dumps({
        "land": _polygons(geo.land),
        "city": _polygons(geo.city),
        "counties": [{"code": code, "name": area.name, "polygons": _polygons(area)}
                     for code, area in sorted(geo.counties.items())],
        "roads": roads(),
    }, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=1)
def base_url() -> str:
    """The versioned address of the base layer (the version changes with its content)."""
    digest = hashlib.sha256(base_json().encode()).hexdigest()[:12]
    return f"/console/map/base.json?v={digest}"


def county_labels(session: Session) -> list[dict[str, Any]]:
    """Names and seats of the county-level units, to label the map."""
    rows = session.execute(select(Division).where(Division.level == DivisionLevel.county)
                           .order_by(Division.code)).scalars()
    return [{"code": d.code, "name": d.name, "lat": d.lat, "lon": d.lon} for d in rows
            if d.lat is not None and d.lon is not None]
