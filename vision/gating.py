"""Motion gating: skip inference on sampled frames that did not change, find where they did.

A frame is compared with the last frame that was *analysed* (not the previous sampled one), on
a small grey thumbnail (``thumb_width`` pixels wide, Gaussian blurred so sensor noise and
compression shimmer do not count). Pixels whose grey level moved by more than
``pixel_threshold`` are "changed"; the frame is worth inference when the changed share of the
thumbnail reaches ``min_changed_fraction``, and at least every ``keepalive_s`` seconds anyway
(a parked car or a person standing still stays visible to the rules).

The changed pixels also give motion regions (boxes of the connected changed areas, grown by a
margin and merged when they overlap) in full-frame pixels, so detectors can run on crops.

Everything here is pure: the caller passes images and times; no clock, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from vision.types import F32, Image

Grey = npt.NDArray[np.uint8]
GateReason = Literal["first", "motion", "keepalive", "still"]


class GatingConfig(BaseModel):
    """Thresholds of the motion gate (one config may serve every camera)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thumb_width: int = Field(default=160, ge=32, le=640,
                             description="Width in pixels of the grey thumbnail compared.")
    blur_kernel: int = Field(default=5, ge=1, le=31,
                             description="Gaussian blur kernel size (odd) on the thumbnail.")
    pixel_threshold: int = Field(default=20, ge=1, le=255,
                                 description="Grey-level change above which a pixel is changed.")
    min_changed_fraction: float = Field(default=0.002, ge=0, le=1,
                                        description="Share of changed thumbnail pixels that "
                                                    "makes a frame worth inference.")
    min_region_pixels: int = Field(default=6, ge=1,
                                   description="Connected changed areas smaller than this "
                                               "(thumbnail pixels) give no region.")
    region_margin: float = Field(default=0.25, ge=0, le=2,
                                 description="Regions grow by this fraction of their size on "
                                             "each side (a moving person's edges change less).")
    keepalive_s: float = Field(default=5.0, gt=0, le=3600,
                               description="Analyse at least this often even without motion.")

    @field_validator("blur_kernel")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"blur_kernel must be odd, got {value}")
        return value


@dataclass(frozen=True, slots=True)
class Motion:
    """What changed between two thumbnails.

    Attributes:
        changed_fraction: share of thumbnail pixels that changed, in [0, 1].
        regions: ``(N, 4)`` float32 xyxy boxes of the changed areas, in full-frame pixels.
    """

    changed_fraction: float
    regions: F32


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Whether to analyse one sampled frame, and where.

    Attributes:
        analyse: run inference on this frame.
        reason: ``first`` (no reference yet), ``motion``, ``keepalive`` or ``still`` (skipped).
        changed_fraction: share of the thumbnail that changed vs the last analysed frame.
        regions: ``(N, 4)`` float32 xyxy motion regions in frame pixels when the frame is
            analysed because of motion; ``None`` means the whole frame (first, keepalive).
    """

    analyse: bool
    reason: GateReason
    changed_fraction: float
    regions: F32 | None


def thumbnail(image: Image, config: GatingConfig) -> Grey:
    """A blurred grey ``(h, thumb_width)`` uint8 thumbnail of a BGR ``(H, W, 3)`` uint8 image."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected a non-empty (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    width = min(config.thumb_width, w)
    height = max(1, round(h * width / w))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    if config.blur_kernel > 1:
        grey = cv2.GaussianBlur(grey, (config.blur_kernel, config.blur_kernel), 0)
    return np.asarray(grey, np.uint8)


def merge_boxes(boxes: F32) -> F32:
    """Merge overlapping xyxy boxes into their union until none overlap (``(M, 4)`` float32)."""
    merged = [b.astype(np.float32) for b in boxes.reshape(-1, 4)]
    changed = True
    while changed:
        changed = False
        out: list[F32] = []
        for box in merged:
            for k, other in enumerate(out):
                if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                    out[k] = np.array([min(box[0], other[0]), min(box[1], other[1]),
                                       max(box[2], other[2]), max(box[3], other[3])], np.float32)
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return np.asarray(merged, np.float32).reshape(-1, 4)


def detect_motion(reference: Grey, current: Grey, frame_size: tuple[int, int],
                  config: GatingConfig) -> Motion:
    """Changed share and motion regions between two thumbnails of one camera.

    Args:
        reference: thumbnail of the last analysed frame.
        current: thumbnail of the new frame (same shape).
        frame_size: full frame (width, height) the regions are scaled to.
        config: thresholds.

    Raises:
        ValueError: the thumbnails differ in shape (the camera changed resolution).
    """
    if reference.shape != current.shape:
        raise ValueError(f"thumbnails differ in shape: {reference.shape} vs {current.shape}")
    mask = (cv2.absdiff(reference, current) > config.pixel_threshold).astype(np.uint8)
    fraction = float(mask.mean())
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = stats[1:count, cv2.CC_STAT_AREA] >= config.min_region_pixels
    xywh = stats[1:count][keep, :4].astype(np.float32)
    th, tw = current.shape
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:4]], axis=1)
    grow = np.concatenate([xywh[:, 2:4], xywh[:, 2:4]], axis=1) * config.region_margin
    boxes = boxes + grow * np.array([-1, -1, 1, 1], np.float32)
    fw, fh = frame_size
    boxes *= np.array([fw / tw, fh / th, fw / tw, fh / th], np.float32)
    boxes = np.clip(boxes, 0, np.array([fw, fh, fw, fh], np.float32))
    return Motion(fraction, merge_boxes(boxes))


class MotionGate:
    """The gate of one camera: keeps the last analysed thumbnail and time.

    Pure apart from that state: times are passed in (seconds, monotonic).
    """

    def __init__(self, config: GatingConfig) -> None:
        self.config = config
        self._reference: Grey | None = None
        self._analysed_at: float | None = None

    def check(self, image: Image, now: float) -> GateDecision:
        """Decide for one sampled frame; an analysed frame becomes the new reference."""
        thumb = thumbnail(image, self.config)
        size = (int(image.shape[1]), int(image.shape[0]))
        if self._reference is None or self._reference.shape != thumb.shape or self._analysed_at is None:
            return self._analyse(thumb, now, GateDecision(True, "first", 1.0, None))
        motion = detect_motion(self._reference, thumb, size, self.config)
        if motion.changed_fraction >= self.config.min_changed_fraction and len(motion.regions):
            return self._analyse(thumb, now, GateDecision(True, "motion", motion.changed_fraction,
                                                          motion.regions))
        if now - self._analysed_at >= self.config.keepalive_s:
            return self._analyse(thumb, now, GateDecision(True, "keepalive", motion.changed_fraction,
                                                          None))
        return GateDecision(False, "still", motion.changed_fraction, None)

    def _analyse(self, thumb: Grey, now: float, decision: GateDecision) -> GateDecision:
        self._reference = thumb
        self._analysed_at = now
        return decision
