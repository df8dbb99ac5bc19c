"""SCRFD face detector (InsightFace ``scrfd_500m_bnkps``): boxes, scores and 5 landmarks.

Model contract (verified in ``tests/vision/face/test_detectors.py``): input ``(B, 3, H, W)``
float32 RGB ``(x - 127.5) / 128`` with a dynamic batch; nine outputs ``score_{8,16,32}``
``(B, N_s, 1)``, ``bbox_{8,16,32}`` ``(B, N_s, 4)`` and ``kps_{8,16,32}`` ``(B, N_s, 10)``, where
``N_s = (H / s) * (W / s) * 2`` (two anchors per location, anchors of one location adjacent, x
fastest). Boxes and keypoints are distances from the anchor centre in units of the stride.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from vision.detector import DetectorParams, OnnxDetector
from vision.model import register_family
from vision.ops import Letterbox, clip_boxes, letterbox, nms, normalise_nchw
from vision.session import SessionConfig
from vision.types import F32, Detections, Image

logger = logging.getLogger(__name__)

STRIDES = (8, 16, 32)
ANCHORS_PER_LOCATION = 2
DEFAULT_PARAMS = DetectorParams(input_size=(640, 640), score_threshold=0.5, nms_threshold=0.4)
"""Input a multiple of 32; score 0.5 and NMS 0.4 as InsightFace's defaults."""


@dataclass(frozen=True, slots=True)
class LetterboxBatch:
    """What postprocessing needs to map model coordinates back to each image."""

    boxes: tuple[Letterbox, ...]
    sizes: tuple[tuple[int, int], ...]
    """(width, height) of each original image."""


def letterbox_batch(images: Sequence[Image], size: tuple[int, int]) -> tuple[npt.NDArray[np.uint8],
                                                                            LetterboxBatch]:
    """Letterbox every image top-left into ``size`` = (width, height), zero padding.

    Returns:
        ``(B, height, width, 3)`` uint8 canvases (BGR) and the per-image mappings.
    """
    tw, th = size
    canvas = np.empty((len(images), th, tw, 3), np.uint8)
    boxes: list[Letterbox] = []
    for i, image in enumerate(images):
        canvas[i], lb = letterbox(image, size, centre=False, fill=0)
        boxes.append(lb)
    sizes = tuple((int(im.shape[1]), int(im.shape[0])) for im in images)
    return canvas, LetterboxBatch(tuple(boxes), sizes)


def anchor_centres(size: tuple[int, int]) -> tuple[F32, F32]:
    """Anchor centres ``(N, 2)`` (x, y in model pixels) and strides ``(N, 1)``, in output order."""
    width, height = size
    centres: list[F32] = []
    strides: list[F32] = []
    for stride in STRIDES:
        ys, xs = np.mgrid[: height // stride, : width // stride]
        grid = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
        grid = np.repeat(grid, ANCHORS_PER_LOCATION, axis=0)
        centres.append(grid)
        strides.append(np.full((grid.shape[0], 1), stride, np.float32))
    return np.concatenate(centres), np.concatenate(strides)


def distance2bbox(points: F32, distance: F32) -> F32:
    """Decode ``(N, 4)`` (left, top, right, bottom) distances from ``(N, 2)`` points to xyxy."""
    return np.concatenate([points - distance[:, :2], points + distance[:, 2:]], axis=1)


def distance2kps(points: F32, distance: F32) -> F32:
    """Decode ``(N, 2K)`` offsets from ``(N, 2)`` points to ``(N, K, 2)`` keypoints."""
    return points[:, None, :] + distance.reshape(distance.shape[0], distance.shape[1] // 2, 2)


def finish_detections(boxes: F32, scores: F32, kps: F32, lb: Letterbox, image_size: tuple[int, int],
                      params: DetectorParams) -> Detections:
    """NMS in model coordinates, then map to the image and clip boxes to it.

    Args:
        boxes: ``(M, 4)`` float32 xyxy candidates in model pixels.
        scores: ``(M,)`` float32.
        kps: ``(M, 5, 2)`` float32 landmarks in model pixels.
        lb: the image's letterbox mapping.
        image_size: (width, height) of the original image.
        params: the detector's NMS threshold and detection limit.
    """
    keep = nms(boxes, scores, params.nms_threshold)[:params.max_detections]
    xyxy = clip_boxes(lb.to_image(boxes[keep]), *image_size)
    landmarks = lb.to_image(kps[keep])
    valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    return Detections.build(xyxy[valid], scores[keep][valid], landmarks=landmarks[valid])


@register_family
class ScrfdDetector(OnnxDetector[LetterboxBatch, DetectorParams]):
    """SCRFD: ``infer(list of BGR images) -> list[Detections]`` with ``(N, 5, 2)`` landmarks.

    Every image is letterboxed (top-left, zero padding) into the same ``params.input_size``
    (multiples of 32), so a batch gives exactly what each image gives alone.

    Args:
        path: the ONNX file.
        config: session providers and threads.
        name: manifest name.
        params: input size, thresholds (see :data:`DEFAULT_PARAMS`).
        max_batch: most images per model call (larger batches are split).
        workers: CPU data parallelism inside each call (see :class:`~vision.model.OnnxModel`).
    """

    family: ClassVar[str] = "scrfd"

    def __init__(self, path: Path, config: SessionConfig | None = None, *, name: str = "scrfd_500m",
                 params: DetectorParams = DEFAULT_PARAMS, max_batch: int = 8, workers: int = 1) -> None:
        super().__init__(path, config, name=name, max_batch=max_batch, workers=workers)
        self.params = params
        self._prepare()

    def _prepare(self) -> None:
        size = self.params.input_size
        if size[0] % 32 or size[1] % 32:
            raise ValueError(f"input_size must be multiples of 32, got {size}")
        self._centres, self._strides = anchor_centres(size)

    def warmup_input(self) -> F32:
        return np.zeros((1, 3, self.params.input_size[1], self.params.input_size[0]), np.float32)

    def preprocess(self, batch: Sequence[Image]) -> tuple[F32, LetterboxBatch]:
        """BGR images -> ``(B, 3, H, W)`` float32 RGB ``(x - 127.5) / 128`` and the letterboxes."""
        canvas, ctx = letterbox_batch(batch, self.params.input_size)
        return normalise_nchw(canvas, swap_rb=True, mean=127.5, std=128.0), ctx

    def postprocess(self, outputs: list[npt.NDArray[Any]], ctx: LetterboxBatch) -> list[Detections]:
        """Threshold, decode the kept anchors, NMS, map back to each image."""
        n = len(STRIDES)
        scores = np.concatenate([o.reshape(o.shape[0], -1) for o in outputs[:n]], axis=1)
        bbox = np.concatenate(outputs[n:2 * n], axis=1)
        kps = np.concatenate(outputs[2 * n:3 * n], axis=1)
        if scores.shape[1] != self._centres.shape[0]:
            raise RuntimeError(f"{self.name}: {scores.shape[1]} anchors in the output, expected "
                               f"{self._centres.shape[0]} for input {self.params.input_size}")
        results: list[Detections] = []
        for i, (lb, size) in enumerate(zip(ctx.boxes, ctx.sizes, strict=True)):
            idx = np.flatnonzero(scores[i] >= self.params.score_threshold)
            centres, strides = self._centres[idx], self._strides[idx]
            boxes = distance2bbox(centres, bbox[i, idx] * strides)
            points = distance2kps(centres, kps[i, idx] * strides)
            results.append(finish_detections(boxes, scores[i, idx].astype(np.float32), points, lb, size,
                                             self.params))
        return results
