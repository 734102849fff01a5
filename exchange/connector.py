"""The pull connector: fetch a provincial source's feeds page by page and apply them.

Protocol of the provincial endpoint (OUR ASSUMPTION, see docs/integration.md)::

    GET {base_url}/{feed}?limit=N[&cursor=C]      feed: warehouses|logistics|producers|stock
    200 {"code": 0, "msg": "成功",
         "data": {"records": [...], "next_cursor": "C2", "has_more": true, "batch_id": "...",
                  "retry_after_ms": 500}}         (retry_after_ms: optional, "wait, then ask
                                                   again with the same cursor")

Robustness (every bound is a source option, docs/integration.md):

* every request has a total deadline (``deadline_s``, body included: a body trickling in a byte
  at a time is cut off, not waited for read by read) and a maximum body size
  (``max_body_bytes``, read as a stream and abandoned beyond the limit, never buffered whole);
* network errors, timeouts, 5xx and 429 answers and malformed pages are retried with
  exponential backoff (``backoff_s`` doubling up to ``backoff_max_s``); a ``Retry-After`` is
  honoured in full up to ``retry_after_max_s`` (a longer one ends the run: asking earlier than
  the province allows is not an option); other 4xx answers and a non-zero ``code`` fail the run
  at once;
* a run stops after ``max_run_s`` or ``max_pages`` (the next pull resumes);
* a cursor is committed only with a page of records or at the end of a feed: pages that say
  ``has_more`` but carry no records are followed without committing their cursors, and more
  than ``max_empty_pages`` of them in a row fail the run (a province looping on empty pages
  cannot make us commit a bogus cursor); an empty page asking to wait (``retry_after_ms`` or a
  Retry-After header) is waited for, then asked again;
* each page is applied chunk by chunk, its last chunk together with the feed's new cursor, so a
  crash loses at most the page in flight and the next pull resumes from the last committed
  cursor; records are versioned, so a page served twice changes nothing;
* every pull leaves a sync-log entry with a heartbeat (every request, page, retry and wait),
  the feed it reads, pages, record counts, retries, errors and status.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx

from exchange import imports, service
from exchange.models import PULL_ORDER, Entity, RunStatus, SourceOptions, SyncRunPublic
from relief.platform.db import Database
from relief.platform.errors import ReliefError
from relief.platform.statustext import StatusText

log = logging.getLogger(__name__)

PageHook = Callable[[Entity, int, dict[str, int]], None]
# Records applied per transaction (a page's last chunk also commits the cursor).
CHUNK = 250


class _Keyed(Exception):
    """A failure whose text is catalogue entry ``sync.<key>`` (the sync log stores its key
    and parameters beside the English text)."""

    def __init__(self, key: str, /, **params: Any) -> None:
        self.status_text = StatusText.of(f"sync.{key}", **params)
        super().__init__(self.status_text.text("en"))


class FetchError(_Keyed):
    """The provincial endpoint cannot be read: a permanent error, or retries ran out."""


class _Retryable(_Keyed):
    """A failure worth another try."""

    def __init__(self, key: str, /, retry_after_s: float | None = None, **params: Any) -> None:
        super().__init__(key, **params)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ProvincialPage:
    """One page of a provincial feed; ``wait_s``: the province asks to wait before the next
    request (``retry_after_ms`` or a Retry-After header on the page)."""

    records: list[Any]
    next_cursor: str | None
    has_more: bool
    batch_id: str | None
    wait_s: float | None = None


def parse_page(raw: bytes, retry_after: str | None = None) -> ProvincialPage:
    """Read the provincial envelope; a malformed body is retryable, a refusal is not."""
    try:
        body = json.loads(raw)
    except ValueError:
        head = raw[:80].decode("utf-8", "replace")
        raise _Retryable("not_json", head=repr(head)) from None
    if not isinstance(body, dict) or "code" not in body:
        raise _Retryable("no_envelope")
    if body.get("code") not in (0, "0", "0000"):
        raise FetchError("refused", code=str(body.get("code")), msg=str(body.get("msg")))
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise _Retryable("records_not_list")
    cursor = data.get("next_cursor")
    has_more = data.get("has_more", False)
    if cursor is not None and not isinstance(cursor, str | int):
        raise _Retryable("bad_cursor")
    if not isinstance(has_more, bool) or (has_more and cursor is None):
        raise _Retryable("more_without_cursor")
    batch = data.get("batch_id")
    wait_ms = data.get("retry_after_ms")
    wait_s = None
    if isinstance(wait_ms, int | float) and not isinstance(wait_ms, bool) and wait_ms >= 0:
        wait_s = float(wait_ms) / 1000
    elif retry_after is not None:
        wait_s = retry_after_seconds(retry_after)
    return ProvincialPage(records=data["records"],
                          next_cursor=None if cursor is None else str(cursor),
                          has_more=has_more, batch_id=None if batch is None else str(batch)[:100],
                          wait_s=wait_s)


class ProvincialClient:
    """An httpx client for one source: total deadlines, bounded bodies, retries with backoff
    honouring Retry-After, bearer token."""

    def __init__(
        self,
        *,
        base_url: str,
        options: SourceOptions,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[StatusText], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        run_deadline: float | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip",
                   "User-Agent": "relief-exchange/0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.options = options
        self._sleep = sleep
        self._clock = clock
        self.run_deadline = run_deadline
        self._on_retry = on_retry or (lambda _message: None)
        # No single wait on the network may outlast the request's total deadline.
        step = min(options.timeout_s, options.deadline_s)
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers,
                                    timeout=httpx.Timeout(step), transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """Delay before retry ``attempt`` (0-based): doubling with jitter, capped at
        ``backoff_max_s``; a Retry-After is honoured in full (up to ``retry_after_max_s``,
        beyond which the run ends)."""
        if retry_after_s is not None:
            if retry_after_s > self.options.retry_after_max_s:
                raise FetchError("wait_too_long", wait=f"{retry_after_s:g}",
                                 limit=f"{self.options.retry_after_max_s:g}")
            return retry_after_s
        delay = self.options.backoff_s * (2 ** attempt) * (1 + random.random() / 10)
        return min(delay, self.options.backoff_max_s)

    def wait(self, seconds: float, why: StatusText) -> None:
        """Sleep ``seconds``, unless that would pass the run's deadline (the run then ends)."""
        self.within_run(why, seconds)
        if seconds > 0:
            self._sleep(seconds)

    def within_run(self, why: StatusText, ahead: float = 0.0) -> None:
        """End the run (FetchError) if ``max_run_s`` has passed, or would in ``ahead``
        seconds."""
        if self.run_deadline is not None and self._clock() + ahead >= self.run_deadline:
            raise FetchError("max_run", limit=f"{self.options.max_run_s:g}", why=why)

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
                    raise FetchError("giving_up", feed=feed, attempts=attempts,
                                     reason=exc.status_text) from exc
                delay = self.backoff(attempt, exc.retry_after_s)
                self._on_retry(StatusText.of("sync.retry", feed=feed, reason=exc.status_text,
                                             attempt=attempt + 1, retries=self.options.retries,
                                             delay=f"{delay:.2f}"))
                self.wait(delay, StatusText.of("sync.why.retrying", feed=feed))
        raise AssertionError("unreachable")

    def _once(self, path: str, params: dict[str, Any]) -> ProvincialPage:
        deadline = self._clock() + self.options.deadline_s
        try:
            with self._client.stream("GET", path, params=params) as response:
                status, retry_after = response.status_code, response.headers.get("Retry-After")
                if status >= 500 or status == 429:
                    raise _Retryable("http_status", status=status,
                                     retry_after_s=retry_after_seconds(retry_after))
                raw = self._read(response, deadline)
        except httpx.TransportError as exc:  # connection errors and timeouts
            raise _Retryable("transport", kind=type(exc).__name__, detail=str(exc)) from exc
        if status >= 400:
            text = raw[:200].decode("utf-8", "replace")
            raise FetchError("http_error", status=status, path=path, text=text)
        return parse_page(raw, retry_after)

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        """The body, read as a stream within the request's deadline and size limit."""
        limit = self.options.max_body_bytes
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise FetchError("body_declared_too_large", declared=declared, limit=limit)
        body = bytearray()
        for chunk in response.iter_bytes():  # as the network delivers it
            body += chunk
            if len(body) > limit:
                raise FetchError("body_too_large", limit=limit, read=len(body))
            if self._clock() > deadline:
                raise _Retryable("deadline", deadline=f"{self.options.deadline_s:g}",
                                 read=len(body))
        return bytes(body)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None if absent or
    unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


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
    clock: Callable[[], float] = time.monotonic,
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

    def note_retry(message: StatusText) -> None:
        log.warning("sync %s: %s", source, message.text("en"))
        db.write(lambda s: service.note_run_error(s, run_id=run_id, feed=current[0],
                                                  message=message, retry=True))

    client: ProvincialClient | None = None
    try:
        token = None
        if options.token_env:
            token = os.environ.get(options.token_env)
            if not token:
                raise FetchError("token_missing", name=options.token_env)
        client = ProvincialClient(base_url=base_url, options=options, token=token,
                                  transport=transport, sleep=sleep, on_retry=note_retry,
                                  clock=clock, run_deadline=clock() + options.max_run_s)
        budget = _Budget(pages=options.max_pages)
        for feed in wanted:
            current[0] = feed
            _pull_feed(db, client, run_id=run_id, source_id=source_id, feed=feed,
                       options=options, today=today, on_page=on_page, budget=budget)
    except FetchError as exc:
        log.error("sync %s failed: %s", source, exc)
        _fail(db, run_id, exc.status_text)
        return _run(db, run_id)
    except ReliefError as exc:
        log.error("sync %s failed: %s", source, exc)
        _fail(db, run_id, StatusText.failure(exc))
        return _run(db, run_id)
    except BaseException as exc:
        _fail(db, run_id, StatusText.failure(exc))
        raise
    finally:
        if client is not None:
            client.close()
    db.write(lambda s: service.finish_run(s, run_id=run_id, status=RunStatus.succeeded))
    return _run(db, run_id)


def _fail(db: Database, run_id: int, message: StatusText) -> None:
    db.write(lambda s: service.finish_run(s, run_id=run_id, status=RunStatus.failed,
                                          error=message))


def _run(db: Database, run_id: int) -> SyncRunPublic:
    with db.read_session() as session:
        return service.get_run(session, run_id)


@dataclass
class _Budget:
    """What is left of a run's page allowance."""

    pages: int


def _pull_feed(db: Database, client: ProvincialClient, *, run_id: int, source_id: int,
               feed: Entity, options: SourceOptions, today: Callable[[], date],
               on_page: PageHook | None, budget: _Budget) -> None:
    """Read ``feed`` from its committed cursor until the province says there is no more.

    ``committed`` is the cursor in the database; ``cursor`` the one asked for next. They
    differ only while following pages without records: such a page's cursor is not verified
    (nothing came with it), so it is committed only together with the next page that carries
    records, or at the end of the feed, and too many of them in a row fail the run.
    """
    with db.read_session() as session:
        committed = service.committed_cursor(session, source_id=source_id, feed=feed)
    cursor = committed
    stuck = 0
    empty = 0
    pages = 0
    while True:
        if budget.pages <= 0:
            raise FetchError("max_pages", limit=options.max_pages)
        budget.pages -= 1
        client.within_run(StatusText.of("sync.why.reading", feed=feed))
        db.write(lambda s: service.beat(s, run_id=run_id, feed=feed))
        asked = cursor
        page = client.fetch(feed, asked)
        after = page.next_cursor if page.next_cursor is not None else asked
        if page.has_more and not page.records:
            if page.wait_s is not None:  # held back at the province: wait, ask again
                if page.wait_s > options.retry_after_max_s:
                    raise FetchError("feed_wait_too_long", feed=feed, wait=f"{page.wait_s:g}",
                                     limit=f"{options.retry_after_max_s:g}")
                log.info("sync %s: waiting %.2f s as asked", feed.value, page.wait_s)
                client.wait(page.wait_s, StatusText.of("sync.why.waiting", feed=feed))
                continue
            empty += 1
            if empty > options.max_empty_pages:
                raise FetchError("empty_pages", feed=feed, n=empty, committed=repr(committed))
            cursor = after
            continue
        counts = _apply_page(db, run_id=run_id, feed=feed, page=page, cursor=committed,
                             after=after, today=today)
        committed, cursor, empty = after, after, 0
        pages += 1
        if on_page is not None:
            on_page(feed, pages, counts)
        if not page.has_more:
            return
        if after == asked:
            stuck += 1
            if stuck >= options.max_repeats:
                raise FetchError("cursor_stuck", feed=feed, n=stuck)
        else:
            stuck = 0


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
