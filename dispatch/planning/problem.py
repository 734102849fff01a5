"""The scenario: the planning input, the JSON contract in docs/planning.md ("The planning
contract", versions 1 and 2).

A scenario without ``contract_version`` (or with 1) has exactly its version-1 meaning; the
fields version 2 adds are errors in it. Every v2 field has a default that keeps the v1 meaning
(``loads_at`` home, no driver rules, no costs, no per-tonne unloading, no substitutes).

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

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from dispatch.planning import jsonpos
from dispatch.planning.needs import (
    DEFAULT_STANDARD,
    DEFAULT_STANDARD_V2,
    Demand,
    NeedsStandard,
    ceil_slack,
    scenario_needs,
)

Tier = Literal["township", "county", "city", "agreement", "capacity", "province"]
TIERS: tuple[Tier, ...] = ("township", "county", "city", "agreement", "capacity", "province")


def _id_to_str(value: Any) -> Any:
    """Accept integer ids (road graphs often use them) and store every id as a string."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[
    str,
    BeforeValidator(_id_to_str),
    Field(min_length=1, strict=True),
    WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}),
]
Qty = Annotated[int, Field(ge=0, strict=True)]
Minutes = Annotated[int, Field(ge=0, strict=True)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
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
    """An affected site (village, shelter, community) with its people and optional demand.

    v2: ``sheltered`` (people are in a standing shelter: needs marked ``shelter`` are zero);
    ``unload_min_per_t`` (minutes per tonne unloaded, added to ``service_min``; default: the
    policy's); ``demand`` keys may be need ids of the standard's groups."""

    id: Id
    name: str = ""
    lat: Lat
    lon: Lon
    people: Qty
    households: Qty | None = None
    demand: dict[str, Qty] | None = None
    service_min: Minutes = 15
    sheltered: bool = False
    unload_min_per_t: NonNegFloat | None = None


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


class Base(_Model):
    """A place vehicles are based at that is not a source (v2), e.g. a transport enterprise's
    yard. Base ids share one namespace with source ids."""

    id: Id
    name: str = ""
    lat: Lat
    lon: Lon


LoadsAt = Literal["home", "any"] | list[Id]


class Vehicle(_Model):
    """A vehicle type; ``count`` n stands for vehicles ``<id>#1..n``.

    v1: every trip loads at the home ``source`` and returns there. v2 adds ``base`` (where the
    vehicle starts and ends its day: a source id or a ``bases`` id; default ``source``),
    ``loads_at`` (``home``: only ``source``; ``any``: every source; or a list of source ids),
    ``fixed_cost`` (per vehicle used) and ``cost_per_km``. ``source`` may be left out in v2
    when ``base`` is given and ``loads_at`` is not ``home``. ``available_min`` is when the
    vehicle can leave its base."""

    id: Id
    source: Id | None = None
    count: Annotated[int, Field(ge=1, strict=True)] = 1
    capacity_kg: PosFloat
    capacity_m3: PosFloat
    available_min: Minutes = 0
    speed_factor: PosFloat = 1.0
    base: Id | None = None
    loads_at: LoadsAt = "home"
    fixed_cost: NonNegFloat = 0.0
    cost_per_km: NonNegFloat = 0.0


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


class DriverRules(_Model):
    """Drivers' rules (v2). Contract defaults keep the v1 meaning (no rule); live plans and the
    generated families use ``LIVE_DRIVER_RULES``.

    ``max_shift_min``: a vehicle's day, from leaving its base to being back there after its
    last trip, lasts at most this long (None: no limit). ``max_drive_min``: continuous driving
    between breaks (None: no rule); a break is any stop (at a base, source or site, waiting,
    loading or unloading included) of at least ``break_min`` minutes (道路交通安全法实施条例
    第六十二条: no more than 4 h of continuous driving, then a rest of at least 20 min)."""

    max_shift_min: Annotated[int, Field(gt=0, strict=True)] | None = None
    max_drive_min: Annotated[int, Field(gt=0, strict=True)] | None = None
    break_min: Annotated[int, Field(ge=1, strict=True)] = 20


# What live plans and the generated scenario families use (docs/planning.md, "Drivers"):
# 4 h / 20 min from the road traffic safety regulation, and an 11-hour day (assumption:
# the 8-hour day of the Labour Law art. 36 plus the 3-hour extension of art. 41).
LIVE_DRIVER_RULES = DriverRules(max_shift_min=660, max_drive_min=240, break_min=20)
# Minutes per tonne unloaded at a site, on top of its service_min (assumption: a crew of 3-4
# unloads about 10 t an hour by hand); live plans and the generated families use it.
LIVE_UNLOAD_MIN_PER_T = 6.0


class Policy(_Model):
    """Dispatch policy: tier draw order and the solver time limit; v2: ``drivers`` (driver
    rules) and ``unload_min_per_t`` (minutes per tonne unloaded at every site unless the site
    gives its own)."""

    tier_order: list[Tier] = Field(default_factory=lambda: list(TIERS))
    time_limit_s: PosFloat = 30.0
    drivers: DriverRules = Field(default_factory=DriverRules)
    unload_min_per_t: NonNegFloat = 0.0


@dataclass(frozen=True)
class VehicleUnit:
    """One physical vehicle, expanded from a Vehicle entry (id ``<type>#k``).

    ``source``: the home source (None for a v2 vehicle without one); ``base``: where its day
    starts and ends (a source or base id); ``loads_at``: the source ids it may load at, in
    scenario order."""

    id: str
    type_id: str
    source: str | None
    capacity_kg: float
    capacity_m3: float
    available_min: int
    speed_factor: float
    base: str = ""
    loads_at: tuple[str, ...] = ()
    fixed_cost: float = 0.0
    cost_per_km: float = 0.0

    def may_load_at(self, source_id: str) -> bool:
        """True when this vehicle may load at the source."""
        return source_id in self.loads_at


def tier_rank(tier: str, tier_order: list[str] | tuple[str, ...]) -> int:
    """Rank of a tier in the policy order (0 = drawn first); unlisted tiers come after."""
    if tier in tier_order:
        return tier_order.index(tier)
    return len(tier_order) + TIERS.index(tier)  # type: ignore[arg-type]


class Scenario(_Model):
    """A planning problem: items, needs, affected sites, sources, vehicles, network, policy."""

    contract_version: Literal[1, 2] = 1
    name: Annotated[str, Field(min_length=1)]
    onset: datetime
    deadline_min: Annotated[int, Field(gt=0, strict=True)] = 600
    items: Annotated[list[Item], Field(min_length=1)]
    needs: NeedsStandard | None = None
    sites: list[Site]
    sources: list[Source]
    vehicles: list[Vehicle]
    bases: list[Base] = Field(default_factory=list)
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

    @cached_property
    def _site_index(self) -> dict[str, int]:
        return {site.id: k for k, site in enumerate(self.sites)}

    def site_index(self, site_id: str) -> int:
        """Position of a site in ``sites`` (KeyError when unknown)."""
        return self._site_index[site_id]

    def item(self, code: str) -> Item:
        """The item with this code (KeyError when unknown)."""
        return self.item_map[code]

    def needs_standard(self) -> NeedsStandard:
        """The scenario's needs standard; without one, DEFAULT_STANDARD (v1) or
        DEFAULT_STANDARD_V2 restricted to the catalogue's items (v2)."""
        if self.needs is not None:
            return self.needs
        if self.contract_version >= 2:
            return DEFAULT_STANDARD_V2.restricted_to(self.item_map)
        return DEFAULT_STANDARD

    @cached_property
    def demand(self) -> Demand:
        """Every need of the scenario and every site's demand per need (``scenario_needs``)."""
        return scenario_needs(self)

    @cached_property
    def base_map(self) -> dict[str, Base]:
        """Bases (v2) by id."""
        return {b.id: b for b in self.bases}

    def unload_min(self, site: Site, kg: float) -> int:
        """Minutes a stop at ``site`` unloading ``kg`` takes: service_min + ceil(minutes per
        tonne x tonnes) (the site's rate, or the policy's)."""
        rate = site.unload_min_per_t
        rate = self.policy.unload_min_per_t if rate is None else rate
        if rate == 0 or kg <= 0:
            return site.service_min
        return site.service_min + ceil_slack(rate * kg / 1000.0)

    @cached_property
    def vehicle_units(self) -> tuple[VehicleUnit, ...]:
        """Every physical vehicle, in input order: entry ``v`` with count n -> ``v#1..v#n``."""
        return tuple(_expand(self.vehicles, [s.id for s in self.sources]))

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

    def vehicles_loading_at(self, source_id: str) -> list[VehicleUnit]:
        """The expanded vehicles that may load at this source (``loads_at``)."""
        return [v for v in self.vehicle_units if source_id in v.loads_at]

    def v2_features(self) -> list[str]:
        """The contract-v2 features this scenario uses (empty for a v1-equivalent one), for
        engines that support only some of them to refuse loudly."""
        out = []
        if any(v.base not in (None, v.source) for v in self.vehicles) or self.bases:
            out.append("bases")
        if any(v.loads_at != "home" for v in self.vehicles):
            out.append("loads_at")
        d = self.policy.drivers
        if d.max_shift_min is not None or d.max_drive_min is not None:
            out.append("driver_rules")
        if self.policy.unload_min_per_t or any(s.unload_min_per_t for s in self.sites):
            out.append("unload_min_per_t")
        if any(v.fixed_cost or v.cost_per_km for v in self.vehicles):
            out.append("costs")
        if self.needs_standard().groups:
            out.append("need_groups")
        return out

    def tier_rank(self, tier: str) -> int:
        """Rank of a tier under this scenario's policy (0 = drawn first)."""
        return tier_rank(tier, self.policy.tier_order)


def _expand(vehicles: list[Vehicle], source_ids: list[str]) -> Iterator[VehicleUnit]:
    for v in vehicles:
        if v.loads_at == "home":
            loads_at: tuple[str, ...] = (v.source,) if v.source is not None else ()
        elif v.loads_at == "any":
            loads_at = tuple(source_ids)
        else:
            allowed = set(v.loads_at)
            loads_at = tuple(s for s in source_ids if s in allowed)
        base = v.base if v.base is not None else (v.source or "")
        for k in range(1, v.count + 1):
            yield VehicleUnit(
                id=f"{v.id}#{k}",
                type_id=v.id,
                source=v.source,
                capacity_kg=v.capacity_kg,
                capacity_m3=v.capacity_m3,
                available_min=v.available_min,
                speed_factor=v.speed_factor,
                base=base,
                loads_at=loads_at,
                fixed_cost=v.fixed_cost,
                cost_per_km=v.cost_per_km,
            )


Loc = tuple[str | int, ...]


def _duplicates(values: list[str], loc: Loc, key: str, what: str) -> Iterator[tuple[Loc, str]]:
    seen: set[str] = set()
    for k, value in enumerate(values):
        if value in seen:
            yield (*loc, k, key), f"duplicate {what} {value!r}"
        seen.add(value)


V2_FIELDS: dict[str, tuple[str, ...]] = {
    "scenario": ("bases",),
    "site": ("sheltered", "unload_min_per_t"),
    "vehicle": ("base", "loads_at", "fixed_cost", "cost_per_km"),
    "policy": ("drivers", "unload_min_per_t"),
    "needs": ("groups",),
}


def _v2_field_issues(s: Scenario) -> Iterator[tuple[Loc, str]]:
    """In a version-1 scenario, every field version 2 adds is an error unless it has its
    default value (anything else would change the scenario's meaning); so is a vehicle
    without ``source``."""
    def msg(field: str) -> str:
        return f"{field!r} is a contract-v2 field: set \"contract_version\": 2 to use it"

    def set_fields(model: BaseModel, kind: str) -> Iterator[str]:
        for field in V2_FIELDS[kind]:
            info = type(model).model_fields[field]
            if getattr(model, field) != info.get_default(call_default_factory=True):
                yield field

    for field in set_fields(s, "scenario"):
        yield (field,), msg(field)
    for k, site in enumerate(s.sites):
        for field in set_fields(site, "site"):
            yield ("sites", k, field), msg(field)
    for k, v in enumerate(s.vehicles):
        for field in set_fields(v, "vehicle"):
            yield ("vehicles", k, field), msg(field)
        if v.source is None:
            yield ("vehicles", k, "source"), "Field required"
    for field in set_fields(s.policy, "policy"):
        yield ("policy", field), msg(field)
    if s.needs is not None:
        for field in set_fields(s.needs, "needs"):
            yield ("needs", field), msg(field)


def _needs_issues(s: Scenario, known: set[str]) -> Iterator[tuple[Loc, str]]:
    if s.needs is not None:
        for table in ("per_person", "per_person_per_day", "per_household"):
            for code in getattr(s.needs, table):
                if code not in known:
                    yield ("needs", table, code), f"unknown item code {code!r}"
        for k, g in enumerate(s.needs.groups):
            if g.id in known:
                yield ("needs", "groups", k, "id"), f"need id {g.id!r} is an item code"
            for code in g.items:
                if code not in known:
                    yield ("needs", "groups", k, "items", code), f"unknown item code {code!r}"
    elif any(site.demand is None for site in s.sites):
        if s.contract_version >= 2:
            missing = DEFAULT_STANDARD_V2.missing_groups(known)
            if missing:
                yield (
                    ("needs",),
                    f"no needs given, so the default standard applies, but none of the items "
                    f"of its needs {missing} is in items (add one, give needs, or give every "
                    "site a demand)",
                )
        else:
            missing = [c for c in DEFAULT_STANDARD.item_codes() if c not in known]
            if missing:
                yield (
                    ("needs",),
                    f"no needs given, so the default standard applies, but its items {missing} "
                    "are not in items (add them, give needs, or give every site a demand)",
                )
    groups = {g.id: g for g in s.needs_standard().groups} if s.contract_version >= 2 else {}
    for k, site in enumerate(s.sites):
        for code in site.demand or {}:
            if code not in known and code not in groups:
                what = "item code or need id" if groups else "item code"
                yield ("sites", k, "demand", code), f"unknown {what} {code!r}"
        for key in site.demand or {}:
            if key in groups:
                both = sorted(c for c in groups[key].items if c in (site.demand or {}))
                if both:
                    yield (
                        ("sites", k, "demand", key),
                        f"demand names need {key!r} and its items {both}: an item may meet "
                        "only one need of a site",
                    )


def _vehicle_issues(s: Scenario) -> Iterator[tuple[Loc, str]]:
    source_ids = {x.id for x in s.sources}
    places = source_ids | {b.id for b in s.bases}
    for k, v in enumerate(s.vehicles):
        if v.source is not None and v.source not in source_ids:
            yield ("vehicles", k, "source"), f"unknown source {v.source!r}"
        if s.contract_version >= 2 and v.source is None and (v.base is None
                                                              or v.loads_at == "home"):
            yield (
                ("vehicles", k, "source"),
                "a vehicle without a home source needs a base and loads_at other than home",
            )
        if v.base is not None and v.base not in places:
            yield ("vehicles", k, "base"), f"unknown base or source {v.base!r}"
        if isinstance(v.loads_at, list):
            if not v.loads_at:
                yield ("vehicles", k, "loads_at"), "loads_at lists no source"
            for n, sid in enumerate(v.loads_at):
                if sid not in source_ids:
                    yield ("vehicles", k, "loads_at", n), f"unknown source {sid!r}"
            yield from _duplicates(list(v.loads_at), ("vehicles", k), "loads_at", "source")
    unit_ids: dict[str, int] = {}
    for k, v in enumerate(s.vehicles):
        for n in range(1, v.count + 1):
            uid = f"{v.id}#{n}"
            if uid in unit_ids and unit_ids[uid] != k:
                yield ("vehicles", k, "id"), f"expanded vehicle id {uid!r} is not unique"
            unit_ids[uid] = k


def _reference_issues(s: Scenario) -> Iterator[tuple[Loc, str]]:
    """Cross-field checks pydantic's field types cannot express, with their locations."""
    if s.contract_version < 2:
        yield from _v2_field_issues(s)
    codes = [i.code for i in s.items]
    known = set(codes)
    yield from _duplicates(codes, ("items",), "code", "item code")
    yield from _duplicates([x.id for x in s.sites], ("sites",), "id", "site id")
    yield from _duplicates([x.id for x in s.sources], ("sources",), "id", "source id")
    yield from _duplicates([x.id for x in s.vehicles], ("vehicles",), "id", "vehicle id")
    yield from _duplicates([x.id for x in s.bases], ("bases",), "id", "base id")
    source_ids = {x.id for x in s.sources}
    for k, b in enumerate(s.bases):
        if b.id in source_ids:
            yield ("bases", k, "id"), f"base id {b.id!r} is also a source id"

    yield from _needs_issues(s, known)
    for k, source in enumerate(s.sources):
        for code in source.stock:
            if code not in known:
                yield ("sources", k, "stock", code), f"unknown item code {code!r}"
    yield from _vehicle_issues(s)

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
