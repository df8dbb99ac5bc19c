"""The composition root: builds the models, cameras, registry, alarms and delivery; starts and stops them.

Nothing else in the code base starts threads at import time; everything is wired here.
A frame flows ``streams -> vision -> registry (match) -> alarms -> api / webhooks / MQTT``.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from alarms.clips import ClipRecorder
from alarms.intake import Alarmist
from alarms.upkeep import AlarmUpkeep, UpkeepSchedule
from api.ports import UnknownCameraError
from api.schemas import (
    AnalysisCounters,
    PublicCamera,
    Readiness,
    ReadinessChecks,
    Recognition,
    StreamStatus,
)
from estatewatch import readiness
from estatewatch.config import ServiceConfig
from estatewatch.metrics import ServiceCollector
from streams.config import ALL_ANALYSES, Analysis
from streams.credentials import redact
from streams.health import HealthEvent
from streams.packets import PacketBuffer, PacketTap
from vision.cascade import Cascade, tasks_for, to_json
from vision.engine import VisionEngine
from vision.live import FramePipeline, FrameResult

if TYPE_CHECKING:
    from alarms.endpoints import WebhookEndpoints
    from alarms.relay import Relay
    from alarms.store import AlarmStore
    from registry.service import Registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """Bounded in-memory history (the alarm store of a later issue persists what matters)."""

    recognitions_per_camera: int = 200
    events: int = 500
    upkeep: UpkeepSchedule = field(default_factory=UpkeepSchedule)


class Service:
    """Cameras -> cascade -> recent recognitions and health events, with metrics.

    Args:
        config: the validated service configuration.
        cascade: a loaded cascade (built from the model store when ``None``).
    """

    def __init__(self, config: ServiceConfig, cascade: Cascade | None = None,
                 limits: ServiceLimits | None = None, registry: Registry | None = None,
                 store: AlarmStore | None = None) -> None:
        self.config = config
        self.registry = registry
        self.store = store
        self.relay: Relay | None = None
        self.alarmist: Alarmist | None = None
        self.upkeep: AlarmUpkeep | None = None
        self.clips: ClipRecorder | None = None
        self.clip_buffers: dict[str, PacketBuffer] = {}
        self.limits = limits or ServiceLimits()
        self._cascade = cascade
        self.engine: VisionEngine | None = None
        self.pipeline: FramePipeline | None = None
        self._lock = threading.Lock()
        self._recognitions: dict[str, collections.deque[Recognition]] = {
            cam.id: collections.deque(maxlen=self.limits.recognitions_per_camera) for cam in config.cameras}
        self._events: collections.deque[HealthEvent] = collections.deque(maxlen=self.limits.events)
        self.ready = False
        self.start_error: str | None = None
        self._databases = readiness.DatabaseChecks()
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
        self._paced = Gauge("estatewatch_frames_paced", "Sampled frames skipped because the camera's rate "
                            "was lowered under load (since start)", ["camera"], registry=self.metrics)
        self._effective = Gauge("estatewatch_camera_effective_fps", "Rate the camera's frames are analysed "
                                "at now (its detect_fps unless degraded)", ["camera"], registry=self.metrics)
        self._degraded = Gauge("estatewatch_camera_degraded", "1 while the camera's rate is lowered because "
                               "analysis cannot keep up", ["camera"], registry=self.metrics)
        self._clips = Gauge("estatewatch_alarm_clips", "Alarm clips since start: written, or skipped "
                            "for want of video", ["outcome"], registry=self.metrics)
        self._buffered = Gauge("estatewatch_clip_buffer_seconds", "Seconds of encoded video each camera "
                               "holds for alarm clips", ["camera"], registry=self.metrics)
        self._online = Gauge("estatewatch_camera_online", "1 while the camera delivers frames", ["camera"],
                             registry=self.metrics)
        self.metrics.register(ServiceCollector(self))  # relay, queues, batches: read at each scrape

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
                                 self.registry, plates=self.config.alarms.plate_vote,
                                 snoozes=self.store.snoozes)
        self.relay = build_relay(self.store, self.store.delivery)
        relay = self.relay
        self.store.add_listener(lambda _type, _event: relay.wake())
        self.store.webhooks.add_listener(relay.wake)  # created, rotated, replayed: the next round now
        relay.start()
        retention = dt.timedelta(days=self.config.alarms.retention_days)
        self.upkeep = AlarmUpkeep(self.alarmist, self.store, self.registry, retention,
                                  self.limits.upkeep).start()

    def start(self) -> None:
        """Open the registry and alarm store, load the models, then start every camera.

        A failure is kept (secrets scrubbed) for :meth:`readiness`, and raised.
        """
        try:
            self._start()
        except BaseException as exc:
            self.start_error = redact(f"{type(exc).__name__}: {exc}", self._secrets())
            raise

    def _stages(self) -> set[Analysis]:
        return {s for cam in self.config.cameras for s in cam.run} or set(ALL_ANALYSES)

    def _secrets(self) -> list[str]:
        return [secret for cam in self.config.cameras for secret in cam.secrets()]

    def _start(self) -> None:
        self._start_alarms()
        if self._cascade is None:
            # One engine for all cameras: their frames share batched ONNX calls.
            self.engine = VisionEngine(self.config.vision, tasks=tasks_for(self._stages())).start()
            self._cascade = Cascade.from_engine(self.engine)
        p = self.config.pipeline
        self.pipeline = FramePipeline(self.config.cameras, self._cascade, self._on_result, workers=p.workers,
                                      max_queue=p.max_queue, gating=p.gating,
                                      frames_per_call=p.frames_per_call, on_event=self._on_event,
                                      pacing=p.pacing if p.adaptive else None, levers=p.levers(),
                                      hints=self.alarmist).start()
        self._start_clips()
        self.ready = True
        logger.info("service started: %d camera(s)", len(self.config.cameras))

    def _start_clips(self) -> None:
        """Buffer each camera's encoded video and write a clip for each of its alarms."""
        settings = self.config.alarms.clips
        if not settings.enabled or self.store is None or self.pipeline is None:
            return
        for cam_id, source in self.pipeline.sources.items():
            buffer = PacketBuffer(settings.keep_s)
            source.packets.subscribe(buffer)
            self.clip_buffers[cam_id] = buffer
        self.clips = ClipRecorder(self.store, self.clip_buffers, settings).start()
        self.store.add_listener(self.clips.on_event)

    def stop(self) -> None:
        """Stop cameras and workers (idempotent)."""
        self.ready = False
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.clips is not None:
            self.clips.stop()
        if self._cascade is not None and self.engine is not None:
            self._cascade.close()
        if self.upkeep is not None:
            self.upkeep.stop()
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
        if result.skipped_by_gate:  # the intake replays the last analysis to its trackers
            self._alarm(result)
            return
        self._latency.labels(cam).observe(result.latency_ms / 1000)
        self._alarm(result)  # first: nothing the API keeps may hold alarms up
        record = Recognition.model_validate({
            "camera_id": cam, "seq": frame.seq, "captured_at": frame.captured_at.wall,
            "analysis_ms": round(result.analysis_ms, 1), "latency_ms": round(result.latency_ms, 1),
            **to_json(result.recognition)})
        for kind, found in ("faces", record.faces), ("vehicles", record.vehicles), ("plates", record.plates):
            self._found.labels(cam, kind).inc(len(found))
        with self._lock:
            self._recognitions[cam].append(record)
        plates = [p.text for p in record.plates if p.valid]
        if record.faces or plates:
            logger.debug("camera %s frame %d: %d face(s), %d vehicle(s), plates %s (%.0f ms)", cam,
                         frame.seq, len(record.faces), len(record.vehicles), plates or "-",
                         result.latency_ms)

    def _alarm(self, result: FrameResult) -> None:
        if self.alarmist is None:
            return
        try:
            self.alarmist.on_result(result)
        except Exception:
            logger.exception("camera %s: alarm processing of frame %d failed", result.camera_id,
                             result.frame.seq)

    def _on_event(self, event: HealthEvent) -> None:
        with self._lock:
            self._events.append(event)
        if self.alarmist is not None:
            try:
                self.alarmist.on_health(event)
            except Exception:
                logger.exception("camera %s: alarm processing of a health event failed", event.camera_id)
        logger.info("camera %s: %s%s (%s)", event.camera_id,
                    f"tamper {event.tamper.value} " if event.tamper else "",
                    event.state.value, event.reason)

    # -- read side (the API: see api.ports.ServiceView) -------------------------------------
    @property
    def public_base_url(self) -> str:
        return self.config.alarms.public_base_url

    @property
    def webhooks(self) -> WebhookEndpoints | None:
        """The webhook endpoints managed over the API (``None`` before the alarm store is open)."""
        return None if self.store is None else self.store.webhooks

    @property
    def cascade(self) -> Cascade | None:
        """The loaded cascade the cameras use (``None`` before :meth:`start`)."""
        return self._cascade

    def refresh_gauges(self) -> None:
        """Bring the gauges up to date (called before each /metrics scrape)."""
        if self.pipeline is None:
            return
        for cam_id, counters in self.pipeline.counters().items():
            self._dropped.labels(cam_id).set(counters.dropped)
            self._paced.labels(cam_id).set(counters.paced)
            self._effective.labels(cam_id).set(round(counters.effective_fps, 3))
            self._degraded.labels(cam_id).set(1 if counters.degraded else 0)
        if self.clips is not None:
            self._clips.labels("written").set(self.clips.written)
            self._clips.labels("skipped").set(self.clips.skipped)
        for cam_id, buffer in self.clip_buffers.items():
            self._buffered.labels(cam_id).set(round(buffer.seconds(), 2))
        for cam_id, source in self.pipeline.sources.items():
            self._online.labels(cam_id).set(1 if source.state and source.state.value == "online" else 0)

    def video_tap(self, camera_id: str) -> PacketTap | None:
        """The encoded packets of a configured camera (live view); ``None`` before the cameras start."""
        if camera_id not in {c.id for c in self.config.cameras}:
            raise UnknownCameraError(camera_id)
        source = self.pipeline.sources.get(camera_id) if self.pipeline else None
        return source.packets if source is not None else None

    def readiness(self) -> Readiness:
        """Started, each model loaded, each database answering ``SELECT 1`` within 2 s; cameras reported.

        Cameras never make the service unready (see :mod:`estatewatch.readiness` for why).
        """
        if self.engine is not None:
            models = self.engine.models.items()  # /readyz: "face_detect on CPUExecutionProvider loaded"
            loaded: dict[str, str] | None = {self.engine.specs[t].name: f"{t} on {m.session.provider}"
                                             for t, m in models}
        else:
            loaded = None if self._cascade is None else {
                name: f"model on {provider}" for name, provider in self._cascade.model_providers().items()}
        sources = self.pipeline.sources if self.pipeline else {}
        checks = ReadinessChecks(
            service=readiness.started_check(self.ready, self.start_error, len(self.config.cameras)),
            models=readiness.model_checks(loaded, self.config.vision.profile,
                                          () if self._cascade else tasks_for(self._stages())),
            database=self._databases.check({"registry": self.registry.engine if self.registry else None,
                                            "alarm_store": self.store.engine if self.store else None},
                                           self._secrets()),
            cameras=readiness.camera_readiness(self.config.cameras,
                                               {cam: source.stats() for cam, source in sources.items()}))
        return readiness.verdict(checks, self.ready, self.start_error)

    def cameras(self) -> list[PublicCamera]:
        """Each camera's public config (passwords masked) with its live state and counters."""
        sources = self.pipeline.sources if self.pipeline else {}
        counters = self.pipeline.counters() if self.pipeline else {}
        out = []
        for cam in self.config.cameras:
            source, counted = sources.get(cam.id), counters.get(cam.id)
            out.append(PublicCamera.of(
                cam, status=None if source is None else StreamStatus.model_validate(source.stats()),
                analysis=None if counted is None else AnalysisCounters.model_validate(counted)))
        return out

    def recognitions(self, camera_id: str | None = None, limit: int = 50) -> list[Recognition]:
        """Newest recognitions first, optionally of one camera."""
        with self._lock:
            if camera_id is not None and camera_id not in self._recognitions:
                raise UnknownCameraError(camera_id)
            pools = ([self._recognitions[camera_id]] if camera_id is not None
                     else list(self._recognitions.values()))
            records = [r for pool in pools for r in pool]
        records.sort(key=lambda r: r.captured_at, reverse=True)
        return records[:limit]

    def events(self, limit: int = 100) -> list[HealthEvent]:
        """Newest camera health events first."""
        with self._lock:
            return list(reversed(self._events))[:limit]
