"""The scenario: the planning input, exactly the JSON contract in DESIGN.md ("Planning contract").

Models are frozen and strict (unknown keys, wrong types, negative quantities, dangling
references and duplicate ids are errors that name the field path). ``load_scenario`` parses a
JSON file or text and raises one ``ScenarioError`` whose issues carry the path and the line.
All times are whole minutes since onset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from dispatch.planning import jsonpos
from dispatch.planning.needs import DEFAULT_STANDARD, NeedsStandard

Tier = Literal["township", "county", "city", "agreement", "capacity", "province"]
TIERS: tuple[Tier, ...] = ("township", "county", "city", "agreement", "capacity", "province")


def _id_to_str(value: Any) -> Any:
    """Accept integer ids (road graphs often use them) and store every id as a string."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_id_to_str), Field(min_length=1, strict=True)]
Qty = Annotated[int, Field(ge=0, strict=True)]
Minutes = Annotated[int, Field(ge=0, strict=True)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Item(_Model):
    """A catalogue item: code, display name, weight and volume of one unit."""

    code: Id
    name: str = ""
    unit_kg: PosFloat
    unit_m3: PosFloat


class Site(_Model):
    """An affected site (village, shelter, community) with its people and optional demand."""

    id: Id
    name: str = ""
    lat: Lat
    lon: Lon
    people: Qty
    households: Qty | None = None
    demand: dict[str, Qty] | None = None
    service_min: Minutes = 15


class Source(_Model):
    """A reserve that can send goods: depot, agreement supplier or capacity reserve."""

    id: Id
    name: str = ""
    tier: Tier
    lat: Lat
    lon: Lon
    ready_min: Minutes = 0
    load_min: Minutes = 20
    stock: dict[str, Qty] = Field(default_factory=dict)


class Vehicle(_Model):
    """A vehicle type at a home source; ``count`` n stands for vehicles ``<id>#1..n``."""

    id: Id
    source: Id
    count: Annotated[int, Field(ge=1, strict=True)] = 1
    capacity_kg: PosFloat
    capacity_m3: PosFloat
    available_min: Minutes = 0
    speed_factor: PosFloat = 1.0


class StraightNetwork(_Model):
    """Straight-line travel: haversine km * detour at speed_kmh (see network.py)."""

    mode: Literal["straight"] = "straight"
    detour: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 1.3
    speed_kmh: PosFloat = 50.0


class RoadNode(_Model):
    """A road-graph node."""

    id: Id
    lat: Lat
    lon: Lon


class RoadEdge(_Model):
    """An undirected road segment between two nodes."""

    a: Id
    b: Id
    km: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    speed_kmh: PosFloat


class RoadNetwork(_Model):
    """A road graph; ``closed`` lists node pairs whose edges are closed (both directions)."""

    mode: Literal["road"]
    nodes: Annotated[list[RoadNode], Field(min_length=1)]
    edges: list[RoadEdge]
    closed: list[tuple[Id, Id]] = Field(default_factory=list)


Network = Annotated[StraightNetwork | RoadNetwork, Field(discriminator="mode")]


class Policy(_Model):
    """Dispatch policy: tier draw order and the solver time limit."""

    tier_order: list[Tier] = Field(default_factory=lambda: list(TIERS))
    time_limit_s: PosFloat = 30.0


@dataclass(frozen=True)
class VehicleUnit:
    """One physical vehicle, expanded from a Vehicle entry (id ``<type>#k``)."""

    id: str
    type_id: str
    source: str
    capacity_kg: float
    capacity_m3: float
    available_min: int
    speed_factor: float


def tier_rank(tier: str, tier_order: list[str] | tuple[str, ...]) -> int:
    """Rank of a tier in the policy order (0 = drawn first); unlisted tiers come after."""
    if tier in tier_order:
        return tier_order.index(tier)
    return len(tier_order) + TIERS.index(tier)  # type: ignore[arg-type]


class Scenario(_Model):
    """A planning problem: items, needs, affected sites, sources, vehicles, network, policy."""

    name: Annotated[str, Field(min_length=1)]
    onset: datetime
    deadline_min: Annotated[int, Field(gt=0, strict=True)] = 600
    items: Annotated[list[Item], Field(min_length=1)]
    needs: NeedsStandard | None = None
    sites: list[Site]
    sources: list[Source]
    vehicles: list[Vehicle]
    network: Network = Field(default_factory=StraightNetwork)
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="after")
    def _check_references(self) -> Scenario:
        issues = list(_reference_issues(self))
        if issues:
            raise ValidationError.from_exception_data(
                "Scenario",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("scenario_reference", msg), loc=loc, input=None
                    )
                    for loc, msg in issues
                ],
            )
        return self

    # -- helpers -------------------------------------------------------------------------
    @cached_property
    def item_map(self) -> dict[str, Item]:
        """Items by code."""
        return {item.code: item for item in self.items}

    @cached_property
    def site_map(self) -> dict[str, Site]:
        """Sites by id."""
        return {site.id: site for site in self.sites}

    @cached_property
    def source_map(self) -> dict[str, Source]:
        """Sources by id."""
        return {source.id: source for source in self.sources}

    def item(self, code: str) -> Item:
        """The item with this code (KeyError when unknown)."""
        return self.item_map[code]

    def needs_standard(self) -> NeedsStandard:
        """The scenario's needs standard, or DEFAULT_STANDARD when it gives none."""
        return self.needs if self.needs is not None else DEFAULT_STANDARD

    @cached_property
    def vehicle_units(self) -> tuple[VehicleUnit, ...]:
        """Every physical vehicle, in input order: entry ``v`` with count n -> ``v#1..v#n``."""
        return tuple(_expand(self.vehicles))

    def expanded_vehicles(self) -> list[VehicleUnit]:
        """The expanded vehicle list (see ``vehicle_units``)."""
        return list(self.vehicle_units)

    @cached_property
    def vehicle_map(self) -> dict[str, VehicleUnit]:
        """Expanded vehicles by id."""
        return {v.id: v for v in self.vehicle_units}

    def vehicles_of(self, source_id: str) -> list[VehicleUnit]:
        """The expanded vehicles whose home is this source."""
        return [v for v in self.vehicle_units if v.source == source_id]

    def tier_rank(self, tier: str) -> int:
        """Rank of a tier under this scenario's policy (0 = drawn first)."""
        return tier_rank(tier, self.policy.tier_order)


def _expand(vehicles: list[Vehicle]) -> Iterator[VehicleUnit]:
    for v in vehicles:
        for k in range(1, v.count + 1):
            yield VehicleUnit(
                id=f"{v.id}#{k}",
                type_id=v.id,
                source=v.source,
                capacity_kg=v.capacity_kg,
                capacity_m3=v.capacity_m3,
                available_min=v.available_min,
                speed_factor=v.speed_factor,
            )


Loc = tuple[str | int, ...]


def _duplicates(values: list[str], loc: Loc, key: str, what: str) -> Iterator[tuple[Loc, str]]:
    seen: set[str] = set()
    for k, value in enumerate(values):
        if value in seen:
            yield (*loc, k, key), f"duplicate {what} {value!r}"
        seen.add(value)


def _reference_issues(s: Scenario) -> Iterator[tuple[Loc, str]]:
    """Cross-field checks pydantic's field types cannot express, with their locations."""
    codes = [i.code for i in s.items]
    known = set(codes)
    yield from _duplicates(codes, ("items",), "code", "item code")
    yield from _duplicates([x.id for x in s.sites], ("sites",), "id", "site id")
    yield from _duplicates([x.id for x in s.sources], ("sources",), "id", "source id")
    yield from _duplicates([x.id for x in s.vehicles], ("vehicles",), "id", "vehicle id")

    if s.needs is not None:
        for table in ("per_person", "per_person_per_day", "per_household"):
            for code in getattr(s.needs, table):
                if code not in known:
                    yield ("needs", table, code), f"unknown item code {code!r}"
    elif any(site.demand is None for site in s.sites):
        missing = [c for c in DEFAULT_STANDARD.item_codes() if c not in known]
        if missing:
            yield (
                ("needs",),
                f"no needs given, so the default standard applies, but its items {missing} "
                "are not in items (add them, give needs, or give every site a demand)",
            )
    for k, site in enumerate(s.sites):
        for code in site.demand or {}:
            if code not in known:
                yield ("sites", k, "demand", code), f"unknown item code {code!r}"
    for k, source in enumerate(s.sources):
        for code in source.stock:
            if code not in known:
                yield ("sources", k, "stock", code), f"unknown item code {code!r}"

    source_ids = {x.id for x in s.sources}
    for k, v in enumerate(s.vehicles):
        if v.source not in source_ids:
            yield ("vehicles", k, "source"), f"unknown source {v.source!r}"
    unit_ids: dict[str, int] = {}
    for k, v in enumerate(s.vehicles):
        for n in range(1, v.count + 1):
            uid = f"{v.id}#{n}"
            if uid in unit_ids and unit_ids[uid] != k:
                yield ("vehicles", k, "id"), f"expanded vehicle id {uid!r} is not unique"
            unit_ids[uid] = k

    yield from _duplicates(list(s.policy.tier_order), ("policy",), "tier_order", "tier")
    if isinstance(s.network, RoadNetwork):
        yield from _road_issues(s.network)


def _road_issues(net: RoadNetwork) -> Iterator[tuple[Loc, str]]:
    yield from _duplicates([n.id for n in net.nodes], ("network", "nodes"), "id", "node id")
    node_ids = {n.id for n in net.nodes}
    pairs: set[frozenset[str]] = set()
    for k, e in enumerate(net.edges):
        for end in ("a", "b"):
            if getattr(e, end) not in node_ids:
                yield ("network", "edges", k, end), f"unknown node {getattr(e, end)!r}"
        if e.a == e.b:
            yield ("network", "edges", k), f"edge loops on node {e.a!r}"
        pairs.add(frozenset((e.a, e.b)))
    for k, (a, b) in enumerate(net.closed):
        if frozenset((a, b)) not in pairs:
            yield ("network", "closed", k), f"closed edge ({a!r}, {b!r}) is not an edge"


# -- loading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioIssue:
    """One problem in a scenario file: field path, 1-based line (None if unknown), message."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path or '<root>'}: {self.message}"


class ScenarioError(ValueError):
    """A scenario that cannot be parsed or validated; ``issues`` says where and why."""

    def __init__(self, issues: list[ScenarioIssue]) -> None:
        self.issues = tuple(issues)
        n = len(self.issues)
        head = f"invalid scenario ({n} problem{'s' if n != 1 else ''})"
        super().__init__(head + "".join(f"\n  {issue}" for issue in self.issues))


def _read(source: str | bytes | os.PathLike[str]) -> str:
    if isinstance(source, bytes):
        return source.decode("utf-8-sig")
    if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
        return source
    return Path(source).read_text(encoding="utf-8-sig")


def load_scenario(source: str | bytes | os.PathLike[str]) -> Scenario:
    """Parse and validate a scenario from a file path or JSON text.

    Raises ScenarioError (with path and line for every problem) for malformed JSON,
    duplicate keys, schema violations and dangling references.
    """
    text = _read(source)
    duplicate_keys = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicate_keys
        out = dict(pairs)
        duplicate_keys = duplicate_keys or len(out) != len(pairs)
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as exc:
        raise ScenarioError([ScenarioIssue("", exc.lineno, exc.msg)]) from None
    if not isinstance(data, dict):
        raise ScenarioError([ScenarioIssue("", 1, "a scenario must be a JSON object")])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        positions = jsonpos.scan(text)
        issues = []
        for err in exc.errors(include_url=False):
            found, shown = jsonpos.resolve(data, tuple(err["loc"]))
            issues.append(
                ScenarioIssue(jsonpos.format_path(shown), positions.line(found), err["msg"])
            )
        issues += _duplicate_key_issues(positions)
        raise ScenarioError(issues) from None
    if duplicate_keys:
        raise ScenarioError(_duplicate_key_issues(jsonpos.scan(text)))
    return scenario


def _duplicate_key_issues(positions: jsonpos.JsonPositions) -> list[ScenarioIssue]:
    return [
        ScenarioIssue(jsonpos.format_path(path), line, "duplicate key (JSON keeps the last one)")
        for path, line in positions.duplicates
    ]
