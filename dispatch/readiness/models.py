"""Tables and typed records of readiness: the scenario library (versioned), readiness runs and
their results, and pre-positioning advice with its draft orders.

JSON columns hold lists of the typed records below; they are parsed with those models where
they are read (``ResultPublic``, ``AdvicePublic``), never navigated by string keys.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydField
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, CheckConstraint, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, str_enum, utcnow
from relief.platform.leasedjob import LeasedJob


class Hazard(StrEnum):
    """The hazards the city's plan names (docs/readiness.md, "The scenario library")."""

    typhoon = "typhoon"  # 台风
    storm_surge = "storm_surge"  # 风暴潮
    yangtze_flood = "yangtze_flood"  # 长江洪水(高潮位)
    river_flood = "river_flood"  # 区域洪涝、城市内涝
    earthquake = "earthquake"  # 地震
    wind_hail = "wind_hail"  # 风雹
    forest_fire = "forest_fire"  # 森林火灾(五山地区)
    other = "other"


class Basis(StrEnum):
    """Where a share comes from: a cited figure, derived from cited figures by a written rule,
    or the project's assumption (docs/readiness.md says which and why)."""

    cited = "cited"
    derived = "derived"
    assumption = "assumption"


def _basis_type(name: str) -> sa.Enum:
    """The Basis enum for one column; its CHECK constraint is named after the column, since a
    version has two such columns (PostgreSQL needs distinct constraint names)."""
    return sa.Enum(Basis, native_enum=False, create_constraint=True, length=32, name=name,
                   values_callable=lambda members: [m.value for m in members],
                   validate_strings=True)


class ReadinessJobStatus(StrEnum):
    """Where a readiness run or an advice job is (its own name in OpenAPI: planning jobs have
    another ``JobStatus``)."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


JobStatus = ReadinessJobStatus


class Trigger(StrEnum):
    """Who started a run: a person (API, console, CLI) or the schedule."""

    on_demand = "on_demand"
    scheduled = "scheduled"


class OrderKind(StrEnum):
    """What an advice line asks for. Only transfers move stock (through the ledger)."""

    transfer = "transfer"  # 调拨: depot to depot
    rotation = "rotation"  # 轮换: replace stock that expires before the evaluation date
    purchase = "purchase"  # 采购: new stock at a government depot
    agreement = "agreement"  # 协议储备: more volume under an existing agreement


class OrderState(StrEnum):
    """A draft order is accepted (transfers: sent through the ledger) or declined."""

    draft = "draft"
    accepted = "accepted"
    declined = "declined"


# ---------------------------------------------------------------------------------------------
# The scenario library


class ReadinessScenario(SQLModel, table=True):
    """One hazard of one county-level unit; its content lives in versions."""

    __tablename__ = "readiness_scenario"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    county_code: str = Field(foreign_key="division.code", max_length=12, index=True)
    hazard: Hazard = Field(sa_type=str_enum(Hazard))
    active: bool = True
    current_version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ScenarioVersion(SQLModel, table=True):
    """An immutable version of a library scenario; an edit writes the next version."""

    __tablename__ = "readiness_scenario_version"
    __table_args__ = (
        UniqueConstraint("scenario_id", "version"),
        CheckConstraint("displaced_share > 0 AND displaced_share <= 1", name="displaced"),
        CheckConstraint("sheltered_share >= 0 AND sheltered_share <= 1", name="sheltered"),
        CheckConstraint("deadline_hours > 0", name="deadline"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scenario_id: int = Field(foreign_key="readiness_scenario.id", index=True)
    version: int
    name: str = Field(max_length=120)
    townships: list[str] = Field(sa_column=Column(JSON, nullable=False))
    displaced_share: float
    displaced_basis: Basis = Field(sa_type=_basis_type("displaced_basis"))
    displaced_source: str = Field(max_length=2000)
    sheltered_share: float
    sheltered_basis: Basis = Field(sa_type=_basis_type("sheltered_basis"))
    sheltered_source: str = Field(max_length=2000)
    townships_source: str = Field(max_length=2000)
    deadline_hours: float = 10.0
    note: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# ---------------------------------------------------------------------------------------------
# Runs and results


class ReadinessRun(LeasedJob, table=True):
    """A readiness run over the library (or one county of it): a job row, like a plan job."""

    __tablename__ = "readiness_run"

    id: int | None = Field(default=None, primary_key=True)
    trigger: Trigger = Field(sa_type=str_enum(Trigger))
    county_code: str | None = Field(default=None, max_length=12)
    status: JobStatus = Field(default=JobStatus.queued, sa_type=str_enum(JobStatus, "jobstatus"),
                              index=True)
    phase: str | None = Field(default=None, max_length=80)
    progress: float = 0.0
    done: int = 0
    total: int = 0
    time_limit_s: float
    evaluated_on: date
    # one scheduled run per slot (floor(epoch hours / interval)) however many processes race
    schedule_slot: int | None = Field(default=None, unique=True)
    requested_by: str = Field(max_length=120)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class ReadinessResult(SQLModel, table=True):
    """What the engine covers of one library scenario version on the live data of one run."""

    __tablename__ = "readiness_result"
    __table_args__ = (UniqueConstraint("run_id", "scenario_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="readiness_run.id", index=True)
    scenario_id: int = Field(foreign_key="readiness_scenario.id", index=True)
    version_id: int = Field(foreign_key="readiness_scenario_version.id")
    county_code: str = Field(max_length=12, index=True)
    hazard: Hazard = Field(sa_type=str_enum(Hazard))
    people: int
    people_covered: int
    coverage: float
    bound_coverage: float | None = None
    baseline_coverage: float | None = None
    fill_rate: float
    engine_status: str = Field(max_length=40)
    checker_ok: bool
    solve_s: float
    inputs_digest: str = Field(max_length=64, index=True)
    inputs: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    needs: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    binding: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    gaps: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


# ---------------------------------------------------------------------------------------------
# Advice


class Advice(LeasedJob, table=True):
    """A pre-positioning advice job: its parameters, the optimisation's objective and the
    engine's before/after check per scenario."""

    __tablename__ = "readiness_advice"

    id: int | None = Field(default=None, primary_key=True)
    status: JobStatus = Field(default=JobStatus.queued, sa_type=str_enum(JobStatus, "jobstatus"),
                              index=True)
    phase: str | None = Field(default=None, max_length=80)
    progress: float = 0.0
    params: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    evaluated_on: date
    objective: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    checks: list[dict[str, Any]] | None = Field(default=None,
                                                sa_column=Column(JSON, nullable=True))
    requested_by: str = Field(max_length=120)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class AdviceOrder(SQLModel, table=True):
    """One line of an advice: a draft transfer, rotation, purchase or agreement volume."""

    __tablename__ = "readiness_advice_order"
    __table_args__ = (
        UniqueConstraint("advice_id", "seq"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    advice_id: int = Field(foreign_key="readiness_advice.id", index=True)
    seq: int
    kind: OrderKind = Field(sa_type=str_enum(OrderKind))
    from_depot_id: int | None = Field(default=None, foreign_key="depot.id")
    to_depot_id: int = Field(foreign_key="depot.id", index=True)
    item_id: int = Field(foreign_key="item.id")
    quantity: int
    weight_kg: float
    volume_m3: float
    km: float | None = None
    state: OrderState = Field(default=OrderState.draft, sa_type=str_enum(OrderState))
    transfer_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    decided_by: str | None = Field(default=None, max_length=120)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, max_length=300)


# ---------------------------------------------------------------------------------------------
# Typed records stored in the JSON columns and returned by the API


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NeedCoverage(_Record):
    """One need (an item of the standard) of one scenario: people who need it and people whose
    whole need of it arrives by the deadline."""

    need: str
    people: int
    people_covered: int

    @property
    def share(self) -> float:
        """Covered share of the people needing it."""
        return 1.0 if self.people == 0 else self.people_covered / self.people


class Binding(_Record):
    """Why people are not covered: the engine's unmet reason that leaves the most people of
    uncovered sites short, and the item (for stock) it concerns."""

    reason: str  # no_stock_in_reach | no_fleet_capacity | unreachable | lead_time | ...
    item: str | None
    people: int  # people of uncovered sites short for this reason (and item)
    qty: int  # units short for this reason (and item)


class ItemGap(_Record):
    """Units and tonnes of one item not delivered by the deadline in a scenario."""

    item: str
    units: int
    tonnes: float


class InputsSummary(_Record):
    """What the live inputs were (the digest identifies them exactly)."""

    sites: int
    sources: int
    vehicles: int
    stock_units: dict[str, int]  # item -> usable units over every source
    as_of_min: int


class ScenarioCheck(_Record):
    """One scenario before and after an advice, as the engine covers it (and as the
    optimisation predicted)."""

    scenario: str
    version_id: int
    county_code: str
    hazard: Hazard
    people: int
    before_covered: int
    after_covered: int
    predicted_covered: float
    before_digest: str
    after_digest: str

    @property
    def before(self) -> float:
        """Covered share before."""
        return 1.0 if self.people == 0 else self.before_covered / self.people

    @property
    def after(self) -> float:
        """Covered share after."""
        return 1.0 if self.people == 0 else self.after_covered / self.people


class Objective(_Record):
    """What the optimisation reached (its own model, before the engine checks it)."""

    statement: str
    min_before: float
    min_predicted: float
    mean_before: float
    mean_predicted: float
    tonnes_moved: float
    truck_km: float
    new_stock_tonnes: float
    solver_status: str
    solve_s: float


# ---------------------------------------------------------------------------------------------
# API bodies and answers


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Share = Annotated[float, PydField(ge=0, le=1, allow_inf_nan=False)]
Source = Annotated[str, PydField(min_length=1, max_length=2000)]


class ScenarioContent(_Body):
    """What a version says; every field of a new scenario, or the changed ones of an edit."""

    name: str = PydField(min_length=1, max_length=120)
    townships: list[Annotated[str, PydField(pattern=r"^\d{9}$")]] = PydField(min_length=1,
                                                                             max_length=200)
    displaced_share: Annotated[float, PydField(gt=0, le=1, allow_inf_nan=False)]
    displaced_basis: Basis
    displaced_source: Source
    sheltered_share: Share
    sheltered_basis: Basis
    sheltered_source: Source
    townships_source: Source
    deadline_hours: Annotated[float, PydField(gt=0, le=72, allow_inf_nan=False)] = 10.0
    note: str | None = PydField(default=None, max_length=500)

    @field_validator("townships")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise PydanticCustomError("township_twice", "a township is listed twice")
        return value


class ScenarioIn(ScenarioContent):
    """Body of POST /readiness/scenarios: a new library scenario (version 1)."""

    county: str = PydField(pattern=r"^\d{6}$")
    hazard: Hazard
    code: str | None = PydField(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$",
                                description="Default: <county>-<hazard>")


class ScenarioEdit(_Body):
    """Body of PATCH /readiness/scenarios/{code}: the fields that change (a new version)."""

    name: str | None = PydField(default=None, min_length=1, max_length=120)
    townships: list[Annotated[str, PydField(pattern=r"^\d{9}$")]] | None = PydField(
        default=None, min_length=1, max_length=200)
    displaced_share: Annotated[float, PydField(gt=0, le=1, allow_inf_nan=False)] | None = None
    displaced_basis: Basis | None = None
    displaced_source: Source | None = None
    sheltered_share: Share | None = None
    sheltered_basis: Basis | None = None
    sheltered_source: Source | None = None
    townships_source: Source | None = None
    deadline_hours: Annotated[float, PydField(gt=0, le=72, allow_inf_nan=False)] | None = None
    note: str | None = PydField(default=None, max_length=500)
    active: bool | None = None


class TownshipShare(BaseModel):
    """One affected township of a version, with the people it puts in the scenario."""

    code: str
    name: str
    population: int
    displaced: int
    sheltered: int


class VersionPublic(BaseModel):
    """A version as the API returns it."""

    id: int
    version: int
    name: str
    townships: list[TownshipShare]
    displaced_share: float
    displaced_basis: Basis
    displaced_source: str
    sheltered_share: float
    sheltered_basis: Basis
    sheltered_source: str
    townships_source: str
    deadline_hours: float
    note: str | None
    people: int
    created_by: str
    created_at: datetime


class ScenarioPublic(BaseModel):
    """A library scenario with its current version."""

    code: str
    county: str
    county_name: str
    hazard: Hazard
    active: bool
    current_version: int
    current: VersionPublic
    updated_at: datetime


class RunRequestIn(_Body):
    """Body of POST /readiness/runs."""

    county: str | None = PydField(default=None, pattern=r"^\d{6}$")
    time_limit_s: Annotated[float, PydField(gt=0, le=600, allow_inf_nan=False)] | None = None


class RunPublic(BaseModel):
    """A readiness run (a job)."""

    id: int
    trigger: Trigger
    county: str | None
    status: JobStatus
    phase: str | None
    progress: float
    done: int
    total: int
    time_limit_s: float
    evaluated_on: date
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_zh: str | None = None
    error: str | None
    error_key: str | None = None
    error_params: dict[str, Any] | None = None


class ResultPublic(BaseModel):
    """One scenario's readiness in one run."""

    run_id: int
    scenario: str
    version: int
    version_id: int
    county: str
    county_name: str
    hazard: Hazard
    people: int
    people_covered: int
    coverage: float
    bound_coverage: float | None
    baseline_coverage: float | None
    fill_rate: float
    engine_status: str
    checker_ok: bool
    solve_s: float
    inputs_digest: str
    inputs: InputsSummary
    needs: list[NeedCoverage]
    binding: Binding | None
    gaps: list[ItemGap]
    created_at: datetime


class AdviceRequestIn(_Body):
    """Body of POST /readiness/advice: budgets and horizon of a pre-positioning advice."""

    budget_t: Annotated[float, PydField(ge=0, le=10_000, allow_inf_nan=False)] = PydField(
        description="Tonnes that transfers may move in all")
    budget_truck_km: Annotated[float, PydField(gt=0, le=1_000_000, allow_inf_nan=False)] | None = (
        PydField(default=None, description="Truck-km the transfers may drive (round trips)"))
    purchase_t: Annotated[float, PydField(ge=0, le=10_000, allow_inf_nan=False)] = PydField(
        default=0.0, description="Tonnes of new stock (purchases and agreement volume)")
    horizon_days: Annotated[int, PydField(ge=0, le=365)] = PydField(
        default=30, description="Evaluate on today + this many days (stock expiring before "
        "then is lost unless rotated)")
    time_limit_s: Annotated[float, PydField(gt=0, le=600, allow_inf_nan=False)] | None = (
        PydField(default=None, description="Engine seconds per scenario (before and after)"))
    optimise_s: Annotated[float, PydField(gt=0, le=3600, allow_inf_nan=False)] = PydField(
        default=60.0, description="Seconds for the optimisation")


class OrderPublic(BaseModel):
    """One advice line."""

    id: int
    seq: int
    kind: OrderKind
    from_depot: str | None
    to_depot: str
    item: str
    item_name: str
    unit: str
    quantity: int
    weight_kg: float
    volume_m3: float
    km: float | None
    state: OrderState
    transfer_ids: list[int]
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


class AdvicePublic(BaseModel):
    """An advice job with its orders and the engine's before/after check."""

    id: int
    status: JobStatus
    phase: str | None
    progress: float
    params: AdviceRequestIn
    evaluated_on: date
    objective: Objective | None
    checks: list[ScenarioCheck]
    orders: list[OrderPublic]
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    error_zh: str | None = None
    error: str | None
    error_key: str | None = None
    error_params: dict[str, Any] | None = None


class DecisionIn(_Body):
    """Body of POST .../orders/{seq}/decline (and optional on accept)."""

    note: str | None = PydField(default=None, max_length=300)
