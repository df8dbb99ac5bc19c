"""The plate cascade: detect plates (in whole images or vehicle boxes), rectify, read in one batch.

Weak detections (small or blurred plates score low) are read too and kept only when the reading
is a valid plate; provinces the reader is unsure of are read again from a crop of the plate's
left end (:mod:`vision.plate.province`), in a second, smaller reader batch. A whole image that
still holds no valid plate is searched for yellow patches shaped like a two-row plate, read like
detections (:class:`ColourSearchOptions`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import cv2
import numpy as np

from models.manifest import Task, Variant
from vision.detector import Detector
from vision.model import Model
from vision.ops import nms
from vision.plate.colour import colour_rows, coloured_quads, foreign_colour, plate_colour
from vision.plate.grammar import PROVINCES, normalise, parse_plate
from vision.plate.plausible import PlausibleOptions, judge, quad_aspect
from vision.plate.province import VIEWS, needs_reread, sub_quad, with_province
from vision.plate.rectify import plate_size, rectify
from vision.session import SessionConfig
from vision.types import F32, Detections, Image, PlateColour, PlateReading

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RectifyOptions:
    """How plate crops are cut for the reader (see :func:`vision.plate.rectify.rectify`)."""

    height: int = 48
    margin_x: float = 0.06
    margin_y: float = 0.0
    stretch: float = 2.0


@dataclass(frozen=True, slots=True)
class CloseupOptions:
    """When a whole image is read again as a close photo of a plate (:meth:`PlatePipeline.read`).

    Attributes:
        aspect: an image this wide for its height is plate-shaped (a one-row plate is 3.1:1,
            a two-row plate 2:1; a photo cut around one is a bit taller).
        two_row_aspect: an image this wide for its height is shaped like a photo cut around a
            two-row plate (a motorcycle's is 1.57:1, a lorry's 2:1); it is read whole as the last
            resort when a yellow plate (the colour of two-row plates) found in it spans ``span``
            of its width: the detector, trained on one-row plates, finds only the lower row of a
            two-row plate that fills the image.
        span: a plate found spanning at least this share of the image width makes it a close-up.
        small: an image whose longer side is at most this (pixels) and holds no valid plate is
            read again too.
        pad: the padding added on each side, as a share of the image's width (and height).
    """

    aspect: tuple[float, float] = (1.9, 6.5)
    two_row_aspect: tuple[float, float] = (1.1, 2.5)
    span: float = 0.45
    small: int = 720
    pad: float = 0.6


@dataclass(frozen=True, slots=True)
class ColourSearchOptions:
    """When and how a whole image is searched for a plate by its paint (:meth:`PlatePipeline.read`).

    The detector, trained on one-row plates in street scenes, misses a fair share of yellow
    two-row plates (a lorry's, a motorcycle's), above all in front of a yellow or busy
    background, and finds no plate at all in a photo the plate fills. An image that held no
    valid plate is searched for solid patches of a plate's paint shaped like a two-row plate
    (:func:`vision.plate.colour.coloured_quads`); each is read like a detection (two-row tries
    included) and kept only when it reads as a valid plate that passes every plausibility check.

    Attributes:
        colour: the plate colour searched for (two-row plates are yellow).
        aspect: the patch's width / height (a motorcycle's plate 1.57:1, a lorry's 2:1, with slack
            for perspective and a patch cut a little short).
        min_height: the least patch height in pixels (a two-row plate's upper row is a quarter
            of it: smaller ones are not read anyway).
        min_fill: the least share of the patch's rectangle its outline fills.
        most: patches read per image at most (the largest).
        grow: each patch's quad is grown by this share of its size on every side (the patch is
            the paint inside the plate's black border line).
        min_province_evidence: the least evidence a reading of a patch needs for its province.
            A patch has no detector's word that it is a plate, so its province must be seen
            plainly, as a large plate's (:attr:`PlausibleOptions.min_clear_province_evidence`),
            not merely as a blur (two-row tuning seeds 0 and 4-7: patches read exactly had 0.04
            or more; a province re-read from the upper row that the joined crop showed as a
            separator, 皖 for 赣, had 0.0008).
    """

    colour: PlateColour = "yellow"
    aspect: tuple[float, float] = (1.3, 2.7)
    min_height: float = 16.0
    min_fill: float = 0.7
    most: int = 3
    grow: float = 0.02
    min_province_evidence: float = 0.01


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
        plausible: when a valid reading is still not a plate (:mod:`vision.plate.plausible`);
            ``None`` turns the checks off (the grammar alone decides).
        closeup: when whole images are read again as close photos of a plate; ``None`` never.
        two_row_aspect: plates found at most this wide for their height (a two-row plate is
            2:1, a one-row plate 3.1:1) are also read as two rows (:func:`two_row_crop`); the
            reading that is valid, and then more confident, is kept.
        motorcycle_aspect: a two-row plate read from a quad narrower than this for its height
            is a motorcycle's (220 x 140 mm, 1.57:1; the large plate is 440 x 220, 2:1; the
            geometric mean of the two) and gets the kind ``"motorcycle"``.
        tile_above: a whole image (no vehicle boxes) whose longer side exceeds this (pixels:
            the detector's input, which shrinks it) and that held no valid plate is searched
            again in two overlapping halves; ``None`` never.
        colour_search: a whole image (no vehicle boxes) that still held no valid plate is
            searched for plate-coloured patches shaped like a two-row plate
            (:class:`ColourSearchOptions`); ``None`` never.
    """

    rectify: RectifyOptions = field(default_factory=RectifyOptions)
    vehicle_margin: float = 0.05
    dedup_iou: float = 0.5
    candidate_score: float = 0.08
    province_recheck: float = 0.95
    plausible: PlausibleOptions | None = field(default_factory=PlausibleOptions)
    closeup: CloseupOptions | None = field(default_factory=lambda: CloseupOptions())
    two_row_aspect: float = 2.5
    tile_above: int | None = 960
    motorcycle_aspect: float = 1.78
    colour_search: ColourSearchOptions | None = field(default_factory=lambda: ColourSearchOptions())


class ProvinceReader(Protocol):
    """Reads the province of left-end crops (:meth:`vision.plate.reader.PlateReader.province_read`)."""

    def province_read(self, crops: Sequence[Image]) -> tuple[F32, F32]:
        """Province shares and presence of each crop.

        ``(N, len(PROVINCES))`` float32 shares (rows summing to 1) and ``(N,)`` float32, how
        strongly each crop shows a province at all.
        """
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

        ``variants`` maps a role to its precision variant (the manifest's ``default_variant`` where absent).
        """
        from models.manifest import profile_models
        from models.variants import chosen_variant, require_variant
        from vision.model import create_as
        from vision.plate.detector import PlateDetector
        from vision.plate.reader import PlateReader

        specs = profile_models(profile)
        det, rec = specs["plate_detect"], specs["plate_read"]
        chosen = variants or {}
        det_path = require_variant(det, chosen_variant(det, chosen), store)
        rec_path = require_variant(rec, chosen_variant(rec, chosen), store)
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
        found = [self._dedup(merge_split(plates, self._same_colour(image)))
                 for image, plates in zip(images, found, strict=True)]
        out = self._kept(images, found)
        if vehicle_boxes is None and self.options.closeup is not None:
            out = self._closeups(images, out, self.options.closeup)
        if vehicle_boxes is None and self.options.tile_above:
            out = self._tiled(images, out, self.options.tile_above)
        if vehicle_boxes is None and self.options.colour_search is not None:
            out = self._by_colour(images, out, self.options.colour_search)
        return out

    def _by_colour(self, images: Sequence[Image], out: list[list[PlateReading]],
                   opts: ColourSearchOptions) -> list[list[PlateReading]]:
        """Read plate-coloured patches of images that held no valid plate (:class:`ColourSearchOptions`).

        Only images without a valid plate are searched, so an image whose plate the detector
        found costs nothing more; a patch is kept only when it reads as a valid plate (the
        evidence and plausibility checks of :meth:`_read` apply as to any detection).
        """
        found: dict[int, list[tuple[F32, F32, float]]] = {}
        for i, image in enumerate(images):
            if any(r.valid for r in out[i]):
                continue
            quads = coloured_quads(image, opts.colour, aspect=opts.aspect, min_height=opts.min_height,
                                   min_fill=opts.min_fill, most=opts.most)
            if quads:
                grown = [sub_quad(q, (-opts.grow, 1 + opts.grow), (-opts.grow, 1 + opts.grow)) for q in quads]
                found[i] = [(np.concatenate([q.min(axis=0), q.max(axis=0)]).astype(np.float32), q, 0.0)
                            for q in grown]
        if not found:
            return out
        todo = sorted(found)
        second = self._kept([images[i] for i in todo], [found[i] for i in todo], keep_invalid=False)
        result = list(out)
        for k, i in enumerate(todo):
            plain = [r for r in second[k] if r.evidence is not None and r.evidence.size
                     and float(r.evidence[0]) >= opts.min_province_evidence]
            result[i] = best_of(out[i] + plain, self.options.dedup_iou)
        return result

    def _tiled(self, images: Sequence[Image], out: list[list[PlateReading]],
               above: int) -> list[list[PlateReading]]:
        """Search large images that held no valid plate again in two overlapping halves.

        The detector sees a whole image shrunk to its input: in a large photo a plate loses
        detail, and a two-row plate (a shape the detector was hardly trained on) beside a
        vehicle's other lettering is missed. Each half (two thirds of the longer side) is seen
        larger; only valid plates found there are added.
        """
        again = [i for i, image in enumerate(images)
                 if max(image.shape[:2]) > above and not any(r.valid for r in out[i])]
        if not again:
            return out
        tiles: list[Image] = []
        where: list[tuple[int, np.ndarray]] = []
        for i in again:
            h, w = images[i].shape[:2]
            for x0, y0, x1, y1 in halves(w, h):
                tiles.append(np.ascontiguousarray(images[i][y0:y1, x0:x1]))
                where.append((i, np.asarray([x0, y0, x0, y0], np.float32)))
        found: dict[int, list[tuple[F32, F32, float]]] = {i: [] for i in again}
        for (i, shift), det in zip(where, self.detector.infer(tiles), strict=True):
            if len(det) and det.landmarks is not None:
                found[i] += [(box + shift, np.asarray(corners + shift[:2], np.float32), float(score))
                             for box, corners, score in zip(det.xyxy, det.landmarks, det.scores, strict=True)]
        plates = [self._dedup(merge_split(found[i], self._same_colour(images[i]))) for i in again]
        second = self._kept([images[i] for i in again], plates, keep_invalid=False)
        result = list(out)
        for k, i in enumerate(again):
            result[i] = best_of(out[i] + second[k], self.options.dedup_iou)
        return result

    def _same_colour(self, image: Image) -> Callable[[F32, F32], bool]:
        """Whether two plate quads of ``image`` show the same plate colour (or none, both)."""
        opts = self.options.rectify

        def colour(quad: F32) -> PlateColour | None:
            return plate_colour(rectify(image, quad, height=opts.height, margin_x=0.0, stretch=opts.stretch))

        return lambda a, b: colour(a) == colour(b)

    def _kept(self, images: Sequence[Image], found: list[list[tuple[F32, F32, float]]],
              keep_invalid: bool = True) -> list[list[PlateReading]]:
        """Read every candidate; keep the valid ones and (``keep_invalid``) strong invalid ones."""
        flat = [(i, box, corners, score) for i, plates in enumerate(found)
                for box, corners, score in plates]
        readings = self._read([images[i] for i, *_ in flat], [corners for _, _, corners, _ in flat])
        out: list[list[PlateReading]] = [[] for _ in images]
        for (i, box, corners, score), reading in zip(flat, readings, strict=True):
            if reading.valid or (keep_invalid and score > self.accept_score):
                if reading.corners is not None:  # a two-row plate found by its lower row
                    quad = reading.corners
                    box = np.concatenate([np.minimum(box[:2], quad.min(axis=0)),
                                          np.maximum(box[2:], quad.max(axis=0))]).astype(np.float32)
                    corners = quad
                out[i].append(dataclasses.replace(reading, corners=corners, box=box))
        return out

    def _closeups(self, images: Sequence[Image], out: list[list[PlateReading]],
                  opts: CloseupOptions) -> list[list[PlateReading]]:
        """Read close photos of plates again, padded into a scene; the whole image as a last resort.

        The detector was trained on plates in scenes: a plate that fills the image (a phone
        photo, a barrier camera's plate crop) is missed, cut short or found in two halves. An
        image is read again, padded on every side, when it is plate-shaped, when a plate found
        in it spans most of its width, or when it is small and held no valid plate; if that
        finds no valid plate either and the image is plate-shaped, the whole image is read as
        one plate.
        """
        again = [i for i, image in enumerate(images) if is_closeup(image, out[i], opts)]
        if not again:
            return out
        padded, offsets = [], []
        for i in again:
            canvas, offset = pad(images[i], opts.pad)
            padded.append(canvas)
            offsets.append(np.asarray(offset * 2, np.float32))
        found: list[list[tuple[F32, F32, float]]] = []
        for i, det, shift in zip(again, self.detector.infer(padded), offsets, strict=True):
            plates: list[tuple[F32, F32, float]] = []
            if len(det) and det.landmarks is not None:
                h, w = images[i].shape[:2]
                for box, corners, score in zip(det.xyxy, det.landmarks, det.scores, strict=True):
                    moved = box - shift
                    clipped = np.clip(moved, 0, [w, h, w, h]).astype(np.float32)
                    # Plates found mostly in the padding are the padding's (its replicated edges).
                    if _area(clipped) < 0.6 * _area(moved):
                        continue
                    plates.append((clipped, np.asarray(corners - shift[:2], np.float32), float(score)))
            found.append(self._dedup(merge_split(plates, self._same_colour(images[i]))))
        second = self._kept([images[i] for i in again], found)
        last = [k for k, i in enumerate(again)
                if not any(r.valid for r in second[k]) and not any(r.valid for r in out[i])
                and (plate_shaped(images[i], opts) or two_row_closeup(images[i], out[i] + second[k], opts))]
        if last:
            whole = [whole_quad(images[again[k]]) for k in last]
            readings = self._read([images[again[k]] for k in last], [q for q, _ in whole])
            for k, (quad, box), reading in zip(last, whole, readings, strict=True):
                if reading.valid:
                    second[k] = [dataclasses.replace(reading, corners=quad, box=box)]
        result = list(out)
        for k, i in enumerate(again):
            result[i] = best_of(out[i] + second[k], self.options.dedup_iou)
        return result

    def _read(self, images: Sequence[Image], corners: Sequence[F32]) -> list[PlateReading]:
        """Read each plate (image, corners), then re-read the provinces the reader was unsure of."""
        opts = self.options.rectify
        crops = [rectify(image, quad, height=opts.height, margin_x=opts.margin_x,
                         margin_y=opts.margin_y, stretch=opts.stretch)
                 for image, quad in zip(images, corners, strict=True)]
        # Two-row plates are yellow: only yellow squat candidates are read as two rows too.
        squat = [k for k, quad in enumerate(corners) if quad_aspect(quad) <= self.options.two_row_aspect
                 and plate_colour(crops[k]) == "yellow"]
        # Two-row tries: (plate index, quad, crop); the detector's own quad for squat plates,
        # and that quad grown upwards: trained on one-row plates, the detector often finds a
        # two-row plate without the top of its upper row (cutting the province and letter).
        tries = [(k, quad, *two_row_split(images[k], quad, opts.height)) for k in squat
                 for quad in (corners[k], *(grow_up(corners[k], share) for share in TOP_CUT_SHARES))]
        both = self.reader.infer(crops + [crop for _, _, crop, _ in tries])
        readings, upper_lower = both[:len(crops)], both[len(crops):]
        # A two-row plate's lower row (or its lower part) alone looks like a one-row plate
        # without its province: read a yellow one again with the upper row above it.
        lower_only = [k for k, r in enumerate(readings)
                      if r.colour == "yellow" and _lower_row_like(normalise(r.raw))
                      and not (k in squat and upper_lower[squat.index(k)].valid)]
        grown = [(k, quad, *two_row_split(images[k], quad, opts.height))
                 for k in lower_only for quad in (grow_up(corners[k], share) for share in LOWER_ROW_SHARES)]
        if grown:
            tries += grown
            upper_lower += self.reader.infer([crop for _, _, crop, _ in grown])
        plausible = self.options.plausible
        floor = plausible.min_evidence if plausible is not None else 0.0  # re-read below this
        again = [k for k, r in enumerate(readings) if needs_reread(r, self.options.province_recheck, floor)]
        # Each view holds the province and the letter (about 0.32 of the plate width); stretched
        # like the whole-plate crop, its characters come out about square.
        self._reread_provinces(images, readings, {k: corners[k] for k in again}, VIEWS,
                               height=opts.height, stretch=opts.stretch, min_aspect=0.2)
        upper_quads: dict[int, F32] = {}  # the quad each two-row reading was read from
        ballots: dict[int, list[PlateReading]] = {}  # each plate's valid two-row readings, one per quad
        seen_quads: set[tuple[int, bytes]] = set()
        for (k, quad, _, boundary), reading in zip(tries, upper_lower, strict=True):
            key = (k, np.round(quad, 1).tobytes())
            if reading.valid and rows_in_order(reading, boundary) and key not in seen_quads:
                seen_quads.add(key)
                ballots.setdefault(k, []).append(reading)
        for (k, quad, crop, boundary), reading in zip(tries, upper_lower, strict=True):
            if reading.valid and rows_in_order(reading, boundary) \
                    and (not readings[k].valid or reading.score > readings[k].score):
                # ``corners`` set: the plate's quad grown from the detection of its lower part.
                grown_quad = None if quad is corners[k] else quad
                aspect = coloured_aspect(images[k], quad, "yellow")
                kind = MOTORCYCLE if aspect < self.options.motorcycle_aspect else reading.kind
                readings[k] = dataclasses.replace(reading, rows=2, corners=grown_quad, kind=kind)
                crops[k] = crop
                upper_quads[k] = quad
        for k in upper_quads:
            readings[k] = voted(readings[k], ballots.get(k, []))
        readings = self._upper_provinces(images, readings, upper_quads, floor)
        corners = [corners[k] if r.corners is None else r.corners for k, r in enumerate(readings)]
        if plausible is None:
            return readings
        return [judge(r, quad, foreign_colour(crop) if r.valid else None, plausible)
                for r, quad, crop in zip(readings, corners, crops, strict=True)]

    def _upper_provinces(self, images: Sequence[Image], readings: list[PlateReading],
                         quads: dict[int, F32], floor: float) -> list[PlateReading]:
        """Two-row readings with their unsure province read again from their upper row alone.

        The province of a two-row plate is one of the two characters of its small upper row; in
        the joined two-row crop the recogniser often takes it for a look-alike or misses it (the
        grammar then supplies one). Like a one-row plate's left end, the upper row is read again
        on its own from a few crops shifted by a stroke width (:data:`UPPER_VIEWS`).
        """
        again = [k for k in sorted(quads) if needs_reread(readings[k], self.options.province_recheck, floor)]
        out = list(readings)
        self._reread_provinces(images, out, {k: quads[k] for k in again}, UPPER_VIEWS,
                               height=self.options.rectify.height, stretch=0.75, min_aspect=0.5,
                               max_aspect=8.0)
        return out

    def _reread_provinces(self, images: Sequence[Image], readings: list[PlateReading],
                          quads: Mapping[int, F32],
                          views: Sequence[tuple[tuple[float, float], tuple[float, float]]],
                          **crop: Any) -> None:
        """Read the province of ``readings[k]`` again from ``views`` of ``quads[k]`` (in place).

        The recogniser's province probabilities are averaged over the views (spans of the quad,
        a stroke width apart) and the province it sees with the most probability replaces an
        unsure one (:func:`with_province`: its evidence is how strongly the views show it, so the
        plausibility check still refuses a province the model did not see). Used for a one-row
        plate's left end (:data:`VIEWS`) and, since in the joined two-row crop the recogniser
        often takes the small upper row's province for a look-alike, for a two-row plate's upper
        row alone (:data:`UPPER_VIEWS`). ``crop``: :func:`rectify`'s options for the views.
        """
        if not quads:
            return
        again = list(quads)
        crops = [rectify(images[k], sub_quad(quads[k], u, v), margin_x=0.0, **crop)
                 for k in again for u, v in views]
        flat, seen = self.provinces.province_read(crops)
        probs = flat.reshape(len(again), len(views), flat.shape[-1])
        shown = seen.reshape(len(again), len(views))
        for k, p, s in zip(again, probs, shown, strict=True):
            readings[k] = with_province(readings[k], p.mean(axis=0), float(s.mean()))

    def _dedup(self, plates: list[tuple[F32, F32, float]]) -> list[tuple[F32, F32, float]]:
        if len(plates) < 2:
            return plates
        boxes = np.stack([p[0] for p in plates]).astype(np.float32)
        scores = np.asarray([p[2] for p in plates], np.float32)
        return [plates[int(k)] for k in nms(boxes, scores, self.options.dedup_iou)]


MOTORCYCLE = "motorcycle"
"""The kind of a motorcycle's two-row plate (:attr:`PlateReading.kind`)."""

TOP_CUT_SHARES = (0.9, 0.8)
"""Shares of a two-row plate's height that the detector's quad of it may cover when it cuts the
top of the upper row off (on the rendered two-row set, 0.75-0.9): the quad grown to the whole
plate is read too."""

LOWER_ROW_SHARES = (0.55, 0.8)
"""Shares of a two-row plate's height that a detection of its lower part may cover: the lower
row itself (110 of 220 mm, with slack), or the lower row and part of the upper one; both are
tried."""


def grow_up(corners: F32, share: float) -> F32:
    """The quad of a whole two-row plate from the quad of its lower ``share`` (TL, TR, BR, BL)."""
    tl, tr, br, bl = corners.astype(np.float32)
    k = 1.0 / share - 1.0
    return np.stack([tl + (tl - bl) * k, tr + (tr - br) * k, br, bl]).astype(np.float32)


def _lower_row_like(raw: str) -> bool:
    """Whether greedy text may be a two-row plate's lower row: 4-6 characters, no province."""
    return 4 <= len(raw) <= 6 and raw[0] not in PROVINCES


def coloured_aspect(image: Image, quad: F32, colour: PlateColour, reach: float = 0.5,
                    floor: float = 0.4) -> float:
    """Width / height of a plate whose quad may lack its top, measured by its background colour.

    The quad is grown upwards by ``reach`` of its height and rectified; from its lower part
    (inside the plate) upwards, rows keep the plate's colour (``floor`` of the row, characters
    and border besides) up to the plate's top edge. A two-row plate's shape (a motorcycle's
    1.57:1 against a lorry's 2:1) is told this way even where the detector cut its upper row.
    """
    width, height = plate_size(quad)
    tall = grow_up(quad, 1.0 / (1.0 + reach))
    rows = 96
    crop = rectify(image, sub_quad(tall, (0.1, 0.9), (0.0, 1.0)), height=rows, margin_x=0.0,
                   stretch=1.0, min_aspect=0.2, max_aspect=8.0)
    shares = colour_rows(crop, colour)
    start = round(rows * (reach + 0.7) / (1.0 + reach))  # 70% down the original quad
    top = start
    while top > 0 and shares[top - 1] >= floor:
        top -= 1
    covered = (rows - top) / rows * (1.0 + reach)  # plate height in units of the quad's height
    return width / max(height * covered, 1e-6)


def halves(width: int, height: int, share: float = 2 / 3) -> list[tuple[int, int, int, int]]:
    """Two overlapping halves (x0, y0, x1, y1) of an image, each ``share`` of its longer side."""
    if height >= width:
        cut = round(height * share)
        return [(0, 0, width, cut), (0, height - cut, width, height)]
    cut = round(width * share)
    return [(0, 0, cut, height), (width - cut, 0, width, height)]


def _area(box: F32) -> float:
    return max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1]))


def plate_shaped(image: Image, opts: CloseupOptions) -> bool:
    """Whether ``image`` is about as wide for its height as a photo cut around a plate."""
    h, w = image.shape[:2]
    return bool(opts.aspect[0] <= w / max(h, 1) <= opts.aspect[1])


def two_row_closeup(image: Image, readings: Sequence[PlateReading], opts: CloseupOptions) -> bool:
    """Whether ``image`` is shaped like a photo of a two-row plate and a yellow plate found spans it."""
    h, w = image.shape[:2]
    low, high = opts.two_row_aspect
    return low <= w / max(h, 1) <= high and any(
        r.colour == "yellow" and r.box is not None and (r.box[2] - r.box[0]) >= opts.span * w
        for r in readings)


def is_closeup(image: Image, readings: Sequence[PlateReading], opts: CloseupOptions) -> bool:
    """Whether ``image`` may be a close photo of a plate, to read again (see :class:`CloseupOptions`)."""
    h, w = image.shape[:2]
    if plate_shaped(image, opts):
        return True
    if any(r.box is not None and (r.box[2] - r.box[0]) >= opts.span * w for r in readings):
        return True
    return max(h, w) <= opts.small and not any(r.valid for r in readings)


def pad(image: Image, share: float) -> tuple[Image, tuple[int, int]]:
    """``image`` in the middle of a larger canvas filled with its replicated border.

    The canvas is ``share`` of the image's width (or twice its height, if more) larger on each
    side; returns the canvas and the image's offset in it.
    """
    h, w = image.shape[:2]
    px = py = max(8, round(share * max(w, 2 * h)))
    canvas = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REPLICATE)
    return np.asarray(canvas, np.uint8), (px, py)


def whole_quad(image: Image) -> tuple[F32, F32]:
    """The whole image as a plate quad (TL, TR, BR, BL) and its box."""
    h, w = image.shape[:2]
    quad = np.asarray([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return quad, np.asarray([0, 0, w, h], np.float32)


def merge_split(plates: list[tuple[F32, F32, float]], same: Callable[[F32, F32], bool] | None = None,
                max_gap: float = 0.6, min_overlap: float = 0.6) -> list[tuple[F32, F32, float]]:
    """Join detections that are two parts of one plate, side by side on one row.

    Two boxes are parts of one plate when they overlap vertically by at least ``min_overlap``
    of the taller one's height (both parts span the plate's rows: a plate beside a taller
    patch of the same colour, a lorry's plate by the yellow wall behind it, overlaps that patch
    only in part), are about as tall (within a factor of 1.5), and the horizontal gap
    between them (negative when they overlap) is at most ``max_gap`` of their height; the
    joined plate takes the left part's left corners and the right part's right corners, and the
    better score. Each part alone must be narrower than a whole plate (under 2.8:1), and
    ``same(left_corners, right_corners)``, when given, must hold (the parts of one plate show
    one background colour: a lorry's plate beside the lettering of its tailgate is not joined).
    """
    if len(plates) < 2:
        return plates
    items = sorted(plates, key=lambda p: float(p[0][0]))
    merged = True
    while merged:
        merged = False
        for a in range(len(items)):
            for b in range(a + 1, len(items)):
                joined = _join(items[a], items[b], max_gap, min_overlap)
                if joined is not None and same is not None and not same(items[a][1], items[b][1]):
                    joined = None
                if joined is not None:
                    items[a] = joined
                    del items[b]
                    merged = True
                    break
            if merged:
                break
    return items


def _join(left: tuple[F32, F32, float], right: tuple[F32, F32, float], max_gap: float,
          min_overlap: float) -> tuple[F32, F32, float] | None:
    (la, lc, ls), (ra, rc, rs) = left, right
    if ra[0] < la[0]:
        (la, lc, ls), (ra, rc, rs) = (ra, rc, rs), (la, lc, ls)
    lh, rh = float(la[3] - la[1]), float(ra[3] - ra[1])
    height = max(lh, rh)
    if min(lh, rh) <= 0 or height / min(lh, rh) > 1.5:
        return None
    if max((la[2] - la[0]) / lh, (ra[2] - ra[0]) / rh) >= 2.8:
        return None
    overlap = min(la[3], ra[3]) - max(la[1], ra[1])
    if overlap < min_overlap * height:
        return None
    gap = float(ra[0] - la[2])
    if gap > max_gap * height or ra[2] <= la[2]:
        return None
    box = np.asarray([la[0], min(la[1], ra[1]), ra[2], max(la[3], ra[3])], np.float32)
    corners = np.asarray([lc[0], rc[1], rc[2], lc[3]], np.float32)
    return box, corners, max(ls, rs)


def best_of(readings: list[PlateReading], iou: float, contained: float = 0.6) -> list[PlateReading]:
    """One reading per plate from several tries: valid before invalid, then the higher score.

    A reading is dropped when its box overlaps a better one's by IoU ``iou`` or lies mostly
    (``contained`` of its area) inside it: a part of the same plate read again.
    """
    if len(readings) < 2 or any(r.box is None for r in readings):
        return sorted(readings, key=lambda r: (not r.valid, -r.score))
    kept: list[PlateReading] = []
    for r in sorted(readings, key=lambda r: (not r.valid, -r.score)):
        assert r.box is not None
        if not any(_overlap(r.box, k.box, iou, contained) for k in kept if k.box is not None):
            kept.append(r)
    return kept


def _overlap(a: F32, b: F32, iou: float, contained: float) -> bool:
    corner = np.asarray([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])], np.float32)
    inter = _area(corner)
    small = min(_area(a), _area(b))
    union = _area(a) + _area(b) - inter
    return (union > 0 and inter / union >= iou) or (small > 0 and inter / small >= contained)


UPPER_ROW = ((0.18, 0.82), (0.03, 0.37))
"""``(u, v)`` span of a two-row plate's upper row (province and letter, 80 x 60 mm characters
centred on the 440 x 220 mm plate, 15-75 mm from the top)."""

LOWER_ROW = ((-0.01, 1.01), (0.38, 0.95))
"""``(u, v)`` span of its lower row (five 65 x 110 mm characters, 90-200 mm from the top)."""


UPPER_VIEWS = tuple(((UPPER_ROW[0][0] + du, UPPER_ROW[0][1] + du),
                     (UPPER_ROW[1][0] + dv, UPPER_ROW[1][1] + dv))
                    for du, dv in ((0.0, 0.0), (-0.02, 0.0), (0.02, 0.0), (0.0, -0.03), (0.0, 0.03)))
"""``(u, v)`` spans of the upper-row crops whose province probabilities are averaged when a
two-row reading's province is re-read: the upper row and the row shifted by about a stroke width
each way (as :data:`vision.plate.province.VIEWS` for a one-row plate's left end)."""


def voted(reading: PlateReading, ballots: Sequence[PlateReading]) -> PlateReading:
    """``reading`` with each character the one its crops of the same plate read most surely.

    A two-row plate is read from a few crops (the detector's quad and the quad grown upwards);
    one crop may misread a character (``T`` as ``1``) that the others read right. Each valid
    reading of the same length votes, per position, its character with its score times its
    evidence (a character the grammar supplied, unseen, weighs next to nothing); a winner
    replaces ``reading``'s character when some crop read it more surely than ``reading`` read
    its own (two weak reads of ``0`` do not overrule one sure ``U``), and only when the
    winners form a valid plate. Only characters some crop
    read are chosen, each keeping the best score and evidence it was read with, so the
    plausibility check judges it as seen.
    """
    same = [(b.text, b.char_scores, b.evidence) for b in ballots
            if len(b.text) == len(reading.text) and b.evidence is not None]
    if len(same) < 2 or reading.evidence is None:
        return reading
    chars: list[str] = []
    scores: list[float] = []
    seen: list[float] = []
    for i in range(len(reading.text)):
        votes: dict[str, float] = {}
        for text, char_scores, evidence in same:  # a character the grammar put (unseen) weighs ~0
            votes[text[i]] = votes.get(text[i], 0.0) + float(char_scores[i]) * float(evidence[i])
        best = max(votes, key=lambda c: (votes[c], c == reading.text[i]))
        if max(float(c[i]) for t, c, _ in same if t[i] == best) <= float(reading.char_scores[i]):
            best = reading.text[i]  # outvoted only by a crop that read its rival more surely
        chars.append(best)
        scores.append(max(float(c[i]) for t, c, _ in same if t[i] == best))
        seen.append(max(float(e[i]) for t, _, e in same if t[i] == best))
    text = "".join(chars)
    parsed = parse_plate(text)
    if text == reading.text or not parsed.valid or len(parsed.text) != len(text):
        return reading
    score_arr = np.asarray(scores, np.float32)
    kind = reading.kind if reading.kind == MOTORCYCLE else parsed.kind
    return dataclasses.replace(reading, text=parsed.text, kind=kind, score=float(score_arr.mean()),
                               char_scores=score_arr, evidence=np.asarray(seen, np.float32))


def two_row_crop(image: Image, corners: F32, height: int = 48) -> Image:
    """A two-row plate as one row for the reader: the upper row, then the lower row, side by side.

    Each row is rectified to ``height`` and stretched so that its characters come out about as
    wide as tall (the upper row's are wider than tall, the lower row's taller than wide), the
    way two-row plates are commonly read.
    """
    return two_row_split(image, corners, height)[0]


def two_row_split(image: Image, corners: F32, height: int = 48) -> tuple[Image, float]:
    """:func:`two_row_crop` and where in it the upper row ends (a share of its width)."""
    upper = rectify(image, sub_quad(corners, *UPPER_ROW), height=height, margin_x=0.0, stretch=0.75,
                    min_aspect=0.5, max_aspect=8.0)
    lower = rectify(image, sub_quad(corners, *LOWER_ROW), height=height, margin_x=0.0, stretch=1.3,
                    min_aspect=0.5, max_aspect=8.0)
    gap = np.repeat(lower[:, :1], max(2, height // 6), axis=1)
    crop = np.ascontiguousarray(np.concatenate([upper, gap, lower], axis=1))
    return crop, (upper.shape[1] + gap.shape[1] / 2) / crop.shape[1]


def rows_in_order(reading: PlateReading, boundary: float) -> bool:
    """Whether a two-row reading took its province and letter from the upper row, the rest below.

    A two-row plate has exactly those two characters above; a reading that took a character of
    one row for the other's (a sign's Chinese line over its Latin one, one of the Latin letters
    made the plate's letter) does not show a two-row plate.
    """
    if reading.positions is None or len(reading.positions) != len(reading.text):
        return True
    upper, lower = reading.positions[:2], reading.positions[2:]
    return bool((upper < boundary).all() and (lower > boundary).all())
