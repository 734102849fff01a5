"""Travel times and distances between all sources and sites of a scenario.

Locations are indexed sources first (0..S-1), then sites (S..S+N-1), then the scenario's
bases (contract v2: vehicles' home yards that are not sources; S+N..S+N+B-1); slice the
sites with ``network.sites`` (never ``[S:]``, which includes the bases). ``build_network`` computes
two float matrices once per plan: ``base_min`` (minutes at speed factor 1, before rounding) and
``km``; ``inf`` marks a pair with no path. Whole-minute matrices per vehicle speed factor are
derived on demand and cached: ``minutes(f) = ceil(base_min / f)``, with ``UNREACHABLE`` for
pairs without a path.

straight mode (the contract): minutes = ceil(haversine_km * detour / speed_kmh * 60 / factor),
Earth radius 6371 km; km = haversine_km * detour.

road mode: edges are undirected; closed node pairs are removed in both directions; each
location is snapped to its nearest road node that has at least one edge (before closures, so
a closure can cut a site off), and the last mile is straight-line * LAST_MILE_DETOUR at
LAST_MILE_SPEED_KMH. Shortest paths are fastest paths (edge minutes rounded to 1/1000 min),
ties broken by shorter km; both come out of one scipy Dijkstra run per distinct snapped node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from dispatch.planning.problem import RoadNetwork, Scenario, StraightNetwork

EARTH_RADIUS_KM = 6371.0
UNREACHABLE = 10**9  # minutes sentinel in integer matrices: no path
LAST_MILE_SPEED_KMH = 20.0  # village lanes and yards between a location and its road node
LAST_MILE_DETOUR = 1.3
_CEIL_SLACK = 1e-9

# Road weights pack (milli-minutes, metres) into one exact float64 integer so a single
# Dijkstra finds the fastest path and, among equally fast ones, the shortest.
_KM_BITS = 24  # metres per path < 2**24 (16,777 km)
_KM_SCALE = float(2**_KM_BITS)
_DIJKSTRA_CELLS = 8_000_000  # rows x nodes per Dijkstra chunk (64 MB of float64)


def haversine_km(
    lat1: NDArray[np.float64] | float,
    lon1: NDArray[np.float64] | float,
    lat2: NDArray[np.float64] | float,
    lon2: NDArray[np.float64] | float,
) -> NDArray[np.float64]:
    """Great-circle distance in km (Earth radius 6371 km); broadcasts over arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def straight_minutes(km: float, detour: float, speed_kmh: float, speed_factor: float = 1.0) -> int:
    """The contract's straight-line minutes for a haversine distance ``km``."""
    return math.ceil(km * detour / speed_kmh * 60 / speed_factor - _CEIL_SLACK)


@dataclass(eq=False)
class TravelNetwork:
    """Travel matrices between all locations (sources first, then sites)."""

    source_ids: tuple[str, ...]
    site_ids: tuple[str, ...]
    base_min: NDArray[np.float64]  # (L, L) minutes at speed factor 1, unrounded; inf: no path
    km: NDArray[np.float64]  # (L, L) kilometres; inf: no path
    mode: str
    snap_km: NDArray[np.float64] | None = None  # road mode: location -> its road node
    base_ids: tuple[str, ...] = ()
    _minutes: dict[float, NDArray[np.int64]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._src = {sid: k for k, sid in enumerate(self.source_ids)}
        n = len(self.source_ids)
        self._site = {sid: n + k for k, sid in enumerate(self.site_ids)}
        m = n + len(self.site_ids)
        self._place = {**self._src, **{bid: m + k for k, bid in enumerate(self.base_ids)}}

    @property
    def n_sources(self) -> int:
        """Number of sources (the first rows/columns)."""
        return len(self.source_ids)

    @property
    def sites(self) -> slice:
        """The slice of site columns/rows (S..S+N-1)."""
        return slice(len(self.source_ids), len(self.source_ids) + len(self.site_ids))

    def source_loc(self, source_id: str) -> int:
        """Matrix index of a source."""
        return self._src[source_id]

    def site_loc(self, site_id: str) -> int:
        """Matrix index of a site."""
        return self._site[site_id]

    def place_loc(self, place_id: str) -> int:
        """Matrix index of a vehicle base: a source id or a base id (contract v2)."""
        return self._place[place_id]

    def minutes(self, speed_factor: float = 1.0) -> NDArray[np.int64]:
        """Whole minutes for a vehicle with this speed factor (UNREACHABLE: no path); cached."""
        cached = self._minutes.get(speed_factor)
        if cached is None:
            with np.errstate(invalid="ignore"):
                raw = np.ceil(self.base_min / speed_factor - _CEIL_SLACK)
            cached = np.where(np.isfinite(raw), raw, UNREACHABLE).astype(np.int64)
            cached[np.diag_indices_from(cached)] = 0
            self._minutes[speed_factor] = cached
        return cached

    def reachable(self) -> NDArray[np.bool_]:
        """Boolean matrix: True where a path exists."""
        return np.isfinite(self.base_min)

    def travel_min(self, a: int, b: int, speed_factor: float = 1.0) -> int | None:
        """Minutes from location index a to b, or None when there is no path."""
        t = int(self.minutes(speed_factor)[a, b])
        return None if t >= UNREACHABLE else t

    def distance_km(self, a: int, b: int) -> float | None:
        """Kilometres from location index a to b, or None when there is no path."""
        d = float(self.km[a, b])
        return d if math.isfinite(d) else None


def build_network(
    scenario: Scenario,
    *,
    last_mile_kmh: float = LAST_MILE_SPEED_KMH,
    last_mile_detour: float = LAST_MILE_DETOUR,
) -> TravelNetwork:
    """Build the travel matrices of a scenario (once per plan; pass the result around)."""
    places = [*scenario.sources, *scenario.sites, *scenario.bases]
    lat = np.array([x.lat for x in places], float)
    lon = np.array([x.lon for x in places], float)
    src = tuple(x.id for x in scenario.sources)
    sites = tuple(x.id for x in scenario.sites)
    bases = tuple(x.id for x in scenario.bases)
    net = scenario.network
    if isinstance(net, StraightNetwork):
        base_min, km = _straight(lat, lon, net)
        return TravelNetwork(src, sites, base_min, km, "straight", base_ids=bases)
    base_min, km, snap = _road(lat, lon, net, last_mile_kmh, last_mile_detour)
    return TravelNetwork(src, sites, base_min, km, "road", snap_km=snap, base_ids=bases)


def _straight(
    lat: NDArray[np.float64], lon: NDArray[np.float64], net: StraightNetwork
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    km = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :]) * net.detour
    np.fill_diagonal(km, 0.0)
    return km / net.speed_kmh * 60, km


def _unit_vectors(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
    p, lm = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(p) * np.cos(lm), np.cos(p) * np.sin(lm), np.sin(p)))


def _road_graph(net: RoadNetwork) -> tuple[csr_matrix, NDArray[np.bool_], dict[str, int]]:
    """Open edges as an encoded, symmetric CSR matrix; which nodes have any edge at all."""
    index = {node.id: k for k, node in enumerate(net.nodes)}
    n = len(index)
    closed = {frozenset(pair) for pair in net.closed}
    has_edge = np.zeros(n, dtype=bool)
    rows, cols, weights = [], [], []
    for e in net.edges:
        a, b = index[e.a], index[e.b]
        has_edge[a] = has_edge[b] = True
        if frozenset((e.a, e.b)) in closed:
            continue
        milli_min = round(e.km / e.speed_kmh * 60_000)
        metres = round(e.km * 1000)
        w = max(1.0, milli_min * _KM_SCALE + metres)
        rows += [a, b]
        cols += [b, a]
        weights += [w, w]
    r = np.array(rows, dtype=np.int64)
    c = np.array(cols, dtype=np.int64)
    w = np.array(weights, dtype=np.float64)
    # keep the best of parallel edges (csr_matrix would add them up)
    order = np.lexsort((w, c, r))
    r, c, w = r[order], c[order], w[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    graph = csr_matrix((w[first], (r[first], c[first])), shape=(n, n))
    return graph, has_edge, index


def _road(
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    net: RoadNetwork,
    last_mile_kmh: float,
    last_mile_detour: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    graph, has_edge, _ = _road_graph(net)
    node_lat = np.array([n.lat for n in net.nodes], float)
    node_lon = np.array([n.lon for n in net.nodes], float)
    candidates = np.flatnonzero(has_edge) if has_edge.any() else np.arange(len(net.nodes))
    tree = cKDTree(_unit_vectors(node_lat[candidates], node_lon[candidates]))
    _, nearest = tree.query(_unit_vectors(lat, lon))
    snapped = candidates[np.asarray(nearest, dtype=np.int64)]
    snap_km = haversine_km(lat, lon, node_lat[snapped], node_lon[snapped])
    lm_km = snap_km * last_mile_detour
    lm_min = lm_km / last_mile_kmh * 60

    unique, inverse = np.unique(snapped, return_inverse=True)
    dist = np.empty((len(unique), len(unique)), dtype=np.float64)
    chunk = max(1, _DIJKSTRA_CELLS // max(1, graph.shape[0]))
    for start in range(0, len(unique), chunk):
        rows = unique[start : start + chunk]
        full = dijkstra(graph, directed=True, indices=rows)
        dist[start : start + len(rows)] = full[:, unique]
    finite = np.isfinite(dist)
    enc = np.where(finite, dist, 0.0)
    path_min = np.where(finite, np.floor(enc / _KM_SCALE) / 1000.0, np.inf)
    path_km = np.where(finite, np.mod(enc, _KM_SCALE) / 1000.0, np.inf)

    pm = path_min[inverse][:, inverse]
    pk = path_km[inverse][:, inverse]
    base_min = lm_min[:, None] + pm + lm_min[None, :]
    km = lm_km[:, None] + pk + lm_km[None, :]
    np.fill_diagonal(base_min, 0.0)
    np.fill_diagonal(km, 0.0)
    return base_min, km, snap_km


def distance_m(network: TravelNetwork) -> NDArray[np.int64]:
    """Whole metres between locations (rounded), UNREACHABLE where there is no path."""
    with np.errstate(invalid="ignore"):
        m = np.round(network.km * 1000.0)
    return np.where(np.isfinite(m), m, UNREACHABLE).astype(np.int64)


def earliest_arrival(scenario: Scenario, network: TravelNetwork, *,
                     ignore_ready: bool = False) -> NDArray[np.int64]:
    """(S, N) earliest minute any vehicle that may load at source s can reach site j on a
    first trip loaded there.

    Per vehicle: loading starts at max(source ready_min, available_min + drive base -> s),
    then load_min + drive s -> j (at its speed factor); minimised over the vehicles allowed
    at s (``loads_at``; v1: the source's own vehicles, whose base is the source, which gives
    v1's max(ready_min, available_min) + load_min + travel). ``ignore_ready`` drops the
    sources' ready_min (what could arrive without lead times). UNREACHABLE when no vehicle may
    load at s or there is no path. Driver rules are ignored: a lower bound on any arrival.
    """
    n_src = network.n_sources
    ready = np.array([0 if ignore_ready else s.ready_min for s in scenario.sources], np.int64)
    load = np.array([s.load_min for s in scenario.sources], dtype=np.int64)
    best = np.full((n_src, len(network.site_ids)), UNREACHABLE, dtype=np.int64)
    groups: dict[tuple[str, tuple[str, ...], int, float], None] = {}
    for v in scenario.vehicle_units:
        groups.setdefault((v.base, v.loads_at, v.available_min, v.speed_factor), None)
    for base, loads_at, available, factor in groups:
        m = network.minutes(factor)
        b = network.place_loc(base)
        rows = np.array([network.source_loc(s) for s in loads_at], dtype=np.int64)
        if not len(rows):
            continue
        approach = m[b, rows]
        start = np.maximum(ready[rows], available + approach) + load[rows]
        travel = m[rows, network.sites]
        arrival = np.where((travel >= UNREACHABLE) | (approach >= UNREACHABLE)[:, None],
                           UNREACHABLE, travel + start[:, None])
        best[rows] = np.minimum(best[rows], arrival)
    return best
