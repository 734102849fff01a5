"""Reproducible Nantong planning scenarios built from the seed data (synthetic head counts).

``generate_scenario(kind, sites, seed)`` returns a scenario dict in the planning contract
(docs/planning.md) and a ``meta`` dict describing how it was made. Everything but the head
counts and the site positions comes from ``seed/data`` (docs/seed-data.md): the road graph,
the depots with their tier, the items, the opening stock (usable lots only), the agreement
and capacity reserves with their lead times, the vehicles and the transport enterprises.
Head counts and
sites are **synthetic**; the scenario ``name`` says so and every site name carries ``(合成)``.
The rules are documented in docs/planning.md ("Generated Nantong scenarios").

This module lives outside the pure planning library because it reads the seed files.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from dispatch.planning.needs import DEFAULT_STANDARD, SHELTERED_STANDARD, NeedsStandard
from dispatch.planning.problem import Scenario

Kind = Literal["typhoon", "flood", "earthquake"]
KINDS: tuple[Kind, ...] = ("typhoon", "flood", "earthquake")

DATA_DIR = Path(__file__).resolve().parent.parent / "seed" / "data"
SNAPSHOT_DATE = date(2026, 12, 1)  # the opening stock's reference date (docs/seed-data.md)
CST = timezone(timedelta(hours=8))
DEADLINE_MIN = 600

# Default onsets: in season for the kind; the clock only matters for display and for expiry.
ONSETS: dict[Kind, datetime] = {
    "typhoon": datetime(2026, 8, 3, 20, 0, tzinfo=CST),
    "flood": datetime(2026, 7, 12, 4, 0, tzinfo=CST),
    "earthquake": datetime(2026, 11, 18, 14, 0, tzinfo=CST),
}

# Who is affected, and how many of them need relief goods (share of the township's people).
TYPHOON_COUNTIES = ("320623", "320681", "320614")  # 如东, 启东, 海门: the sea coast
TYPHOON_REACH_KM = 15.0  # townships within this distance of the sea
TYPHOON_SHARE = 0.07  # evacuated to shelters at the coast, falling linearly to 0 at the reach
FLOOD_REACH_KM = 10.0  # townships within this distance of the Yangtze bank
FLOOD_SHARE = 0.06
FLOOD_CLOSE_KM = 6.0  # road edges with both ends this close to the bank are flooded
FLOOD_CLOSE_SHARE = 0.6  # ... this share of them (seeded)
QUAKE_RADIUS_KM = 30.0
QUAKE_SHARE = 0.05  # homeless at the epicentre, falling as (1 - d/R)^2
MIN_SITE_PEOPLE = 5

# Fleet details the seed does not give (synthetic, documented in docs/planning.md).
SPEED_FACTOR = {"heavy_truck": 0.85, "enterprise_truck": 0.85, "medium_truck": 0.9,
                "light_van": 1.0}
LOAD_MIN = {"township": 15, "county": 20, "city": 25, "agreement": 30, "capacity": 30}
SUPPLIER_TRUCKS = 2  # suppliers deliver with their own trucks (when the seed lists none)
SUPPLIER_TRUCK_KG, SUPPLIER_TRUCK_M3 = 8000.0, 40.0
ENTERPRISE_DEPOTS = 3  # a transport enterprise's trucks report to its 3 nearest big depots
ROAD_DETOUR, ROAD_KMH = 1.3, 50.0  # to time an enterprise's drive to its depot


def _rows(data_dir: Path, name: str) -> Iterator[dict[str, str]]:
    with (data_dir / name).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield {k: (v or "").strip() for k, v in row.items() if k is not None}


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _xy(lat: float, lon: float) -> tuple[float, float]:
    """Local equirectangular km around Nantong (good to < 1 % over the city)."""
    return (lon - 120.9) * 111.32 * math.cos(math.radians(32.0)), (lat - 32.0) * 110.57


def _polyline_km(lat: float, lon: float, line: list[tuple[float, float]]) -> float:
    """Distance in km from a point to a polyline of (lat, lon) vertices."""
    px, py = _xy(lat, lon)
    best = math.inf
    for (la1, lo1), (la2, lo2) in itertools.pairwise(line):
        ax, ay = _xy(la1, lo1)
        bx, by = _xy(la2, lo2)
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy)
                                                 / (dx * dx + dy * dy)))
        best = min(best, math.hypot(px - ax - t * dx, py - ay - t * dy))
    return best


def _inside(lat: float, lon: float, poly: list[tuple[float, float]]) -> bool:
    """Ray casting point-in-polygon on (lat, lon) vertices."""
    inside = False
    n = len(poly)
    for k in range(n):
        (la1, lo1), (la2, lo2) = poly[k], poly[(k + 1) % n]
        if (la1 > lat) != (la2 > lat):
            cross = lo1 + (lat - la1) * (lo2 - lo1) / (la2 - la1)
            if lon < cross:
                inside = not inside
    return inside


@dataclass(frozen=True)
class _Town:
    code: str
    name: str
    county: str
    lat: float
    lon: float
    people: int
    node: str


@dataclass
class _Seed:
    towns: list[_Town]
    county_names: dict[str, str]
    depots: dict[str, dict[str, str]]
    items: dict[str, dict[str, str]]
    stock: dict[str, dict[str, int]]  # depot -> item -> usable units
    agreements: list[dict[str, str]]
    capacity: list[dict[str, str]]
    vehicles: list[dict[str, str]]
    enterprises: list[dict[str, str]]
    nodes: list[dict[str, str]]
    edges: list[dict[str, str]]
    sea: list[tuple[float, float]]
    river: list[tuple[float, float]]
    land: list[list[tuple[float, float]]]


def _load(data_dir: Path, onset: datetime) -> _Seed:
    divisions = list(_rows(data_dir, "divisions.csv"))
    coords = {r["code"]: r for r in _rows(data_dir, "division_coords.csv")}
    population = {r["code"]: int(r["population"]) for r in _rows(data_dir, "population.csv")}
    county_names = {r["code"]: r["name"] for r in divisions if r["level"] == "county"}
    towns = [
        _Town(
            code=r["code"],
            name=r["name"],
            county=r["parent_code"],
            lat=float(coords[r["code"]]["lat"]),
            lon=float(coords[r["code"]]["lon"]),
            people=population.get(r["code"], 0),
            node=f"T-{r['code']}",
        )
        for r in divisions
        if r["level"] == "township"
    ]
    # the stock is the snapshot of SNAPSHOT_DATE; a lot counts unless it has expired by the
    # snapshot date or by the onset, whichever is later
    cutoff = max(onset.date(), SNAPSHOT_DATE)
    stock: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in _rows(data_dir, "opening_stock.csv"):
        if r["expiry"] and date.fromisoformat(r["expiry"]) <= cutoff:
            continue
        stock[r["depot_code"]][r["item_code"]] += int(r["quantity"])
    outline: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for r in _rows(data_dir, "outlines.csv"):
        outline[r["polygon"]].append((int(r["seq"]), float(r["lat"]), float(r["lon"])))
    polys = {k: [(la, lo) for _, la, lo in sorted(v)] for k, v in outline.items()}
    mainland = polys["land_mainland"]
    return _Seed(
        towns=towns,
        county_names=county_names,
        depots={r["code"]: r for r in _rows(data_dir, "depots.csv")},
        items={r["code"]: r for r in _rows(data_dir, "items.csv")},
        stock={k: dict(v) for k, v in stock.items()},
        agreements=list(_rows(data_dir, "agreements.csv")),
        capacity=list(_rows(data_dir, "capacity.csv")),
        vehicles=list(_rows(data_dir, "vehicles.csv")),
        enterprises=list(_rows(data_dir, "transport_enterprises.csv")),
        nodes=list(_rows(data_dir, "roads/nodes.csv")),
        edges=list(_rows(data_dir, "roads/edges.csv")),
        # mainland outline: vertices 9..24 are the sea coast (如东 to 启东), 24..41 the
        # Yangtze bank (启东 to the western boundary); see seed/data/outlines.csv notes
        sea=mainland[9:25],
        river=mainland[24:42],
        land=[mainland, polys["chongming_north_strip"]],
    )


# -- who is affected ----------------------------------------------------------------------


def _affected(
    kind: Kind, seed: _Seed, rng: random.Random, quake_radius_km: float = QUAKE_RADIUS_KM
) -> tuple[dict[str, float], dict[str, Any]]:
    """Affected people per township code (floats, before splitting into sites) and details."""
    out: dict[str, float] = {}
    info: dict[str, Any] = {}
    if kind == "typhoon":
        for t in seed.towns:
            if t.county not in TYPHOON_COUNTIES:
                continue
            d = _polyline_km(t.lat, t.lon, seed.sea)
            if d <= TYPHOON_REACH_KM:
                out[t.code] = t.people * TYPHOON_SHARE * (1 - d / TYPHOON_REACH_KM * 0.75)
        info["rule"] = (
            f"coastal townships of 如东/启东/海门 within {TYPHOON_REACH_KM:g} km of the sea; "
            f"evacuees = township people x {TYPHOON_SHARE:g} x (1 - 0.75 d/{TYPHOON_REACH_KM:g})"
        )
    elif kind == "flood":
        for t in seed.towns:
            d = _polyline_km(t.lat, t.lon, seed.river)
            if t.county == "320614" and _inside(t.lat, t.lon, seed.land[1]):
                d = 0.0  # 海永: on Chongming, in the river
            if d <= FLOOD_REACH_KM:
                out[t.code] = t.people * FLOOD_SHARE * (1 - d / FLOOD_REACH_KM * 0.75)
        info["rule"] = (
            f"townships within {FLOOD_REACH_KM:g} km of the Yangtze bank; evacuees = township "
            f"people x {FLOOD_SHARE:g} x (1 - 0.75 d/{FLOOD_REACH_KM:g})"
        )
    else:
        mainland = [t for t in seed.towns if _inside(t.lat, t.lon, seed.land[0])]
        centre = rng.choice(mainland)
        lat = centre.lat + rng.uniform(-0.05, 0.05)
        lon = centre.lon + rng.uniform(-0.05, 0.05)
        for t in seed.towns:
            d = _km(lat, lon, t.lat, t.lon)
            if d <= quake_radius_km:
                out[t.code] = t.people * QUAKE_SHARE * (1 - d / quake_radius_km) ** 2
        info["epicentre"] = {"lat": round(lat, 5), "lon": round(lon, 5), "near": centre.name}
        info["rule"] = (
            f"townships within {quake_radius_km:g} km of the epicentre; homeless = township "
            f"people x {QUAKE_SHARE:g} x (1 - d/{quake_radius_km:g})^2"
        )
    return out, info


def _split(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of an integer total by weights."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda k: out[k] - raw[k])
    for k in order[: total - sum(out)]:
        out[k] += 1
    return out


def _place(town: _Town, seed: _Seed, rng: random.Random, spread_km: float) -> tuple[float, float]:
    """A random point within spread_km of the township point, on the same land polygon."""
    poly = seed.land[0] if _inside(town.lat, town.lon, seed.land[0]) else seed.land[1]
    for _ in range(30):
        r = spread_km * math.sqrt(rng.random())
        a = rng.uniform(0, 2 * math.pi)
        lat = town.lat + r * math.sin(a) / 110.57
        lon = town.lon + r * math.cos(a) / (111.32 * math.cos(math.radians(town.lat)))
        if _inside(lat, lon, poly):
            return round(lat, 5), round(lon, 5)
    return town.lat, town.lon


def _sites(
    kind: Kind, n_sites: int, seed: _Seed, rng: random.Random, scale: float,
    quake_radius_km: float = QUAKE_RADIUS_KM,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    affected, info = _affected(kind, seed, rng, quake_radius_km)
    towns = {t.code: t for t in seed.towns}
    ranked = sorted(affected, key=lambda c: (-affected[c], c))
    if n_sites < len(ranked):
        chosen = ranked[:n_sites]
        per_town = dict.fromkeys(chosen, 1)
    else:
        chosen = ranked
        extra = _split(n_sites - len(chosen), [affected[c] for c in chosen])
        per_town = {c: 1 + e for c, e in zip(chosen, extra, strict=True)}
    label = {"typhoon": "避灾安置点", "flood": "转移安置点", "earthquake": "受灾村(居)"}[kind]
    sites: list[dict[str, Any]] = []
    for code in sorted(chosen):
        town = towns[code]
        n = per_town[code]
        people = round(affected[code] * scale)
        weights = [rng.gammavariate(2.0, 1.0) for _ in range(n)]
        for k, p in enumerate(_split(people, weights), start=1):
            lat, lon = _place(town, seed, rng, 1.0 if n == 1 else 4.0)
            sites.append(
                {
                    "id": f"{code}-{k:02d}",
                    "name": f"{town.name}{label}{k}(合成)",
                    "lat": lat,
                    "lon": lon,
                    "people": max(MIN_SITE_PEOPLE, p),
                    "service_min": 20 if kind == "typhoon" else 15,
                }
            )
    info["townships"] = len(chosen)
    return sites, info


# -- sources and fleet ----------------------------------------------------------------------


def _standard(kind: Kind) -> NeedsStandard:
    """Typhoon and flood evacuees are in shelters (no tent); earthquake homeless need tents."""
    return DEFAULT_STANDARD if kind == "earthquake" else SHELTERED_STANDARD


VehicleType = tuple[str, float, float]  # kind, capacity kg, capacity m3


def _group(rows: list[dict[str, str]]) -> dict[VehicleType, int]:
    """Count a depot's seed vehicles by kind and capacity."""
    groups: dict[VehicleType, int] = defaultdict(int)
    for v in rows:
        groups[v["kind"], float(v["capacity_kg"]), float(v["capacity_m3"])] += 1
    return groups


def _vehicle_types(code: str, groups: dict[VehicleType, int], available_min: int | None,
                   default_speed: float) -> list[dict[str, Any]]:
    """Scenario vehicle entries of one source, one per kind and capacity."""
    out = []
    for (kind, kg, m3), n in sorted(groups.items()):
        entry: dict[str, Any] = {"id": f"{code}/{kind}", "source": code, "count": n,
                                 "capacity_kg": kg, "capacity_m3": m3}
        if available_min is not None:
            entry["available_min"] = available_min
        entry["speed_factor"] = SPEED_FACTOR.get(kind, default_speed)
        out.append(entry)
    return out


def _sources_and_fleet(
    seed: _Seed, codes: list[str], deadline: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    needed = set(codes)
    fleet: dict[str, list[dict[str, str]]] = defaultdict(list)
    for v in seed.vehicles:
        fleet[v["depot_code"]].append(v)
    sources: list[dict[str, Any]] = []
    vehicles: list[dict[str, Any]] = []
    skipped_no_vehicle = 0

    def add_source(code: str, tier: str, ready: int, stock: dict[str, int]) -> None:
        d = seed.depots[code]
        sources.append(
            {
                "id": code,
                "name": d["name"],
                "tier": tier,
                "lat": float(d["lat"]),
                "lon": float(d["lon"]),
                "ready_min": ready,
                "load_min": LOAD_MIN[tier],
                "stock": {c: q for c, q in sorted(stock.items()) if q > 0},
            }
        )

    # government depots (township, county, city) with their own vehicles
    for code, d in seed.depots.items():
        if d["kind"] != "government":
            continue
        stock = {c: q for c, q in seed.stock.get(code, {}).items() if c in needed and q > 0}
        big = d["tier"] in ("county", "city")
        if not fleet.get(code) and not big:
            skipped_no_vehicle += 1 if stock else 0
            continue
        if not stock and not big:
            continue
        add_source(code, d["tier"], 0, stock)
        vehicles += _vehicle_types(code, _group(fleet.get(code, [])), None, 1.0)
    # agreement and capacity reserves: sources with a ready time, delivering with own trucks
    committed: dict[str, dict[str, int]] = defaultdict(dict)
    lead: dict[str, int] = {}
    for r in seed.agreements:
        if r["item_code"] in needed:
            committed[r["depot_code"]][r["item_code"]] = int(r["committed_quantity"])
            lead[r["depot_code"]] = round(float(r["lead_time_hours"]) * 60)
    for r in seed.capacity:
        ready = round(float(r["lead_time_hours"]) * 60)
        made = math.floor(int(r["units_per_day"]) * max(0, deadline - ready) / 1440)
        if r["item_code"] in needed and made > 0:
            committed[r["depot_code"]][r["item_code"]] = made
            lead[r["depot_code"]] = ready
    for code in sorted(committed):
        tier = seed.depots[code]["kind"]  # "agreement" or "capacity"
        add_source(code, tier, lead[code], committed[code])
        groups = _group(fleet.get(code, []))
        if not groups:  # older seed data: no enterprise trucks listed
            groups["supplier_truck", SUPPLIER_TRUCK_KG, SUPPLIER_TRUCK_M3] = SUPPLIER_TRUCKS
        vehicles += _vehicle_types(code, groups, lead[code], SPEED_FACTOR["heavy_truck"])
    # transport enterprises: their trucks report to the nearest county/city depots
    big_depots = [s for s in sources if s["tier"] in ("county", "city")]
    for e in seed.enterprises:
        lat, lon = float(e["lat"]), float(e["lon"])
        near = sorted(big_depots, key=lambda s: (_km(lat, lon, s["lat"], s["lon"]), s["id"]))
        near = near[:ENTERPRISE_DEPOTS]
        for s, n in zip(near, _split(int(e["vehicles"]), [1.0] * len(near)), strict=True):
            if n == 0:
                continue
            drive = math.ceil(_km(lat, lon, s["lat"], s["lon"]) * ROAD_DETOUR / ROAD_KMH * 60)
            vehicles.append(
                {
                    "id": f"{e['code']}@{s['id']}",
                    "source": s["id"],
                    "count": n,
                    "capacity_kg": float(e["capacity_kg"]),
                    "capacity_m3": float(e["capacity_m3"]),
                    "available_min": round(float(e["lead_time_hours"]) * 60) + drive,
                    "speed_factor": SPEED_FACTOR["heavy_truck"],
                }
            )
    return sources, vehicles, {"township_stock_without_vehicle": skipped_no_vehicle}


# -- network ------------------------------------------------------------------------------


def _network(
    kind: Kind, seed: _Seed, rng: random.Random, close_km: float = FLOOD_CLOSE_KM,
    close_share: float = FLOOD_CLOSE_SHARE,
) -> tuple[dict[str, Any], list[list[str]]]:
    nodes = [
        {"id": n["id"], "lat": float(n["lat"]), "lon": float(n["lon"])} for n in seed.nodes
    ]
    edges = [
        {"a": e["a"], "b": e["b"], "km": float(e["km"]), "speed_kmh": float(e["speed_kmh"])}
        for e in seed.edges
    ]
    closed: list[list[str]] = []
    if kind == "flood":
        where = {n["id"]: (n["lat"], n["lon"]) for n in nodes}

        def ends(e: dict[str, str]) -> tuple[str, str]:
            return e["a"], e["b"]

        for e in seed.edges:
            if e["kind"] == "bridge":
                closed.append([e["a"], e["b"]])
                continue
            near = all(_polyline_km(*where[x], seed.river) <= close_km for x in ends(e))
            if near and e["kind"] != "expressway" and rng.random() < close_share:
                closed.append([e["a"], e["b"]])
    net: dict[str, Any] = {"mode": "road", "nodes": nodes, "edges": edges}
    if closed:
        net["closed"] = closed
    return net, closed


def _thin_fleet(vehicles: list[dict[str, Any]], share: float, rng: random.Random
                ) -> list[dict[str, Any]]:
    """Keep a seeded sample of ``share`` of the vehicle units (at least one), same types."""
    units = [i for i, v in enumerate(vehicles) for _ in range(int(v["count"]))]
    kept = Counter(rng.sample(units, max(1, round(share * len(units)))))
    return [{**v, "count": kept[i]} for i, v in enumerate(vehicles) if kept[i]]


# -- the scenario -------------------------------------------------------------------------


def generate_scenario(
    kind: Kind,
    sites: int,
    seed: int,
    *,
    onset: datetime | None = None,
    scale: float = 1.0,
    fleet: float = 1.0,
    time_limit_s: float | None = None,
    data_dir: Path = DATA_DIR,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A reproducible Nantong scenario (contract dict) and its generation notes (meta dict).

    ``kind``: typhoon (coastal townships, evacuees in shelters: SHELTERED_STANDARD), flood
    (riverside townships, bridges and riverside roads closed: SHELTERED_STANDARD) or
    earthquake (townships around a seeded epicentre, homeless: DEFAULT_STANDARD with tents).
    ``sites`` sites are spread over the affected townships; ``scale`` multiplies the
    synthetic head counts; ``fleet`` is the share of vehicles available (a seeded sample of
    the seed fleet, e.g. 0.25 when most drivers cannot be reached), for scenarios where the
    trucks, not the stock, limit coverage. The same arguments always give the same scenario.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if sites < 1:
        raise ValueError("sites must be >= 1")
    if not scale > 0:
        raise ValueError("scale must be > 0")
    if not 0 < fleet <= 1:
        raise ValueError("fleet must be in (0, 1]")
    rng = random.Random(f"{kind}:{sites}:{seed}")
    onset = onset or ONSETS[kind]
    data = _load(data_dir, onset)
    standard = _standard(kind)
    codes = [c for c in data.items if c in standard.item_codes()]
    site_list, info = _sites(kind, sites, data, rng, scale)
    sources, vehicles, fleet_info = _sources_and_fleet(data, codes, DEADLINE_MIN)
    if fleet < 1:
        vehicles = _thin_fleet(vehicles, fleet, random.Random(f"{kind}:{sites}:{seed}:fleet"))
    network, closed = _network(kind, data, rng)
    people = sum(s["people"] for s in site_list)
    limit = time_limit_s or (10.0 if sites <= 50 else 30.0 if sites <= 200 else 120.0)
    scenario = {
        "name": f"nantong-{kind}-{len(site_list)}-seed{seed} (synthetic head counts)",
        "onset": onset.isoformat(),
        "deadline_min": DEADLINE_MIN,
        "items": [
            {
                "code": c,
                "name": data.items[c]["name_zh"],
                "unit_kg": float(data.items[c]["unit_weight_kg"]),
                "unit_m3": float(data.items[c]["unit_volume_m3"]),
            }
            for c in codes
        ],
        "needs": standard.model_dump(exclude={"groups"}),  # the v1 shape
        "sites": site_list,
        "sources": sources,
        "vehicles": vehicles,
        "network": network,
        "policy": {
            "tier_order": ["township", "county", "city", "agreement", "capacity", "province"],
            "time_limit_s": limit,
        },
    }
    Scenario.model_validate(scenario)  # the generator never writes an invalid file
    meta = {
        "synthetic": True,
        "note": "head counts and site positions are synthetic (made up by the generator); "
        "depots, stock, reserves, fleet and roads come from seed/data",
        "generator": "dispatch.scenarios.generate_scenario",
        "command": f"relief scenario generate --kind {kind} --sites {sites} --seed {seed}"
        + (f" --scale {scale:g}" if scale != 1.0 else "")
        + (f" --fleet {fleet:g}" if fleet != 1.0 else ""),
        "kind": kind,
        "sites": len(site_list),
        "seed": seed,
        "scale": scale,
        "fleet_share": fleet,
        "vehicle_units": sum(v["count"] for v in vehicles),
        "people": people,
        "onset": onset.isoformat(),
        "standard": "DEFAULT_STANDARD" if kind == "earthquake" else "SHELTERED_STANDARD",
        "closed_edges": len(closed),
        **info,
        **fleet_info,
    }
    return scenario, meta


def write_scenario(scenario: dict[str, Any], meta: dict[str, Any], path: Path) -> Path:
    """Write the scenario JSON and its ``.meta.json`` sidecar; returns the sidecar's path."""
    path.write_text(json.dumps(scenario, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    side = path.with_name(path.stem + ".meta.json")
    side.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return side
