"""RetinaFace MobileNet-0.25 face detector (biubug6/Pytorch_Retinaface weights, MIT).

Model contract (verified in ``tests/vision/face/test_detectors.py``): input ``(B, 3, H, W)``
float32 BGR minus (104, 117, 123), dynamic batch, height and width; outputs ``loc`` ``(B, P, 4)``,
``conf`` ``(B, P, 2)`` (softmaxed, column 1 = face) and ``landmarks`` ``(B, P, 10)`` over the
standard priors: min sizes ``[[16, 32], [64, 128], [256, 512]]`` on strides 8/16/32, variances
(0.1, 0.2). We always feed one fixed letterboxed size so a batch equals its members run alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from vision.detector import DetectorParams, OnnxDetector
from vision.face.scrfd import LetterboxBatch, finish_detections, letterbox_batch
from vision.model import register_family
from vision.ops import normalise_nchw
from vision.session import SessionConfig
from vision.types import F32, Detections, Image

logger = logging.getLogger(__name__)

MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
BGR_MEAN = (104.0, 117.0, 123.0)
DEFAULT_PARAMS = DetectorParams(input_size=(640, 640), score_threshold=0.6, nms_threshold=0.4)
"""Score 0.6 is biubug6's display threshold; on players.jpg it keeps 18 faces, all of them also
found by SCRFD, while 0.3-0.5 adds background false positives."""


def prior_boxes(size: tuple[int, int]) -> F32:
    """Priors ``(P, 4)`` as (cx, cy, w, h) in model pixels, in the model's output order.

    Rows of each feature map are outer, columns inner, the min sizes innermost; the map is
    ``ceil(size / step)`` (as biubug6's ``PriorBox``).
    """
    width, height = size
    priors: list[F32] = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        ys, xs = np.mgrid[: math.ceil(height / step), : math.ceil(width / step)]
        centres = (np.stack([xs, ys], axis=-1).reshape(-1, 1, 2) + 0.5) * step
        wh = np.asarray(sizes, np.float32)[None, :, None].repeat(2, axis=2)
        grid = np.concatenate(np.broadcast_arrays(centres, wh), axis=2)
        priors.append(grid.reshape(-1, 4).astype(np.float32))
    return np.concatenate(priors)


def decode_boxes(loc: F32, priors: F32) -> F32:
    """``(M, 4)`` regression + ``(M, 4)`` priors (cx, cy, w, h) -> ``(M, 4)`` xyxy model pixels."""
    centre = priors[:, :2] + loc[:, :2] * VARIANCES[0] * priors[:, 2:]
    wh = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    return np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)


def decode_landmarks(pre: F32, priors: F32) -> F32:
    """``(M, 10)`` landmark regression -> ``(M, 5, 2)`` points in model pixels."""
    offsets = pre.reshape(pre.shape[0], 5, 2)
    return priors[:, None, :2] + offsets * VARIANCES[0] * priors[:, None, 2:]


@register_family
class RetinaFaceDetector(OnnxDetector[LetterboxBatch, DetectorParams]):
    """RetinaFace: ``infer(list of BGR images) -> list[Detections]`` with ``(N, 5, 2)`` landmarks.

    Landmarks are in SCRFD's order (left eye, right eye, nose, left, right mouth corner, left
    meaning the image's left), so the same aligner serves both detectors.

    Args:
        path: the ONNX file.
        config: session providers and threads.
        name: manifest name.
        params: fixed model input (every image is letterboxed into it), thresholds (see
            :data:`DEFAULT_PARAMS`).
        max_batch: most images per model call.
        workers: CPU data parallelism inside each call (see :class:`~vision.model.OnnxModel`).
    """

    family: ClassVar[str] = "retinaface"

    def __init__(self, path: Path, config: SessionConfig | None = None, *,
                 name: str = "retinaface_mnet025", params: DetectorParams = DEFAULT_PARAMS,
                 max_batch: int = 8, workers: int = 1) -> None:
        super().__init__(path, config, name=name, max_batch=max_batch, workers=workers)
        self.params = params
        self._prepare()

    def _prepare(self) -> None:
        self._priors = prior_boxes(self.params.input_size)

    def warmup_input(self) -> F32:
        return np.zeros((1, 3, self.params.input_size[1], self.params.input_size[0]), np.float32)

    def preprocess(self, batch: Sequence[Image]) -> tuple[F32, LetterboxBatch]:
        """BGR images -> ``(B, 3, H, W)`` float32 BGR minus the mean, and the letterboxes."""
        canvas, ctx = letterbox_batch(batch, self.params.input_size)
        return normalise_nchw(canvas, swap_rb=False, mean=BGR_MEAN, std=1.0), ctx

    def postprocess(self, outputs: list[npt.NDArray[Any]], ctx: LetterboxBatch) -> list[Detections]:
        """Threshold, decode the kept priors, NMS, map back to each image."""
        loc, conf, landmarks = outputs
        if loc.shape[1] != self._priors.shape[0]:
            raise RuntimeError(f"{self.name}: {loc.shape[1]} priors in the output, expected "
                               f"{self._priors.shape[0]} for input {self.params.input_size}")
        results: list[Detections] = []
        for i, (lb, size) in enumerate(zip(ctx.boxes, ctx.sizes, strict=True)):
            idx = np.flatnonzero(conf[i, :, 1] >= self.params.score_threshold)
            priors = self._priors[idx]
            boxes = decode_boxes(loc[i, idx], priors)
            points = decode_landmarks(landmarks[i, idx], priors)
            results.append(finish_detections(boxes, conf[i, idx, 1].astype(np.float32), points, lb, size,
                                             self.params))
        return results
