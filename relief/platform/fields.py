"""Typed fields shared by every domain's request bodies: ranges that match the columns.

A value the database cannot hold, or that no real depot, item or incident has, is refused at
the edge (422 naming the field) instead of reaching the database (a 500 on PostgreSQL) or a
report (a volume of 8.8e307 m³ turns every sum into infinity):

* :data:`Quantity` and :data:`Count`: strict whole numbers (:data:`WholeNumber`: ``true``,
  ``"5"`` and ``5.0`` are refused), at most :data:`MAX_QUANTITY` in one request; a lot at one
  place holds at most the INTEGER range (``supplies.ledger.MAX_QUANT``: a receipt that would
  pass it is refused, never overflowed);
* :data:`Int32`-bounded amounts (targets, contracts, populations, shelf lives) fit an INTEGER
  column;
* bounded floats for unit weight and volume, floor area and hours, finite by construction;
* dates within :data:`EARLIEST`..``today + MAX_YEARS_AHEAD`` years (no year 1 or 9999), and
  times that are about now (an incident's onset, a head count's report) within
  :data:`NEAR_NOW_YEARS` of now.

Path and query parameters have their own aliases in ``relief.platform.api`` (ids within the
INTEGER range, offsets, cursors); characters are checked for every string by
``relief.platform.edge``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

INT32_MAX = 2_147_483_647
INT64_MAX = 9_223_372_036_854_775_807
MAX_QUANTITY = 1_000_000_000  # units of one item in one request
MAX_UNIT_WEIGHT_KG = 100_000.0  # a loaded container is about 30 t
MAX_UNIT_VOLUME_M3 = 1_000.0  # a 40-foot container is about 67 m³
MAX_FLOOR_AREA_M2 = 10_000_000.0  # 10 km²; the city depot has 3,500 m²
MAX_SHELF_LIFE_DAYS = 36_500  # 100 years
EARLIEST = date(2000, 1, 1)
MAX_YEARS_AHEAD = 50
NEAR_NOW_YEARS = 5  # an incident's onset, a report's time: within this of now

FORM = "form"  # validation context of a console form (web.forms.build): its fields are text


def _whole(value: object, info: ValidationInfo) -> object:
    """Only a JSON integer is a whole number: ``true``, ``"5"`` and ``5.0`` are refused. A
    console form's field is text by nature, and is parsed (``"5"``, never ``"5.5"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (info.context or {}).get(FORM):
        return value
    raise PydanticCustomError("int_type", "Input should be a valid integer")


WholeNumber = Annotated[int, BeforeValidator(_whole)]
Quantity = Annotated[WholeNumber, Field(gt=0, le=MAX_QUANTITY,
                                      description="Whole units of the item")]
Count = Annotated[WholeNumber, Field(ge=0, le=MAX_QUANTITY, description="Whole units, 0 or more")]
RowId = Annotated[WholeNumber, Field(ge=1, le=INT32_MAX, description="Id")]
PositiveInt32 = Annotated[WholeNumber, Field(gt=0, le=INT32_MAX)]
Int32 = Annotated[WholeNumber, Field(ge=0, le=INT32_MAX)]
Year = Annotated[WholeNumber, Field(ge=1900, le=2200)]
ShelfLifeDays = Annotated[WholeNumber, Field(gt=0, le=MAX_SHELF_LIFE_DAYS,
                                           description="None for durable goods")]
UnitWeightKg = Annotated[float, Field(gt=0, le=MAX_UNIT_WEIGHT_KG, allow_inf_nan=False)]
UnitVolumeM3 = Annotated[float, Field(gt=0, le=MAX_UNIT_VOLUME_M3, allow_inf_nan=False)]
FloorAreaM2 = Annotated[float, Field(ge=0, le=MAX_FLOOR_AREA_M2, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


def _sane_date(value: date) -> date:
    latest = date.today().replace(year=date.today().year + MAX_YEARS_AHEAD, day=1)
    if not EARLIEST <= value <= latest:
        raise PydanticCustomError(
            "date_window", "must be between {earliest} and {latest}",
            {"earliest": EARLIEST.isoformat(), "latest": latest.isoformat()})
    return value


def _sane_datetime(value: datetime) -> datetime:
    _sane_date(value.date())
    return value


SaneDate = Annotated[date, AfterValidator(_sane_date)]
SaneDateTime = Annotated[datetime, AfterValidator(_sane_datetime)]


def _near_now(value: datetime) -> datetime:
    now = datetime.now(UTC)
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    window = timedelta(days=365 * NEAR_NOW_YEARS)
    if not now - window <= aware <= now + window:
        raise PydanticCustomError(
            "near_now", "must be within {years} years of now", {"years": NEAR_NOW_YEARS})
    return value


NearNow = Annotated[datetime, AfterValidator(_near_now)]
