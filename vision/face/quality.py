"""How usable a detected face is: size, sharpness, frontalness, and enrollment refusals.

* ``size_px``: the **shorter side of the detection box** in image pixels (what an operator sees
  around the face; about 2.2x the inter-ocular distance for a frontal face).
* ``sharpness``: variance of the Laplacian of the grey 112x112 aligned crop, mapped to [0, 1)
  as ``v / (v + SHARPNESS_HALF_VARIANCE)``. Measured on the test photos: sharp portraits
  240-640 (0.7-0.87), 40 px faces in a group photo 70-160 (0.4-0.6), the same faces after a
  Gaussian blur of sigma 3: below 8 (< 0.08).
* ``frontalness``: 1 when the nose tip sits on the perpendicular through the eye midpoint,
  falling linearly to 0 when it is displaced along the eye axis by half the eye distance
  (the nose reaching an eye: a profile). Roll does not count (alignment undoes it).
* ``score``: geometric mean of ``min(1, size_px / 112)``, ``sharpness`` and ``frontalness``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.face.align import ALIGNED_SIZE, align_faces
from vision.types import F32, Face, Image

logger = logging.getLogger(__name__)

SHARPNESS_HALF_VARIANCE = 100.0
"""Laplacian variance of the aligned crop at which ``sharpness`` is 0.5."""

DEFAULT_MIN_SIZE_PX = 80.0
DEFAULT_MIN_SHARPNESS = 0.3
DEFAULT_MIN_FRONTALNESS = 0.6


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """Quality measures of one face (see the module docstring for definitions).

    Attributes:
        size_px: shorter side of the face box, image pixels.
        sharpness: [0, 1), higher is sharper.
        frontalness: [0, 1], 1 is a frontal face.
        score: [0, 1] overall usability.
    """

    size_px: float
    sharpness: float
    frontalness: float
    score: float


def sharpness_of(aligned: npt.NDArray[np.uint8]) -> float:
    """Normalised sharpness of a ``(112, 112, 3)`` uint8 BGR aligned crop, in [0, 1)."""
    grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return variance / (variance + SHARPNESS_HALF_VARIANCE)


def frontalness_of(landmarks: F32) -> float:
    """Frontalness in [0, 1] from ``(5, 2)`` landmarks (eyes, nose, mouth corners)."""
    left, right, nose = (landmarks[i].astype(np.float64) for i in range(3))
    axis = right - left
    eye_distance = float(np.hypot(*axis))
    if eye_distance < 1e-6:
        return 0.0
    offset = float(np.dot(nose - (left + right) / 2, axis)) / eye_distance**2
    return float(np.clip(1.0 - 2.0 * abs(offset), 0.0, 1.0))


def combine(size_px: float, sharpness: float, frontalness: float) -> float:
    """The overall score: geometric mean of the size factor, sharpness and frontalness."""
    size_factor = min(1.0, max(size_px, 0.0) / ALIGNED_SIZE)
    return float((size_factor * sharpness * frontalness) ** (1.0 / 3.0))


def assess(image: Image, face: Face, aligned: npt.NDArray[np.uint8] | None = None) -> FaceQuality:
    """Measure one face.

    Args:
        image: ``(H, W, 3)`` uint8 BGR, the image the face was detected in.
        face: the detection (box and landmarks in image pixels).
        aligned: the face's ``(112, 112, 3)`` aligned crop if already made (saves a warp).
    """
    crop = align_faces(image, face.landmarks[None])[0] if aligned is None else aligned
    return measure(face.box, face.landmarks, crop)


def measure(box: F32, landmarks: F32, aligned: npt.NDArray[np.uint8]) -> FaceQuality:
    """Quality from a ``(4,)`` xyxy box, ``(5, 2)`` landmarks and the ``(112, 112, 3)`` aligned crop."""
    x1, y1, x2, y2 = (float(v) for v in box)
    size_px = max(0.0, min(x2 - x1, y2 - y1))
    sharpness = sharpness_of(aligned)
    frontalness = frontalness_of(landmarks)
    return FaceQuality(size_px, sharpness, frontalness, combine(size_px, sharpness, frontalness))


def check_enrollable(
    q: FaceQuality,
    min_size_px: float = DEFAULT_MIN_SIZE_PX,
    min_sharpness: float = DEFAULT_MIN_SHARPNESS,
    min_frontalness: float = DEFAULT_MIN_FRONTALNESS,
) -> list[str]:
    """Why a face cannot be enrolled as a reference template; empty when it can.

    Pure. "No face" and "several faces" are the caller's to decide.

    Raises:
        ValueError: a threshold is out of range (size < 0; sharpness, frontalness outside [0, 1]).
    """
    if min_size_px < 0:
        raise ValueError(f"min_size_px must be >= 0, got {min_size_px}")
    for label, value in (("min_sharpness", min_sharpness), ("min_frontalness", min_frontalness)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{label} must be in [0, 1], got {value}")
    reasons: list[str] = []
    if q.size_px < min_size_px:
        reasons.append(f"face too small: {q.size_px:.0f} px, minimum {min_size_px:.0f} px "
                       "(move closer or use a higher-resolution photo)")
    if q.sharpness < min_sharpness:
        reasons.append(f"face too blurry: sharpness {q.sharpness:.2f}, minimum {min_sharpness:.2f} "
                       "(hold the camera still, check focus)")
    if q.frontalness < min_frontalness:
        reasons.append(f"face turned away: frontalness {q.frontalness:.2f}, minimum "
                       f"{min_frontalness:.2f} (look straight at the camera)")
    return reasons
