"""Printable manifests of a trip: HTML for the driver and the depot, CSV for spreadsheets."""

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

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))


def _clock(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


def manifest_html(shipment: ShipmentPublic, *, incident_name: str, tz: ZoneInfo) -> str:
    """The manifest as a printable HTML page (times in local clock time)."""
    return _env.get_template("manifest.html").render(
        s=shipment, incident_name=incident_name, clock=lambda v: _clock(v, tz))


class _SafeWriter:
    """A csv writer whose formula-like texts are written as text (relief.platform.exports)."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, values: list[Any]) -> None:
        """Write one row, made safe."""
        self.writer.writerow(csv_row(values))


def manifest_csv(shipment: ShipmentPublic, *, tz: ZoneInfo) -> str:
    """The manifest as CSV: the load by item and lot, then the stops with their unloads."""
    out = io.StringIO()
    w = _SafeWriter(csv.writer(out))
    w.writerow(["shipment", shipment.id, "vehicle", shipment.vehicle, "driver",
                shipment.driver or "", "source", shipment.source,
                "depart", _clock(shipment.planned_depart, tz)])
    w.writerow(["section", "item", "name", "unit", "lot", "expiry", "quantity"])
    for line in shipment.load:
        w.writerow(["load", line.item, line.item_name, line.unit, line.lot or "",
                    line.expiry or "", line.quantity])
    w.writerow(["section", "seq", "site", "site_name", "expected_arrival", "item", "planned",
                "delivered", "shortfall"])
    for stop in shipment.stops:
        for line in stop.lines:
            w.writerow(["stop", stop.seq, stop.site, stop.site_name,
                        _clock(stop.planned_arrival, tz), line.item, line.planned,
                        "" if line.delivered is None else line.delivered,
                        "" if line.shortfall is None else line.shortfall])
    return out.getvalue()
