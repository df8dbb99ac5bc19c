"""Metrics read at scrape time from the running parts: delivery, queues, batches, inference latency.

The parts keep plain counters (the relay per endpoint and outcome, each batcher its batch sizes
and latency buckets, the pipeline its queues); this collector turns them into Prometheus
families only when ``/metrics`` is scraped, so the hot paths pay for a counter, not a registry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from vision.batcher import LATENCY_BUCKETS_S, BatcherSnapshot, DynamicBatcher

if TYPE_CHECKING:
    from estatewatch.service import Service

logger = logging.getLogger(__name__)

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
"""Upper bounds of the batch-size histogram (requests per model call)."""


class ServiceCollector(Collector):
    """The service's delivery, queue and model metrics, read from its parts at each scrape."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        yield from self._delivery()
        yield from self._snoozed()
        yield from self._queues()
        yield from model_families(self._batchers())

    def _delivery(self) -> Iterator[Metric]:
        relay, store = self.service.relay, self.service.store
        if relay is None:
            return
        attempts = CounterMetricFamily(
            "estatewatch_relay_attempts", "Delivery attempts since start by endpoint (webhook, MQTT, "
            "connector) and outcome: delivered, retrying, failed (attempts spent), dead (endpoint gone)",
            labels=["endpoint", "outcome"])
        for (endpoint, outcome), count in relay.outcomes().items():
            attempts.add_metric([endpoint, outcome], count)
        yield attempts
        if store is None:
            return
        try:
            pending = store.outbox_pending()
        except SQLAlchemyError as exc:  # a scrape must not fail with the database; /readyz says why
            logger.warning("metrics: outbox depth unavailable: %s", type(exc).__name__)
            return
        depth = GaugeMetricFamily("estatewatch_outbox_pending",
                                  "Outbox messages waiting for delivery (first attempt or retry)",
                                  labels=["endpoint"])
        for endpoint in sorted(set(relay.sinks) | set(pending)):
            depth.add_metric([endpoint], pending.get(endpoint, 0))
        yield depth

    def _snoozed(self) -> Iterator[Metric]:
        store = self.service.store
        if store is None:
            return
        held = CounterMetricFamily("estatewatch_alarms_snoozed", "Alarms a camera snooze held back since "
                                   "start, by camera", labels=["camera"])
        for camera, count in sorted(store.snoozes.suppressed_by_camera.items()):
            held.add_metric([camera], count)
        yield held

    def _queues(self) -> Iterator[Metric]:
        pipeline = self.service.pipeline
        if pipeline is None:
            return
        frames = GaugeMetricFamily("estatewatch_pipeline_queue_depth",
                                   "Sampled frames waiting for analysis, per camera", labels=["camera"])
        for camera, counters in pipeline.counters().items():
            frames.add_metric([camera], counters.pending)
        yield frames

    def _batchers(self) -> dict[str, DynamicBatcher[Any, Any]]:
        """Every batcher by name: the engine's (one per model) and the cascade's sized detectors."""
        found: dict[str, DynamicBatcher[Any, Any]] = {}
        if self.service.engine is not None:
            found.update({b.name: b for b in self.service.engine.batchers.values()})
        if self.service.cascade is not None:
            found.update({b.name: b for b in self.service.cascade.batchers().values()})
        return found


def model_families(batchers: Mapping[str, DynamicBatcher[Any, Any]]) -> Iterator[Metric]:
    """Queue depth, batch sizes and inference latency of each batcher, labelled ``model`` by its name.

    The live path runs detectors through ``<model>-sized`` batchers (several input sizes on one
    session); embedders and the plate reader through the engine's ``<model>`` batchers.
    """
    snapshots = {name: b.snapshot() for name, b in sorted(batchers.items())}
    queued = GaugeMetricFamily("estatewatch_batcher_queue_depth", "Requests waiting for a model call",
                               labels=["model"])
    sizes = HistogramMetricFamily("estatewatch_batch_size", "Requests per model call", labels=["model"])
    latency = HistogramMetricFamily("estatewatch_inference_seconds", "Duration of one model call (one batch)",
                                    labels=["model"])
    for name, snap in snapshots.items():
        queued.add_metric([name], snap.queued)
        sizes.add_metric([name], batch_buckets(snap), sum_value=snap.requests)
        latency.add_metric([name], latency_buckets(snap), sum_value=snap.latency_sum_s)
    yield from (queued, sizes, latency)


def batch_buckets(snap: BatcherSnapshot) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` of model calls by batch size, ``+Inf`` last."""
    out = [(str(le), float(sum(n for size, n in snap.sizes.items() if size <= le))) for le in BATCH_BUCKETS]
    return [*out, ("+Inf", float(sum(snap.sizes.values())))]


def latency_buckets(snap: BatcherSnapshot) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` of model calls by duration, ``+Inf`` last."""
    out, running = [], 0
    for le, count in zip((*LATENCY_BUCKETS_S, float("inf")), snap.latency_counts, strict=True):
        running += count
        out.append(("+Inf" if le == float("inf") else repr(le), float(running)))
    return out
