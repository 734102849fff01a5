"""Enumerations of the provincial exchange."""

from __future__ import annotations

from enum import StrEnum


class Entity(StrEnum):
    """What the province sends us (the import endpoints and the connector's feeds)."""

    warehouses = "warehouses"  # 仓储设施 -> Depot (tier province)
    logistics = "logistics"  # 物流运输企业 -> TransportEnterprise + Vehicle
    producers = "producers"  # 生产企业 -> Depot (kind capacity) + CapacityReserve
    stock = "stock"  # 储备物资库存 -> ledger moves at the provincial depots


# The order the connector pulls in: stock refers to warehouses.
PULL_ORDER: tuple[Entity, ...] = (
    Entity.warehouses, Entity.logistics, Entity.producers, Entity.stock,
)


class Feed(StrEnum):
    """What the province (or any reader) reads from us."""

    depots = "depots"
    items = "items"
    stock = "stock"
    agreements = "agreements"
    capacity_reserves = "capacity-reserves"
    moves = "moves"


class RecordStatus(StrEnum):
    """Outcome of one imported record."""

    created = "created"  # first time this external id was applied
    updated = "updated"  # a newer version changed our data
    unchanged = "unchanged"  # replayed, or newer but with nothing to change
    stale = "stale"  # older than the version already applied: ignored, nothing written
    rejected = "rejected"  # invalid or conflicting: nothing written, reason given


class RunKind(StrEnum):
    """How records arrived: pulled by the connector or pushed to the import API."""

    pull = "pull"
    push = "push"


class RunStatus(StrEnum):
    """State of a sync run."""

    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    interrupted = "interrupted"  # left running by a process that died; found by the next pull


class ImportJobStatus(StrEnum):
    """State of an import job."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
