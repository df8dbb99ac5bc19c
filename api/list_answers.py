"""Alarm list answers kept for the store's current version: identical queries are answered once.

Consoles poll the same first page; between two alarm changes every one of them gets the same
bytes. An answer is kept under its query key (filter with the caller's cameras, page, URL base:
:func:`api.routes.alarms.list_query_key`) and the store's change counter
(:meth:`alarms.store.AlarmStore.list_version`, raised by database triggers on every change of
``alarms``, by any process). It is served only while the counter still has that value, so it is
never staler than a fresh read, and only for the same key, so never to a caller of other cameras.
Keeping only the newest version's answers bounds memory by the number of distinct queries asked
between two changes (and by ``max_entries`` / ``max_bytes``).

Requests for the same key at the same version that miss together share one render
(:meth:`ListAnswers.answer`): after each alarm change every client polling a query would otherwise
render it at once (17 renders per change instead of 7 with 50 clients on 7 queries, measured).
A shared render read the store after the waiter read its version, so it is at least as fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

DEFAULT_MAX_ENTRIES = 256
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
MAX_ANSWER_BYTES = 1024 * 1024
"""Larger answers (1000 alarms with long details) are not kept: rare, and they would crowd out the rest."""


Q = TypeVar("Q")

SHARED_RENDER_TIMEOUT_S = 60.0
"""A request waits this long at most for another's render of its query, then renders itself."""


class ListAnswers:
    """Rendered list answers of the newest store version seen, by query key.

    :meth:`get`, :meth:`kept` and :meth:`put` are thread-safe; :meth:`answer` runs on the event loop.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._lock = threading.Lock()
        self._version = -1
        self._answers: dict[str, bytes] = {}
        self._bytes = 0
        self._renders: dict[tuple[str, int], asyncio.Future[tuple[int, bytes] | None]] = {}
        self.hits = self.misses = self.shared = 0

    def get(self, key: str, version: int) -> bytes | None:
        """The answer to ``key`` rendered at exactly ``version``; ``None`` if there is none."""
        with self._lock:
            body = self._hit(key, version)
            if body is None:
                self.misses += 1
            return body

    def _hit(self, key: str, version: int) -> bytes | None:
        """The answer kept for ``key`` at exactly ``version``, counted as a hit (lock held)."""
        body = self._answers.get(key) if version == self._version else None
        if body is not None:
            self.hits += 1
        return body

    def kept(self, key: str, version: int) -> bytes | None:
        """The answer to ``key`` kept at exactly ``version`` (a hit), else ``None`` (not counted)."""
        with self._lock:
            return self._hit(key, version)

    async def answer(self, key: str, version: int,
                     render: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        """``(version, body)``: kept at ``version``, else shared with a render in progress, else rendered.

        On the event loop: only the render itself takes a thread of the pool; a request waiting for
        another's render of its query waits on the loop (after each alarm change most of the
        clients polling wait so; each held a pool thread before, 40 at most, which the renders and
        the version reads then queued for).

        Args:
            key: the query key.
            version: the store's change counter, read by the caller after its request arrived.
            render: reads the store and renders: ``(the version it read at, body)``, in a pool
                thread; its answer is kept.
        """
        with self._lock:
            body = self._hit(key, version)
        if body is not None:
            return version, body
        loop = asyncio.get_running_loop()
        running = self._renders.get((key, version))
        if running is not None and running.get_loop() is loop:
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(asyncio.shield(running), SHARED_RENDER_TIMEOUT_S)
                if answer is not None:
                    with self._lock:
                        self.shared += 1
                    return answer
            return await self._render(key, render)  # that render failed: render again
        mine: asyncio.Future[tuple[int, bytes] | None] = loop.create_future()
        self._renders[key, version] = mine
        answer = None
        try:
            answer = await self._render(key, render)
            return answer
        finally:
            if self._renders.get((key, version)) is mine:
                del self._renders[key, version]
            mine.set_result(answer)  # None (a failed render): its waiters render themselves

    async def _render(self, key: str, render: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        with self._lock:
            self.misses += 1
        answer = await run_in_threadpool(render)
        self.put(key, *answer)
        return answer

    def put(self, key: str, version: int, body: bytes) -> None:
        """Keep ``body`` as the answer to ``key`` at ``version`` (older versions' answers go)."""
        if len(body) > MAX_ANSWER_BYTES:
            return
        with self._lock:
            if version < self._version:
                return  # rendered before a change another request already saw: never served
            if version > self._version or len(self._answers) >= self.max_entries \
                    or self._bytes + len(body) > self.max_bytes:
                self._answers.clear()
                self._bytes = 0
                self._version = version
            self._bytes += len(body) - len(self._answers.get(key, b""))
            self._answers[key] = body


class VersionReads:
    """The store's change counter for concurrent requests: one database read answers all who wait.

    A request's version must come from a read that began after the request arrived (then a kept
    answer is never staler than a fresh read). Requests arriving while a read runs join the next
    one, which starts as soon as the running one ends: under load the database is read a few
    hundred times a second at most instead of once per request, and a kept answer or a 304 needs no
    thread of the pool (only the shared read does). Used from the event loop only; a new loop (a
    test client's) starts afresh.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next: asyncio.Future[int] | None = None
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self.reads = 0

    async def read(self, source: Callable[[], int]) -> int:
        """The value of ``source()`` read by a call that began after this one."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._next, self._running = loop, None, False
        if self._next is None:
            self._next = loop.create_future()
        waiting = self._next
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._read_while_asked(source))
        return await asyncio.shield(waiting)

    async def _read_while_asked(self, source: Callable[[], int]) -> None:
        try:
            while self._next is not None:
                waiting, self._next = self._next, None  # later arrivals wait for the next read
                self.reads += 1
                try:
                    waiting.set_result(await run_in_threadpool(source))
                except Exception as exc:  # every waiter of this read answers it (a 500, as before)
                    waiting.set_exception(exc)
        finally:
            self._running = False


class CheckedQueries(Generic[Q]):
    """Alarm list queries the full route has validated, by raw query string, cameras and URL base.

    The list route's dependency solving and parameter validation (FastAPI) took about half of the
    server's CPU per kept answer. A query string validates the same way every time, so once the
    full route has turned one into its filter, page and key, later requests with the same string
    (and a caller of the same cameras, under the same URL base) may skip that work; the caller is
    still authenticated and checked for its scope on each request
    (:class:`api.routes.alarms.ListRoute`). Used from the event loop only; bounded (cleared when
    full: a new query string costs one full request).
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._queries: dict[tuple[bytes, tuple[str, ...] | None, str], Q] = {}
        self.served = 0

    def get(self, raw: bytes, cameras: tuple[str, ...] | None, base_url: str) -> Q | None:
        """What :meth:`put` kept for this query string, caller cameras and URL base; ``None`` if nothing."""
        return self._queries.get((raw, cameras, base_url))

    def put(self, raw: bytes, cameras: tuple[str, ...] | None, base_url: str, query: Q) -> None:
        if len(self._queries) >= self.max_entries:
            self._queries.clear()
        self._queries[raw, cameras, base_url] = query
