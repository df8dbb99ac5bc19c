"""The live frame pipeline: every camera's sampled frames through one shared cascade.

Threads:

* each :class:`~streams.source.CameraSource` decodes on its own threads (latest-frame slot);
* one light *pump* per camera moves each sampled frame into that camera's bounded queue
  (``max_queue`` frames). It never waits on analysis: when the queue is full the **oldest**
  queued frame is dropped and counted (``pipeline_dropped``), so readers never block and
  latency stays bounded under overload;
* ``workers`` analysis threads take the oldest queued frame of up to ``frames_per_call``
  cameras, round-robin (a camera is worked on by one worker at a time, so its frames keep
  their order and its motion gate sees them in sequence), gate them, and run the frames worth
  it through :meth:`vision.cascade.Cascade.analyse` (live policy) as one call. With an engine-backed cascade
  the model calls of concurrent workers also meet in the batchers, so one ONNX batch holds
  frames of many cameras.

With ``pacing`` set (the default in the service: ``pipeline.adaptive``), a
:class:`vision.pacing.RateController` lowers every camera's *effective* sample rate by the same
fraction when frames are dropped or queues stay full, never below a floor, and raises them back
when the backlog is gone: the pump skips the frames pacing does not want (counted as ``paced``,
not ``dropped``), so under steady overload frames are evenly thinned instead of the oldest being
dropped at random. A camera entering or leaving degradation is logged once.

With ``levers`` (:mod:`vision.levers`), a camera that runs YOLO may run it only on every k-th
analysed frame (a :class:`~vision.levers.Carrier` carries the boxes between, counted as
``carried``), and with ``hints`` (the alarm intake) faces of decided tracks are not embedded and
vehicles with a decided plate not read again.

``on_result`` gets a :class:`FrameResult` for every sampled frame that was not dropped or paced
(gated frames included, with ``skipped_by_gate`` set and an empty recognition).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from pydantic import ConfigDict, Field

from streams.config import CameraConfig
from streams.frames import Frame
from streams.health import HealthEvent
from streams.source import CameraSource
from vision.cascade import Cascade, FrameTask, ImageRecognition
from vision.gating import GateDecision, GatingConfig, MotionGate
from vision.levers import Carrier, Levers, Plan, Settled, TrackHints
from vision.pacing import Load, Pacer, PacingConfig, RateController
from vision.policy import RecognitionPolicy
from vision.types import F32

logger = logging.getLogger(__name__)

_LATENCY_WINDOW = 4096
_DROP_LOG_INTERVAL_S = 10.0


class PipelineSettings(Levers):
    """How sampled frames are scheduled through the models (the levers' keys included)."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    workers: int = Field(2, ge=1, le=64, description="Analysis threads (about the number of cores on CPU).")
    max_queue: int = Field(3, ge=1, le=100,
                           description="Sampled frames queued per camera; beyond, the oldest is dropped.")
    frames_per_call: int = Field(4, ge=1, le=64,
                                 description="Most frames (of distinct cameras) analysed in one call.")
    gating: GatingConfig | None = Field(
        default_factory=GatingConfig,
        description="Motion gating (skip unchanged frames, detect on moving regions); null disables it.")
    adaptive: bool = Field(True, description="Under overload, lower every camera's sampled rate fairly "
                                             "(down to a floor) instead of dropping frames.")
    pacing: PacingConfig = Field(default_factory=PacingConfig,
                                 description="Thresholds and steps of the adaptive rates.")
    # The service's defaults of the levers (off in Levers itself): both paid in `bench pipeline
    # --levers ... --replay-seconds` without losing a decision (benchmarks/README.md).
    detect_every: int = Field(2, ge=1, le=10,
                              description="Run the person/vehicle detector on every k-th analysed frame of "
                                          "a camera; between, carry its boxes while motion is small "
                                          "(1: every frame). Needs motion gating.")
    undecided_only: bool = Field(True, description="Embed faces and read plates only on tracks not decided "
                                                   "yet (decided ones are re-checked every recheck_s).")

    def levers(self) -> Levers:
        """The per-frame levers of these settings (detect_every, undecided_only ...)."""
        return Levers.model_validate(self.model_dump(include=set(Levers.model_fields)))


@dataclass(frozen=True, slots=True)
class FrameResult:
    """What the pipeline made of one sampled frame.

    Attributes:
        camera_id: the camera's configured id.
        frame: the frame (image, capture time, sequence number).
        recognition: faces, vehicles and plates found (empty when gated).
        analysis_ms: time of this frame's analysis call (shared by the frames of that call).
        skipped_by_gate: the motion gate judged the frame unchanged; no inference ran.
        latency_ms: from the frame leaving the decoder to this result, in milliseconds.
        regions: the motion regions analysed (``(N, 4)`` float32 xyxy), ``None``: whole frame.
        carried: YOLO did not run; the people and vehicles are carried from earlier frames.
    """

    camera_id: str
    frame: Frame
    recognition: ImageRecognition
    analysis_ms: float
    skipped_by_gate: bool
    latency_ms: float = 0.0
    regions: F32 | None = None
    carried: bool = False


@dataclass(frozen=True, slots=True)
class CameraCounters:
    """Per-camera counters since ``start()`` and latency percentiles of recent results.

    Attributes:
        sampled: frames taken from the source (at ``detect_fps``).
        analysed: frames run through the cascade.
        gated: frames skipped by the motion gate (a result is still emitted).
        dropped: frames dropped because analysis fell behind (``pipeline_dropped``).
        paced: frames skipped because the camera's rate was lowered under load (not dropped).
        failed: frames whose analysis raised.
        pending: frames queued now.
        latency_p50_ms: median capture -> result of the last results (None before any).
        latency_p99_ms: 99th percentile of the same.
        effective_fps: the rate sampled frames are analysed at now (``detect_fps`` unless degraded).
        degraded: the rate is lowered under load.
        carried: analysed frames on which YOLO did not run (boxes carried, ``detect_every``).
    """

    sampled: int
    analysed: int
    gated: int
    dropped: int
    failed: int
    pending: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    paced: int = 0
    effective_fps: float = 0.0
    degraded: bool = False
    carried: int = 0

    @property
    def dropped_fraction(self) -> float:
        return self.dropped / self.sampled if self.sampled else 0.0


@dataclass(slots=True)
class _Lane:
    """One camera's queue, gate and counters (guarded by the pipeline's condition)."""

    config: CameraConfig
    source: CameraSource
    gate: MotionGate | None
    carrier: Carrier | None = None
    queue: collections.deque[Frame] = field(default_factory=collections.deque)
    busy: bool = False
    sampled: int = 0
    analysed: int = 0
    gated: int = 0
    dropped: int = 0
    failed: int = 0
    latencies: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=_LATENCY_WINDOW))
    dropped_logged: int = 0
    drop_logged_at: float = 0.0
    paced: int = 0
    pacer: Pacer = field(default_factory=Pacer)
    fill_sum: float = 0.0
    fill_count: int = 0
    carried: int = 0


class FramePipeline:
    """Cameras -> (gate) -> shared cascade -> ``on_result``, degrading by dropping oldest frames.

    Args:
        cameras: the cameras (each one's ``run`` picks its analyses).
        cascade: a loaded cascade; built with :meth:`Cascade.from_engine` its model calls are
            batched across cameras.
        on_result: called from a worker thread for every result; keep it quick.
        workers: analysis threads (2-3 on a 2-core CPU: one prepares while another infers).
        max_queue: sampled frames queued per camera before the oldest is dropped.
        gating: motion gating thresholds; ``None`` analyses every sampled frame.
        frames_per_call: most frames (of distinct cameras) one worker analyses in one call.
        sources: already built sources by camera id (started and stopped by their owner);
            missing ones are created, started and stopped here.
        on_event: health events of the sources created here.
        pacing: adaptive rates (see :mod:`vision.pacing`); ``None`` samples every camera at its
            ``detect_fps`` always (overload drops the oldest queued frames).
        levers: what to skip per frame (:mod:`vision.levers`); ``None``: nothing.
        hints: which tracks are decided (the alarm intake); ``levers.undecided_only`` needs it.
    """

    def __init__(self, cameras: list[CameraConfig], cascade: Cascade,
                 on_result: Callable[[FrameResult], None], *, workers: int = 2, max_queue: int = 2,
                 gating: GatingConfig | None = None, frames_per_call: int = 4,
                 sources: Mapping[str, CameraSource] | None = None,
                 on_event: Callable[[HealthEvent], None] | None = None,
                 pacing: PacingConfig | None = None, levers: Levers | None = None,
                 hints: TrackHints | None = None) -> None:
        if workers < 1 or max_queue < 1 or frames_per_call < 1:
            raise ValueError("workers, max_queue and frames_per_call must be >= 1")
        if len({c.id for c in cameras}) != len(cameras):
            raise ValueError("camera ids must be unique")
        self.cascade = cascade
        self.on_result = on_result
        self.workers = workers
        self.max_queue = max_queue
        self.gating = gating
        self.frames_per_call = frames_per_call
        self.levers = levers or Levers()
        self.hints = hints if self.levers.undecided_only else None
        carry = self.levers.detect_every > 1 and gating is not None
        given = dict(sources or {})
        self._owned = [c.id for c in cameras if c.id not in given]
        self._lanes = {c.id: _Lane(c, given.get(c.id) or CameraSource(c, on_event=on_event),
                                   MotionGate(gating) if gating else None,
                                   Carrier(self.levers) if carry and _runs_yolo(c) else None)
                       for c in cameras}
        self._order = list(self._lanes)
        self.controller = RateController({c.id: c.detect_fps for c in cameras}, pacing) if pacing else None
        self._tick_at: float | None = None
        self._dropped_at_tick = 0
        self._next = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FramePipeline:
        """Start the sources created here, the pumps and the workers (returns at once)."""
        if self._threads:
            raise RuntimeError("pipeline already started")
        self._stop.clear()
        for camera_id in self._owned:
            self._lanes[camera_id].source.start()
        for lane in self._lanes.values():
            self._threads.append(threading.Thread(target=self._pump, args=(lane,),
                                                  name=f"pump-{lane.config.id}", daemon=True))
        for k in range(self.workers):
            self._threads.append(threading.Thread(target=self._work, name=f"analyse-{k}", daemon=True))
        for thread in self._threads:
            thread.start()
        logger.info("pipeline started: %d camera(s), %d worker(s), gating %s, detect every %d, "
                    "undecided only %s", len(self._lanes), self.workers, "on" if self.gating else "off",
                    self.levers.detect_every, "on" if self.hints else "off")
        return self

    def stop(self) -> None:
        """Stop pumps and workers (a frame being analysed is finished) and the owned sources."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for camera_id in self._owned:
            self._lanes[camera_id].source.stop()
        for thread in self._threads:
            thread.join(10)
        self._threads = []
        logger.info("pipeline stopped")

    def __enter__(self) -> FramePipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- read side -------------------------------------------------------------------------
    @property
    def sources(self) -> dict[str, CameraSource]:
        return {camera_id: lane.source for camera_id, lane in self._lanes.items()}

    def counters(self) -> dict[str, CameraCounters]:
        """Per-camera counters and capture -> result latency percentiles."""
        with self._cond:
            return {camera_id: self._counters(lane) for camera_id, lane in self._lanes.items()}

    def _counters(self, lane: _Lane) -> CameraCounters:
        recent = list(lane.latencies)
        cam = lane.config.id
        return CameraCounters(lane.sampled, lane.analysed, lane.gated, lane.dropped, lane.failed,
                              len(lane.queue), percentile(recent, 50), percentile(recent, 99), lane.paced,
                              self.controller.rate(cam) if self.controller else lane.config.detect_fps,
                              self.controller.degraded(cam) if self.controller else False, lane.carried)

    def latencies_ms(self) -> dict[str, list[float]]:
        """The recent capture -> result latencies per camera (milliseconds)."""
        with self._cond:
            return {camera_id: list(lane.latencies) for camera_id, lane in self._lanes.items()}

    # -- threads ---------------------------------------------------------------------------
    def _pump(self, lane: _Lane) -> None:
        while not self._stop.is_set():
            frame = lane.source.latest(timeout=0.5)
            if frame is None:
                continue
            now = frame.captured_at.monotonic
            with self._cond:
                lane.sampled += 1
                self._pace_tick(now)
                if self.controller is not None and not lane.pacer.keep(
                        self.controller.rate(lane.config.id) / lane.config.detect_fps):
                    lane.paced += 1
                    continue
                lane.fill_sum += len(lane.queue) / self.max_queue
                lane.fill_count += 1
                if len(lane.queue) >= self.max_queue:
                    lane.queue.popleft()
                    lane.dropped += 1
                lane.queue.append(frame)
                self._cond.notify()
            self._log_drops(lane, now)

    def _pace_tick(self, now: float) -> None:
        """Once per ``tick_s``: tell the controller what the queues saw (holding ``_cond``)."""
        if self.controller is None:
            return
        if self._tick_at is None:
            self._tick_at = now
            return
        if now - self._tick_at < self.controller.config.tick_s:
            return
        lanes = self._lanes.values()
        dropped = sum(lane.dropped for lane in lanes)
        count = sum(lane.fill_count for lane in lanes)
        backlog = sum(lane.fill_sum for lane in lanes) / count if count else 0.0
        load = Load(dropped - self._dropped_at_tick, backlog)
        for lane in lanes:
            lane.fill_sum, lane.fill_count = 0.0, 0
        self._tick_at, self._dropped_at_tick = now, dropped
        for change in self.controller.update(now, load):
            if change.degraded:
                logger.warning("camera %s: degraded: analysis cannot keep up, sampling at %.2g of %.2g fps",
                               change.camera_id, change.effective_fps, change.detect_fps)
            else:
                logger.info("camera %s: no longer degraded: sampling at %.2g fps again", change.camera_id,
                            change.effective_fps)

    def _log_drops(self, lane: _Lane, now: float) -> None:
        if lane.dropped > lane.dropped_logged and now - lane.drop_logged_at >= _DROP_LOG_INTERVAL_S:
            logger.warning("camera %s: analysis falling behind: %d sampled frame(s) dropped "
                           "(%d in total of %d)", lane.config.id, lane.dropped - lane.dropped_logged,
                           lane.dropped, lane.sampled)
            lane.dropped_logged, lane.drop_logged_at = lane.dropped, now

    def _take(self) -> list[tuple[_Lane, Frame]]:
        """Wait for work; the oldest frame of up to ``frames_per_call`` idle cameras, round-robin."""
        with self._cond:
            while not self._stop.is_set():
                picked: list[tuple[_Lane, Frame]] = []
                count = len(self._order)
                for k in range(count):
                    lane = self._lanes[self._order[(self._next + k) % count]]
                    if lane.queue and not lane.busy:
                        lane.busy = True
                        picked.append((lane, lane.queue.popleft()))
                        if len(picked) == self.frames_per_call:
                            self._next = (self._next + k + 1) % count
                            break
                else:
                    self._next = (self._next + 1) % count
                if picked:
                    return picked
                self._cond.wait(0.5)
            return []

    def _work(self) -> None:
        while not self._stop.is_set():
            picked = self._take()
            if picked:
                try:
                    self._analyse(picked)
                finally:
                    with self._cond:
                        for lane, _ in picked:
                            lane.busy = False
                        self._cond.notify_all()

    def _analyse(self, picked: list[tuple[_Lane, Frame]]) -> None:
        decisions = [lane.gate.check(frame.image, frame.captured_at.monotonic) if lane.gate
                     else GateDecision(True, "first", 1.0, None) for lane, frame in picked]
        todo = [k for k, d in enumerate(decisions) if d.analyse]
        t0 = time.perf_counter()
        found: dict[int, ImageRecognition] = {}
        plans = {k: self._plan(*picked[k], decisions[k]) for k in todo}
        failed = False
        if todo:
            tasks = [FrameTask(picked[k][1].image, picked[k][0].config.run, decisions[k].regions,
                               plans[k].objects, self._settled(*picked[k])) for k in todo]
            try:
                found = dict(zip(todo, self.cascade.analyse(tasks, RecognitionPolicy.live()), strict=True))
            except Exception:
                failed = True
                logger.exception("analysis of %d frame(s) failed (cameras %s)", len(todo),
                                 ", ".join(picked[k][0].config.id for k in todo))
            for k in (k for k in found if plans[k].detect):
                lane, frame = picked[k]
                if lane.carrier is not None:
                    lane.carrier.detected(found[k].objects, frame.captured_at.monotonic)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        for k, ((lane, frame), decision) in enumerate(zip(picked, decisions, strict=True)):
            if decision.analyse and failed:
                with self._cond:
                    lane.failed += 1
                continue
            latency = (time.monotonic() - frame.captured_at.monotonic) * 1000
            carried = k in plans and not plans[k].detect
            result = FrameResult(lane.config.id, frame, found.get(k, ImageRecognition()),
                                 elapsed_ms if decision.analyse else 0.0, not decision.analyse,
                                 latency, decision.regions, carried)
            with self._cond:
                lane.analysed += decision.analyse
                lane.carried += carried
                lane.gated += not decision.analyse
                lane.latencies.append(latency)
            try:
                self.on_result(result)
            except Exception:
                logger.exception("camera %s: result handler failed on frame %d", lane.config.id, frame.seq)


    @staticmethod
    def _plan(lane: _Lane, frame: Frame, decision: GateDecision) -> Plan:
        """Detect or carry (the lane's carrier decides; without one, always detect)."""
        if lane.carrier is None:
            return Plan(True, "off")
        return lane.carrier.plan(decision, frame.captured_at.monotonic)

    def _settled(self, lane: _Lane, frame: Frame) -> Settled | None:
        """The camera's decided tracks now (``None``: lever off, or the hints failed: full work)."""
        if self.hints is None:
            return None
        try:
            return self.hints.settled(lane.config.id, frame.captured_at.monotonic, self.levers.recheck_s)
        except Exception:
            logger.exception("camera %s: track hints failed on frame %d; analysing in full",
                             lane.config.id, frame.seq)
            return None


class SerialLane:
    """One camera's frames through the pipeline's per-frame steps, one at a time, no threads.

    The same gate, :class:`~vision.levers.Carrier` and track hints as :class:`FramePipeline`, for
    benchmarks and tests that feed frames of their own (a rendered car pass) in time order.
    """

    def __init__(self, camera: CameraConfig, cascade: Cascade, *, gating: GatingConfig | None = None,
                 levers: Levers | None = None, hints: TrackHints | None = None) -> None:
        self.camera = camera
        self.cascade = cascade
        self.levers = levers or Levers()
        self.hints = hints if self.levers.undecided_only else None
        self.gate = MotionGate(gating) if gating else None
        self.carrier = (Carrier(self.levers) if self.levers.detect_every > 1 and gating and _runs_yolo(camera)
                        else None)

    def analyse(self, frame: Frame) -> FrameResult:
        """Gate, plan and analyse one frame (frames in time order); the result the pipeline would give."""
        at = frame.captured_at.monotonic
        decision = self.gate.check(frame.image, at) if self.gate else GateDecision(True, "first", 1.0, None)
        if not decision.analyse:
            return FrameResult(self.camera.id, frame, ImageRecognition(), 0.0, True, 0.0, None)
        plan = self.carrier.plan(decision, at) if self.carrier else Plan(True, "off")
        settled = self.hints.settled(self.camera.id, at, self.levers.recheck_s) if self.hints else None
        task = FrameTask(frame.image, self.camera.run, decision.regions, plan.objects, settled)
        t0 = time.perf_counter()
        (found,) = self.cascade.analyse([task], RecognitionPolicy.live())
        if plan.detect and self.carrier is not None:
            self.carrier.detected(found.objects, at)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        return FrameResult(self.camera.id, frame, found, elapsed_ms, False, elapsed_ms, decision.regions,
                           not plan.detect)


def _runs_yolo(camera: CameraConfig) -> bool:
    return bool({"vehicles", "plates"} & set(camera.run))


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, None when empty."""
    return float(np.percentile(np.asarray(values, np.float64), q)) if values else None

