"""The pull connector: fetch a provincial source's feeds page by page and apply them.

Protocol of the provincial endpoint (OUR ASSUMPTION, see docs/integration.md)::

    GET {base_url}/{feed}?limit=N[&cursor=C]      feed: warehouses|logistics|producers|stock
    200 {"code": 0, "msg": "成功",
         "data": {"records": [...], "next_cursor": "C2", "has_more": true, "batch_id": "..."}}

Robustness:

* every request has a timeout; network errors, timeouts, 5xx and 429 answers and malformed
  pages are retried with exponential backoff (``backoff_s`` doubling up to ``backoff_max_s``,
  honouring Retry-After); other 4xx answers and a non-zero ``code`` fail the run at once;
* each page is applied in one transaction together with the feed's new cursor, so a crash
  loses at most the page in flight, and the next pull resumes from the last committed cursor;
* records are versioned, so a page served twice (a retry, a repeated page) changes nothing;
* every pull leaves a sync-log entry: pages, record counts, retries, errors, status.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from exchange import imports, service
from exchange.models import PULL_ORDER, Entity, RunStatus, SourceOptions, SyncRunPublic
from relief.platform.db import Database
from relief.platform.errors import ReliefError

log = logging.getLogger(__name__)

PageHook = Callable[[Entity, int, dict[str, int]], None]
# Records applied per transaction (a page's last chunk also commits the cursor).
CHUNK = 250


class FetchError(Exception):
    """The provincial endpoint cannot be read: a permanent error, or retries ran out."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ProvincialPage:
    """One page of a provincial feed."""

    records: list[Any]
    next_cursor: str | None
    has_more: bool
    batch_id: str | None


def parse_page(response: httpx.Response) -> ProvincialPage:
    """Read the provincial envelope; a malformed body is retryable, a refusal is not."""
    try:
        body = response.json()
    except ValueError:
        raise _Retryable(f"malformed page: not JSON ({response.text[:80]!r})") from None
    if not isinstance(body, dict) or "code" not in body:
        raise _Retryable("malformed page: no envelope")
    if body.get("code") not in (0, "0", "0000"):
        raise FetchError(f"the province refused: code {body.get('code')}: {body.get('msg')}")
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise _Retryable("malformed page: data.records is not a list")
    cursor = data.get("next_cursor")
    has_more = data.get("has_more", False)
    if cursor is not None and not isinstance(cursor, str | int):
        raise _Retryable("malformed page: next_cursor")
    if not isinstance(has_more, bool) or (has_more and cursor is None):
        raise _Retryable("malformed page: has_more without next_cursor")
    batch = data.get("batch_id")
    return ProvincialPage(records=data["records"],
                          next_cursor=None if cursor is None else str(cursor),
                          has_more=has_more, batch_id=None if batch is None else str(batch)[:100])


class ProvincialClient:
    """An httpx client for one source: timeouts, retries with backoff, bearer token."""

    def __init__(
        self,
        *,
        base_url: str,
        options: SourceOptions,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "relief-exchange/0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.options = options
        self._sleep = sleep
        self._on_retry = on_retry or (lambda _message: None)
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers,
                                    timeout=httpx.Timeout(options.timeout_s),
                                    transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """Delay before retry ``attempt`` (0-based): doubling with jitter, capped."""
        delay = self.options.backoff_s * (2 ** attempt) * (1 + random.random() / 10)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return min(delay, self.options.backoff_max_s)

    def fetch(self, feed: Entity, cursor: str | None) -> ProvincialPage:
        """One page of ``feed`` after ``cursor``, retrying transient failures."""
        params: dict[str, Any] = {"limit": self.options.page_size}
        if cursor is not None:
            params["cursor"] = cursor
        path = self.options.paths.get(feed, feed.value).lstrip("/")
        attempts = self.options.retries + 1
        for attempt in range(attempts):
            try:
                return self._once(path, params)
            except _Retryable as exc:
                if attempt + 1 == attempts:
                    raise FetchError(f"{feed.value}: giving up after {attempts} attempts: "
                                     f"{exc}") from exc
                delay = self.backoff(attempt, exc.retry_after_s)
                self._on_retry(f"{feed.value}: {exc}; retry {attempt + 1} of "
                               f"{self.options.retries} in {delay:.2f} s")
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _once(self, path: str, params: dict[str, Any]) -> ProvincialPage:
        try:
            response = self._client.get(path, params=params)
        except httpx.TransportError as exc:  # connection errors and timeouts
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retryable(f"HTTP {response.status_code}",
                             retry_after_s=_retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 400:
            raise FetchError(f"HTTP {response.status_code} from {response.url}: "
                             f"{response.text[:200]}")
        return parse_page(response)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _batch_id(page: ProvincialPage, feed: Entity, cursor: str | None) -> str:
    if page.batch_id:
        return page.batch_id
    digest = hashlib.sha256((cursor or "").encode()).hexdigest()[:16]
    return f"{feed.value}@{digest}"


def pull(
    db: Database,
    *,
    source: str,
    today: Callable[[], date],
    feeds: Sequence[Entity] | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_page: PageHook | None = None,
) -> SyncRunPublic:
    """Pull ``feeds`` (default: the source's) of ``source`` and return its sync-log entry.

    Fetch failures and refused pages (e.g. another pull moved the cursor) end the run as
    ``failed`` (returned, not raised); anything else raised while pulling (including by
    ``on_page``) marks the run failed and propagates. Pages committed
    before a failure stay committed; the next pull resumes after them.
    """
    with db.read_session() as session:
        src = service.get_source(session, source)
        options, base_url, source_id = src.parsed_options(), src.base_url or "", src.id or 0
    wanted = [f for f in PULL_ORDER if f in set(feeds or options.feeds)]
    actor = f"system:sync:{source}"
    run_id = db.write(lambda s: service.start_run(s, source_name=source, actor=actor,
                                                  feeds=wanted).id)
    assert run_id is not None
    current: list[Entity | None] = [None]

    def note_retry(message: str) -> None:
        log.warning("sync %s: %s", source, message)
        db.write(lambda s: service.note_run_error(s, run_id=run_id, feed=current[0],
                                                  message=message, retry=True))

    client: ProvincialClient | None = None
    try:
        token = None
        if options.token_env:
            token = os.environ.get(options.token_env)
            if not token:
                raise FetchError(f"environment variable {options.token_env} is not set")
        client = ProvincialClient(base_url=base_url, options=options, token=token,
                                  transport=transport, sleep=sleep, on_retry=note_retry)
        for feed in wanted:
            current[0] = feed
            _pull_feed(db, client, run_id=run_id, source_id=source_id, feed=feed,
                       options=options, today=today, on_page=on_page)
    except (FetchError, ReliefError) as exc:
        log.error("sync %s failed: %s", source, exc)
        _fail(db, run_id, str(exc))
        return _run(db, run_id)
    except BaseException as exc:
        _fail(db, run_id, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if client is not None:
            client.close()
    db.write(lambda s: service.finish_run(s, run_id=run_id, status=RunStatus.succeeded))
    return _run(db, run_id)


def _fail(db: Database, run_id: int, message: str) -> None:
    db.write(lambda s: service.finish_run(s, run_id=run_id, status=RunStatus.failed,
                                          error=message))


def _run(db: Database, run_id: int) -> SyncRunPublic:
    with db.read_session() as session:
        return service.get_run(session, run_id)


def _pull_feed(db: Database, client: ProvincialClient, *, run_id: int, source_id: int,
               feed: Entity, options: SourceOptions, today: Callable[[], date],
               on_page: PageHook | None) -> None:
    with db.read_session() as session:
        cursor = service.committed_cursor(session, source_id=source_id, feed=feed)
    stuck = 0
    pages = 0
    while True:
        page = client.fetch(feed, cursor)
        after = page.next_cursor if page.next_cursor is not None else cursor
        counts = _apply_page(db, run_id=run_id, feed=feed, page=page, cursor=cursor,
                             after=after, today=today)
        pages += 1
        if on_page is not None:
            on_page(feed, pages, counts)
        if not page.has_more:
            return
        if after == cursor:
            stuck += 1
            if stuck >= options.max_repeats:
                raise FetchError(f"{feed.value}: the cursor did not advance for {stuck} pages")
        else:
            stuck = 0
        cursor = after


def _apply_page(db: Database, *, run_id: int, feed: Entity, page: ProvincialPage,
                cursor: str | None, after: str | None, today: Callable[[], date]
                ) -> dict[str, int]:
    """Apply a page chunk by chunk (each its own transaction); the last chunk commits the
    feed's new cursor, so the cursor never passes records that were not applied."""
    batch_id = _batch_id(page, feed, cursor)
    plan = imports.chunk_plan(feed, page.records, CHUNK) or [imports.Chunk(start=0, records=[])]
    counts: dict[str, int] = imports.counts_of([])
    for position, chunk in enumerate(plan):
        done = db.write(lambda s, c=chunk, p=position: imports.apply_page_chunk(
            s, run_id=run_id, entity=feed, batch_id=batch_id, chunk=c, cursor_before=cursor,
            cursor_after=after, first=p == 0, last=p == len(plan) - 1, today=today()))
        counts = imports.add_counts(counts, done)
    return counts
