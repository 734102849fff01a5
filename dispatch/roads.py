"""The Nantong road graph (seed/data/roads, provenance in docs/seed-data.md) and closures.

A closure names one edge by its two node ids, or a polygon: every edge with an end inside the
polygon or crossing its boundary is closed. Coordinates are treated as planar (lat, lon) for
the crossing test, which is exact enough at the scale of one city.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROADS_DIR = Path(__file__).resolve().parent.parent / "seed" / "data" / "roads"

Point = tuple[float, float]  # (lat, lon)


@dataclass(frozen=True)
class RoadNode:
    """A node of the road graph."""

    id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class RoadEdge:
    """An undirected road segment."""

    a: str
    b: str
    road: str
    km: float
    speed_kmh: float


@dataclass(frozen=True)
class RoadGraph:
    """Nodes by id and the list of edges."""

    nodes: dict[str, RoadNode]
    edges: tuple[RoadEdge, ...]

    def edge(self, a: str, b: str) -> RoadEdge | None:
        """The edge between ``a`` and ``b`` in either direction, if any."""
        for edge in self.edges:
            if {edge.a, edge.b} == {a, b}:
                return edge
        return None

    def crossing(self, polygon: list[Point]) -> list[tuple[str, str]]:
        """Edges with an end inside ``polygon`` or crossing its boundary."""
        out = []
        for edge in self.edges:
            p = (self.nodes[edge.a].lat, self.nodes[edge.a].lon)
            q = (self.nodes[edge.b].lat, self.nodes[edge.b].lon)
            if inside(p, polygon) or inside(q, polygon) or _crosses(p, q, polygon):
                out.append((edge.a, edge.b))
        return out

    def scenario_network(self, closed: list[tuple[str, str]]) -> dict[str, object]:
        """The road network block of a planning scenario, with ``closed`` edges."""
        return {
            "mode": "road",
            "nodes": [{"id": n.id, "lat": n.lat, "lon": n.lon} for n in self.nodes.values()],
            "edges": [{"a": e.a, "b": e.b, "km": e.km, "speed_kmh": e.speed_kmh}
                      for e in self.edges],
            "closed": [[a, b] for a, b in closed],
        }


@lru_cache(maxsize=4)
def load_graph(directory: Path = ROADS_DIR) -> RoadGraph:
    """Read the road graph once per process."""
    with (directory / "nodes.csv").open(encoding="utf-8", newline="") as handle:
        nodes = {r["id"]: RoadNode(id=r["id"], name=r["name"], lat=float(r["lat"]),
                                   lon=float(r["lon"])) for r in csv.DictReader(handle)}
    with (directory / "edges.csv").open(encoding="utf-8", newline="") as handle:
        edges = tuple(RoadEdge(a=r["a"], b=r["b"], road=r["road"], km=float(r["km"]),
                               speed_kmh=float(r["speed_kmh"])) for r in csv.DictReader(handle))
    return RoadGraph(nodes=nodes, edges=edges)


def inside(point: Point, polygon: list[Point]) -> bool:
    """Ray casting: True when ``point`` is inside ``polygon``."""
    y, x = point
    result = False
    for i in range(len(polygon)):
        y1, x1 = polygon[i]
        y2, x2 = polygon[(i + 1) % len(polygon)]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            result = not result
    return result


def _orientation(p: Point, q: Point, r: Point) -> float:
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    d1, d2 = _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    d3, d4 = _orientation(p1, p2, q1), _orientation(p1, p2, q2)
    return (d1 * d2 < 0) and (d3 * d4 < 0)


def _crosses(p: Point, q: Point, polygon: list[Point]) -> bool:
    return any(_segments_cross(p, q, polygon[i], polygon[(i + 1) % len(polygon)])
               for i in range(len(polygon)))
