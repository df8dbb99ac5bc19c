"""The composition root: builds the models, the cameras and the API, starts and stops them.

Nothing else in the code base starts threads at import time; everything is wired here.
A frame flows ``streams -> vision -> (registry, alarms: later issues) -> api``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from estatewatch.config import ServiceConfig
from streams.config import CameraConfig
from streams.health import HealthEvent
from streams.source import CameraSource
from vision.cascade import ALL_ANALYSES, Analysis, Cascade, tasks_for, to_json
from vision.engine import VisionEngine

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """Bounded in-memory history (the alarm store of a later issue persists what matters)."""

    recognitions_per_camera: int = 200
    events: int = 500


class Service:
    """Cameras -> cascade -> recent recognitions and health events, with metrics.

    Args:
        config: the validated service configuration.
        cascade: a loaded cascade (built from the model store when ``None``).
    """

    def __init__(self, config: ServiceConfig, cascade: Cascade | None = None,
                 limits: ServiceLimits | None = None) -> None:
        self.config = config
        self.limits = limits or ServiceLimits()
        self._cascade = cascade
        self.engine: VisionEngine | None = None
        self.sources: dict[str, CameraSource] = {}
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._recognitions: dict[str, collections.deque[dict[str, Any]]] = {
            cam.id: collections.deque(maxlen=self.limits.recognitions_per_camera) for cam in config.cameras}
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.limits.events)
        self.ready = False
        self.metrics = CollectorRegistry()
        self._frames = Counter("estatewatch_frames_analysed", "Sampled frames run through the cascade",
                               ["camera"], registry=self.metrics)
        self._found = Counter("estatewatch_objects_found", "Faces, vehicles and plates found",
                              ["camera", "kind"], registry=self.metrics)
        self._latency = Histogram("estatewatch_frame_analysis_seconds", "Cascade time per sampled frame",
                                  ["camera"], registry=self.metrics,
                                  buckets=(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10))

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Load the models, then start every camera and its analysis worker."""
        stages: set[Analysis] = {s for cam in self.config.cameras for s in cam.run} or set(ALL_ANALYSES)
        if self._cascade is None:
            # One engine for all cameras: their frames share batched ONNX calls.
            self.engine = VisionEngine(self.config.vision, tasks=tasks_for(stages)).start()
            self._cascade = Cascade.from_engine(self.engine)
        for cam in self.config.cameras:
            source = CameraSource(cam, on_event=self._on_event)
            self.sources[cam.id] = source
            source.start()
            worker = threading.Thread(target=self._analyse, args=(cam, source),
                                      name=f"analyse-{cam.id}", daemon=True)
            self._workers.append(worker)
            worker.start()
        self.ready = True
        logger.info("service started: %d camera(s)", len(self.config.cameras))

    def stop(self) -> None:
        """Stop cameras and workers (idempotent)."""
        self.ready = False
        self._stop.set()
        for source in self.sources.values():
            source.stop()
        for worker in self._workers:
            worker.join(10)
        self._workers.clear()
        if self.engine is not None:
            self.engine.stop()
        logger.info("service stopped")

    # -- the pipeline ----------------------------------------------------------------------
    def _analyse(self, cam: CameraConfig, source: CameraSource) -> None:
        assert self._cascade is not None
        while not self._stop.is_set():
            frame = source.latest(timeout=1.0)
            if frame is None:
                continue
            t0 = time.perf_counter()
            try:
                result = self._cascade.recognize([frame.image], run=cam.run)[0]
            except Exception:
                logger.exception("camera %s: analysis of frame %d failed", cam.id, frame.seq)
                continue
            elapsed = time.perf_counter() - t0
            record = {"camera_id": cam.id, "seq": frame.seq, "captured_at": frame.captured_at.wall,
                      "analysis_ms": round(elapsed * 1000, 1), **to_json(result)}
            for key in ("faces", "vehicles", "plates"):
                self._found.labels(cam.id, key).inc(len(record[key]))
            self._frames.labels(cam.id).inc()
            self._latency.labels(cam.id).observe(elapsed)
            with self._lock:
                self._recognitions[cam.id].append(record)
            plates = [p["text"] for p in record["plates"] if p["valid"]]
            if record["faces"] or plates:
                logger.info("camera %s frame %d: %d face(s), %d vehicle(s), plates %s (%.0f ms)",
                            cam.id, frame.seq, len(record["faces"]), len(record["vehicles"]),
                            plates or "-", elapsed * 1000)

    def _on_event(self, event: HealthEvent) -> None:
        with self._lock:
            self._events.append(event.to_dict())
        logger.info("camera %s: %s%s (%s)", event.camera_id,
                    f"tamper {event.tamper.value} " if event.tamper else "",
                    event.state.value, event.reason)

    # -- read side (the API) ---------------------------------------------------------------
    def cameras(self) -> list[dict[str, Any]]:
        """Each camera's public config (passwords masked) with its live state and counters."""
        out = []
        for cam in self.config.cameras:
            data = cam.public_dict()
            source = self.sources.get(cam.id)
            if source is not None:
                stats = source.stats()
                data["status"] = {"state": stats.state.value if stats.state else None,
                                  "reason": stats.reason, "decoded": stats.decoded,
                                  "delivered": stats.delivered, "dropped": stats.dropped,
                                  "reconnects": stats.reconnects}
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
