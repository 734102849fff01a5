"""Travel matrices: the contract's straight-line formula, road graphs with closures and snapping."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from planning_scenarios import LON0, build, km_north, line, two_depots

from dispatch.planning.network import (
    LAST_MILE_DETOUR,
    LAST_MILE_SPEED_KMH,
    UNREACHABLE,
    build_network,
    distance_m,
    earliest_arrival,
    straight_minutes,
)


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Textbook haversine with R = 6371 km, written independently of network.py."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(a))


def test_straight_minutes_follow_the_contract_formula():
    """minutes = ceil(haversine_km * detour / speed_kmh * 60 / speed_factor), km = haversine *
    detour, for every pair and for two speed factors."""
    data = two_depots()
    data["network"] = {"mode": "straight", "detour": 1.3, "speed_kmh": 50}
    data["sites"][1]["lon"] = 121.37  # off the meridian
    sc = build(data)
    net = build_network(sc)
    places = [(s.lat, s.lon) for s in sc.sources] + [(s.lat, s.lon) for s in sc.sites]
    for f in (1.0, 0.8):
        m = net.minutes(f)
        for a, b in itertools.product(range(len(places)), repeat=2):
            km = haversine(*places[a], *places[b])
            assert m[a, b] == math.ceil(km * 1.3 / 50 * 60 / f - 1e-9)
            assert m[a, b] == straight_minutes(km, 1.3, 50, f)
            assert net.km[a, b] == np.float64(km * 1.3) or abs(net.km[a, b] - km * 1.3) < 1e-9


def test_minutes_per_speed_factor_are_cached_and_distinct():
    """Each distinct speed factor gets its own matrix, computed once."""
    net = build_network(build(line()))
    fast, slow = net.minutes(2.0), net.minutes(0.5)
    assert net.minutes(2.0) is fast
    a, c = net.source_loc("D"), net.site_loc("C")
    assert (net.minutes(1.0)[a, c], fast[a, c], slow[a, c]) == (30, 15, 60)
    assert (net.travel_min(a, c, 2.0) == 15 and net.distance_km(a, c) == 30.0) or math.isclose(
        net.distance_km(a, c), 30.0
    )


def node(nid: str, km: float, east_deg: float = 0.0) -> dict:
    return {"id": nid, "lat": km_north(km), "lon": LON0 + east_deg}


def edge(a: str, b: str, km: float, speed: float) -> dict:
    return {"a": a, "b": b, "km": km, "speed_kmh": speed}


def road_scenario(closed: list | None = None) -> dict:
    """D at node n0 (km 0), A at n2 (km 20), B at n4 (km 40, only via n2-n4), C 1 km north of
    n2's latitude... placed 1 km east-free: C sits 1 km north of n2 but n4 is farther.

    n0-n2 direct: 20 km at 30 km/h (40 min). n0-n1-n2: 2 x 15 km at 90 (20 min, 30 km).
    n0-n3-n2: 2 x 12 km at 72 (20 min, 24 km). n2-n4: 20 km at 60 (20 min).
    n9 has no edge and sits exactly where site E is.
    """
    data = line()
    data["sites"] = [
        {"id": "A", "lat": km_north(20), "lon": LON0, "people": 1, "demand": {"water": 1}},
        {"id": "B", "lat": km_north(40), "lon": LON0, "people": 1, "demand": {"water": 1}},
        {"id": "C", "lat": km_north(21), "lon": LON0, "people": 1, "demand": {"water": 1}},
        {"id": "E", "lat": km_north(0), "lon": LON0 + 0.02, "people": 1, "demand": {"water": 1}},
    ]
    data["network"] = {
        "mode": "road",
        "nodes": [
            node("n0", 0),
            node("n1", 10, 0.3),
            node("n2", 20),
            node("n3", 10, -0.3),
            node("n4", 40),
            node("n9", 0, 0.02),
        ],
        "edges": [
            edge("n0", "n2", 20, 30),
            edge("n0", "n1", 15, 90),
            edge("n1", "n2", 15, 90),
            edge("n0", "n3", 12, 72),
            edge("n3", "n2", 12, 72),
            edge("n2", "n4", 20, 60),
        ],
        "closed": closed or [],
    }
    return data


def test_road_fastest_path_with_km_tie_break():
    """The fastest path is used (20 min, not the 40-min direct edge) and, between two equally
    fast paths, the shorter one gives the km (24, not 30)."""
    net = build_network(build(road_scenario()))
    d, a = net.source_loc("D"), net.site_loc("A")
    assert net.travel_min(d, a) == 20
    assert math.isclose(net.distance_km(d, a), 24.0)
    assert net.travel_min(a, d) == 20  # undirected


def test_closure_reroutes_in_both_directions():
    """Closing n3-n2 (given as n2-n3) removes it both ways: the route falls back to n1."""
    net = build_network(build(road_scenario(closed=[["n2", "n3"]])))
    d, a = net.source_loc("D"), net.site_loc("A")
    assert net.travel_min(d, a) == 20 and math.isclose(net.distance_km(d, a), 30.0)
    assert net.travel_min(a, d) == 20 and math.isclose(net.distance_km(a, d), 30.0)


def test_closure_cutting_a_site_off_marks_it_unreachable():
    """With n2-n4 closed, B has no path: UNREACHABLE minutes, None travel, not reachable, and no
    vehicle can arrive there."""
    sc = build(road_scenario(closed=[["n4", "n2"]]))
    net = build_network(sc)
    d, b = net.source_loc("D"), net.site_loc("B")
    assert net.minutes()[d, b] == UNREACHABLE and net.minutes(2.0)[b, d] == UNREACHABLE
    assert net.travel_min(d, b) is None and net.distance_km(d, b) is None
    assert not net.reachable()[d, b]
    assert distance_m(net)[d, b] == UNREACHABLE
    assert earliest_arrival(sc, net)[0, 1] == UNREACHABLE


def test_last_mile_is_added_at_local_speed():
    """C lies 1 km from its road node n2: the last mile adds 1 km * detour 1.3 at 20 km/h
    (3.9 min, 1.3 km) to the 20-min, 24-km road path."""
    net = build_network(build(road_scenario()))
    d, c = net.source_loc("D"), net.site_loc("C")
    extra_min = 1.0 * LAST_MILE_DETOUR / LAST_MILE_SPEED_KMH * 60
    assert net.travel_min(d, c) == math.ceil(20 + extra_min)
    assert math.isclose(net.distance_km(d, c), 24 + 1.3, rel_tol=1e-6)
    assert math.isclose(net.snap_km[net.site_loc("C")], 1.0, rel_tol=1e-6)


def test_snapping_skips_nodes_without_edges():
    """E sits on n9, which has no edge; it snaps to the nearest connected node (n0) instead of
    becoming unreachable."""
    net = build_network(build(road_scenario()))
    d, e = net.source_loc("D"), net.site_loc("E")
    assert net.travel_min(d, e) is not None
    assert net.snap_km[e] > 1.0


def test_parallel_edges_keep_the_fastest():
    """Two edges between the same nodes: the faster one counts (they are not added up)."""
    data = road_scenario()
    data["network"]["edges"].append(edge("n2", "n0", 20, 120))  # 10 min
    net = build_network(build(data))
    assert net.travel_min(net.source_loc("D"), net.site_loc("A")) == 10


def test_earliest_arrival_uses_ready_available_load_and_speed():
    """Earliest first-trip arrival = max(ready, available) + load + travel at the vehicle's
    speed factor, best over the source's vehicles."""
    data = two_depots()
    data["sources"][0]["ready_min"] = 7
    data["vehicles"][0]["available_min"] = 3
    sc = build(data)
    arr = earliest_arrival(sc, build_network(sc))
    assert arr.tolist() == [[17 + 5, 17 + 45], [10 + 23, 10 + 3]]


def triangle_ok(m: np.ndarray) -> bool:
    """m[a,c] <= m[a,b] + m[b,c] for all finite triples."""
    finite = m < UNREACHABLE
    via = (m[:, :, None] + m[None, :, :]).min(axis=1)  # best a->b->c
    return bool(np.all(~finite | (m <= via)))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    pts=st.lists(st.tuples(st.floats(31.5, 32.5), st.floats(120.3, 121.9)), min_size=3, max_size=7),
    detour=st.floats(1.0, 2.0),
    speed=st.floats(10, 90),
    factor=st.sampled_from([0.5, 0.8, 1.0, 1.7]),
)
def test_straight_minutes_obey_the_triangle_inequality(pts, detour, speed, factor):
    """Rounded straight-line minutes never make a detour faster than the direct leg (the bound
    in baseline.py relies on it)."""
    data = line()
    data["network"] = {"mode": "straight", "detour": detour, "speed_kmh": speed}
    data["sites"] = [
        {"id": f"s{k}", "lat": la, "lon": lo, "people": 1, "demand": {"water": 1}}
        for k, (la, lo) in enumerate(pts)
    ]
    assert triangle_ok(build_network(build(data)).minutes(factor))


def test_road_minutes_obey_the_triangle_inequality():
    """Rounded road minutes (with last miles and closures) obey the triangle inequality on
    random graphs."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        n = 30
        nodes = [
            {"id": k, "lat": 32 + rng.uniform(-0.3, 0.3), "lon": 120.9 + rng.uniform(-0.3, 0.3)}
            for k in range(n)
        ]
        edges = [
            {
                "a": a,
                "b": b,
                "km": float(rng.uniform(0.5, 20)),
                "speed_kmh": float(rng.uniform(20, 90)),
            }
            for a in range(n)
            for b in range(a + 1, n)
            if rng.random() < 0.12
        ]
        data = line()
        data["network"] = {
            "mode": "road",
            "nodes": nodes,
            "edges": edges,
            "closed": [[edges[0]["a"], edges[0]["b"]]],
        }
        data["sites"] = [
            {
                "id": f"s{k}",
                "lat": 32 + rng.uniform(-0.3, 0.3),
                "lon": 120.9 + rng.uniform(-0.3, 0.3),
                "people": 1,
                "demand": {"water": 1},
            }
            for k in range(8)
        ]
        net = build_network(build(data))
        for f in (1.0, 0.7):
            assert triangle_ok(net.minutes(f))
