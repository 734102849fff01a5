"""The field-mapping layer: the province's records, field names and codes -> ours.

ASSUMPTION. The provincial platform's real interface specification is not available to us.
Everything below is OUR ASSUMPTION of a plausible format, modelled on how Chinese government
information systems commonly exchange data: upper-case pinyin-initial field names (``CKBM`` =
仓库编码, warehouse code), 6/9-digit administrative division codes (GB/T 2260), GA 802 vehicle
type codes, the province's own material codes and counting units, and a version number
(``BBH``) or update time (``GXSJ``) on every record. When the real specification arrives, this
module (and docs/integration.md, which documents it with examples) is the one place to change.

Pure functions only: no database, no web. A record either maps to a typed ``Mapped*`` object
or raises :class:`MappingError` naming the provincial field and the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.models import VehicleStatus
from exchange.models import Entity
from supplies.models import DepotKind, Quality

PROVINCE_TZ = ZoneInfo("Asia/Shanghai")
JIANGSU = "320000"

# Fields that carry the version, left out of the content hash.
VERSION_FIELDS = ("BBH", "GXSJ")
# Characters no text field may hold (C0 controls but tab, line feed and return; DEL).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Dates outside this window are typing errors, not expiry dates.
FIRST_DATE, LAST_DATE = date(1990, 1, 1), date(2199, 12, 31)

# ---------------------------------------------------------------------------------------------
# Field names (our assumption of the provincial schema): field -> meaning


COMMON_FIELDS: dict[str, str] = {
    "XZQHDM": "行政区划代码 administrative division code (6 or 9 digits, GB/T 2260)",
    "JD": "经度 longitude (WGS-84 decimal degrees)",
    "WD": "纬度 latitude (WGS-84 decimal degrees)",
    "LXR": "联系人 contact person",
    "LXDH": "联系电话 contact phone",
    "ZT": "状态 status: 1 在用 active, 0 停用 inactive (default 1)",
    "BBH": "版本号 version: an integer the province raises on every change",
    "GXSJ": "更新时间 update time, used as the version when BBH is absent",
}

WAREHOUSE_FIELDS: dict[str, str] = {
    "CKBM": "仓库编码 warehouse code (the external id)",
    "CKMC": "仓库名称 warehouse name",
    "CKLX": "仓库类型 warehouse type code (see WAREHOUSE_TYPES; default 01)",
    "CKMJ": "仓库面积 floor area in m²",
    "XYSJ": "响应时间 hours from a call until goods can leave (lead time)",
    "SFFH": "是否防火 fire protected (1/0)",
    "SFFX": "是否防汛 flood protected (1/0)",
    "SFFD": "是否防盗 theft protected (1/0)",
    **COMMON_FIELDS,
}

ENTERPRISE_FIELDS: dict[str, str] = {
    "QYBM": "企业编码 enterprise code (the external id)",
    "QYMC": "企业名称 enterprise name",
    "TYSHXYDM": "统一社会信用代码 unified social credit code (kept in the note)",
    **COMMON_FIELDS,
}

LOGISTICS_FIELDS: dict[str, str] = {
    **ENTERPRISE_FIELDS,
    "XYSJ": "响应时间 hours from a call until its vehicles are ready",
    "CLLB": "车辆列表 the enterprise's vehicles: the complete list",
}

VEHICLE_FIELDS: dict[str, str] = {
    "CPHM": "车牌号码 number plate (the vehicle's key)",
    "CLLX": "车辆类型 GA 802 vehicle type code (H1x heavy ... H4x mini goods vehicles)",
    "HZ": "核定载质量 rated load in tonnes",
    "RJ": "货厢容积 cargo volume in m³ (default by type)",
    "ZT": "车辆状态 1 可用 available, 2 任务中 in service, 3 维修 maintenance, 0 停用 retired",
}

PRODUCER_FIELDS: dict[str, str] = {
    **ENTERPRISE_FIELDS,
    "CNLB": "产能列表 what the producer can make: the complete list",
}

CAPACITY_FIELDS: dict[str, str] = {
    "WZBM": "物资编码 provincial material code",
    "JLDW": "计量单位 counting unit of RCN",
    "RCN": "日产能 units produced per day",
    "ZBSJ": "准备时间 hours until production starts (lead time)",
}

STOCK_FIELDS: dict[str, str] = {
    "CKBM": "仓库编码 the warehouse holding the stock (imported before)",
    "WZBM": "物资编码 provincial material code",
    "WZMC": "物资名称 material name (informational)",
    "JLDW": "计量单位 counting unit of KCSL",
    "PCH": "批次号 lot number (optional)",
    "YXQZ": "有效期至 expiry date, the last usable day (required for perishables)",
    "KCSL": "库存数量 quantity on hand: absolute, not a change",
    "ZLZT": "质量状态 quality: 01 合格 good, 02 待检 quarantine, 03 不合格 damaged (default 01)",
    "BBH": COMMON_FIELDS["BBH"],
    "GXSJ": COMMON_FIELDS["GXSJ"],
}

# Per entity: the record's fields, and the fields of each nested list.
KNOWN_FIELDS: dict[Entity, tuple[Mapping[str, str], dict[str, Mapping[str, str]]]] = {
    Entity.warehouses: (WAREHOUSE_FIELDS, {}),
    Entity.logistics: (LOGISTICS_FIELDS, {"CLLB": VEHICLE_FIELDS}),
    Entity.producers: (PRODUCER_FIELDS, {"CNLB": CAPACITY_FIELDS}),
    Entity.stock: (STOCK_FIELDS, {}),
}

# ---------------------------------------------------------------------------------------------
# Code tables (our assumption)

WAREHOUSE_TYPES: dict[str, DepotKind] = {
    "01": DepotKind.government,  # 政府储备库
    "02": DepotKind.social,  # 社会储备库
    "03": DepotKind.agreement,  # 企业代储(协议储备)
    "04": DepotKind.shelter,  # 应急避难场所储备点
}

# GA 802 vehicle types by their first two characters: (our kind, default cargo volume m³).
VEHICLE_TYPES: dict[str, tuple[str, float]] = {
    "H1": ("heavy_truck", 40.0),  # 重型货车
    "H2": ("medium_truck", 30.0),  # 中型货车
    "H3": ("light_truck", 8.0),  # 轻型货车
    "H4": ("mini_truck", 3.0),  # 微型货车
}

VEHICLE_STATUS: dict[str, VehicleStatus] = {
    "1": VehicleStatus.available,
    "2": VehicleStatus.in_service,
    "3": VehicleStatus.maintenance,
    "0": VehicleStatus.retired,
}

QUALITY_CODES: dict[str, Quality] = {
    "01": Quality.good,  # 合格
    "02": Quality.quarantine,  # 待检
    "03": Quality.damaged,  # 不合格/损坏
}


@dataclass(frozen=True)
class ProvincialItem:
    """A provincial material code, our item code, and how its units convert to ours."""

    code: str
    name: str
    item: str
    units: Mapping[str, Fraction]  # provincial unit -> how many of our units one is


# The province's material codes (our assumption): class letter + 4 digits.
ITEMS: dict[str, ProvincialItem] = {
    p.code: p
    for p in [
        ProvincialItem("A0101", "单帐篷(12㎡)", "1010101", {"顶": Fraction(1)}),
        ProvincialItem("A0102", "棉帐篷(12㎡)", "1010102", {"顶": Fraction(1)}),
        ProvincialItem("A0201", "折叠床", "1010201", {"张": Fraction(1)}),
        ProvincialItem("A0301", "篷布", "1010301", {"块": Fraction(1)}),
        ProvincialItem("B0101", "棉被", "1020101", {"床": Fraction(1), "条": Fraction(1)}),
        ProvincialItem("B0102", "毛毯", "1020102", {"床": Fraction(1), "条": Fraction(1)}),
        ProvincialItem("B0201", "蚊帐", "1020201", {"顶": Fraction(1)}),
        ProvincialItem("C0101", "棉大衣", "1030101", {"件": Fraction(1)}),
        ProvincialItem("C0201", "雨衣", "1030201", {"件": Fraction(1)}),
        ProvincialItem("C0202", "雨靴", "1030202", {"双": Fraction(1)}),
        ProvincialItem("D0101", "瓶装饮用水", "1040101",
                       {"箱": Fraction(1), "件": Fraction(1), "瓶": Fraction(1, 24)}),
        ProvincialItem("D0201", "方便面", "1050101", {"箱": Fraction(1), "包": Fraction(1, 24)}),
        ProvincialItem("D0202", "压缩饼干", "1050102",
                       {"箱": Fraction(1), "千克": Fraction(1, 10), "kg": Fraction(1, 10)}),
        ProvincialItem("D0203", "自热米饭", "1050103", {"箱": Fraction(1), "盒": Fraction(1, 12)}),
        ProvincialItem("E0101", "应急灯", "1070101", {"个": Fraction(1), "台": Fraction(1)}),
        ProvincialItem("E0102", "手电筒", "1070102", {"个": Fraction(1), "只": Fraction(1)}),
        ProvincialItem("F0101", "救生衣", "2010101", {"件": Fraction(1)}),
        ProvincialItem("F0201", "急救包", "2020101", {"个": Fraction(1), "套": Fraction(1)}),
        ProvincialItem("F0301", "柴油发电机组", "2030101", {"台": Fraction(1)}),
        ProvincialItem("G0101", "防汛编织袋", "3010101", {"条": Fraction(1)}),
        ProvincialItem("G0102", "防汛沙袋", "3010102", {"条": Fraction(1)}),
    ]
}


# ---------------------------------------------------------------------------------------------
# Mapped records


class MappingError(ValueError):
    """A provincial record that cannot be mapped; ``field`` is the provincial field name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Place:
    """Where an entity is: the division it reports and its coordinates."""

    division_code: str
    lat: float
    lon: float


@dataclass(frozen=True)
class MappedWarehouse:
    """A provincial warehouse as our depot (tier province)."""

    external_id: str
    name: str
    kind: DepotKind
    place: Place
    floor_area_m2: float | None
    lead_time_hours: float | None
    fire_protected: bool
    flood_protected: bool
    theft_protected: bool
    contact: str | None
    active: bool


@dataclass(frozen=True)
class MappedVehicle:
    """A vehicle of a logistics enterprise."""

    plate: str
    kind: str
    capacity_kg: float
    capacity_m3: float
    status: VehicleStatus


@dataclass(frozen=True)
class MappedLogistics:
    """A logistics enterprise as our transport enterprise, with its complete vehicle list."""

    external_id: str
    name: str
    place: Place
    lead_time_hours: float
    contact: str | None
    active: bool
    note: str | None
    vehicles: tuple[MappedVehicle, ...]


@dataclass(frozen=True)
class MappedCapacity:
    """A producer's output of one of our items."""

    item: str
    units_per_day: int
    lead_time_hours: float


@dataclass(frozen=True)
class MappedProducer:
    """A production enterprise as our capacity depot, with its complete capacity list."""

    external_id: str
    name: str
    place: Place
    contact: str | None
    active: bool
    note: str | None
    capacity: tuple[MappedCapacity, ...]


@dataclass(frozen=True)
class MappedStock:
    """Absolute stock of one lot of one of our items at one provincial warehouse."""

    external_id: str
    warehouse: str
    item: str
    lot: str | None
    expiry: date | None
    quantity: int
    quality: Quality


Mapped = MappedWarehouse | MappedLogistics | MappedProducer | MappedStock


@dataclass
class ItemTable:
    """The provincial material codes in force for one source (defaults plus its overrides)."""

    items: dict[str, ProvincialItem] = field(default_factory=lambda: dict(ITEMS))

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Mapping[str, Any]]) -> ItemTable:
        """Defaults plus a source's ``item_codes`` option: ``{code: {item, units: {u: f}}}``."""
        table = cls()
        for code, spec in overrides.items():
            try:
                units = {str(u): Fraction(str(f)) for u, f in dict(spec["units"]).items()}
                item = str(spec["item"])
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
                raise MappingError("item_codes", f"bad override for {code}: {exc}") from exc
            table.items[code] = ProvincialItem(code, str(spec.get("name", code)), item, units)
        return table

    def convert(self, code_field: str, raw: Mapping[str, Any], qty_field: str, *,
                exact: bool) -> tuple[str, int]:
        """Our item code and the quantity in our units (exact, or rounded down for rates)."""
        code = _text(raw, code_field, max_length=40)
        entry = self.items.get(code)
        if entry is None:
            raise MappingError(code_field, f"unknown provincial material code {code!r}")
        unit = _text(raw, "JLDW", max_length=8)
        factor = entry.units.get(unit)
        if factor is None:
            known = "/".join(entry.units)
            raise MappingError("JLDW", f"unit {unit!r} of {code} is not one of {known}")
        amount = _number(raw, qty_field, minimum=0)
        ours = Fraction(str(amount)) * factor
        if exact and ours.denominator != 1:
            raise MappingError(qty_field, f"{amount} {unit} is not a whole number of our units "
                               f"({float(ours):g})")
        return entry.item, int(ours)  # int() rounds a rate down


# ---------------------------------------------------------------------------------------------
# Field readers


def _present(raw: Mapping[str, Any], name: str) -> bool:
    value = raw.get(name)
    return value is not None and not (isinstance(value, str) and not value.strip())


def _text(raw: Mapping[str, Any], name: str, *, max_length: int, required: bool = True
          ) -> str:
    if not _present(raw, name):
        if required:
            raise MappingError(name, "is required")
        return ""
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(name, f"must be text, not {type(value).__name__}")
    text = str(value).strip()
    if len(text) > max_length:
        raise MappingError(name, f"longer than {max_length} characters")
    if CONTROL.search(text):
        raise MappingError(name, "contains a control character (such as NUL)")
    return text


def _number(raw: Mapping[str, Any], name: str, *, minimum: float | None = None,
            maximum: float | None = None) -> float:
    if not _present(raw, name):
        raise MappingError(name, "is required")
    value = raw[name]
    if isinstance(value, bool):
        raise MappingError(name, f"not a number: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MappingError(name, f"not a number: {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise MappingError(name, f"not a number: {value!r}")
    if minimum is not None and number < minimum:
        raise MappingError(name, f"{number:g} is below {minimum:g}")
    if maximum is not None and number > maximum:
        raise MappingError(name, f"{number:g} is above {maximum:g}")
    return number


def _opt_number(raw: Mapping[str, Any], name: str, **limits: float) -> float | None:
    return _number(raw, name, **limits) if _present(raw, name) else None


def _flag(raw: Mapping[str, Any], name: str, *, default: bool) -> bool:
    if not _present(raw, name):
        return default
    value = str(raw[name]).strip()
    if value not in {"0", "1"}:
        raise MappingError(name, f"must be 1 or 0, not {value!r}")
    return value == "1"


def _code(raw: Mapping[str, Any], name: str, table: Mapping[str, Any], default: str | None
          ) -> Any:
    value = _text(raw, name, max_length=8, required=default is None) or default
    if value not in table:
        raise MappingError(name, f"unknown code {value!r} (known: {', '.join(table)})")
    return table[value]


def _place(raw: Mapping[str, Any]) -> Place:
    division = _text(raw, "XZQHDM", max_length=12)
    if not re.fullmatch(r"\d{6}(\d{3})?", division):
        raise MappingError("XZQHDM", f"not a 6- or 9-digit division code: {division!r}")
    if not division.startswith("32"):
        raise MappingError("XZQHDM", f"{division} is outside Jiangsu (32xxxx)")
    return Place(
        division_code=division,
        lat=_number(raw, "WD", minimum=-90, maximum=90),
        lon=_number(raw, "JD", minimum=-180, maximum=180),
    )


def _contact(raw: Mapping[str, Any]) -> str | None:
    parts = [_text(raw, "LXR", max_length=60, required=False),
             _text(raw, "LXDH", max_length=40, required=False)]
    return " ".join(p for p in parts if p) or None


def _date(raw: Mapping[str, Any], name: str) -> date | None:
    """A date as ``YYYY-MM-DD`` or ``YYYYMMDD``, or an ISO 8601 time with a zone (or none,
    meaning Asia/Shanghai) whose date in Asia/Shanghai is taken."""
    if not _present(raw, name):
        return None
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(name, f"not a date: {value!r}")
    text = str(value).strip()
    parsed: date | None = None
    for pattern in ("%Y-%m-%d", "%Y%m%d"):
        try:
            parsed = datetime.strptime(text, pattern).date()
            break
        except ValueError:
            continue
    if parsed is None and "T" in text:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            aware = moment if moment.tzinfo else moment.replace(tzinfo=PROVINCE_TZ)
            parsed = aware.astimezone(PROVINCE_TZ).date()
    if parsed is None:
        raise MappingError(name, f"not a date (YYYY-MM-DD, YYYYMMDD or ISO 8601 with a time "
                           f"zone): {text[:40]!r}")
    if not FIRST_DATE <= parsed <= LAST_DATE:
        raise MappingError(name, f"{parsed} is outside {FIRST_DATE.year}-{LAST_DATE.year}")
    return parsed


def _records(raw: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = raw.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise MappingError(name, "must be a list of objects")
    return value


# ---------------------------------------------------------------------------------------------
# Keys, versions, hashes


def ensure_object(raw: Any) -> Mapping[str, Any]:
    """The record as a mapping, or a MappingError for anything else (a malformed record)."""
    if not isinstance(raw, dict):
        raise MappingError("(record)", f"must be an object, not {type(raw).__name__}")
    return raw


def external_id(entity: Entity, raw: Mapping[str, Any]) -> str:
    """The province's key of a record: its code, or warehouse/material/lot for stock."""
    if entity == Entity.warehouses:
        return _text(raw, "CKBM", max_length=60)
    if entity in (Entity.logistics, Entity.producers):
        return _text(raw, "QYBM", max_length=60)
    warehouse = _text(raw, "CKBM", max_length=60)
    material = _text(raw, "WZBM", max_length=40)
    lot = _text(raw, "PCH", max_length=50, required=False) or "-"
    return f"{warehouse}/{material}/{lot}"


def version(raw: Mapping[str, Any]) -> int:
    """The record's version: ``BBH``, else ``GXSJ`` as epoch milliseconds.

    A source must use one of them consistently: a timestamp always outranks a small integer.
    """
    if _present(raw, "BBH"):
        value = raw["BBH"]
        if isinstance(value, float) and value.is_integer() and 0 <= value < 1e18:
            value = int(value)  # 3.0 is version 3, like 3
        if isinstance(value, bool) or not re.fullmatch(r"\d{1,18}", str(value).strip()):
            raise MappingError("BBH", f"not a non-negative integer: {value!r}")
        return int(str(value).strip())
    if _present(raw, "GXSJ"):
        return int(_timestamp(raw["GXSJ"]).timestamp() * 1000)
    raise MappingError("BBH", "no version: give BBH (版本号) or GXSJ (更新时间)")


def _timestamp(value: Any) -> datetime:
    text = str(value).strip()
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=PROVINCE_TZ)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise MappingError("GXSJ", f"not a time (YYYY-MM-DD HH:MM:SS): {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=PROVINCE_TZ)


def content_hash(raw: Mapping[str, Any]) -> str:
    """SHA-256 of the record without its version fields: equal content, equal hash.

    Numbers are compared by value, so ``12000``, ``12000.0`` and ``1.2e4`` are the same content
    (a replay written by another serializer is still a replay); text stays text.
    """
    body = {k: v for k, v in raw.items() if k not in VERSION_FIELDS}
    canonical = json.dumps(_canonical(body), sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def legacy_content_hash(raw: Mapping[str, Any]) -> str:
    """The hash stored before numbers were compared by value (migration 0008): a record
    applied then and replayed unchanged must still be recognised as a replay."""
    body = {k: v for k, v in raw.items() if k not in VERSION_FIELDS}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and (value != value or value in (float("inf"),
                                                                      float("-inf"))):
            return repr(value)
        exact = Fraction(value)
        return int(exact) if exact.denominator == 1 else repr(float(value))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def unknown_fields(entity: Entity, raw: Mapping[str, Any]) -> list[str]:
    """Fields of a record that the provincial format (as we know it) does not have, with the
    nested lists' fields as ``CLLB[2].XYZ``; they are reported, and ignored."""
    known, nested = KNOWN_FIELDS[entity]
    found = [name for name in raw if name not in known]
    for list_field, item_fields in nested.items():
        value = raw.get(list_field)
        if isinstance(value, list):
            for position, entry in enumerate(value):
                if isinstance(entry, dict):
                    found += [f"{list_field}[{position}].{name}" for name in entry
                              if name not in item_fields]
    return found


# ---------------------------------------------------------------------------------------------
# Record mappers


def map_warehouse(raw: Mapping[str, Any]) -> MappedWarehouse:
    """A 仓储设施 record -> our provincial depot."""
    return MappedWarehouse(
        external_id=external_id(Entity.warehouses, raw),
        name=_text(raw, "CKMC", max_length=120),
        kind=_code(raw, "CKLX", WAREHOUSE_TYPES, "01"),
        place=_place(raw),
        floor_area_m2=_opt_number(raw, "CKMJ", minimum=0, maximum=10_000_000),
        lead_time_hours=_opt_number(raw, "XYSJ", minimum=0, maximum=720),
        fire_protected=_flag(raw, "SFFH", default=False),
        flood_protected=_flag(raw, "SFFX", default=False),
        theft_protected=_flag(raw, "SFFD", default=False),
        contact=_contact(raw),
        active=_flag(raw, "ZT", default=True),
    )


def _vehicle(raw: Mapping[str, Any], position: int) -> MappedVehicle:
    try:
        kind, default_m3 = _vehicle_type(raw)
        volume = _opt_number(raw, "RJ", minimum=0.1, maximum=500)
        return MappedVehicle(
            plate=_text(raw, "CPHM", max_length=32),
            kind=kind,
            capacity_kg=_number(raw, "HZ", minimum=0.01, maximum=100) * 1000,
            capacity_m3=volume if volume is not None else default_m3,
            status=_code(raw, "ZT", VEHICLE_STATUS, "1"),
        )
    except MappingError as exc:
        raise MappingError(f"CLLB[{position}].{exc.field}", exc.message) from exc


def _vehicle_type(raw: Mapping[str, Any]) -> tuple[str, float]:
    code = _text(raw, "CLLX", max_length=8)
    found = VEHICLE_TYPES.get(code[:2])
    if found is None:
        raise MappingError("CLLX", f"not a goods vehicle type (H1x-H4x): {code!r}")
    return found


def map_logistics(raw: Mapping[str, Any]) -> MappedLogistics:
    """A 物流运输企业 record -> our transport enterprise with its vehicles."""
    vehicles = tuple(_vehicle(v, i) for i, v in enumerate(_records(raw, "CLLB")))
    plates = [v.plate for v in vehicles]
    if len(set(plates)) != len(plates):
        raise MappingError("CLLB", "a number plate is listed twice")
    credit = _text(raw, "TYSHXYDM", max_length=18, required=False)
    return MappedLogistics(
        external_id=external_id(Entity.logistics, raw),
        name=_text(raw, "QYMC", max_length=120),
        place=_place(raw),
        lead_time_hours=_number(raw, "XYSJ", minimum=0, maximum=240),
        contact=_contact(raw),
        active=_flag(raw, "ZT", default=True),
        note=f"统一社会信用代码 {credit}" if credit else None,
        vehicles=vehicles,
    )


def map_producer(raw: Mapping[str, Any], items: ItemTable) -> MappedProducer:
    """A 生产企业 record -> our capacity depot with its capacity reserves."""
    lines: list[MappedCapacity] = []
    for position, line in enumerate(_records(raw, "CNLB")):
        try:
            item, per_day = items.convert("WZBM", line, "RCN", exact=False)
            if per_day < 1:
                raise MappingError("RCN", "less than one of our units per day")
            lines.append(MappedCapacity(
                item=item, units_per_day=per_day,
                lead_time_hours=_number(line, "ZBSJ", minimum=0, maximum=720)))
        except MappingError as exc:
            raise MappingError(f"CNLB[{position}].{exc.field}", exc.message) from exc
    if len({c.item for c in lines}) != len(lines):
        raise MappingError("CNLB", "an item is listed twice")
    credit = _text(raw, "TYSHXYDM", max_length=18, required=False)
    return MappedProducer(
        external_id=external_id(Entity.producers, raw),
        name=_text(raw, "QYMC", max_length=120),
        place=_place(raw),
        contact=_contact(raw),
        active=_flag(raw, "ZT", default=True),
        note=f"统一社会信用代码 {credit}" if credit else None,
        capacity=tuple(lines),
    )


def map_stock(raw: Mapping[str, Any], items: ItemTable) -> MappedStock:
    """A 储备物资库存 record -> absolute stock of one lot at one provincial warehouse."""
    item, quantity = items.convert("WZBM", raw, "KCSL", exact=True)
    if quantity > 1_000_000_000:
        raise MappingError("KCSL", "too large")
    return MappedStock(
        external_id=external_id(Entity.stock, raw),
        warehouse=_text(raw, "CKBM", max_length=60),
        item=item,
        lot=_text(raw, "PCH", max_length=50, required=False) or None,
        expiry=_date(raw, "YXQZ"),
        quantity=quantity,
        quality=_code(raw, "ZLZT", QUALITY_CODES, "01"),
    )


def map_record(entity: Entity, raw: Mapping[str, Any], items: ItemTable) -> Mapped:
    """Map one provincial record of ``entity`` to ours (MappingError when it cannot be)."""
    if entity == Entity.warehouses:
        return map_warehouse(raw)
    if entity == Entity.logistics:
        return map_logistics(raw)
    if entity == Entity.producers:
        return map_producer(raw, items)
    return map_stock(raw, items)
