"""The relief-item catalogue (GB/T 38565-2020 codes) and lots."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, change_stamp_column, utcnow
from relief.platform.fields import ShelfLifeDays, UnitVolumeM3, UnitWeightKg

ITEM_CODE_PATTERN = r"^[123]\d{6}$"


class Quality(StrEnum):
    """A depot's quality verdict on a lot it holds; only good stock is issued or reserved."""

    good = "good"
    quarantine = "quarantine"
    damaged = "damaged"


class ItemBase(SQLModel):
    """Fields shared by every item schema."""

    name_zh: str = Field(min_length=1, max_length=80)
    name_en: str = Field(min_length=1, max_length=120)
    category: str = Field(min_length=1, max_length=60)
    unit: str = Field(min_length=1, max_length=8, description="Counting unit, e.g. 顶, 床, 件, 箱")
    unit_weight_kg: float = Field(gt=0)
    unit_volume_m3: float = Field(gt=0)
    shelf_life_days: int | None = Field(default=None, gt=0, description="None for durable goods")
    note: str | None = Field(default=None, max_length=500)


class Item(ItemBase, table=True):
    """A catalogue item. The first code digit is the class: 1 living, 2 equipment, 3 materials."""

    __table_args__ = (
        CheckConstraint("length(code) = 7", name="code_length"),
        CheckConstraint("unit_weight_kg > 0 AND unit_volume_m3 > 0", name="unit_size"),
        CheckConstraint("shelf_life_days IS NULL OR shelf_life_days > 0", name="shelf_life"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=7, unique=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    change_stamp: int = Field(default=0, sa_column=change_stamp_column(), exclude=True,
                              repr=False)

    @property
    def perishable(self) -> bool:
        """True when the item has a shelf life, so every lot needs an expiry date."""
        return self.shelf_life_days is not None


class ItemCreate(ItemBase):
    """Body of POST /items."""

    unit_weight_kg: UnitWeightKg
    unit_volume_m3: UnitVolumeM3
    shelf_life_days: ShelfLifeDays | None = None
    code: str = Field(
        schema_extra={"pattern": ITEM_CODE_PATTERN},
        description="7-digit GB/T 38565-2020 style code",
    )


class ItemUpdate(SQLModel):
    """Body of PATCH /items/{code}; absent fields stay as they are."""

    name_zh: str | None = Field(default=None, min_length=1, max_length=80)
    name_en: str | None = Field(default=None, min_length=1, max_length=120)
    category: str | None = Field(default=None, min_length=1, max_length=60)
    unit: str | None = Field(default=None, min_length=1, max_length=8)
    unit_weight_kg: UnitWeightKg | None = None
    unit_volume_m3: UnitVolumeM3 | None = None
    shelf_life_days: ShelfLifeDays | None = None
    note: str | None = Field(default=None, max_length=500)


class ItemPublic(ItemBase):
    """An item as the API returns it."""

    id: int
    code: str
    updated_at: datetime


class Lot(SQLModel, table=True):
    """A batch of one item: its number and expiry date (the last usable day).

    A lot is an immutable identity shared by every location that holds it; nothing about it
    ever changes after it is created. Whatever a depot decides about its goods (quality) is
    kept per holding location on the quant (``Quant.quality``), so one depot's verdict never
    reaches another's stock. The expiry is part of the identity: the same batch number with
    another expiry is another lot, so a batch number used at one depot never constrains what
    another depot may receive under that number (see docs/inventory.md, "Lots and depots").
    """

    __table_args__ = (
        UniqueConstraint("item_id", "lot_number", "expiry"),
        # A UNIQUE constraint treats NULLs as distinct: one lot without expiry per number.
        Index("uq_lot_item_id_lot_number_no_expiry", "item_id", "lot_number", unique=True,
              sqlite_where=text("expiry IS NULL"), postgresql_where=text("expiry IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    lot_number: str = Field(max_length=64)
    expiry: date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    change_stamp: int = Field(default=0, sa_column=change_stamp_column(), exclude=True,
                              repr=False)


class LotHoldingPublic(SQLModel):
    """A lot at one depot: that depot's quality verdict and its balance."""

    depot: str
    quality: Quality
    on_hand: int
    reserved: int


class LotPublic(SQLModel):
    """A lot as the API returns it, with every depot that holds (or held) it."""

    id: int
    item_code: str
    lot_number: str
    expiry: date | None
    updated_at: datetime
    holdings: list[LotHoldingPublic] = []
