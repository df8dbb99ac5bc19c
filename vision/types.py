"""Result types of the vision stage: one type per concept, validated on construction.

Shapes and dtypes are part of the contract:

* ``xyxy``: ``(N, 4)`` float32, pixel coordinates of the *original* image, x1 < x2, y1 < y2
* ``scores``: ``(N,)`` float32 in [0, 1]
* ``class_ids``: ``(N,)`` int32 (COCO ids for the YOLO family; 0 for single-class detectors)
* ``landmarks``: ``(N, K, 2)`` float32 or ``None`` (K = 5 for faces, 4 plate corners)
* ``data``: extra per-row columns, each an array whose first dimension is N
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
Image = npt.NDArray[np.uint8]
"""A BGR uint8 image, ``(H, W, 3)``, as OpenCV decodes it."""

PlateColour = Literal["blue", "yellow", "green"]
"""The plate background colours a reader tells apart (see :mod:`vision.plate.colour`)."""


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes found in one image, with optional landmarks and extra columns."""

    xyxy: F32
    scores: F32
    class_ids: I32
    landmarks: F32 | None = None
    data: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0] if self.xyxy.ndim == 2 else -1
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must be (N, 4), got {self.xyxy.shape}")
        if self.scores.shape != (n,):
            raise ValueError(f"scores must be ({n},), got {self.scores.shape}")
        if self.class_ids.shape != (n,):
            raise ValueError(f"class_ids must be ({n},), got {self.class_ids.shape}")
        if self.landmarks is not None and (
            self.landmarks.ndim != 3 or self.landmarks.shape[0] != n or self.landmarks.shape[2] != 2
        ):
            raise ValueError(f"landmarks must be ({n}, K, 2), got {self.landmarks.shape}")
        for key, column in self.data.items():
            if column.shape[:1] != (n,):
                raise ValueError(f"data[{key!r}] must have {n} rows, got {column.shape}")

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls, landmarks: int | None = None) -> Detections:
        """No detections (with an empty ``(0, K, 2)`` landmark array when K is given)."""
        lm = None if landmarks is None else np.zeros((0, landmarks, 2), np.float32)
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), lm)

    @classmethod
    def build(
        cls,
        xyxy: npt.ArrayLike,
        scores: npt.ArrayLike,
        class_ids: npt.ArrayLike | None = None,
        landmarks: npt.ArrayLike | None = None,
        **data: npt.ArrayLike,
    ) -> Detections:
        """Coerce array-likes to the contract's dtypes (class ids default to 0)."""
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        n = boxes.shape[0]
        ids = np.zeros(n, np.int32) if class_ids is None else np.asarray(class_ids, np.int32)
        lm = None if landmarks is None else np.asarray(landmarks, np.float32)
        if lm is not None and lm.size == 0:
            lm = lm.reshape(n, -1, 2) if n else lm.reshape(0, lm.shape[1] if lm.ndim == 3 else 0, 2)
        return cls(boxes, np.asarray(scores, np.float32).reshape(n), ids, lm,
                   {k: np.asarray(v) for k, v in data.items()})

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.intp] | slice) -> Detections:
        """Select rows (boolean mask, index array or slice)."""
        return Detections(
            self.xyxy[index],
            self.scores[index],
            self.class_ids[index],
            None if self.landmarks is None else self.landmarks[index],
            {k: v[index] for k, v in self.data.items()},
        )


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face, optionally with its embedding.

    Attributes:
        box: ``(4,)`` float32 xyxy in image pixels.
        score: detector confidence in [0, 1].
        landmarks: ``(5, 2)`` float32: left eye, right eye, nose, left/right mouth corner.
        embedding: ``(512,)`` float32, L2-normalised, or ``None`` if not embedded.
        quality: a [0, 1] usability estimate (size, sharpness, pose), or ``None``.
    """

    box: F32
    score: float
    landmarks: F32
    embedding: F32 | None = None
    quality: float | None = None

    def __post_init__(self) -> None:
        if self.box.shape != (4,):
            raise ValueError(f"box must be (4,), got {self.box.shape}")
        if self.landmarks.shape != (5, 2):
            raise ValueError(f"landmarks must be (5, 2), got {self.landmarks.shape}")
        if self.embedding is not None and self.embedding.ndim != 1:
            raise ValueError(f"embedding must be 1-D, got {self.embedding.shape}")


@dataclass(frozen=True, slots=True)
class PlateReading:
    """A licence plate read from a rectified crop.

    Attributes:
        text: normalised plate text (``京A12345``) when it passes the grammar, else the raw
            normalised text (and ``valid`` is False).
        raw: the characters the recogniser emitted, before normalisation.
        score: mean per-character confidence in [0, 1].
        char_scores: ``(len(text),)`` float32 confidence per character of ``text``.
        valid: whether ``text`` is a well-formed Chinese plate.
        kind: ``"standard"`` (7 characters), ``"new_energy"`` (8), ``"motorcycle"`` (a
            motorcycle's two-row plate) or ``None`` when invalid.
        corners: ``(4, 2)`` float32 plate corners in image pixels (TL, TR, BR, BL) or ``None``.
        box: ``(4,)`` float32 xyxy of the plate in image pixels, or ``None``.
        colour: the plate's colour (``"blue"``, ``"yellow"``, ``"green"``) when the reader
            could tell it, else ``None``; it constrains what the text may be (GA 36).
        evidence: ``(len(text),)`` float32, per character of ``text`` the highest probability
            the recogniser gave that very character (or its look-alike O/0, I/1) in the frames it
            was read from: low where the grammar, not the image, supplied the character.
        rejected: why a reading that follows the grammar is still not taken for a plate (a
            character not seen in the image, a sign's colour or shape), ``""`` otherwise;
            ``valid`` is False whenever it is set.
        rows: 1, or 2 for a two-row plate (lorries, buses: province and letter above).
        overwritten: what the recogniser read with confidence where the grammar put the
            province (``""`` when it read nothing there, or the province itself).
        positions: ``(len(text),)`` float32, where in the crop each character of ``text`` was
            read, as a share of the crop's width (0 its left edge, 1 its right), or ``None``.
    """

    text: str
    raw: str
    score: float
    char_scores: F32
    valid: bool
    kind: str | None = None
    corners: F32 | None = None
    box: F32 | None = None
    colour: PlateColour | None = None
    evidence: F32 | None = None
    rejected: str = ""
    rows: int = 1
    overwritten: str = ""
    positions: F32 | None = None


def stack_same_shape(images: Sequence[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    """Stack arrays that must share one shape, with a clear error when they do not."""
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise ValueError(f"batch members differ in shape: {sorted(shapes)}")
    return np.stack(images)
