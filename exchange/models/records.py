"""Typed provincial import records, one model per entity, and the batch bodies carrying them.

These models are the OpenAPI contract of ``POST /api/v1/exchange/import/{entity}``: field
names, types and codes as the province sends them (OUR ASSUMPTION of the provincial format, see
``exchange.mapping`` and docs/integration.md). A batch is never refused whole because one record
is bad: the records of a batch pass the request unvalidated and each is checked on its own
(``exchange.mapping``), so a bad record is reported ``rejected`` with the provincial field named
while the others are applied. Fields not in the model are reported per record
(``unknown_fields``) and ignored. Descriptions come from the field tables in ``mapping``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SkipValidation, WithJsonSchema

from exchange.mapping import (
    CAPACITY_FIELDS,
    LOGISTICS_FIELDS,
    PRODUCER_FIELDS,
    STOCK_FIELDS,
    VEHICLE_FIELDS,
    WAREHOUSE_FIELDS,
)

MAX_BATCH = 10_000

Flag = Literal["1", "0"]


def _f(table: dict[str, str], name: str, **kwargs: Any) -> Any:
    """A field documented from the mapping's field table."""
    return Field(description=table[name], **kwargs)


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Versioned(_Record):
    BBH: int | None = _f(STOCK_FIELDS, "BBH", default=None, ge=0, le=999_999_999_999_999_999)
    GXSJ: str | None = _f(STOCK_FIELDS, "GXSJ", default=None, max_length=40,
                          examples=["2026-11-28 09:30:00"])


class WarehouseRecord(_Versioned):
    """仓储设施: a provincial warehouse (external id ``CKBM``)."""

    CKBM: str = _f(WAREHOUSE_FIELDS, "CKBM", max_length=60)
    CKMC: str = _f(WAREHOUSE_FIELDS, "CKMC", max_length=120)
    CKLX: Literal["01", "02", "03", "04"] | None = _f(WAREHOUSE_FIELDS, "CKLX", default=None)
    XZQHDM: str = _f(WAREHOUSE_FIELDS, "XZQHDM", pattern=r"^32\d{4}(\d{3})?$")
    JD: float = _f(WAREHOUSE_FIELDS, "JD", ge=-180, le=180)
    WD: float = _f(WAREHOUSE_FIELDS, "WD", ge=-90, le=90)
    CKMJ: float | None = _f(WAREHOUSE_FIELDS, "CKMJ", default=None, ge=0, le=10_000_000)
    XYSJ: float | None = _f(WAREHOUSE_FIELDS, "XYSJ", default=None, ge=0, le=720)
    SFFH: Flag | None = _f(WAREHOUSE_FIELDS, "SFFH", default=None)
    SFFX: Flag | None = _f(WAREHOUSE_FIELDS, "SFFX", default=None)
    SFFD: Flag | None = _f(WAREHOUSE_FIELDS, "SFFD", default=None)
    LXR: str | None = _f(WAREHOUSE_FIELDS, "LXR", default=None, max_length=60)
    LXDH: str | None = _f(WAREHOUSE_FIELDS, "LXDH", default=None, max_length=40)
    ZT: Flag | None = _f(WAREHOUSE_FIELDS, "ZT", default=None)


class VehicleRecord(_Record):
    """A vehicle of a logistics enterprise (key ``CPHM``)."""

    CPHM: str = _f(VEHICLE_FIELDS, "CPHM", max_length=32)
    CLLX: str = _f(VEHICLE_FIELDS, "CLLX", max_length=8, examples=["H11"])
    HZ: float = _f(VEHICLE_FIELDS, "HZ", ge=0.01, le=100)
    RJ: float | None = _f(VEHICLE_FIELDS, "RJ", default=None, ge=0.1, le=500)
    ZT: Literal["1", "2", "3", "0"] | None = _f(VEHICLE_FIELDS, "ZT", default=None)


class LogisticsRecord(_Versioned):
    """物流运输企业: a logistics enterprise and its complete vehicle list (external id
    ``QYBM``)."""

    QYBM: str = _f(LOGISTICS_FIELDS, "QYBM", max_length=60)
    QYMC: str = _f(LOGISTICS_FIELDS, "QYMC", max_length=120)
    TYSHXYDM: str | None = _f(LOGISTICS_FIELDS, "TYSHXYDM", default=None, max_length=18)
    XZQHDM: str = _f(LOGISTICS_FIELDS, "XZQHDM", pattern=r"^32\d{4}(\d{3})?$")
    JD: float = _f(LOGISTICS_FIELDS, "JD", ge=-180, le=180)
    WD: float = _f(LOGISTICS_FIELDS, "WD", ge=-90, le=90)
    XYSJ: float = _f(LOGISTICS_FIELDS, "XYSJ", ge=0, le=240)
    LXR: str | None = _f(LOGISTICS_FIELDS, "LXR", default=None, max_length=60)
    LXDH: str | None = _f(LOGISTICS_FIELDS, "LXDH", default=None, max_length=40)
    ZT: Flag | None = _f(LOGISTICS_FIELDS, "ZT", default=None)
    CLLB: list[VehicleRecord] | None = _f(LOGISTICS_FIELDS, "CLLB", default=None)


class CapacityRecord(_Record):
    """One line of a producer's capacity list."""

    WZBM: str = _f(CAPACITY_FIELDS, "WZBM", max_length=40, examples=["B0101"])
    JLDW: str = _f(CAPACITY_FIELDS, "JLDW", max_length=8, examples=["床"])
    RCN: float = _f(CAPACITY_FIELDS, "RCN", ge=0)
    ZBSJ: float = _f(CAPACITY_FIELDS, "ZBSJ", ge=0, le=720)


class ProducerRecord(_Versioned):
    """生产企业: a producer and its complete capacity list (external id ``QYBM``)."""

    QYBM: str = _f(PRODUCER_FIELDS, "QYBM", max_length=60)
    QYMC: str = _f(PRODUCER_FIELDS, "QYMC", max_length=120)
    TYSHXYDM: str | None = _f(PRODUCER_FIELDS, "TYSHXYDM", default=None, max_length=18)
    XZQHDM: str = _f(PRODUCER_FIELDS, "XZQHDM", pattern=r"^32\d{4}(\d{3})?$")
    JD: float = _f(PRODUCER_FIELDS, "JD", ge=-180, le=180)
    WD: float = _f(PRODUCER_FIELDS, "WD", ge=-90, le=90)
    LXR: str | None = _f(PRODUCER_FIELDS, "LXR", default=None, max_length=60)
    LXDH: str | None = _f(PRODUCER_FIELDS, "LXDH", default=None, max_length=40)
    ZT: Flag | None = _f(PRODUCER_FIELDS, "ZT", default=None)
    CNLB: list[CapacityRecord] | None = _f(PRODUCER_FIELDS, "CNLB", default=None)


class StockRecord(_Versioned):
    """储备物资库存: the absolute stock of one lot at one warehouse (external id
    ``CKBM/WZBM/PCH``, ``-`` without a lot)."""

    CKBM: str = _f(STOCK_FIELDS, "CKBM", max_length=60)
    WZBM: str = _f(STOCK_FIELDS, "WZBM", max_length=40, examples=["A0101"])
    WZMC: str | None = _f(STOCK_FIELDS, "WZMC", default=None, max_length=120)
    JLDW: str = _f(STOCK_FIELDS, "JLDW", max_length=8, examples=["顶"])
    PCH: str | None = _f(STOCK_FIELDS, "PCH", default=None, max_length=50)
    YXQZ: str | None = _f(STOCK_FIELDS, "YXQZ", default=None, max_length=40,
                          examples=["2028-05-31", "20280531", "2028-05-31T00:00:00+08:00"])
    KCSL: float = _f(STOCK_FIELDS, "KCSL", ge=0)
    ZLZT: Literal["01", "02", "03"] | None = _f(STOCK_FIELDS, "ZLZT", default=None)


def _records_of(model: type[BaseModel]) -> Any:
    """A list of ``model`` in the schema; at run time each record is checked on its own."""
    schema = {"type": "array", "items": {"$ref": f"#/components/schemas/{model.__name__}"},
              "maxItems": MAX_BATCH,
              "description": "Provincial records; each is checked and applied on its own"}
    return Annotated[list[SkipValidation[model]], WithJsonSchema(schema)]  # type: ignore[valid-type]


class _BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
                        description="Name of a configured source")
    batch_id: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                          description="The province's batch id")


class WarehouseBatchIn(_BatchIn):
    """A batch of 仓储设施 records."""

    records: _records_of(WarehouseRecord) = Field(max_length=MAX_BATCH)  # type: ignore[valid-type]


class LogisticsBatchIn(_BatchIn):
    """A batch of 物流运输企业 records."""

    records: _records_of(LogisticsRecord) = Field(max_length=MAX_BATCH)  # type: ignore[valid-type]


class ProducerBatchIn(_BatchIn):
    """A batch of 生产企业 records."""

    records: _records_of(ProducerRecord) = Field(max_length=MAX_BATCH)  # type: ignore[valid-type]


class StockBatchIn(_BatchIn):
    """A batch of 储备物资库存 records."""

    records: _records_of(StockRecord) = Field(max_length=MAX_BATCH)  # type: ignore[valid-type]


ImportBatch = WarehouseBatchIn | LogisticsBatchIn | ProducerBatchIn | StockBatchIn
