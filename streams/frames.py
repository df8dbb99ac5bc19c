"""Frames and latest-frame delivery: the newest frame wins, older ones are counted, not queued."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Instant:
    """A moment on both clocks: ``monotonic`` for intervals, ``wall`` (Unix seconds) for people."""

    monotonic: float
    wall: float

    @classmethod
    def now(cls) -> Instant:
        return cls(time.monotonic(), time.time())


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame handed to detection.

    Attributes:
        camera_id: The camera's configured id.
        image: ``(H, W, 3)`` uint8, BGR (OpenCV order).
        captured_at: When the frame left the decoder.
        seq: Number of frames this source decoded before this one (0-based, never reset by
            reconnects), so gaps between delivered frames are the frames dropped.
        dropped: Frames decoded since the previously delivered frame and never delivered
            (rate sampling plus a consumer slower than ``detect_fps``).
        stream: ``"detect"`` or ``"main"`` (see :class:`streams.config.StreamRole`).
    """

    camera_id: str
    image: NDArray[np.uint8]
    captured_at: Instant
    seq: int
    dropped: int = 0
    stream: str = "detect"

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3) uint8, got {self.image.shape} "
                             f"{self.image.dtype}")
        if self.seq < 0 or self.dropped < 0:
            raise ValueError("seq and dropped must be >= 0")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


class FrameSampler:
    """Decides which decoded frames to keep so that at most ``fps`` per second go out.

    Pure: the caller passes the time. Keeps the long-run rate at ``fps`` even when frames
    arrive with jitter, and never bursts to catch up after a gap.
    """

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period = 1.0 / fps
        self._next: float | None = None

    def due(self, now: float) -> bool:
        """Whether the frame decoded at ``now`` (seconds, monotonic) should be kept."""
        # A little slack so that a 25 fps stream sampled at 5 fps keeps every 5th frame.
        slack = self.period * 0.1
        if self._next is not None and now + slack < self._next:
            return False
        if self._next is None or now - self._next > self.period:
            self._next = now + self.period
        else:
            self._next += self.period
        return True

    def reset(self) -> None:
        self._next = None


class LatestFrameSlot:
    """A one-frame mailbox between the decoder thread and the consumer.

    ``put`` replaces whatever the consumer has not taken yet; ``take`` returns the newest frame
    not taken before, with :attr:`Frame.dropped` set from the sequence gap.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._last_taken_seq: int | None = None
        self._closed = False
        self.delivered = 0
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            self._frame = frame
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget the pending frame (after a disconnect it is stale)."""
        with self._cond:
            self._frame = None

    def close(self) -> None:
        """Wake every waiting consumer; later ``take`` calls return None at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def take(self, timeout: float | None) -> Frame | None:
        """Wait up to ``timeout`` seconds (None: forever) for a new frame.

        Returns None if none came in time or the slot is closed.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout):
                return None
            frame = self._frame
            if frame is None or self._closed:
                return None
            self._frame = None
            previous = self._last_taken_seq
            dropped = frame.seq if previous is None else max(frame.seq - previous - 1, 0)
            self._last_taken_seq = frame.seq
            self.delivered += 1
            self.dropped += dropped
            return dataclasses.replace(frame, dropped=dropped)
