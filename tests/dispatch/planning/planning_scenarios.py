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
