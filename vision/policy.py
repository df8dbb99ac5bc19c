"""How the one recognition path differs between still images and live frames, and where it looks.

:meth:`vision.cascade.Cascade.analyse` runs every image through the same stages; a
:class:`RecognitionPolicy` holds each difference between a still image (``estatewatch
recognize``: every detail on the whole image) and a live frame (the frame pipeline: many
cameras, cheap enough to keep up). :func:`crop_plan` and :func:`head_box` are the pure geometry
the policy drives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vision.types import F32

Box = tuple[int, int, int, int]
"""xyxy in whole pixels."""
Size = tuple[int, int]
"""(width, height) in pixels."""


@dataclass(frozen=True, slots=True)
class RecognitionPolicy:
    """What the cascade does differently for still images (:meth:`still`) and live frames (:meth:`live`).

    The differences (still / live):

    Attributes:
        fit_input_to_crop: False / True. Live: a detector sees each crop (a motion region, or
            the whole frame) at the scale the whole frame gets in its own input, while its
            input, and its cost, follow the crop's area (:func:`crop_plan`; a 1280x720 frame
            into a 640x640 model runs at 640x384, no letterbox band). Still: every crop is
            letterboxed into the detector's own input.
        faces_on_people: False / True. Live: where YOLO runs anyway (the camera runs vehicles
            or plates), faces are searched only on the heads of the people it found, one small
            input per head. Still: the face detector runs on the whole image.
        min_embed_face: 0 / 24. Faces whose shorter box side is below this (pixels) are
            reported without an embedding: ArcFace on them is unreliable (a match would be
            noise) and embedding costs more than detecting.
        plate_inputs: () / (320, 480, 640). Square plate-detector inputs for vehicle crops:
            the smallest one not below the crop's longer side is used, the detector's own size
            when none is (always, when empty).
        whole_image_plates: True / False. An image without vehicles is searched for plates
            as a whole (a close-up of a plate, a photo without a car YOLO knows). Live frames
            search plates only on vehicles.
        vehicles_for_plates: True / False. The vehicles plates were searched on are reported
            even when the image's analyses do not include ``vehicles`` (a plate's ``vehicle``
            index points into them). Live: vehicles only when ``vehicles`` is run.

    The tuning of the live geometry (the same in both; with ``fit_input_to_crop`` False and no
    motion regions only the head search uses it):

    Attributes:
        crop_max_fraction: motion crops whose total area exceeds this share of the frame give
            way to one whole-frame run (one big input beats many overlapping ones).
        max_crops: the most crops a frame is analysed in: more motion regions are merged,
            the pair whose joint box adds the least area first, until this many remain (a busy
            scene of many small movers costs a few crops, not a whole-frame run; measured on
            vtest: 0.84x CPU per frame, people >= 100 px tall found as in the other crops).
        align: detector inputs are rounded up to multiples of this (pixels); fewer distinct
            input sizes means more requests share a batch.
        min_input: the smallest detector input side (pixels).
        head_fraction: the upper share of a person box searched for a face.
        min_person_height: people shorter than this (frame pixels) are not searched for faces.
        face_input: the largest face-detector input (square, pixels) on a head crop.
        head_face_input: on a head crop, a face of ``min_embed_face`` frame pixels is scaled
            to at least this many input pixels (:func:`head_input`): SCRFD's smallest anchors
            are 16 px, so that face is still found, while a small head is not upscaled to
            ``face_input`` to find faces that are too small to embed anyway.
    """

    fit_input_to_crop: bool = True
    faces_on_people: bool = True
    min_embed_face: float = 24.0
    plate_inputs: tuple[int, ...] = (320, 480, 640)
    whole_image_plates: bool = False
    vehicles_for_plates: bool = False
    crop_max_fraction: float = 0.5
    max_crops: int = 4
    align: int = 64
    min_input: int = 64
    head_fraction: float = 0.45
    min_person_height: float = 48.0
    face_input: int = 160
    head_face_input: float = 32.0

    @classmethod
    def live(cls) -> RecognitionPolicy:
        """Live frames: cheap enough for many cameras (the defaults)."""
        return cls()

    @classmethod
    def still(cls) -> RecognitionPolicy:
        """Still images: every model at its own input on the whole image, every face embedded."""
        return cls(fit_input_to_crop=False, faces_on_people=False, min_embed_face=0.0, plate_inputs=(),
                   whole_image_plates=True, vehicles_for_plates=True)


def fewest_regions(regions: F32, most: int) -> F32:
    """``regions`` ``(N, 4)`` xyxy merged into at most ``most`` boxes (``(M, 4)`` float32).

    Greedy: while too many, the pair whose joint bounding box adds the least area beyond their
    own areas becomes that box (near regions join first; far apart ones stay separate crops).
    """
    if most < 1:
        raise ValueError(f"most must be >= 1, got {most}")
    boxes = [np.asarray(b, np.float64) for b in np.asarray(regions, np.float32).reshape(-1, 4)]
    while len(boxes) > most:
        stack = np.stack(boxes)
        area = (stack[:, 2] - stack[:, 0]).clip(0) * (stack[:, 3] - stack[:, 1]).clip(0)
        low = np.minimum(stack[:, None, :2], stack[None, :, :2])
        high = np.maximum(stack[:, None, 2:], stack[None, :, 2:])
        added = (high - low).clip(0).prod(axis=2) - area[:, None] - area[None, :]
        added[np.tril_indices(len(boxes))] = np.inf
        i, j = divmod(int(np.argmin(added)), len(boxes))
        joint = np.concatenate([low[i, j], high[i, j]])
        boxes = [b for k, b in enumerate(boxes) if k not in (i, j)] + [joint]
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def crop_boxes(frame_size: Size, regions: F32 | None, policy: RecognitionPolicy) -> list[Box]:
    """The crops (xyxy ints) a frame is analysed in: its motion regions, or the whole frame.

    More than ``policy.max_crops`` regions are merged down to that many (:func:`fewest_regions`).
    The whole frame when there are no regions, or when the crops cover more than
    ``policy.crop_max_fraction`` of it; regions under 8 px are dropped.
    """
    width, height = frame_size
    boxes: list[Box] = []
    if regions is not None and len(regions) > policy.max_crops:
        regions = fewest_regions(regions, policy.max_crops)
    if regions is not None and len(regions) > 0:
        for x1, y1, x2, y2 in np.asarray(regions, np.float32).reshape(-1, 4):
            box = (max(0, math.floor(x1)), max(0, math.floor(y1)),
                   min(width, math.ceil(x2)), min(height, math.ceil(y2)))
            if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
                boxes.append(box)
        area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes)
        if area > policy.crop_max_fraction * width * height:
            boxes = []
    return boxes or [(0, 0, width, height)]


def crop_plan(frame_size: Size, regions: F32 | None, base_input: Size,
              policy: RecognitionPolicy) -> list[tuple[Box, Size]]:
    """Crops (:func:`crop_boxes`) of a frame and the detector input (width, height) for each.

    With ``policy.fit_input_to_crop`` every crop is fitted at (at least) the scale the whole
    frame gets in ``base_input``, rounded up to ``policy.align``, so a detector sees objects at
    the size it would on the whole frame while its input follows the crop's area; without it,
    every crop runs at ``base_input``.

    Args:
        frame_size: (width, height) of the frame.
        regions: ``(N, 4)`` float32 motion regions, or ``None`` for the whole frame.
        base_input: the detector's own (width, height).
        policy: see :class:`RecognitionPolicy`.
    """
    boxes = crop_boxes(frame_size, regions, policy)
    if not policy.fit_input_to_crop:
        return [(box, base_input) for box in boxes]
    scale = min(base_input[0] / frame_size[0], base_input[1] / frame_size[1])

    def side(pixels: int, limit: int) -> int:
        need = math.ceil(pixels * scale / policy.align) * policy.align
        return int(min(max(need, policy.min_input), math.ceil(limit / 32) * 32))

    return [(b, (side(b[2] - b[0], base_input[0]), side(b[3] - b[1], base_input[1]))) for b in boxes]


def head_box(person: F32, frame_size: Size, head_fraction: float) -> Box:
    """The upper part of a person box, widened a little, clipped to the frame (xyxy ints)."""
    x1, y1, x2, y2 = (float(v) for v in person)
    w, h = x2 - x1, y2 - y1
    return (max(0, math.floor(x1 - 0.15 * w)), max(0, math.floor(y1 - 0.05 * h)),
            min(frame_size[0], math.ceil(x2 + 0.15 * w)),
            min(frame_size[1], math.ceil(y1 + head_fraction * h)))


def head_input(head: Box, policy: RecognitionPolicy) -> Size:
    """The face detector's square input for a head crop: it follows the crop's size.

    The crop is scaled so that a face of ``policy.min_embed_face`` frame pixels becomes
    ``policy.head_face_input`` input pixels; the side is rounded up to SCRFD's stride of 32 and
    kept within [``policy.min_input``, ``policy.face_input``] (a large head is scaled down as
    before; a small one no longer upscaled ~3x). Without a smallest embedded face
    (``min_embed_face`` 0) every head gets ``face_input``.
    """
    if policy.min_embed_face <= 0:
        return policy.face_input, policy.face_input
    longest = max(head[2] - head[0], head[3] - head[1])
    need = math.ceil(longest * policy.head_face_input / policy.min_embed_face / 32) * 32
    side = min(max(need, policy.min_input), policy.face_input)
    return side, side


def plate_input(longest: float, base_input: Size, policy: RecognitionPolicy) -> Size:
    """The plate detector's input for a vehicle crop whose longer side is ``longest`` pixels."""
    side = next((s for s in sorted(policy.plate_inputs) if s >= longest), None)
    return base_input if side is None else (side, side)
