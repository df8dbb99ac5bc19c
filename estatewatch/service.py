"""The composition root: builds the models, cameras, registry, alarms and delivery; starts and stops them.

Nothing else in the code base starts threads at import time; everything is wired here.
A frame flows ``streams -> vision -> registry (match) -> alarms -> api / webhooks / MQTT``.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from estatewatch.alarming import Alarmist
from estatewatch.config import ServiceConfig
from estatewatch.pipeline import FramePipeline, FrameResult
from streams.config import ALL_ANALYSES, Analysis
from streams.frames import Frame
from streams.health import HealthEvent
from vision.cascade import Cascade, ImageRecognition, tasks_for, to_json
from vision.engine import VisionEngine

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """Bounded in-memory history (the alarm store of a later issue persists what matters)."""

    recognitions_per_camera: int = 200
    events: int = 500
    tick_s: float = 1.0
    purge_every_s: float = 3600.0
    sweep_every_s: float = 60.0
    """How often alarm face crops whose person was deleted meanwhile are redacted."""


class Service:
    """Cameras -> cascade -> recent recognitions and health events, with metrics.

    Args:
        config: the validated service configuration.
        cascade: a loaded cascade (built from the model store when ``None``).
    """

    def __init__(self, config: ServiceConfig, cascade: Cascade | None = None,
                 limits: ServiceLimits | None = None, registry: Any | None = None,
                 store: Any | None = None) -> None:
        self.config = config
        self.registry = registry
        self.store = store
        self.relay: Any | None = None
        self.alarmist: Alarmist | None = None
        self.limits = limits or ServiceLimits()
        self._cascade = cascade
        self.engine: VisionEngine | None = None
        self.pipeline: FramePipeline | None = None
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._recognitions: dict[str, collections.deque[dict[str, Any]]] = {
            cam.id: collections.deque(maxlen=self.limits.recognitions_per_camera) for cam in config.cameras}
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.limits.events)
        self._last_analysis: dict[str, ImageRecognition] = {}
        self.ready = False
        self.metrics = CollectorRegistry()
        self._frames = Counter("estatewatch_frames_analysed", "Sampled frames analysed or gated as unchanged",
                               ["camera"], registry=self.metrics)
        self._found = Counter("estatewatch_objects_found", "Faces, vehicles and plates found",
                              ["camera", "kind"], registry=self.metrics)
        self._latency = Histogram("estatewatch_frame_latency_seconds", "Frame capture to analysis result",
                                  ["camera"], registry=self.metrics,
                                  buckets=(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10))
        self._dropped = Gauge("estatewatch_frames_dropped", "Sampled frames dropped because analysis fell "
                              "behind (since start)", ["camera"], registry=self.metrics)
        self._online = Gauge("estatewatch_camera_online", "1 while the camera delivers frames", ["camera"],
                             registry=self.metrics)

    # -- lifecycle -------------------------------------------------------------------------
    def _start_alarms(self) -> None:
        from alarms.delivery import build_relay
        from alarms.rules import RuleSet
        from alarms.store import AlarmStore
        from registry.service import Registry

        if self.registry is None:
            self.registry = Registry.open()
        if self.store is None:
            self.store = AlarmStore.open(delivery=self.config.delivery(), cipher=self.registry.cipher)
        # Deleting a person (visitor retention included) redacts their alarm crops; keys are shared.
        self.registry.add_holder(self.store)
        rules = RuleSet.build(self.config.rules, self.config.camera_runs(), self.config.zones)
        self.alarmist = Alarmist([c.id for c in self.config.cameras], rules, self.config.zones, self.store,
                                 self.registry)
        self.relay = build_relay(self.store, self.store.delivery)
        relay = self.relay
        self.store.add_listener(lambda _type, _event: relay.wake())
        relay.start()
        ticker = threading.Thread(target=self._tick, name="alarm-ticker", daemon=True)
        self._workers.append(ticker)
        ticker.start()

    def _tick(self) -> None:
        assert self.alarmist is not None and self.store is not None
        last_purge = last_sweep = 0.0
        while not self._stop.wait(self.limits.tick_s):
            now = dt.datetime.now(dt.UTC)
            try:
                self.alarmist.tick(now)
                if time.monotonic() - last_purge >= self.limits.purge_every_s:
                    last_purge = time.monotonic()
                    self._enforce_retention(now)
                if self.registry is not None and time.monotonic() - last_sweep >= self.limits.sweep_every_s:
                    last_sweep = time.monotonic()
                    self.store.redact_orphans(self.registry.existing_owners, now)
            except Exception:
                logger.exception("periodic alarm work failed")

    def _enforce_retention(self, now: dt.datetime) -> None:
        """Purge alarms (with snapshots) past ``alarms.retention_days`` and visitors past theirs."""
        assert self.store is not None
        purged = self.store.purge(dt.timedelta(days=self.config.alarms.retention_days), now)
        if purged:
            logger.info("retention: purged %d alarm(s) older than %s days", purged,
                        self.config.alarms.retention_days)
        if self.registry is not None:
            gone = self.registry.purge_expired_visitors(now)  # logs how many, with their biometric data
            if gone:
                logger.debug("retention: visitors %s deleted", gone)

    def start(self) -> None:
        """Open the registry and alarm store, load the models, then start every camera."""
        self._start_alarms()
        stages: set[Analysis] = {s for cam in self.config.cameras for s in cam.run} or set(ALL_ANALYSES)
        if self._cascade is None:
            # One engine for all cameras: their frames share batched ONNX calls.
            self.engine = VisionEngine(self.config.vision, tasks=tasks_for(stages)).start()
            self._cascade = Cascade.from_engine(self.engine)
        p = self.config.pipeline
        self.pipeline = FramePipeline(self.config.cameras, self._cascade, self._on_result, workers=p.workers,
                                      max_queue=p.max_queue, gating=p.gating,
                                      frames_per_call=p.frames_per_call, on_event=self._on_event).start()
        self.ready = True
        logger.info("service started: %d camera(s)", len(self.config.cameras))

    def stop(self) -> None:
        """Stop cameras and workers (idempotent)."""
        self.ready = False
        self._stop.set()
        if self.pipeline is not None:
            self.pipeline.stop()
        if self._cascade is not None and self.engine is not None:
            self._cascade.close()
        for worker in self._workers:
            worker.join(10)
        self._workers.clear()
        if self.engine is not None:
            self.engine.stop()
        if self.relay is not None:
            self.relay.stop()
        logger.info("service stopped")

    # -- the pipeline ----------------------------------------------------------------------
    def _on_result(self, result: FrameResult) -> None:
        """One analysed (or gated) frame: keep it for the API, count it, look for alarms."""
        cam, frame = result.camera_id, result.frame
        self._frames.labels(cam).inc()
        if result.skipped_by_gate:
            # The scene has not changed, so what was there is still there: the trackers see the
            # last analysis again (as re-running the models on this frame would have told them),
            # which keeps a parked car or a person standing still one live track.
            with self._lock:
                last = self._last_analysis.get(cam)
            if last is not None and self.alarmist is not None:
                self._alarm(frame, last)
            return
        with self._lock:
            self._last_analysis[cam] = result.recognition
        self._latency.labels(cam).observe(result.latency_ms / 1000)
        record = {"camera_id": cam, "seq": frame.seq, "captured_at": frame.captured_at.wall,
                  "analysis_ms": round(result.analysis_ms, 1), "latency_ms": round(result.latency_ms, 1),
                  **to_json(result.recognition)}
        for key in ("faces", "vehicles", "plates"):
            self._found.labels(cam, key).inc(len(record[key]))
        with self._lock:
            self._recognitions[cam].append(record)
        self._alarm(frame, result.recognition)
        plates = [p["text"] for p in record["plates"] if p["valid"]]
        if record["faces"] or plates:
            logger.debug("camera %s frame %d: %d face(s), %d vehicle(s), plates %s (%.0f ms)", cam,
                         frame.seq, len(record["faces"]), len(record["vehicles"]), plates or "-",
                         result.latency_ms)

    def _alarm(self, frame: Frame, recognition: ImageRecognition) -> None:
        if self.alarmist is None:
            return
        try:
            self.alarmist.on_frame(frame, recognition)
        except Exception:
            logger.exception("camera %s: alarm processing of frame %d failed", frame.camera_id, frame.seq)

    def _on_event(self, event: HealthEvent) -> None:
        with self._lock:
            self._events.append(event.to_dict())
        if self.alarmist is not None:
            try:
                self.alarmist.on_health(event)
            except Exception:
                logger.exception("camera %s: alarm processing of a health event failed", event.camera_id)
        logger.info("camera %s: %s%s (%s)", event.camera_id,
                    f"tamper {event.tamper.value} " if event.tamper else "",
                    event.state.value, event.reason)

    # -- read side (the API) ---------------------------------------------------------------
    def refresh_gauges(self) -> None:
        """Bring the gauges up to date (called before each /metrics scrape)."""
        if self.pipeline is None:
            return
        for cam_id, counters in self.pipeline.counters().items():
            self._dropped.labels(cam_id).set(counters.dropped)
        for cam_id, source in self.pipeline.sources.items():
            self._online.labels(cam_id).set(1 if source.state and source.state.value == "online" else 0)

    def cameras(self) -> list[dict[str, Any]]:
        """Each camera's public config (passwords masked) with its live state and counters."""
        out = []
        sources = self.pipeline.sources if self.pipeline else {}
        counters = self.pipeline.counters() if self.pipeline else {}
        for cam in self.config.cameras:
            data = cam.public_dict()
            source = sources.get(cam.id)
            if source is not None:
                stats = source.stats()
                data["status"] = {"state": stats.state.value if stats.state else None,
                                  "reason": stats.reason, "decoded": stats.decoded,
                                  "delivered": stats.delivered, "dropped": stats.dropped,
                                  "reconnects": stats.reconnects}
            if cam.id in counters:
                c = counters[cam.id]
                data["analysis"] = {"sampled": c.sampled, "analysed": c.analysed, "gated": c.gated,
                                    "dropped": c.dropped, "latency_p50_ms": c.latency_p50_ms,
                                    "latency_p99_ms": c.latency_p99_ms}
            out.append(data)
        return out

    def recognitions(self, camera_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest recognitions first, optionally of one camera."""
        with self._lock:
            pools = ([self._recognitions[camera_id]] if camera_id is not None
                     else list(self._recognitions.values()))
            records = [r for pool in pools for r in pool]
        records.sort(key=lambda r: r["captured_at"], reverse=True)
        return records[:limit]

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest camera health events first."""
        with self._lock:
            return list(reversed(self._events))[:limit]
