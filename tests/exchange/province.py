"""The province, as far as the tests need it: record builders and a stand-in provincial server.

The server is a real HTTP server on loopback (``http.server`` in a thread), speaking the
provincial page protocol assumed in docs/integration.md. Each feed is an append-only change log
of record versions; a cursor is an offset into it. Faults are scheduled per (feed, cursor) and
consumed in order, one per request: ``slow`` (answers after the client's timeout), ``500``,
``503``, ``400``, ``garbage`` (a 200 that is not JSON), ``repeat`` (the previous page again,
verbatim), ``refuse`` (an envelope with a non-zero code), ``trickle`` (the right page, one byte
every ``trickle_s``), ``huge`` (a 200 streaming ``huge_bytes`` of padding without a
Content-Length), ``429:N`` (429 with ``Retry-After: N``) and ``held:MS`` (an empty page with
has_more, the same cursor and ``retry_after_ms`` MS: "wait"). ``endless`` feeds answer every
request with no records, has_more and a new cursor, forever.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


@dataclass
class Reply:
    """How the server answers one request."""

    status: int
    body: bytes
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    trickle_s: float = 0.0  # seconds between bytes of the body
    huge_bytes: int = 0  # stream this much padding instead of the body, without a length


class Province:
    """Ground truth (per feed, a change log of record versions) and a fault schedule."""

    def __init__(self) -> None:
        self.log: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.faults: dict[tuple[str, str | None], list[str]] = defaultdict(list)
        self.requests: list[tuple[str, str | None]] = []
        self.endless: set[str] = set()
        self.slow_s = 1.0
        self.trickle_s = 0.05
        self.huge_bytes = 50_000_000
        self.bytes_sent: list[int] = []  # body bytes written per huge or trickled answer
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

    def handle(self, path: str, query: dict[str, list[str]]) -> Reply:
        """How to answer one request."""
        feed = path.strip("/").split("/")[-1]
        cursor = query.get("cursor", [None])[0]
        limit = int(query.get("limit", ["100"])[0])
        with self._lock:
            self.requests.append((feed, cursor))
            pending = self.faults.get((feed, cursor))
            fault = pending.pop(0) if pending else None
            if feed in self.endless:
                n = len(self.requests)
                return Reply(200, json.dumps({"code": 0, "msg": "成功", "data": {
                    "records": [], "next_cursor": f"e{n}", "has_more": True}}).encode())
            if fault == "repeat" and feed in self._last:
                return Reply(200, self._last[feed])
            if fault in ("500", "503", "400"):
                return Reply(int(fault), b'{"code": 1, "msg": "error"}')
            if fault and fault.startswith("429:"):
                return Reply(429, b'{"code": 1, "msg": "too many"}',
                             headers={"Retry-After": fault[4:]})
            if fault and fault.startswith("held:"):
                return Reply(200, json.dumps({"code": 0, "msg": "成功", "data": {
                    "records": [], "next_cursor": cursor or "0", "has_more": True,
                    "retry_after_ms": int(fault[5:])}}).encode())
            if fault == "garbage":
                return Reply(200, b"<html>gateway error</html>")
            if fault == "refuse":
                return Reply(200, json.dumps({"code": 401, "msg": "token expired"}).encode())
            if fault == "huge":
                return Reply(200, b"", huge_bytes=self.huge_bytes)
            entries = self.log[feed]
            start = int(cursor or 0)
            page = entries[start:start + limit]
            end = start + len(page)
            body = json.dumps({"code": 0, "msg": "成功", "data": {
                "batch_id": f"{feed}-{start}", "records": page, "next_cursor": str(end),
                "has_more": end < len(entries)}}, ensure_ascii=False).encode()
            self._last[feed] = body
            return Reply(200, body, delay=self.slow_s if fault == "slow" else 0.0,
                         trickle_s=self.trickle_s if fault == "trickle" else 0.0)

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
        reply = self.server.province.handle(url.path, parse_qs(url.query))
        if reply.delay:
            time.sleep(reply.delay)
        sent = 0
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.huge_bytes:
                self.send_header("Connection", "close")
                self.end_headers()
                block = b'{"code": 0, "data": {"records": [' + b" " * 65_000
                while sent < reply.huge_bytes:
                    self.wfile.write(block)
                    sent += len(block)
                return
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.trickle_s:
                for byte in range(len(reply.body)):
                    self.wfile.write(reply.body[byte:byte + 1])
                    self.wfile.flush()
                    sent += 1
                    time.sleep(reply.trickle_s)
                return
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, deadline, size): expected
        finally:
            if reply.huge_bytes or reply.trickle_s:
                self.server.province.bytes_sent.append(sent)
                self.close_connection = True

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
