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
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from vision.model import register_family
from vision.ops import Letterbox, batched_nms, clip_boxes, letterbox, to_nchw
from vision.session import OnnxSession, SessionConfig
from vision.types import F32, Detections, Image

logger = logging.getLogger(__name__)

PERSON, BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK = 0, 1, 2, 3, 5, 7
VEHICLE_CLASSES = (BICYCLE, CAR, MOTORCYCLE, BUS, TRUCK)
"""COCO ids of the vehicles a community camera cares about."""
DEFAULT_CLASSES = (PERSON, *VEHICLE_CLASSES)


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
class YoloDetector:
    """Detect people and vehicles.

    ``infer(images)`` takes BGR uint8 ``(H, W, 3)`` images of any sizes and returns one
    :class:`Detections` per image: ``xyxy (N, 4)`` float32 in image pixels, ``scores (N,)``,
    ``class_ids (N,)`` COCO ids and ``data["label"] (N,)`` the class names (``"car"``).
    """

    family: ClassVar[str] = "yolo"

    def __init__(
        self,
        path: Path,
        config: SessionConfig | None = None,
        *,
        name: str = "yolo11n",
        input_size: tuple[int, int] = (640, 640),
        score_threshold: float = 0.35,
        nms_threshold: float = 0.45,
        keep_classes: Sequence[int] | None = DEFAULT_CLASSES,
        max_detections: int = 300,
    ) -> None:
        self.path = Path(path)
        self.config = config
        self.name = name
        self.input_size = input_size
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.keep_classes = None if keep_classes is None else np.asarray(keep_classes, np.int32)
        self.max_detections = max_detections
        self.names: dict[int, str] = {}
        self.session: OnnxSession | None = None

    def load(self) -> None:
        """Open the session, read the class names and run one warm-up inference."""
        if self.session is not None:
            return
        self.session = OnnxSession(self.path, self.config)
        self.names = parse_names(self.session.metadata)
        w, h = self.input_size
        self.forward(np.zeros((1, 3, h, w), np.float32))
        logger.info("loaded %s (%s) on %s", self.name, self.family, self.session.provider)

    def labels(self, class_ids: npt.NDArray[np.int32]) -> npt.NDArray[np.str_]:
        """Class names of ``class_ids`` (``"class_17"`` for ids the metadata lacks)."""
        return np.asarray([self.names.get(int(c), f"class_{int(c)}") for c in class_ids], np.str_)

    def preprocess(self, batch: Sequence[Image]) -> tuple[F32, list[Letterbox]]:
        """Letterbox (centred, 114) -> ``(B, 3, H, W)`` float32 RGB in [0, 1]."""
        canvases, boxes = [], []
        for image in batch:
            canvas, lb = letterbox(image, self.input_size, centre=True, fill=114)
            canvases.append(canvas)
            boxes.append(lb)
        return to_nchw(np.stack(canvases), rgb=True, mean=0.0, std=255.0), boxes

    def forward(self, tensor: F32) -> F32:
        """Run the model: ``(B, 84, A)`` float32."""
        if self.session is None:
            self.load()
        assert self.session is not None
        return np.asarray(self.session.run(tensor)[0], np.float32)

    def postprocess(self, output: F32, ctx: Sequence[Letterbox],
                    shapes: Sequence[tuple[int, ...]] | None = None) -> list[Detections]:
        """Threshold, class-aware NMS and map back to image pixels, per image."""
        preds = output.transpose(0, 2, 1)  # (B, A, 84)
        results = []
        for i, lb in enumerate(ctx):
            cls_scores = preds[i, :, 4:]
            if self.keep_classes is not None:
                cls_scores = cls_scores[:, self.keep_classes]
            best = cls_scores.argmax(axis=1)
            scores = cls_scores[np.arange(best.shape[0]), best]
            mask = scores > self.score_threshold
            cx, cy, w, h = preds[i, mask, :4].T
            boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
            ids = best[mask] if self.keep_classes is None else self.keep_classes[best[mask]]
            ids = ids.astype(np.int32)
            keep = batched_nms(boxes, scores[mask], ids, self.nms_threshold)[: self.max_detections]
            xyxy = lb.to_image(boxes[keep])
            if shapes is not None:
                xyxy = clip_boxes(xyxy, shapes[i][1], shapes[i][0])
            results.append(Detections.build(xyxy, scores[mask][keep], ids[keep],
                                            label=self.labels(ids[keep])))
        return results

    def infer(self, batch: Sequence[Image]) -> list[Detections]:
        """One :class:`Detections` per image (lazy-loads the model)."""
        if not batch:
            return []
        tensor, ctx = self.preprocess(batch)
        return self.postprocess(self.forward(tensor), ctx, [im.shape for im in batch])
