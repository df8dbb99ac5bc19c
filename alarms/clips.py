"""Alarm clips: when an alarm is raised for a camera, write its MP4 once the "after" seconds have passed.

Each camera's :class:`~streams.packets.PacketBuffer` holds its last seconds of encoded video;
:class:`ClipRecorder` listens to the store's committed events and, ``post_s`` after an
``alarm.raised``, cuts ``[occurred_at - pre_s, occurred_at + post_s]`` (from the key frame before)
into ``<snapshots>/YYYY/MM/DD/<alarm id>.mp4``, next to the snapshot, where the store finds it
(``clip_url``), tells receivers (``alarm.clip_ready``) and retention deletes it.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from alarms.config import ClipSettings
from streams.clips import ClipInfo, write_mp4
from streams.packets import PacketBuffer

logger = logging.getLogger(__name__)

WRITE_MARGIN_S = 0.5
"""Wait this much past the window's end, so that the packets arriving last are in it."""
LATE_WAIT_S = 5.0
"""A camera running late (its newest packet older than the window's end) is waited for this long more."""


class ClipTargets(Protocol):
    """Where clips go (the alarm store)."""

    def clip_target(self, alarm_id: str, occurred_at: dt.datetime) -> Path: ...

    def clip_ready(self, alarm_id: str) -> object:
        """The clip is in place: tell everyone (``alarm.clip_ready``)."""
        ...


@dataclass(order=True, slots=True)
class _Pending:
    due: float
    deadline: float = field(compare=False)
    alarm_id: str = field(compare=False)
    camera_id: str = field(compare=False)
    occurred_at: dt.datetime = field(compare=False)


class ClipRecorder:
    """Writes one clip per alarm of a buffered camera, on its own thread.

    Args:
        targets: the alarm store (where each clip goes).
        buffers: camera id -> its packet buffer (cameras without one get no clips).
        settings: the window around the alarm.
    """

    def __init__(self, targets: ClipTargets, buffers: Mapping[str, PacketBuffer],
                 settings: ClipSettings) -> None:
        self._targets = targets
        self._buffers = dict(buffers)
        self._settings = settings
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._busy = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.written = 0
        self.skipped = 0

    def start(self) -> ClipRecorder:
        self._thread = threading.Thread(target=self._run, name="alarm-clips", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Write the clips still due with what the buffers hold, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def on_event(self, event_type: str, envelope: dict[str, Any]) -> None:
        """A store listener: schedule the clip of each raised alarm of a buffered camera."""
        if event_type != "alarm.raised":
            return
        data = envelope.get("data", {})
        camera_id = data.get("camera_id")
        if camera_id not in self._buffers:
            return
        occurred_at = dt.datetime.fromisoformat(str(data["occurred_at"]).replace("Z", "+00:00"))
        self.schedule(str(data["id"]), str(camera_id), occurred_at)

    def schedule(self, alarm_id: str, camera_id: str, occurred_at: dt.datetime) -> None:
        due = time.monotonic() + max(occurred_at.timestamp() + self._settings.post_s + WRITE_MARGIN_S
                                     - time.time(), 0.0)
        with self._cond:
            heapq.heappush(self._pending, _Pending(due, due + LATE_WAIT_S, alarm_id, camera_id, occurred_at))
            self._cond.notify_all()

    def idle(self, timeout: float) -> bool:
        """Wait until no clip is pending or being written (tests); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._pending and (self._stopping or self._pending[0].due <= time.monotonic()):
                        job = heapq.heappop(self._pending)
                        self._busy += 1
                        break
                    if self._stopping:
                        return
                    delay = self._pending[0].due - time.monotonic() if self._pending else None
                    self._cond.wait(delay)
            if self._late(job):
                continue
            try:
                self._write(job)
            except Exception:
                logger.exception("alarm %s: writing its clip failed", job.alarm_id)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _late(self, job: _Pending) -> bool:
        """Put the job back for a moment if the camera's packets have not reached the window's end."""
        end = job.occurred_at.timestamp() + self._settings.post_s
        newest = self._buffers[job.camera_id].newest_wall()
        if self._stopping or newest is None or newest >= end or time.monotonic() >= job.deadline:
            return False
        with self._cond:
            job.due = time.monotonic() + 0.25
            heapq.heappush(self._pending, job)
            self._busy -= 1
            self._cond.notify_all()
        return True

    def _write(self, job: _Pending) -> ClipInfo | None:
        at = job.occurred_at.timestamp()
        packets = self._buffers[job.camera_id].window(at - self._settings.pre_s, at + self._settings.post_s)
        if not packets:
            self.skipped += 1
            logger.warning("alarm %s: no buffered video of camera %s for a clip", job.alarm_id, job.camera_id)
            return None
        target = self._targets.clip_target(job.alarm_id, job.occurred_at)
        started = time.monotonic()
        info = write_mp4(packets, target)
        self.written += 1
        self._targets.clip_ready(job.alarm_id)
        logger.info("alarm %s: clip of camera %s written: %.1f s, %d packets (%.0f ms)", job.alarm_id,
                    job.camera_id, info.duration_s, info.packets, (time.monotonic() - started) * 1000)
        return info
