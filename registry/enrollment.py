"""Enrollment from photos: exactly one usable face per photo, else a clear refusal.

All photos of one enrollment are checked before anything is stored: one refused photo refuses
the enrollment, with the reasons of every photo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vision.types import Face, Image

logger = logging.getLogger(__name__)

CROP_MARGIN = 0.5
"""Margin around the face box kept in the stored crop (fraction of the box side), for re-embedding."""

CROP_MAX_SIDE = 400


class FaceAnalyzerLike(Protocol):
    def analyze(self, images: Sequence[Image]) -> list[list[Face]]: ...


@dataclass(frozen=True, slots=True)
class PhotoRefusal:
    """Why one photo cannot be used."""

    photo: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.photo}: {'; '.join(self.reasons)}"


class EnrollmentRefused(ValueError):
    """No template was stored because at least one photo is unusable."""

    def __init__(self, refusals: Sequence[PhotoRefusal]) -> None:
        self.refusals = tuple(refusals)
        super().__init__("enrollment refused: " + " | ".join(str(r) for r in self.refusals))


@dataclass(frozen=True, slots=True)
class EnrollableFace:
    """A face accepted for enrollment: its embedding, quality score and JPEG crop."""

    photo: str
    embedding: npt.NDArray[np.float32]
    quality: float
    crop: bytes


def count_refusal(n_faces: int) -> str | None:
    """Pure: the refusal for a photo with ``n_faces`` detected faces (``None`` for exactly one)."""
    if n_faces < 0:
        raise ValueError(f"face count cannot be negative: {n_faces}")
    if n_faces == 0:
        return "no face found"
    if n_faces > 1:
        return f"several faces found ({n_faces}); the photo must show exactly one person"
    return None


def decode_photo(data: bytes) -> Image | None:
    """Decode image bytes to BGR uint8, or ``None`` when they are not a decodable image."""
    import cv2

    if not data:
        return None
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None or decoded.ndim != 3 or decoded.shape[2] != 3:
        return None
    return np.asarray(decoded, dtype=np.uint8)


def face_crop(image: Image, face: Face) -> bytes:
    """JPEG of the face box with a margin, longest side at most ``CROP_MAX_SIDE`` pixels."""
    import cv2

    x1, y1, x2, y2 = (float(v) for v in face.box)
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    h, w = image.shape[:2]
    box = (max(0, int(x1 - mx)), max(0, int(y1 - my)), min(w, int(x2 + mx)), min(h, int(y2 + my)))
    crop: Image = image[box[1] : box[3], box[0] : box[2]]
    scale = CROP_MAX_SIDE / max(crop.shape[:2])
    if scale < 1:
        size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
        crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise RuntimeError("JPEG encoding of a face crop failed")
    return bytes(jpeg.tobytes())


def select_faces(photos: Sequence[tuple[str, bytes]], analyzer: FaceAnalyzerLike) -> list[EnrollableFace]:
    """The one usable face of each ``(name, bytes)`` photo; raises :class:`EnrollmentRefused`."""
    from vision.face.quality import assess, check_enrollable

    if not photos:
        raise EnrollmentRefused([PhotoRefusal("(none)", ("no photo given",))])
    refusals: list[PhotoRefusal] = []
    decoded: list[tuple[str, Image]] = []
    for name, data in photos:
        image = decode_photo(data)
        if image is None:
            refusals.append(PhotoRefusal(name, ("cannot decode the image (not a JPEG/PNG/BMP/WebP photo?)",)))
        else:
            decoded.append((name, image))
    accepted: list[EnrollableFace] = []
    results = analyzer.analyze([im for _, im in decoded]) if decoded else []
    for (name, image), faces in zip(decoded, results, strict=True):
        refusal = count_refusal(len(faces))
        if refusal is not None:
            refusals.append(PhotoRefusal(name, (refusal,)))
            continue
        face = faces[0]
        quality = assess(image, face)
        reasons = check_enrollable(quality)
        if reasons:
            refusals.append(PhotoRefusal(name, tuple(reasons)))
        elif face.embedding is None:
            refusals.append(PhotoRefusal(name, ("the face could not be embedded",)))
        else:
            accepted.append(EnrollableFace(name, face.embedding, quality.score, face_crop(image, face)))
    if refusals:
        logger.info("enrollment refused: %s photo(s) unusable", len(refusals))
        raise EnrollmentRefused(refusals)
    return accepted
