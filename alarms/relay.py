"""The outbox relay: claims due messages, delivers them through their sinks, records every attempt.

:meth:`Relay.run_once` is one round (claim a batch, deliver it concurrently, write the outcomes in
one transaction) with time passed in, for tests. :meth:`Relay.start` runs rounds on background
threads until :meth:`Relay.stop`. Several relays (threads or processes) may share one database.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from sqlalchemy import Connection, Engine, select, update

from alarms import outbox
from alarms.config import RelayConfig
from alarms.outbox import DeliveryResult, Outcome
from alarms.records import DeliveryAttempt, OutboxMessage
from alarms.sinks import Sink

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
OUTCOMES = ("delivered", "retrying", "failed", "dead")
"""What an attempt ends as: delivered; failed and to be retried; failed with its attempts spent
(``failed``); or dropped because the endpoint is gone or disabled (``dead``)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class RoundReport:
    """What one round did."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    dead: int = 0
    disabled_endpoints: list[str] = field(default_factory=list)
    attempts: list[DeliveryAttempt] = field(default_factory=list)


class SinkSource(Protocol):
    """Endpoints that change while the relay runs (those managed over the API), re-read each round."""

    def versions(self, conn: Connection) -> dict[str, int]:
        """Each endpoint's version; a sink is rebuilt when its version moves, dropped when it is gone."""
        ...

    def sinks(self, conn: Connection, endpoint_ids: Collection[str]) -> Sequence[Sink]:
        """Sinks of these endpoints as stored now."""
        ...

    def close(self) -> None: ...


class Relay:
    """Delivers outbox messages to ``sinks`` (one per endpoint id) by the ``config``'s schedule.

    ``source`` adds endpoints that may appear, change or go while it runs; a fixed sink wins over a
    source's endpoint with the same id.
    """

    def __init__(
        self,
        engine: Engine,
        sinks: Sequence[Sink],
        config: RelayConfig | None = None,
        *,
        clock: Clock = utcnow,
        name: str = "relay",
        source: SinkSource | None = None,
    ) -> None:
        self.engine = engine
        self.config = config or RelayConfig()
        self.sinks: Mapping[str, Sink] = {s.endpoint_id: s for s in sinks}
        if len(self.sinks) != len(sinks):
            raise ValueError("sinks must have distinct endpoint ids")
        self._fixed = dict(self.sinks)
        self.source = source
        self._versions: dict[str, int] = {}
        self._sinks_lock = threading.Lock()
        self.clock = clock
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix=f"{name}-send")
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        self._outcomes_lock = threading.Lock()
        with engine.begin() as conn:
            outbox.ensure_endpoints(conn, self.sinks)

    # -- one round -----------------------------------------------------------------------------
    def run_once(self, now: dt.datetime | None = None) -> RoundReport:
        """Claim due messages as of ``now``, deliver them, record the outcomes."""
        now = now or self.clock()
        with self.engine.begin() as conn:
            sinks = self._refresh(conn)
            active = set(sinks) - outbox.disabled_endpoints(conn, sinks)
            messages = outbox.claim(conn, active, now, self.config.batch_size, self.config.lease_s)
        report = RoundReport(claimed=len(messages))
        if not messages:
            return report
        results = list(self._pool.map(partial(self._deliver, sinks), messages))
        self._record(messages, results, now, report)
        return report

    def _refresh(self, conn: Connection) -> Mapping[str, Sink]:
        """The sinks of this round: the fixed ones and the source's, rebuilt where they changed."""
        if self.source is None:
            return self.sinks
        with self._sinks_lock:
            versions = {k: v for k, v in self.source.versions(conn).items() if k not in self._fixed}
            if versions != self._versions:
                moved = [k for k, v in versions.items() if self._versions.get(k) != v]
                sinks = {k: v for k, v in self.sinks.items() if k in self._fixed or k in versions}
                sinks.update((s.endpoint_id, s) for s in self.source.sinks(conn, moved))
                self.sinks, self._versions = sinks, versions  # a new mapping: rounds in flight keep theirs
                logger.info("relay %s: %d endpoint(s) changed, %d sink(s) now", self.name, len(moved),
                            len(sinks))
            return self.sinks

    def _deliver(self, sinks: Mapping[str, Sink], message: OutboxMessage) -> DeliveryResult:
        sink = sinks[message.endpoint_id]
        started = time.perf_counter()
        try:
            result = sink.deliver(message)
        except Exception as exc:  # a sink bug must not kill the relay; the message is retried
            logger.exception(
                "sink %s failed on message %s (event %s)", sink.endpoint_id, message.id, message.event_id
            )
            result = DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
        if result.duration_ms == 0.0:
            result = dataclasses.replace(result, duration_ms=(time.perf_counter() - started) * 1000.0)
        return result

    def _record(
        self,
        messages: list[OutboxMessage],
        results: list[DeliveryResult],
        now: dt.datetime,
        report: RoundReport,
    ) -> None:
        cfg = self.config
        touched = sorted({m.endpoint_id for m in messages})
        with self.engine.begin() as conn:
            health = {
                r.id: r
                for r in conn.execute(
                    select(outbox.ENDPOINTS).where(outbox.ENDPOINTS.c.id.in_(touched))
                ).all()
            }
            succeeded = {m.endpoint_id for m, r in zip(messages, results, strict=True) if r.ok}
            failing_since: dict[str, dt.datetime | None] = {}
            for endpoint_id in touched:
                row = health.get(endpoint_id)
                since = row.failing_since if row is not None else None
                failing_since[endpoint_id] = None if endpoint_id in succeeded else (since or now)
            outcomes = [
                Outcome(
                    m,
                    r,
                    outbox.decide(
                        r,
                        m.attempts + 1,
                        cfg.retry_schedule_s,
                        failing_since[m.endpoint_id],
                        now,
                        cfg.disable_after_days,
                        cfg.max_retry_after_s,
                    ),
                    now,
                )
                for m, r in zip(messages, results, strict=True)
            ]
            report.attempts = outbox.finish(conn, outcomes, now)
            self._update_health(conn, touched, succeeded, failing_since, now)
            for o in outcomes:
                self._count(o, report)
                endpoint_id, reason = o.message.endpoint_id, o.decision.disable_reason
                if (
                    reason
                    and endpoint_id not in report.disabled_endpoints
                    and self._disable(conn, endpoint_id, reason, now)
                ):
                    report.disabled_endpoints.append(endpoint_id)

    def _update_health(
        self,
        conn: Connection,
        touched: list[str],
        succeeded: set[str],
        failing_since: dict[str, dt.datetime | None],
        now: dt.datetime,
    ) -> None:
        for endpoint_id in touched:
            values: dict[str, object] = {"failing_since": failing_since[endpoint_id]}
            if endpoint_id in succeeded:
                values["last_success_at"] = now
            conn.execute(
                update(outbox.ENDPOINTS).where(outbox.ENDPOINTS.c.id == endpoint_id).values(**values)
            )

    def _count(self, o: Outcome, report: RoundReport) -> None:
        status = o.decision.status
        m = o.message
        with self._outcomes_lock:
            self._outcomes[(m.endpoint_id, "retrying" if status == "pending" else status)] += 1
        if status == "delivered":
            report.delivered += 1
            logger.debug("delivered event %s (%s) to %s", m.event_id, m.type, m.endpoint_id)
            return
        if status == "pending":
            report.retrying += 1
        elif status == "failed":
            report.failed += 1
        else:
            report.dead += 1
        logger.warning(
            "delivery of event %s (%s) to %s failed (attempt %d, %s): %s -> %s",
            m.event_id,
            m.type,
            m.endpoint_id,
            m.attempts + 1,
            o.result.status_code,
            o.result.error,
            status,
        )

    def _disable(self, conn: Connection, endpoint_id: str, reason: str, now: dt.datetime) -> bool:
        if not outbox.disable_endpoint(conn, endpoint_id, reason, now):
            return False
        logger.error("endpoint %s disabled: %s", endpoint_id, reason)
        others = [s for s in self.sinks.values() if s.endpoint_id != endpoint_id]
        outbox.record_event(
            conn, "endpoint.disabled", {"endpoint_id": endpoint_id, "reason": reason}, now, now, others
        )
        return True

    def outcomes(self) -> dict[tuple[str, str], int]:
        """Delivery attempts since start by ``(endpoint id, outcome)``, for metrics.

        Every endpoint has every one of :data:`OUTCOMES`, zero where none happened.
        """
        with self._outcomes_lock:
            return {(e, o): self._outcomes[(e, o)] for e in sorted(self.sinks) for o in OUTCOMES}

    # -- operator actions ------------------------------------------------------------------------
    def replay_message(self, message_id: int, now: dt.datetime | None = None) -> int:
        """Queue one message again (any status), with a fresh attempt budget and the same webhook-id."""
        with self.engine.begin() as conn:
            count = outbox.replay(conn, now or self.clock(), message_id=message_id)
        logger.info("replaying message %s", message_id)
        self._wake.set()
        return count

    def replay_failed(self, endpoint_id: str, now: dt.datetime | None = None) -> int:
        """Queue every failed or dead message of an endpoint again; re-enables the endpoint."""
        with self.engine.begin() as conn:
            outbox.enable_endpoint(conn, endpoint_id)
            count = outbox.replay(conn, now or self.clock(), endpoint_id=endpoint_id)
        logger.info("replaying %d failed messages of endpoint %s", count, endpoint_id)
        self._wake.set()
        return count

    # -- background threads ----------------------------------------------------------------------
    def start(self, threads: int = 2) -> None:
        """Run rounds on ``threads`` background threads (claims never overlap: each has its lease)."""
        if self._threads:
            raise RuntimeError("relay already started")
        self._stop.clear()
        for i in range(threads):
            thread = threading.Thread(target=self._loop, name=f"{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("relay %s started: %d threads, %d sinks", self.name, threads, len(self.sinks))

    def wake(self) -> None:
        """Start the next round now (called after new events were queued)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.run_once()
            except Exception:
                logger.exception("relay %s round failed; retrying", self.name)
                report = RoundReport()
                self._stop.wait(self.config.poll_interval_s)
            if report.claimed < self.config.batch_size:
                self._wake.wait(self.config.poll_interval_s)
                self._wake.clear()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the threads after their current round, then close the sinks."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()
        self._pool.shutdown(wait=True)
        for sink in self.sinks.values():
            sink.close()
        if self.source is not None:
            self.source.close()
        logger.info("relay %s stopped", self.name)
