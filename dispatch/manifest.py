"""Printable manifests of a trip: HTML for the driver and the depot, CSV for spreadsheets.

Every word on them comes from the catalogue (``relief.platform.messages``), Chinese first and
English second: the trip's vehicle, driver and phone, its depot and the depot's contact, the
load by item (name and unit) and lot, the route (departure, the stops in order, the return)
with planned times, each stop's site contact, and signature lines for the dispatcher, the
driver, each receiving site and whoever counts what comes back.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from dispatch.models.plans import ShipmentPublic
from relief.platform.exports import csv_row
from relief.platform.messages import CATALOGUE, render

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))


def _clock(value: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(tz).strftime(fmt) if value else ""


def zh(key: str, **params: Any) -> str:
    """The catalogue's Chinese text of ``key``."""
    return render(key, "zh", params)


def en(key: str, **params: Any) -> str:
    """The catalogue's English text of ``key``."""
    return render(key, "en", params)


def word(group: str, value: str) -> str:
    """The catalogue's Chinese word for an enum value (the value itself when none)."""
    entry = CATALOGUE.get(f"{group}.{value}")
    return entry[0] if entry else value


def manifest_html(shipment: ShipmentPublic, *, incident_name: str, tz: ZoneInfo) -> str:
    """The manifest as a printable HTML page (times in local clock time)."""
    return _env.get_template("manifest.html").render(
        s=shipment, incident_name=incident_name, t=zh, en=en, word=word,
        clock=lambda v, fmt="%Y-%m-%d %H:%M": _clock(v, tz, fmt))


def _head(*keys: str) -> list[str]:
    return [f"{zh(k)} {en(k)}" for k in keys]


class _SafeWriter:
    """A csv writer whose formula-like texts are written as text (relief.platform.exports)."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, values: list[Any]) -> None:
        """Write one row, made safe."""
        self.writer.writerow(csv_row(values))


def manifest_csv(shipment: ShipmentPublic, *, tz: ZoneInfo) -> str:
    """The manifest as CSV: the trip, the load by item and lot, then the stops in order with
    their unloads (item names and units), contacts and what was received."""
    out = io.StringIO()
    w = _SafeWriter(csv.writer(out))
    w.writerow([*_head("manifest.title"), shipment.id])
    w.writerow(_head("manifest.vehicle", "manifest.driver", "manifest.driver_phone",
                     "manifest.from", "manifest.depot_contact", "manifest.depart",
                     "manifest.back"))
    w.writerow([shipment.vehicle, shipment.driver or "", shipment.driver_phone or "",
                f"{shipment.source_name} ({shipment.source})", shipment.source_contact or "",
                _clock(shipment.planned_depart, tz), _clock(shipment.planned_return, tz)])
    w.writerow(_head("manifest.section", "manifest.item_code", "manifest.item_name",
                     "manifest.unit", "manifest.lot", "manifest.expiry", "manifest.quantity"))
    for line in shipment.load:
        w.writerow([zh("manifest.section_load"), line.item, line.item_name, line.unit,
                    line.lot or "", line.expiry or "", line.quantity])
    w.writerow(_head("manifest.section", "manifest.seq", "manifest.site", "manifest.site_contact",
                     "manifest.expected", "manifest.item_code", "manifest.item_name",
                     "manifest.unit", "manifest.unload", "manifest.received",
                     "manifest.short_reason"))
    for stop in shipment.stops:
        contact = " ".join(x for x in (stop.site_contact, stop.site_contact_phone) if x)
        for line in stop.lines:
            w.writerow([zh("manifest.section_stop"), stop.seq, f"{stop.site_name} ({stop.site})",
                        contact, _clock(stop.planned_arrival, tz), line.item, line.item_name,
                        line.unit, line.planned,
                        "" if line.delivered is None else line.delivered,
                        word("short_reason", line.short_reason.value)
                        if line.short_reason else ""])
    return out.getvalue()
