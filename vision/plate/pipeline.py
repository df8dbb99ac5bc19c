"""The plate cascade: detect plates (in whole images or vehicle boxes), rectify, read in one batch.

Weak detections (small or blurred plates score low) are read too and kept only when the reading
is a valid plate; provinces the reader is unsure of are read again from a crop of the plate's
left end (:mod:`vision.plate.province`), in a second, smaller reader batch.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.ops import nms
from vision.plate.detector import PlateDetector
from vision.plate.province import VIEWS, needs_reread, sub_quad, with_province
from vision.plate.reader import PlateReader
from vision.plate.rectify import rectify
from vision.session import SessionConfig
from vision.types import F32, Image, PlateReading

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RectifyOptions:
    """How plate crops are cut for the reader (see :func:`vision.plate.rectify.rectify`)."""

    height: int = 48
    margin_x: float = 0.06
    margin_y: float = 0.0
    stretch: float = 2.0


@dataclass(frozen=True, slots=True)
class _Region:
    image: int
    offset: tuple[int, int]


class PlatePipeline:
    """Plates of many images: one detector batch, one reader batch.

    Attributes:
        detector: the plate detector (``clp_retina`` family).
        reader: the plate reader (``ppocr_ctc`` family).
        rectify_options: how crops are cut.
        vehicle_margin: vehicle boxes are grown by this fraction of their size on each side.
        dedup_iou: plates found twice (overlapping vehicle boxes) above this IoU are merged.
        candidate_score: detections down to this score are read; those below the detector's
            own ``score_threshold`` are kept only when they read as a valid plate (small or
            blurred plates score low, and the grammar rejects almost every false candidate).
        province_recheck: a valid reading whose province scores below this is read again from
            a crop of the plate's left end (:mod:`vision.plate.province`); 0 turns it off.
    """

    def __init__(self, detector: PlateDetector, reader: PlateReader, *,
                 rectify_options: RectifyOptions | None = None, vehicle_margin: float = 0.05,
                 dedup_iou: float = 0.5, candidate_score: float = 0.08,
                 province_recheck: float = 0.95) -> None:
        self.detector = detector
        self.reader = reader
        self.rectify_options = rectify_options or RectifyOptions()
        self.vehicle_margin = vehicle_margin
        self.dedup_iou = dedup_iou
        self.candidate_score = candidate_score
        self.province_recheck = province_recheck

    @classmethod
    def from_store(cls, profile: str = "default", config: SessionConfig | None = None,
                   store: Path | None = None) -> PlatePipeline:
        """Build from the model store with the models of a manifest profile (verified, loaded)."""
        from models.fetch import require
        from models.manifest import profile_models
        from vision.model import create

        specs = profile_models(profile)
        detector = create(specs["plate_detect"].family, require(specs["plate_detect"], store), config,
                          name=specs["plate_detect"].name)
        reader = create(specs["plate_read"].family, require(specs["plate_read"], store), config,
                        name=specs["plate_read"].name)
        if not isinstance(detector, PlateDetector) or not isinstance(reader, PlateReader):
            raise TypeError(f"profile {profile!r}: plate models must be the clp_retina and ppocr_ctc "
                            f"families, got {type(detector).__name__} and {type(reader).__name__}")
        pipeline = cls(detector, reader)
        pipeline.load()
        return pipeline

    def load(self) -> None:
        """Load and warm up both models."""
        self.detector.load()
        self.reader.load()

    def _regions(self, images: Sequence[Image], vehicle_boxes: Sequence[F32] | None
                 ) -> tuple[list[Image], list[_Region]]:
        if vehicle_boxes is None:
            return list(images), [_Region(i, (0, 0)) for i in range(len(images))]
        if len(vehicle_boxes) != len(images):
            raise ValueError(f"{len(images)} images but {len(vehicle_boxes)} vehicle box arrays")
        crops: list[Image] = []
        regions: list[_Region] = []
        for i, (image, boxes) in enumerate(zip(images, vehicle_boxes, strict=True)):
            h, w = image.shape[:2]
            for x1, y1, x2, y2 in np.asarray(boxes, np.float32).reshape(-1, 4):
                mx, my = (x2 - x1) * self.vehicle_margin, (y2 - y1) * self.vehicle_margin
                left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
                right, bottom = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
                if right - left < 8 or bottom - top < 8:
                    continue
                crops.append(image[top:bottom, left:right])
                regions.append(_Region(i, (left, top)))
        return crops, regions

    def read(self, images: Sequence[Image], vehicle_boxes: Sequence[F32] | None = None
             ) -> list[list[PlateReading]]:
        """Plates of each image, in image pixels, best detection first.

        Args:
            images: BGR uint8 ``(H, W, 3)`` images.
            vehicle_boxes: optional ``(N_i, 4)`` float32 xyxy per image: search plates only
                inside these boxes (e.g. YOLO's cars) instead of the whole image.

        Returns:
            Per image, one :class:`PlateReading` per plate found, with ``corners`` ``(4, 2)``
            and ``box`` ``(4,)`` float32 in that image's pixels: every detection above the
            detector's ``score_threshold`` (valid or not), and weaker ones down to
            :attr:`candidate_score` only when they read as a valid plate.
        """
        inputs, regions = self._regions(images, vehicle_boxes)
        candidate_score = min(self.candidate_score, self.detector.score_threshold)
        found: list[list[tuple[F32, F32, float]]] = [[] for _ in images]
        for region, det in zip(regions, self.detector.infer(inputs, score_threshold=candidate_score),
                               strict=True):
            if len(det) == 0 or det.landmarks is None:
                continue
            shift = np.asarray(region.offset * 2, np.float32)
            for box, corners, score in zip(det.xyxy, det.landmarks, det.scores, strict=True):
                found[region.image].append((box + shift, corners + shift[:2], float(score)))
        found = [self._dedup(plates) for plates in found]
        flat = [(i, box, corners, score) for i, plates in enumerate(found)
                for box, corners, score in plates]
        readings = self._read([images[i] for i, *_ in flat], [corners for _, _, corners, _ in flat])
        out: list[list[PlateReading]] = [[] for _ in images]
        for (i, box, corners, score), reading in zip(flat, readings, strict=True):
            if reading.valid or score > self.detector.score_threshold:
                out[i].append(dataclasses.replace(reading, corners=corners, box=box))
        return out

    def _read(self, images: Sequence[Image], corners: Sequence[F32]) -> list[PlateReading]:
        """Read each plate (image, corners), then re-read the provinces the reader was unsure of."""
        opts = self.rectify_options
        crops = [rectify(image, quad, height=opts.height, margin_x=opts.margin_x,
                         margin_y=opts.margin_y, stretch=opts.stretch)
                 for image, quad in zip(images, corners, strict=True)]
        readings = self.reader.infer(crops)
        again = [k for k, r in enumerate(readings) if needs_reread(r, self.province_recheck)]
        # Each view holds the province and the letter (about 0.32 of the plate width); stretched
        # like the whole-plate crop, its characters come out about square.
        left_ends = [rectify(images[k], sub_quad(corners[k], u, v), height=opts.height, margin_x=0.0,
                             stretch=opts.stretch, min_aspect=0.2)
                     for k in again for u, v in VIEWS]
        flat = self.reader.province_probs(left_ends)
        probs = flat.reshape(len(again), len(VIEWS), flat.shape[-1])
        for k, views in zip(again, probs, strict=True):
            readings[k] = with_province(readings[k], views.mean(axis=0))
        return readings

    def _dedup(self, plates: list[tuple[F32, F32, float]]) -> list[tuple[F32, F32, float]]:
        if len(plates) < 2:
            return plates
        boxes = np.stack([p[0] for p in plates]).astype(np.float32)
        scores = np.asarray([p[2] for p in plates], np.float32)
        return [plates[int(k)] for k in nms(boxes, scores, self.dedup_iou)]
