"""A plan's routes on the map, drawn along the road graph.

Each trip's path runs from its source to its stops along the fastest open roads of
``dispatch.roads`` (closed edges of the incident left out), as the engine's road network
measures them: every place joins the graph at its nearest road node that has an open edge.
The desk fetches ``routes.json`` once and shows one vehicle, one trip or one depot's trips at a
time; a trip's row highlights its route.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.responses import Response

from dispatch import record, service
from dispatch.models import Shipment
from dispatch.record import PlanRecord
from dispatch.roads import RoadGraph, load_graph
from relief.platform.api import PathId
from relief.platform.auth import get_database
from web.render import SECURITY_HEADERS
from web.routing import ConsoleRoute
from web.session import ConsoleUser

router = APIRouter(route_class=ConsoleRoute)

Point = tuple[float, float]


def _km(a: Point, b: Point) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = (math.sin((la2 - la1) / 2) ** 2
         + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@dataclass
class PathFinder:
    """Fastest paths over the road graph without the closed edges."""

    graph: RoadGraph
    closed: set[frozenset[str]]
    _adjacent: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    _paths: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for edge in self.graph.edges:
            if frozenset((edge.a, edge.b)) in self.closed:
                continue
            minutes = edge.km / edge.speed_kmh * 60
            self._adjacent.setdefault(edge.a, []).append((edge.b, minutes))
            self._adjacent.setdefault(edge.b, []).append((edge.a, minutes))

    def nearest(self, point: Point) -> str | None:
        """The nearest node with an open edge (None when every road is closed)."""
        best = min(self._adjacent, default=None, key=lambda n: _km(
            point, (self.graph.nodes[n].lat, self.graph.nodes[n].lon)))
        return best

    def path(self, start: str, end: str) -> list[str]:
        """Node ids from ``start`` to ``end`` (just the two ends when no open path exists)."""
        if (start, end) in self._paths:
            return self._paths[(start, end)]
        dist, previous = {start: 0.0}, {}
        queue = [(0.0, start)]
        while queue:
            d, node = heapq.heappop(queue)
            if node == end:
                break
            if d > dist.get(node, math.inf):
                continue
            for other, minutes in self._adjacent.get(node, []):
                if d + minutes < dist.get(other, math.inf):
                    dist[other], previous[other] = d + minutes, node
                    heapq.heappush(queue, (d + minutes, other))
        if end not in dist:
            nodes = [start, end]
        else:
            nodes = [end]
            while nodes[-1] != start:
                nodes.append(previous[nodes[-1]])
            nodes.reverse()
        self._paths[(start, end)] = nodes
        return nodes

    def trace(self, places: list[Point]) -> list[list[float]]:
        """The drawn line through ``places`` (source, then the stops) along the roads."""
        line: list[list[float]] = [[round(places[0][0], 5), round(places[0][1], 5)]]
        for a, b in itertools.pairwise(places):
            na, nb = self.nearest(a), self.nearest(b)
            if na is not None and nb is not None and na != nb:
                for node in self.path(na, nb):
                    n = self.graph.nodes[node]
                    line.append([round(n.lat, 5), round(n.lon, 5)])
            line.append([round(b[0], 5), round(b[1], 5)])
        return line


def plan_routes(rec: PlanRecord, closed: list[list[str]],
                shipments: dict[tuple[str, int], tuple[int, str]]) -> list[dict[str, Any]]:
    """Every trip of a plan (its typed record) with its road path, vehicle, source depot and,
    once approved, its shipment id and status."""
    finder = PathFinder(load_graph(), {frozenset(e) for e in closed})
    out = []
    for index, route in enumerate(rec.plan.routes):
        plate = rec.vehicle(route).plate
        for trip_no, trip in enumerate(route.trips, start=1):
            source = rec.source_place(trip.source)
            stops = [rec.site_place(s.site) for s in trip.stops]
            places = [source, *stops]
            if any(p is None for p in places):
                continue
            shipment = shipments.get((plate, trip_no))
            out.append({
                "vehicle": plate, "color": index,
                "depot": rec.source(trip).depot,
                "source": source.name if source else trip.source,
                "shipment": shipment[0] if shipment else None,
                "status": shipment[1] if shipment else None,
                "stops": [s.name if s else "" for s in stops],
                "path": finder.trace([(p.lat, p.lon) for p in places if p is not None]),
            })
    return out


@router.get("/incidents/{incident_id}/plans/{plan_id}/routes.json")
def routes_json(request: Request, incident_id: PathId, plan_id: PathId, user: ConsoleUser
                ) -> Response:
    """The plan's trips along the roads (the desk's map draws a chosen part of them)."""
    with get_database(request).read_session() as session:
        incident = service.get_incident(session, incident_id)
        plan = record.get_plan(session, plan_id, incident_id=incident_id)
        public = service.incident_public(session, incident)
        closed = [list(e) for c in public.closures if c.lifted_at is None for e in c.edges]
        shipments = {(s.vehicle, s.trip_no): (s.id or 0, str(s.status))
                     for s in session.execute(select(Shipment).where(
                         Shipment.plan_id == plan_id)).scalars()}
        trips = plan_routes(record.record_of(plan), closed, shipments)
    return JSONResponse({"plan": plan_id, "trips": trips}, headers=SECURITY_HEADERS)
