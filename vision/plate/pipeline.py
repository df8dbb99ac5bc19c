"""The plate cascade: detect plates (in whole images or vehicle boxes), rectify, read in one batch.

Weak detections (small or blurred plates score low) are read too and kept only when the reading
is a valid plate; provinces the reader is unsure of are read again from a crop of the plate's
left end (:mod:`vision.plate.province`), in a second, smaller reader batch.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import numpy as np

from models.manifest import Task, Variant
from vision.detector import Detector
from vision.model import Model
from vision.ops import nms
from vision.plate.province import VIEWS, needs_reread, sub_quad, with_province
from vision.plate.rectify import rectify
from vision.session import SessionConfig
from vision.types import F32, Detections, Image, PlateReading

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RectifyOptions:
    """How plate crops are cut for the reader (see :func:`vision.plate.rectify.rectify`)."""

    height: int = 48
    margin_x: float = 0.06
    margin_y: float = 0.0
    stretch: float = 2.0


@dataclass(frozen=True, slots=True)
class PlateOptions:
    """How the plate pipeline searches and reads.

    Attributes:
        rectify: how crops are cut.
        vehicle_margin: vehicle boxes are grown by this fraction of their size on each side.
        dedup_iou: plates found twice (overlapping vehicle boxes) above this IoU are merged.
        candidate_score: detections down to this score are read; those below the detector's
            own ``score_threshold`` are kept only when they read as a valid plate (small or
            blurred plates score low, and the grammar rejects almost every false candidate).
        province_recheck: a valid reading whose province scores below this is read again from
            a crop of the plate's left end (:mod:`vision.plate.province`); 0 turns it off.
    """

    rectify: RectifyOptions = field(default_factory=RectifyOptions)
    vehicle_margin: float = 0.05
    dedup_iou: float = 0.5
    candidate_score: float = 0.08
    province_recheck: float = 0.95


class ProvinceReader(Protocol):
    """Reads the province of left-end crops (:meth:`vision.plate.reader.PlateReader.province_probs`)."""

    def province_probs(self, crops: Sequence[Image]) -> F32:
        """``(N, len(PROVINCES))`` float32, rows summing to 1."""
        ...


@dataclass(frozen=True, slots=True)
class _Region:
    image: int
    offset: tuple[int, int]


DetT = TypeVar("DetT", bound=Model[Image, Detections], covariant=True)
"""The plate detector: a family, or a batched or resized view of one."""
D2 = TypeVar("D2", bound=Model[Image, Detections])


class PlatePipeline(Generic[DetT]):
    """Plates of many images: one detector batch, one reader batch.

    Build it with :meth:`build` (from a detector at its own threshold) or :meth:`from_store`.

    Attributes:
        detector: the plate detector, keeping candidates down to ``options.candidate_score``.
        reader: the plate reader (``ppocr_ctc`` family, or its batched view).
        provinces: re-reads unsure provinces (the reader family itself; small, rare calls).
        options: see :class:`PlateOptions`.
        accept_score: detections above this are kept even when they do not read as a plate
            (the detector's own ``score_threshold``).
    """

    def __init__(self, detector: DetT, reader: Model[Image, PlateReading], provinces: ProvinceReader, *,
                 accept_score: float, options: PlateOptions | None = None) -> None:
        self.detector = detector
        self.reader = reader
        self.provinces = provinces
        self.accept_score = accept_score
        self.options = options or PlateOptions()

    @classmethod
    def build(cls, detector: Detector, reader: Model[Image, PlateReading], provinces: ProvinceReader,
              options: PlateOptions | None = None) -> PlatePipeline[Detector]:
        """The pipeline over ``detector`` at its own threshold (it reads weaker candidates too)."""
        options = options or PlateOptions()
        accept = detector.params.score_threshold
        candidates = detector.with_score_threshold(min(options.candidate_score, accept))
        return PlatePipeline[Detector](candidates, reader, provinces, accept_score=accept, options=options)

    def with_detector(self, detector: D2) -> PlatePipeline[D2]:
        """The same pipeline over another view of its detector (say, at another input size)."""
        return PlatePipeline(detector, self.reader, self.provinces, accept_score=self.accept_score,
                             options=self.options)

    @classmethod
    def from_store(cls, profile: str = "default", config: SessionConfig | None = None,
                   store: Path | None = None,
                   variants: Mapping[Task, Variant] | None = None) -> PlatePipeline[Detector]:
        """Build from the model store with the models of a manifest profile (verified, loaded).

        ``variants`` maps a role to its precision variant (``fp32`` where absent).
        """
        from models.manifest import profile_models
        from models.variants import require_variant
        from vision.model import create_as
        from vision.plate.detector import PlateDetector
        from vision.plate.reader import PlateReader

        specs = profile_models(profile)
        det, rec = specs["plate_detect"], specs["plate_read"]
        chosen = variants or {}
        det_path = require_variant(det, chosen.get(det.task, "fp32"), store)
        rec_path = require_variant(rec, chosen.get(rec.task, "fp32"), store)
        detector = create_as(PlateDetector, det.family, det_path, config, name=det.name)
        reader = create_as(PlateReader, rec.family, rec_path, config, name=rec.name)
        pipeline = cls.build(detector, reader, reader)
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
                mx, my = (x2 - x1) * self.options.vehicle_margin, (y2 - y1) * self.options.vehicle_margin
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
            :attr:`accept_score` (valid or not), and weaker ones down to the candidate score
            only when they read as a valid plate.
        """
        inputs, regions = self._regions(images, vehicle_boxes)
        found: list[list[tuple[F32, F32, float]]] = [[] for _ in images]
        for region, det in zip(regions, self.detector.infer(inputs), strict=True):
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
            if reading.valid or score > self.accept_score:
                out[i].append(dataclasses.replace(reading, corners=corners, box=box))
        return out

    def _read(self, images: Sequence[Image], corners: Sequence[F32]) -> list[PlateReading]:
        """Read each plate (image, corners), then re-read the provinces the reader was unsure of."""
        opts = self.options.rectify
        crops = [rectify(image, quad, height=opts.height, margin_x=opts.margin_x,
                         margin_y=opts.margin_y, stretch=opts.stretch)
                 for image, quad in zip(images, corners, strict=True)]
        readings = self.reader.infer(crops)
        again = [k for k, r in enumerate(readings) if needs_reread(r, self.options.province_recheck)]
        # Each view holds the province and the letter (about 0.32 of the plate width); stretched
        # like the whole-plate crop, its characters come out about square.
        left_ends = [rectify(images[k], sub_quad(corners[k], u, v), height=opts.height, margin_x=0.0,
                             stretch=opts.stretch, min_aspect=0.2)
                     for k in again for u, v in VIEWS]
        flat = self.provinces.province_probs(left_ends)
        probs = flat.reshape(len(again), len(VIEWS), flat.shape[-1])
        for k, views in zip(again, probs, strict=True):
            readings[k] = with_province(readings[k], views.mean(axis=0))
        return readings

    def _dedup(self, plates: list[tuple[F32, F32, float]]) -> list[tuple[F32, F32, float]]:
        if len(plates) < 2:
            return plates
        boxes = np.stack([p[0] for p in plates]).astype(np.float32)
        scores = np.asarray([p[2] for p in plates], np.float32)
        return [plates[int(k)] for k in nms(boxes, scores, self.options.dedup_iou)]
