"""Vehicle (and person) detector: the ``yolo`` family (Ultralytics YOLO11 ONNX exports).

Model facts (checked in the tests):

* input ``images``: ``(B, 3, 640, 640)`` float32, RGB, ``x / 255``, centred letterbox padded
  with 114; dynamic batch;
* output ``(B, 84, A)`` float32: rows 0-3 box centre x, y, width, height in input pixels,
  rows 4-83 the 80 COCO class scores (sigmoid already applied), A = 8400 anchors at 640;
* class names in the model metadata key ``names`` (a Python dict literal).
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from vision.detector import DetectorParams, OnnxDetector
from vision.model import UNBATCHED, register_family
from vision.ops import Letterbox, batched_nms, clip_boxes, letterbox, normalise_nchw
from vision.session import OnnxSession, SessionConfig
from vision.types import F32, Detections, Image

logger = logging.getLogger(__name__)

PERSON, BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK = 0, 1, 2, 3, 5, 7
VEHICLE_CLASSES = (BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK)
"""COCO ids of the vehicles a community camera cares about."""
DEFAULT_CLASSES = (PERSON, *VEHICLE_CLASSES)


@dataclass(frozen=True, slots=True)
class YoloParams(DetectorParams):
    """:class:`~vision.detector.DetectorParams` plus the COCO classes kept (``None``: all 80)."""

    keep_classes: tuple[int, ...] | None = DEFAULT_CLASSES


DEFAULT_PARAMS = YoloParams(input_size=(640, 640), score_threshold=0.35, nms_threshold=0.45,
                            max_detections=300)


def parse_names(metadata: dict[str, str]) -> dict[int, str]:
    """COCO id -> label from the Ultralytics ``names`` metadata (``"{0: 'person', ...}"``)."""
    raw = metadata.get("names")
    if raw is None:
        return {}
    names = ast.literal_eval(raw)
    if not isinstance(names, dict):
        raise ValueError(f"model metadata 'names' is not a dict: {raw[:80]!r}")
    return {int(k): str(v) for k, v in names.items()}


@register_family
class YoloDetector(OnnxDetector[list[tuple[Letterbox, tuple[int, ...]]], YoloParams]):
    """Detect people and vehicles.

    ``infer(images)`` takes BGR uint8 ``(H, W, 3)`` images of any sizes and returns one
    :class:`Detections` per image: ``xyxy (N, 4)`` float32 in image pixels, ``scores (N,)``,
    ``class_ids (N,)`` COCO ids and ``data["label"] (N,)`` the class names (``"car"``).
    """

    family: ClassVar[str] = "yolo"

    def __init__(self, path: Path, config: SessionConfig | None = None, *, name: str = "yolo11n",
                 params: YoloParams = DEFAULT_PARAMS, max_batch: int = UNBATCHED, workers: int = 1) -> None:
        super().__init__(path, config, name=name, max_batch=max_batch, workers=workers)
        self.params = params
        self.names: dict[int, str] = {}
        self._prepare()

    def _prepare(self) -> None:
        keep = self.params.keep_classes
        self._keep = None if keep is None else np.asarray(keep, np.int32)

    def _opened(self, session: OnnxSession) -> None:
        self.names = parse_names(session.metadata)

    def labels(self, class_ids: npt.NDArray[np.int32]) -> npt.NDArray[np.str_]:
        """Class names of ``class_ids`` (``"class_17"`` for ids the metadata lacks)."""
        return np.asarray([self.names.get(int(c), f"class_{int(c)}") for c in class_ids], np.str_)

    def warmup_input(self) -> F32:
        w, h = self.params.input_size
        return np.zeros((1, 3, h, w), np.float32)

    def preprocess(self, batch: Sequence[Image]) -> tuple[F32, list[tuple[Letterbox, tuple[int, ...]]]]:
        """Letterbox (centred, 114) -> ``(B, 3, H, W)`` float32 RGB in [0, 1]; ctx: boxes, shapes."""
        canvases, ctx = [], []
        for image in batch:
            canvas, lb = letterbox(image, self.params.input_size, centre=True, fill=114)
            canvases.append(canvas)
            ctx.append((lb, image.shape))
        return normalise_nchw(np.stack(canvases), swap_rb=True, mean=0.0, std=255.0), ctx

    def postprocess(self, outputs: list[npt.NDArray[Any]],
                    ctx: list[tuple[Letterbox, tuple[int, ...]]]) -> list[Detections]:
        """Threshold, class-aware NMS and map back to image pixels (clipped), per image."""
        preds = np.asarray(outputs[0], np.float32).transpose(0, 2, 1)  # (B, A, 84)
        return [self._detections(preds[i], lb, shape) for i, (lb, shape) in enumerate(ctx)]

    def _detections(self, preds: F32, lb: Letterbox, shape: tuple[int, ...]) -> Detections:
        cls_scores = preds[:, 4:] if self._keep is None else preds[:, 4:][:, self._keep]
        best = cls_scores.argmax(axis=1)
        scores = cls_scores[np.arange(best.shape[0]), best]
        mask = scores > self.params.score_threshold
        cx, cy, w, h = preds[mask, :4].T
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
        ids = (best[mask] if self._keep is None else self._keep[best[mask]]).astype(np.int32)
        keep = batched_nms(boxes, scores[mask], ids, self.params.nms_threshold)[:self.params.max_detections]
        xyxy = clip_boxes(lb.to_image(boxes[keep]), shape[1], shape[0])
        return Detections.build(xyxy, scores[mask][keep], ids[keep], label=self.labels(ids[keep]))
