"""The province, as far as the tests need it: record builders and a stand-in provincial server.

The server is a real HTTP server on loopback (``http.server`` in a thread), speaking the
provincial page protocol assumed in docs/integration.md. Each feed is an append-only change log
of record versions; a cursor is an offset into it. Faults are scheduled per (feed, cursor) and
consumed in order, one per request: ``slow`` (answers after the client's timeout), ``500``,
``503``, ``400``, ``garbage`` (a 200 that is not JSON), ``repeat`` (the previous page again,
verbatim) and ``refuse`` (an envelope with a non-zero code).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from exchange.models import Entity

# Provincial material codes of the test items (exchange.mapping.ITEMS).
P_WATER, P_TENT, P_QUILT = "D0101", "A0101", "B0101"


def warehouse(code: str, version: int = 1, **fields: Any) -> dict[str, Any]:
    """A 仓储设施 record."""
    record = {"CKBM": code, "CKMC": f"江苏省储备库{code}", "CKLX": "01", "XZQHDM": "320115",
              "JD": 118.86, "WD": 31.95, "CKMJ": 5000, "XYSJ": 4, "SFFH": "1", "ZT": "1",
              "BBH": version}
    record.update(fields)
    return record


def vehicle(plate: str, **fields: Any) -> dict[str, Any]:
    """One entry of a logistics enterprise's 车辆列表."""
    record = {"CPHM": plate, "CLLX": "H11", "HZ": 10, "RJ": 40, "ZT": "1"}
    record.update(fields)
    return record


def logistics(code: str, version: int = 1, vehicles: list[dict[str, Any]] | None = None,
              **fields: Any) -> dict[str, Any]:
    """A 物流运输企业 record."""
    record = {"QYBM": code, "QYMC": f"物流企业{code}", "XZQHDM": "320105", "JD": 118.77,
              "WD": 32.0, "XYSJ": 3, "ZT": "1", "BBH": version,
              "CLLB": vehicles if vehicles is not None else [vehicle(f"苏A{code}1")]}
    record.update(fields)
    return record


def producer(code: str, version: int = 1, lines: list[dict[str, Any]] | None = None,
             **fields: Any) -> dict[str, Any]:
    """A 生产企业 record."""
    record = {"QYBM": code, "QYMC": f"生产企业{code}", "XZQHDM": "320281", "JD": 120.28,
              "WD": 31.57, "ZT": "1", "BBH": version,
              "CNLB": lines if lines is not None else [
                  {"WZBM": P_QUILT, "JLDW": "床", "RCN": 3000, "ZBSJ": 24}]}
    record.update(fields)
    return record


def stock(warehouse_code: str, material: str, qty: int, version: int = 1, *,
          lot: str | None = "L1", unit: str | None = None, expiry: date | None = None,
          quality: str = "01", **fields: Any) -> dict[str, Any]:
    """A 储备物资库存 record (absolute quantity)."""
    units = {P_WATER: "箱", P_TENT: "顶", P_QUILT: "床"}
    record: dict[str, Any] = {"CKBM": warehouse_code, "WZBM": material,
                              "JLDW": unit or units[material], "KCSL": qty, "ZLZT": quality,
                              "BBH": version}
    if lot is not None:
        record["PCH"] = lot
    if expiry is not None:
        record["YXQZ"] = expiry.isoformat()
    record.update(fields)
    return record


class Province:
    """Ground truth (per feed, a change log of record versions) and a fault schedule."""

    def __init__(self) -> None:
        self.log: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.faults: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        self.requests: list[tuple[str, str | None]] = []
        self.slow_s = 1.0
        self._last: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def publish(self, feed: Entity, *records: dict[str, Any]) -> None:
        """Append record versions to a feed's change log."""
        with self._lock:
            self.log[feed.value].extend(records)

    def fail(self, feed: Entity, cursor: str | None, *kinds: str) -> None:
        """The next requests for ``feed`` at ``cursor`` fail this way, one kind per request."""
        with self._lock:
            self.faults[(feed.value, cursor)].extend(kinds)

    def cursors_asked(self, feed: Entity) -> list[str | None]:
        """The cursors requested for ``feed``, in order."""
        return [c for f, c in self.requests if f == feed.value]

    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes, float]:
        """(status, body, delay) for one request."""
        feed = path.strip("/").split("/")[-1]
        cursor = query.get("cursor", [None])[0]
        limit = int(query.get("limit", ["100"])[0])
        with self._lock:
            self.requests.append((feed, cursor))
            pending = self.faults.get((feed, cursor))
            fault = pending.pop(0) if pending else None
            if fault == "repeat" and feed in self._last:
                return 200, self._last[feed], 0.0
            if fault in ("500", "503", "400"):
                return int(fault), b'{"code": 1, "msg": "error"}', 0.0
            if fault == "garbage":
                return 200, b"<html>gateway error</html>", 0.0
            if fault == "refuse":
                return 200, json.dumps({"code": 401, "msg": "token expired"}).encode(), 0.0
            entries = self.log[feed]
            start = int(cursor or 0)
            page = entries[start:start + limit]
            end = start + len(page)
            body = json.dumps({"code": 0, "msg": "成功", "data": {
                "batch_id": f"{feed}-{start}", "records": page, "next_cursor": str(end),
                "has_more": end < len(entries)}}, ensure_ascii=False).encode()
            self._last[feed] = body
            return 200, body, self.slow_s if fault == "slow" else 0.0

    def truth(self, feed: Entity, key: str) -> dict[str, dict[str, Any]]:
        """The latest version of every record of ``feed`` by its key field (ground truth)."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.log[feed.value]:
            k = record.get(key) if key != "stock" else (
                f"{record['CKBM']}/{record['WZBM']}/{record.get('PCH', '-')}")
            if k is None:
                continue
            if k not in latest or int(record["BBH"]) > int(latest[k]["BBH"]):
                latest[k] = record
        return latest


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        url = urlparse(self.path)
        status, body, delay = self.server.province.handle(url.path, parse_qs(url.query))
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): expected

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    province: Province

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closed the socket


@contextmanager
def serve(province: Province) -> Iterator[str]:
    """Serve ``province`` on a free loopback port; yields the base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.province = province
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/prov/api"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
