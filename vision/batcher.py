"""The dynamic batcher: many callers, one model, one ONNX call per batch.

Requests from many callers (cameras, API requests) are queued per model. A worker thread
(a *lane*) takes the oldest request and waits until either ``max_batch`` requests are queued or
the oldest has waited ``max_wait_ms``; it then runs them as one batch and answers each caller
with its own result. With ``lanes > 1`` that many workers share the queue, so as many model
calls run at once: with one-threaded CPU sessions the heaviest model can then use more than one
core (one lane kept the second core of a 2-core machine half idle at the capacity limit, see
benchmarks/README.md). Results are exactly what running each input alone gives (every family
pads/letterboxes to a fixed input size, so batch members never influence each other).

If a batch fails, its members are retried one by one so that a single bad input fails only
its own caller.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

InT = TypeVar("InT")
OutT = TypeVar("OutT")


@dataclass(slots=True)
class _Request(Generic[InT, OutT]):
    item: InT
    future: Future[OutT]
    enqueued: float


LATENCY_BUCKETS_S: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                                        5.0)
"""Upper bounds (seconds) of the inference latency histogram; a last bucket catches the rest."""


@dataclass(frozen=True, slots=True)
class BatcherSnapshot:
    """One consistent copy of a batcher's counters (for a metrics scrape)."""

    requests: int
    batches: int
    failures: int
    sizes: dict[int, int]
    latency_counts: tuple[int, ...]
    latency_sum_s: float
    queued: int


@dataclass(slots=True)
class BatcherStats:
    """Counters of one batcher, written by its worker thread only (read them, do not write them).

    Attributes:
        requests: requests run. batches: model calls. failures: requests that failed.
        sizes: model calls by batch size.
        latency_counts: model calls per bucket of :data:`LATENCY_BUCKETS_S` (one more for the rest).
        latency_sum_s: seconds spent in the model, all calls together.
    """

    requests: int = 0
    batches: int = 0
    failures: int = 0
    sizes: Counter[int] = field(default_factory=Counter)
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    latency_sum_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def mean_batch(self) -> float:
        """Mean number of requests per model call."""
        return self.requests / self.batches if self.batches else 0.0

    def count_batch(self, size: int) -> None:
        with self._lock:
            self.batches += 1
            self.requests += size
            self.sizes[size] += 1

    def count_failure(self) -> None:
        with self._lock:
            self.failures += 1

    def observe_latency(self, seconds: float) -> None:
        """One model call took ``seconds``."""
        bucket = bisect.bisect_left(LATENCY_BUCKETS_S, seconds)
        with self._lock:
            self.latency_counts[bucket] += 1
            self.latency_sum_s += seconds

    def snapshot(self, queued: int = 0) -> BatcherSnapshot:
        with self._lock:
            return BatcherSnapshot(self.requests, self.batches, self.failures, dict(self.sizes),
                                   tuple(self.latency_counts), self.latency_sum_s, queued)


class BatcherClosed(RuntimeError):
    """The batcher was stopped; the request was not run."""


_STOP = object()


class DynamicBatcher(Generic[InT, OutT]):
    """Coalesce single requests into batched calls of ``infer``.

    Args:
        infer: runs a batch; must return one output per input, in order.
        max_batch: the most requests in one call (>= 1).
        max_wait_ms: the longest the oldest queued request waits for company (>= 0).
        name: used in logs and thread names.
        lanes: worker threads taking batches from the one queue (>= 1); ``infer`` must then be
            safe to call from several threads at once (an ONNX session's ``run`` is).
    """

    def __init__(
        self,
        infer: Callable[[list[InT]], Sequence[OutT]],
        *,
        max_batch: int,
        max_wait_ms: float,
        name: str = "batcher",
        lanes: int = 1,
    ) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {lanes}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self._infer = infer
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.name = name
        self.lanes = lanes
        self.stats = BatcherStats()
        self._queue: queue.Queue[_Request[InT, OutT] | object] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> DynamicBatcher[InT, OutT]:
        """Start the worker threads (idempotent)."""
        with self._lock:
            if self._closed:
                raise BatcherClosed(f"{self.name}: stopped")
            if not self._threads:
                suffix = [""] if self.lanes == 1 else [f"-{k}" for k in range(self.lanes)]
                self._threads = [threading.Thread(target=self._run, name=f"batcher-{self.name}{s}",
                                                  daemon=True) for s in suffix]
                for thread in self._threads:
                    thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish queued requests, then stop the workers; later submits raise BatcherClosed."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if threads:
            self._queue.put(_STOP)
            deadline = time.monotonic() + timeout
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        self._fail_pending()

    def __enter__(self) -> DynamicBatcher[InT, OutT]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def queued(self) -> int:
        """Requests waiting for the worker now (approximate: the queue moves while it is read)."""
        return self._queue.qsize()

    def snapshot(self) -> BatcherSnapshot:
        """The counters and the queue depth, for a metrics scrape."""
        return self.stats.snapshot(self.queued())

    def submit(self, item: InT) -> Future[OutT]:
        """Queue one request; the future resolves to its own result."""
        if self._closed:
            raise BatcherClosed(f"{self.name}: stopped")
        if not self._threads:
            self.start()
        fut: Future[OutT] = Future()
        self._queue.put(_Request(item, fut, time.monotonic()))
        return fut

    def __call__(self, item: InT, timeout: float | None = None) -> OutT:
        """Blocking convenience: submit and wait for the result."""
        return self.submit(item).result(timeout)

    async def asubmit(self, item: InT) -> OutT:
        """Await one result from an event loop without blocking it."""
        return await asyncio.wrap_future(self.submit(item))

    def _collect(self, first: _Request[InT, OutT]) -> tuple[list[_Request[InT, OutT]], bool]:
        batch = [first]
        deadline = first.enqueued + self.max_wait
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)  # type: ignore[arg-type]
        return batch, False

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                break
            batch, stopping = self._collect(first)  # type: ignore[arg-type]
            self._execute(batch)
            if stopping:
                break
        self._drain()
        self._queue.put(_STOP)  # the stop signal passes on to the next lane

    def _drain(self) -> None:
        pending: list[_Request[InT, OutT]] = []
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                break
            if req is not _STOP:
                pending.append(req)  # type: ignore[arg-type]
        for start in range(0, len(pending), self.max_batch):
            self._execute(pending[start:start + self.max_batch])

    def _fail_pending(self) -> None:
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                return
            if req is not _STOP and isinstance(req, _Request) and not req.future.done():
                req.future.set_exception(BatcherClosed(f"{self.name}: stopped"))

    def _execute(self, batch: list[_Request[InT, OutT]]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        self.stats.count_batch(len(live))
        try:
            outputs = self._checked(live)
        except Exception as exc:
            if len(live) == 1:
                self.stats.count_failure()
                live[0].future.set_exception(exc)
                return
            logger.warning("%s: batch of %d failed (%s); retrying one by one",
                           self.name, len(live), exc)
            for req in live:
                try:
                    req.future.set_result(self._checked([req])[0])
                except Exception as single_exc:
                    self.stats.count_failure()
                    req.future.set_exception(single_exc)
            return
        for req, out in zip(live, outputs, strict=True):
            req.future.set_result(out)

    def _checked(self, reqs: list[_Request[InT, OutT]]) -> Sequence[OutT]:
        started = time.perf_counter()
        outputs = self._infer([r.item for r in reqs])
        self.stats.observe_latency(time.perf_counter() - started)
        if len(outputs) != len(reqs):
            raise RuntimeError(f"{self.name}: model returned {len(outputs)} results "
                               f"for a batch of {len(reqs)}")
        return outputs
