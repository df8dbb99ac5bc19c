"""``CameraSource``: one camera stream decoded on its own thread, supervised, never behind."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import av.packet
import av.video.frame
import numpy as np

from streams.config import CameraConfig, StreamRole
from streams.decoder import PyAVStream, StreamFailure, StreamInfo, classify_failure
from streams.frames import Frame, FrameSampler, Instant, LatestFrameSlot
from streams.health import FAILURE_STATES, CameraState, HealthEvent, HealthMachine
from streams.packets import PacketTap
from streams.tamper import TamperDetector, frame_stats

logger = logging.getLogger(__name__)

EventSink = Callable[[HealthEvent], None]

_TICK_S = 0.25
_THUMB_WIDTH = 160


@dataclass(frozen=True, slots=True)
class SourceStats:
    """Counters of one source since ``start()``.

    Attributes:
        attempts: Connection attempts (the first one included).
        reconnects: Attempts after the first.
        decoded: Frames decoded.
        delivered: Frames handed to the consumer.
        dropped: Decoded frames never handed out (rate sampling or a slow consumer).
        state: Current health state (None before ``start()``).
        reason: Why the camera is in that state (credentials masked).
        info: Codec, size and nominal fps of the current/last connection.
        reader_cpu_s: CPU seconds of the reading thread up to its last frame: receiving,
            demuxing, decoding (all of it with ``decode_threads`` 1, the default; FFmpeg's
            own threads otherwise, or the GPU with ``decode_device`` cuda, are not in it),
            sampling, BGR conversion and tamper thumbnails.
    """

    attempts: int
    reconnects: int
    decoded: int
    delivered: int
    dropped: int
    state: CameraState | None
    reason: str
    info: StreamInfo | None
    reader_cpu_s: float = 0.0


class CameraSource:
    """Reads one camera stream on a background thread with latest-frame semantics.

    ``latest()`` (or iteration) returns the newest frame sampled at ``detect_fps``; frames the
    consumer did not take in time are dropped and counted, never queued. Health events go to
    ``on_event`` (called from the source's threads; keep it quick, e.g. ``queue.put``).

    Args:
        config: The camera.
        role: Which stream to read (the detection sub-stream by default).
        on_event: Receives every :class:`HealthEvent`.
        rng: Randomness for backoff jitter (inject a seeded one in tests).
    """

    def __init__(self, config: CameraConfig, *, role: StreamRole = StreamRole.DETECT,
                 on_event: EventSink | None = None, rng: random.Random | None = None) -> None:
        self.config = config
        self.role = role
        self._on_event = on_event
        self._rng = rng or random.Random()
        self._slot = LatestFrameSlot()
        self._machine = HealthMachine(config.id, config.stall_after_s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._attempts = 0
        self._decoded = 0
        self._reader_cpu_s = 0.0
        self._cpu_origin = 0.0
        self._info: StreamInfo | None = None
        self.packets = PacketTap(config.id)
        """Encoded packets for clips and live view (see :mod:`streams.packets`)."""

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the decoder and watchdog threads (returns at once; frames follow)."""
        if self._threads:
            raise RuntimeError(f"camera {self.config.id} already started")
        self._stop.clear()
        self._slot.reopen()
        self._emit(self._machine.start(Instant.now()))
        name = f"camera-{self.config.id}-{self.role.value}"
        self._threads = [
            threading.Thread(target=self._run, name=name, daemon=True),
            threading.Thread(target=self._watch, name=f"{name}-watchdog", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        logger.info("camera %s: started (%s)", self.config.id, self.config.masked(self.role))

    def stop(self, timeout: float | None = None) -> None:
        """Stop and join the threads (waits at most about the read timeout)."""
        self._stop.set()
        self._slot.close()
        join_timeout = timeout if timeout is not None else self.config.open_timeout_s + 5.0
        for thread in self._threads:
            thread.join(join_timeout)
            if thread.is_alive():
                logger.warning("camera %s: thread %s did not stop in %.1f s",
                               self.config.id, thread.name, join_timeout)
        self._threads = []
        logger.info("camera %s: stopped", self.config.id)

    def __enter__(self) -> CameraSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- consumer side ---------------------------------------------------------------------
    def latest(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not returned before; waits up to ``timeout`` s (None: forever).

        Returns None on timeout or once the source is stopped.
        """
        return self._slot.take(timeout)

    def __iter__(self) -> Iterator[Frame]:
        """Frames at the detection rate until ``stop()``."""
        while not self._stop.is_set():
            frame = self._slot.take(1.0)
            if frame is not None:
                yield frame

    @property
    def state(self) -> CameraState | None:
        return self._machine.state

    def stats(self) -> SourceStats:
        with self._lock:
            return SourceStats(
                attempts=self._attempts, reconnects=max(self._attempts - 1, 0),
                decoded=self._decoded, delivered=self._slot.delivered,
                dropped=self._decoded - self._slot.delivered, state=self._machine.state,
                reason=self._machine.reason, info=self._info,
                reader_cpu_s=self._reader_cpu_s,
            )

    # -- threads ---------------------------------------------------------------------------
    def _run(self) -> None:
        retry = 0
        self._cpu_origin = time.thread_time()
        while not self._stop.is_set():
            with self._lock:
                self._attempts += 1
            if self._read_once():
                retry = 0
            if self._stop.is_set():
                break
            delay = self.config.backoff.delay(retry, self._rng.random())
            retry += 1
            logger.debug("camera %s: retry %d in %.2f s", self.config.id, retry, delay)
            self._stop.wait(delay)

    def _read_once(self) -> bool:
        """One connection: decode until failure or stop. True if any frame arrived."""
        config, got_frame = self.config, False
        sampler = FrameSampler(config.detect_fps)
        tamper_sampler = FrameSampler(config.tamper.sample_fps)
        tamper = TamperDetector(config.tamper) if config.tamper.enabled else None
        stream = PyAVStream(
            config.stream_url(self.role), transport=config.transport,
            open_timeout_s=config.open_timeout_s, read_timeout_s=config.read_timeout_s,
            watchdog_s=config.watchdog_s, decode_threads=config.decode_threads,
            is_file=config.is_file(self.role), secrets=config.secrets(),
            decode_device=config.decode_device)
        try:
            with stream:
                with self._lock:
                    self._info = stream.info
                logger.info("camera %s: opened %s %s", config.id, config.masked(self.role),
                            stream.info)
                assembler = stream.packet_source(self.packets)
                tap = self.packets

                def on_packet(packet: av.packet.Packet[Any]) -> None:
                    if tap.active:
                        assembler.push(packet)

                for av_frame in stream.frames(self._stop.is_set, on_packet):
                    got_frame = True
                    self._on_frame(av_frame, sampler, tamper_sampler, tamper)
        except Exception as exc:  # every failure becomes a state, never a dead thread
            failure = classify_failure(exc, config.secrets())
            self._fail(failure)
        return got_frame

    def _on_frame(self, av_frame: av.video.frame.VideoFrame, sampler: FrameSampler,
                  tamper_sampler: FrameSampler, tamper: TamperDetector | None) -> None:
        now = Instant.now()
        with self._lock:
            seq = self._decoded
            self._decoded += 1
            self._reader_cpu_s = time.thread_time() - self._cpu_origin
            events = self._machine.frame(now)
        self._emit(events)
        if sampler.due(now.monotonic):
            image = av_frame.to_ndarray(format="bgr24")
            self._slot.put(Frame(self.config.id, np.ascontiguousarray(image), now, seq,
                                 stream=self.role.value))
        if tamper is not None and tamper_sampler.due(now.monotonic):
            height = max(2, round(av_frame.height * _THUMB_WIDTH / max(av_frame.width, 1)))
            grey = av_frame.reformat(width=_THUMB_WIDTH, height=height, format="gray")
            stats = frame_stats(np.ascontiguousarray(grey.to_ndarray()))
            for change in tamper.update(stats, now.monotonic):
                with self._lock:
                    event = self._machine.tamper(change.kind, change.active, change.reason, now)
                self._emit([event])

    def _fail(self, failure: StreamFailure) -> None:
        self._slot.clear()  # a frame from before the failure is stale: never deliver it
        if self._stop.is_set():
            return
        with self._lock:
            events = self._machine.failure(failure.state, failure.reason, Instant.now())
        logger.debug("camera %s: attempt failed: %s", self.config.id, failure.reason)
        self._emit(events)

    def _watch(self) -> None:
        while not self._stop.wait(_TICK_S):
            with self._lock:
                events = self._machine.tick(Instant.now())
            if events:
                self._slot.clear()
                logger.warning("camera %s: %s", self.config.id, events[0].reason)
            self._emit(events)

    def _emit(self, events: list[HealthEvent]) -> None:
        for event in events:
            if not event.is_tamper:
                level = logging.WARNING if event.state in FAILURE_STATES else logging.INFO
                logger.log(level, "camera %s: %s -> %s (%s)", event.camera_id,
                            event.previous.value if event.previous else "-", event.state.value,
                            event.reason)
            else:
                logger.warning("camera %s: tamper %s %s (%s)", event.camera_id,
                               event.tamper.value if event.tamper else "?",
                               "raised" if event.active else "cleared", event.reason)
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception:
                    logger.exception("camera %s: health event handler failed", event.camera_id)
