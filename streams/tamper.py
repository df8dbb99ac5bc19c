"""Tamper checks on frame statistics: frozen image, covered/black lens, sudden loss of detail.

:func:`frame_stats` reduces a grey thumbnail to a few numbers; :class:`TamperDetector` is pure
(time passed in) and reports when a verdict changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from streams.config import TamperConfig
from streams.health import TamperKind


@dataclass(frozen=True, slots=True)
class FrameStats:
    """Statistics of one grey thumbnail.

    Attributes:
        thumb: ``(h, w)`` uint8 grey thumbnail (about 160 pixels wide).
        mean: Mean grey level, 0-255.
        std: Standard deviation of the grey level.
        sharpness: Variance of the Laplacian (high for detailed, focused images).
    """

    thumb: NDArray[np.uint8]
    mean: float
    std: float
    sharpness: float


@dataclass(frozen=True, slots=True)
class TamperChange:
    """A tamper verdict changed: ``active`` True when raised, False when cleared."""

    kind: TamperKind
    active: bool
    reason: str


def frame_stats(grey: NDArray[np.uint8]) -> FrameStats:
    """Statistics of a ``(h, w)`` uint8 grey thumbnail."""
    if grey.ndim != 2 or grey.dtype != np.uint8:
        raise ValueError(f"expected a (h, w) uint8 grey image, got {grey.shape} {grey.dtype}")
    mean, std = cv2.meanStdDev(grey)
    laplacian = cv2.Laplacian(grey, cv2.CV_32F)
    return FrameStats(grey, float(mean[0, 0]), float(std[0, 0]), float(laplacian.var()))


def thumbnail(bgr: NDArray[np.uint8], width: int = 160) -> NDArray[np.uint8]:
    """A grey thumbnail ``width`` pixels wide of a ``(H, W, 3)`` BGR image."""
    height = max(2, round(bgr.shape[0] * width / bgr.shape[1]))
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)


class TamperDetector:
    """Tracks frozen/black/defocus conditions over time and reports their changes."""

    def __init__(self, config: TamperConfig) -> None:
        self.config = config
        self.active: set[TamperKind] = set()
        self._since: dict[TamperKind, float] = {}
        self._reference: NDArray[np.uint8] | None = None
        self._reference_at = 0.0
        self._baseline: float | None = None

    def update(self, stats: FrameStats, now: float) -> list[TamperChange]:
        """Feed one sample taken at ``now`` (monotonic seconds); return the verdict changes."""
        black = self._is_black(stats)
        conditions = {
            TamperKind.BLACK: (black, self.config.black_after_s),
            # A black image is also unchanged; report the more specific verdict only.
            TamperKind.FROZEN: (self._is_frozen(stats, now) and not black,
                                self.config.frozen_after_s),
            TamperKind.DEFOCUS: (not black and self._is_defocused(stats),
                                 self.config.defocus_after_s),
        }
        changes = [change for kind, (present, after_s) in conditions.items()
                   if (change := self._judge(kind, present, after_s, now, stats)) is not None]
        # Learn what "sharp" means for this view, but not from frames under suspicion.
        if not black and TamperKind.DEFOCUS not in self._since:
            self._learn_baseline(stats.sharpness)
        return changes

    def reset(self) -> None:
        """Forget history (after a reconnect the image may legitimately differ)."""
        self._since.clear()
        self._reference = None

    def _judge(self, kind: TamperKind, present: bool, after_s: float, now: float,
               stats: FrameStats) -> TamperChange | None:
        if not present:
            self._since.pop(kind, None)
            if kind in self.active:
                self.active.discard(kind)
                return TamperChange(kind, False, f"{kind.value} cleared")
            return None
        # A frozen image has been unchanged since the reference sample was taken.
        start = self._reference_at if kind is TamperKind.FROZEN else now
        since = self._since.setdefault(kind, start)
        if kind in self.active or now - since < after_s:
            return None
        self.active.add(kind)
        return TamperChange(kind, True, self._describe(kind, now - since, stats))

    def _describe(self, kind: TamperKind, lasted: float, stats: FrameStats) -> str:
        if kind is TamperKind.BLACK:
            return f"image black/covered for {lasted:.0f} s (mean {stats.mean:.0f})"
        if kind is TamperKind.FROZEN:
            return f"image unchanged for {lasted:.0f} s"
        return (f"detail lost for {lasted:.0f} s (sharpness {stats.sharpness:.0f}, "
                f"baseline {self._baseline or 0:.0f})")

    def _is_black(self, stats: FrameStats) -> bool:
        return stats.mean <= self.config.black_max_mean and stats.std <= self.config.black_max_std

    def _is_frozen(self, stats: FrameStats, now: float) -> bool:
        reference = self._reference
        if reference is not None and reference.shape == stats.thumb.shape:
            diff = float(cv2.absdiff(reference, stats.thumb).mean())
            if diff <= self.config.frozen_max_diff:
                return True
        self._reference, self._reference_at = stats.thumb, now
        return False

    def _is_defocused(self, stats: FrameStats) -> bool:
        baseline = self._baseline
        return baseline is not None and stats.sharpness < self.config.defocus_ratio * baseline

    def _learn_baseline(self, sharpness: float) -> None:
        alpha = self.config.baseline_alpha
        if self._baseline is None:
            self._baseline = sharpness
        else:
            self._baseline = (1 - alpha) * self._baseline + alpha * sharpness
