"""Tiny named scenarios for the planning tests (plain dicts; build with ``Scenario``).

Places sit on the meridian 120.9 E so that ``km_north(k)`` is exactly k km (haversine) from
the origin at 32.0 N; with ``network = FLAT`` (detour 1, 60 km/h) 1 km takes 1 minute.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from dispatch.planning.problem import Scenario

LAT0 = 32.0
LON0 = 120.9
KM_PER_DEG = 6371.0 * math.pi / 180
FLAT = {"mode": "straight", "detour": 1.0, "speed_kmh": 60.0}


def km_north(km: float) -> float:
    """Latitude k km north of the origin along the meridian."""
    return LAT0 + km / KM_PER_DEG


def site(sid: str, km: float, people: int, **extra: Any) -> dict[str, Any]:
    """A site k km north of the origin."""
    return {"id": sid, "name": sid, "lat": km_north(km), "lon": LON0, "people": people, **extra}


def source(sid: str, km: float, stock: dict[str, int], **extra: Any) -> dict[str, Any]:
    """A township source k km north of the origin."""
    return {
        "id": sid,
        "name": sid,
        "tier": extra.pop("tier", "township"),
        "lat": km_north(km),
        "lon": LON0,
        "stock": stock,
        **extra,
    }


ITEMS = [
    {"code": "water", "name": "water", "unit_kg": 1.0, "unit_m3": 0.001},
    {"code": "kit", "name": "kit", "unit_kg": 2.0, "unit_m3": 0.01},
]


def line() -> dict[str, Any]:
    """One depot D at km 0 with one truck; sites A (10 km, 40 people), B (20 km, 50), C (30 km,
    60) with explicit water demand; deadline 100, load 10, service 5, capacity 10 kg."""
    return {
        "name": "line",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 100,
        "items": copy.deepcopy(ITEMS),
        "sites": [
            site("A", 10, 40, demand={"water": 4}, service_min=5),
            site("B", 20, 50, demand={"water": 5}, service_min=5),
            site("C", 30, 60, demand={"water": 6}, service_min=5),
        ],
        "sources": [source("D", 0, {"water": 12, "kit": 5}, load_min=10)],
        "vehicles": [{"id": "T", "source": "D", "capacity_kg": 10, "capacity_m3": 1.0}],
        "network": dict(FLAT),
    }


def two_depots() -> dict[str, Any]:
    """Depots N (km 0, water only) and F (km 50, water and kits), a truck each (F's is
    faster, speed factor 2); sites X (km 5) and Y (km 45) need water and kits."""
    return {
        "name": "two-depots",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 120,
        "items": copy.deepcopy(ITEMS),
        "sites": [
            site("X", 5, 30, demand={"water": 6, "kit": 2}, service_min=5),
            site("Y", 45, 20, demand={"water": 3, "kit": 1}, service_min=5),
        ],
        "sources": [
            source("N", 0, {"water": 20}, load_min=10),
            source("F", 50, {"water": 20, "kit": 10}, load_min=10, tier="county"),
        ],
        "vehicles": [
            {"id": "n", "source": "N", "capacity_kg": 100, "capacity_m3": 1.0},
            {"id": "f", "source": "F", "capacity_kg": 100, "capacity_m3": 1.0, "speed_factor": 2.0},
        ],
        "network": dict(FLAT),
    }


def build(data: dict[str, Any]) -> Scenario:
    """Validate a scenario dict."""
    return Scenario.model_validate(data)


# -- scenarios for the engine (allocation and solve tests) -------------------------------


def truck(vid: str, source_id: str, kg: float = 100, **extra: Any) -> dict[str, Any]:
    """A vehicle of the given weight capacity (volume is never binding: 10 m3)."""
    return {"id": vid, "source": source_id, "capacity_kg": kg, "capacity_m3": 10.0, **extra}


def enterprise_yard(km: float, kg: float = 10, *others: dict[str, Any]) -> dict[str, Any]:
    """The ``bases`` and ``vehicles`` of a transport enterprise's yard Y (k km north) with
    one truck e of ``kg`` that may load anywhere, after the vehicles ``others``."""
    return {"bases": [{"id": "Y", "name": "yard", "lat": km_north(km), "lon": LON0}],
            "vehicles": [*others, {"id": "e", "base": "Y", "loads_at": "any",
                                   "capacity_kg": kg, "capacity_m3": 10.0}]}


def tiers() -> dict[str, Any]:
    """One site S (km 10, 100 people, 10 water) and three sources that can each serve it
    alone, by the deadline: city Y at km 10 (nearest), county C at km 6, township T at
    km 0 (farthest); a truck each. Tiered draw must take everything from T."""
    return {
        "name": "tiers",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 100,
        "items": copy.deepcopy(ITEMS),
        "sites": [site("S", 10, 100, demand={"water": 10}, service_min=5)],
        "sources": [
            source("T", 0, {"water": 100}, load_min=10),
            source("C", 6, {"water": 100}, load_min=10, tier="county"),
            source("Y", 10.5, {"water": 100}, load_min=10, tier="city"),
        ],
        "vehicles": [truck("t", "T"), truck("c", "C"), truck("y", "Y")],
        "network": dict(FLAT),
    }


def lead_time() -> dict[str, Any]:
    """Site S (km 10) needs 30 water; township T (km 0) has 10; agreement A (km 5) has 100
    but is ready only at minute 40. Deadline 120: A's water must leave after minute 40."""
    return {
        "name": "lead-time",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 120,
        "items": copy.deepcopy(ITEMS),
        "sites": [site("S", 10, 60, demand={"water": 30}, service_min=5)],
        "sources": [
            source("T", 0, {"water": 10}, load_min=10),
            source("A", 5, {"water": 100}, load_min=10, tier="agreement", ready_min=40),
        ],
        "vehicles": [truck("t", "T"), truck("a", "A")],
        "network": dict(FLAT),
    }


def big_site() -> dict[str, Any]:
    """One site B (km 10, 500 people) needing 35 water; depot D (km 0) with one 10-kg
    truck. Deadline 200: only four trips (three full, one of 5) deliver it all."""
    return {
        "name": "big-site",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 200,
        "items": copy.deepcopy(ITEMS),
        "sites": [site("B", 10, 500, demand={"water": 35}, service_min=5)],
        "sources": [source("D", 0, {"water": 100}, load_min=10)],
        "vehicles": [truck("t", "D", 10)],
        "network": dict(FLAT),
    }


def three_loads() -> dict[str, Any]:
    """Depot D (km 0), one 10-kg truck, sites P, Q, R (km 5, 10, 15) each needing exactly a
    truckload of water: three trips of one vehicle cover all."""
    return {
        "name": "three-loads",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 200,
        "items": copy.deepcopy(ITEMS),
        "sites": [
            site("P", 5, 30, demand={"water": 10}, service_min=5),
            site("Q", 10, 40, demand={"water": 10}, service_min=5),
            site("R", 15, 50, demand={"water": 10}, service_min=5),
        ],
        "sources": [source("D", 0, {"water": 100}, load_min=10)],
        "vehicles": [truck("t", "D", 10)],
        "network": dict(FLAT),
    }


def bridge(alternative: bool) -> dict[str, Any]:
    """Road mode. Depot D (node d, km 0) and site X (node x, km 20) across a river whose
    bridge a-b is closed; site Y (node y, km 2) on the depot's bank. With ``alternative``
    a slow detour d-c-x exists; without it X is cut off (unreachable)."""
    nodes = [
        {"id": "d", "lat": km_north(0), "lon": LON0},
        {"id": "a", "lat": km_north(8), "lon": LON0},
        {"id": "b", "lat": km_north(12), "lon": LON0},
        {"id": "x", "lat": km_north(20), "lon": LON0},
        {"id": "y", "lat": km_north(2), "lon": LON0},
        {"id": "c", "lat": km_north(10), "lon": LON0 + 0.3},
    ]
    edges = [
        {"a": "d", "b": "a", "km": 8, "speed_kmh": 60},
        {"a": "a", "b": "b", "km": 4, "speed_kmh": 60},
        {"a": "b", "b": "x", "km": 8, "speed_kmh": 60},
        {"a": "d", "b": "y", "km": 2, "speed_kmh": 60},
    ]
    if alternative:
        edges += [
            {"a": "d", "b": "c", "km": 40, "speed_kmh": 40},
            {"a": "c", "b": "x", "km": 40, "speed_kmh": 40},
        ]
    return {
        "name": f"bridge-{'detour' if alternative else 'cut'}",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 300,
        "items": copy.deepcopy(ITEMS),
        "sites": [
            site("X", 20, 80, demand={"water": 5}, service_min=5),
            site("Y", 2, 20, demand={"water": 5}, service_min=5),
        ],
        "sources": [source("D", 0, {"water": 100}, load_min=10)],
        "vehicles": [truck("t", "D", 10)],
        "network": {"mode": "road", "nodes": nodes, "edges": edges, "closed": [["a", "b"]]},
    }


def short(what: str) -> dict[str, Any]:
    """Sites P (km 10, 60 people) and Q (km 12, 40 people), 10 water each. ``fleet``: plenty
    of stock but one 10-kg truck and a deadline (45) that allows one trip; ``stock``: a big
    fleet but only 12 water."""
    data = {
        "name": f"short-{what}",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 45 if what == "fleet" else 200,
        "items": copy.deepcopy(ITEMS),
        "sites": [
            site("P", 10, 60, demand={"water": 10}, service_min=5),
            site("Q", 12, 40, demand={"water": 10}, service_min=5),
        ],
        "sources": [source("D", 0, {"water": 100 if what == "fleet" else 12}, load_min=10)],
        "vehicles": [truck("t", "D", 10 if what == "fleet" else 100, count=1 if what == "fleet"
                           else 3)],
        "network": dict(FLAT),
    }
    return data


# -- contract v2 -------------------------------------------------------------------------


def yard(**policy: Any) -> dict[str, Any]:
    """Contract v2. Depot P (km 0, water, load 10) with a home truck h; kit store Q (km 20,
    kits, load 10); a transport enterprise's yard Y (km -10) whose truck e may load
    anywhere. Sites A (km 10, 40 people: 5 water, 2 kits) and B (km 30, 60 people: 3 kits),
    service 5, deadline 200. ``policy`` goes into the scenario's policy."""
    return {
        "contract_version": 2,
        "name": "yard",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 200,
        "items": copy.deepcopy(ITEMS),
        "sites": [
            site("A", 10, 40, demand={"water": 5, "kit": 2}, service_min=5),
            site("B", 30, 60, demand={"kit": 3}, service_min=5),
        ],
        "sources": [
            source("P", 0, {"water": 100}, load_min=10),
            source("Q", 20, {"kit": 50}, load_min=10, tier="county"),
        ],
        "bases": [{"id": "Y", "name": "yard", "lat": km_north(-10), "lon": LON0}],
        "vehicles": [
            truck("h", "P"),
            {"id": "e", "base": "Y", "loads_at": "any", "capacity_kg": 100, "capacity_m3": 10.0},
        ],
        "network": dict(FLAT),
        "policy": dict(policy),
    }


FOOD_ITEMS = [
    {"code": "case", "name": "bottled water", "unit_kg": 13.6, "unit_m3": 0.023},
    {"code": "rice", "name": "self-heating rice", "unit_kg": 5.5, "unit_m3": 0.04},
    {"code": "biscuit", "name": "compressed biscuits", "unit_kg": 10.0, "unit_m3": 0.025},
    {"code": "tent", "name": "tent", "unit_kg": 38.0, "unit_m3": 0.2},
]
FOOD_NEEDS = {
    "days": 1,
    "household_size": 3,
    "groups": [
        {"id": "water", "name": "饮用水", "unit": "L", "per_person_per_day": 3,
         "items": {"case": 13.2}},
        {"id": "food", "name": "食品", "unit": "meal", "per_person_per_day": 3,
         "items": {"rice": 12, "biscuit": 64}},
        {"id": "shelter", "name": "住所", "unit": "household", "per_household": 1,
         "items": {"tent": 1}, "shelter": True},
    ],
}


def substitutes() -> dict[str, Any]:
    """Contract v2, named needs with substitutes (``FOOD_NEEDS``): site S (km 10, 20 people,
    7 households) and shelter H (km 12, 30 people, sheltered); depot D (km 0) holds water
    cases, 2 cases of rice, biscuits and tents; one 1-tonne truck; deadline 300."""
    return {
        "contract_version": 2,
        "name": "substitutes",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 300,
        "items": copy.deepcopy(FOOD_ITEMS),
        "needs": copy.deepcopy(FOOD_NEEDS),
        "sites": [
            site("S", 10, 20, households=7, service_min=5),
            site("H", 12, 30, sheltered=True, service_min=5),
        ],
        "sources": [source("D", 0, {"case": 40, "rice": 2, "biscuit": 10, "tent": 20},
                           load_min=10)],
        "vehicles": [truck("t", "D", 1000)],
        "network": dict(FLAT),
    }
