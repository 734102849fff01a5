"""The field-mapping layer on its own (no database): provincial fields and codes to ours."""

from __future__ import annotations

from datetime import date

import pytest

from exchange import mapping
from exchange.mapping import ItemTable, MappingError
from exchange.models import Entity
from tests.exchange.province import P_WATER, logistics, producer, stock, vehicle, warehouse

ITEMS = ItemTable()


def test_warehouse_fields_and_codes_map_to_a_depot() -> None:
    """Pinyin-initial fields, type code, flags, contact and lead time map to our depot."""
    mapped = mapping.map_warehouse(warehouse("CK1", CKLX="02", SFFX="1", LXR="张三",
                                             LXDH="025-1", XYSJ="5.5", ZT="0"))
    assert (mapped.external_id, mapped.kind.value, mapped.lead_time_hours) == ("CK1", "social",
                                                                               5.5)
    assert (mapped.place.division_code, mapped.place.lat, mapped.place.lon) == ("320115", 31.95,
                                                                                118.86)
    assert mapped.flood_protected and mapped.fire_protected and not mapped.theft_protected
    assert mapped.contact == "张三 025-1" and mapped.active is False


@pytest.mark.parametrize(("fields", "field"), [
    ({"CKMC": ""}, "CKMC"), ({"JD": "东经"}, "JD"), ({"WD": 91}, "WD"),
    ({"XZQHDM": "3201"}, "XZQHDM"), ({"XZQHDM": "310101"}, "XZQHDM"), ({"CKLX": "9"}, "CKLX"),
    ({"SFFH": "是"}, "SFFH"), ({"XYSJ": -1}, "XYSJ"), ({"CKMC": "x" * 121}, "CKMC"),
])
def test_bad_warehouse_fields_name_the_provincial_field(fields: dict[str, object],
                                                        field: str) -> None:
    """Each invalid field is rejected with its provincial name."""
    with pytest.raises(MappingError) as info:
        mapping.map_warehouse(warehouse("CK1", **fields))
    assert info.value.field == field


def test_versions_hashes_and_keys() -> None:
    """BBH is the version, else GXSJ (Asia/Shanghai) in epoch ms; the hash ignores the version
    fields; stock is keyed by warehouse/material/lot."""
    assert mapping.version({"BBH": "17"}) == 17
    assert mapping.version({"GXSJ": "2026-11-28 08:00:00"}) == \
        mapping.version({"GXSJ": "2026-11-28T00:00:00+00:00"}) == 1_795_824_000_000
    with pytest.raises(MappingError):
        mapping.version({"BBH": -1})
    with pytest.raises(MappingError):
        mapping.version({"GXSJ": "yesterday"})
    assert mapping.content_hash(warehouse("CK1", 1)) == mapping.content_hash(warehouse("CK1", 9))
    assert mapping.content_hash(warehouse("CK1")) != mapping.content_hash(warehouse("CK2"))
    assert mapping.external_id(Entity.stock, stock("CK1", P_WATER, 1, lot=None)) == \
        "CK1/D0101/-"


def test_units_convert_exactly_for_stock_and_down_for_rates() -> None:
    """Stock must be a whole number of our units; production rates round down."""
    water = mapping.map_stock(stock("CK1", P_WATER, 48, unit="瓶", expiry=date(2028, 1, 31),
                                    YXQZ="20280131"), ITEMS)
    assert (water.item, water.quantity, water.expiry) == ("1040101", 2, date(2028, 1, 31))
    with pytest.raises(MappingError, match="whole number"):
        mapping.map_stock(stock("CK1", P_WATER, 50, unit="瓶"), ITEMS)
    made = mapping.map_producer(producer("SC1", lines=[
        {"WZBM": "D0202", "JLDW": "千克", "RCN": 95, "ZBSJ": 8}]), ITEMS)
    assert [(c.item, c.units_per_day) for c in made.capacity] == [("1050102", 9)]


def test_source_overrides_extend_the_material_codes() -> None:
    """A source's item_codes option adds codes (with unit factors) to the defaults."""
    table = ItemTable.with_overrides({"X1": {"item": "1010101", "units": {"顶": 1, "包": "1/2"}}})
    assert table.convert("WZBM", {"WZBM": "X1", "JLDW": "包", "KCSL": 6}, "KCSL",
                         exact=True) == ("1010101", 3)
    with pytest.raises(MappingError):
        ItemTable.with_overrides({"X1": {"units": {}}})


def test_logistics_vehicles_map_with_ga802_types() -> None:
    """Tonnes become kilograms; a missing volume takes the type's default; statuses map."""
    mapped = mapping.map_logistics(logistics("WL1", vehicles=[
        vehicle("苏A1", CLLX="H21", HZ=8, RJ=None, ZT="3")]))
    (v,) = mapped.vehicles
    assert (v.kind, v.capacity_kg, v.capacity_m3, v.status.value) == ("medium_truck", 8000,
                                                                      30.0, "maintenance")
    with pytest.raises(MappingError, match=r"CLLB\[0\]\.CLLX"):
        mapping.map_logistics(logistics("WL1", vehicles=[vehicle("苏A1", CLLX="K11")]))
    with pytest.raises(MappingError, match="twice"):
        mapping.map_logistics(logistics("WL1", vehicles=[vehicle("苏A1"), vehicle("苏A1")]))
