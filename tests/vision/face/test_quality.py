"""Face quality measures and the enrollment refusal table (pure), plus measures on real faces."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from vision.face.align import ARCFACE_TEMPLATE
from vision.face.quality import FaceQuality, assess, check_enrollable, combine, frontalness_of, sharpness_of
from vision.face.scrfd import ScrfdDetector
from vision.types import Face

Photos = dict[str, npt.NDArray[np.uint8]]


def quality(size: float = 120.0, sharp: float = 0.7, front: float = 0.9) -> FaceQuality:
    return FaceQuality(size, sharp, front, combine(size, sharp, front))


@pytest.mark.parametrize(
    ("q", "limits", "expected", "expected_error"),
    [
        (quality(), {}, [], None),
        (quality(size=38), {}, ["face too small: 38 px, minimum 80 px"], None),
        (quality(size=38), {"min_size_px": 30}, [], None),
        (quality(sharp=0.12), {}, ["face too blurry: sharpness 0.12, minimum 0.30"], None),
        (quality(front=0.41), {}, ["face turned away: frontalness 0.41, minimum 0.60"], None),
        (quality(size=20, sharp=0.05, front=0.1), {},
         ["face too small", "face too blurry", "face turned away"], None),
        (quality(size=80, sharp=0.3, front=0.6), {}, [], None),  # limits are inclusive
        (quality(), {"min_size_px": -1}, [], "min_size_px"),
        (quality(), {"min_sharpness": 1.5}, [], "min_sharpness"),
        (quality(), {"min_frontalness": -0.1}, [], "min_frontalness"),
    ],
)
def test_check_enrollable(q: FaceQuality, limits: dict[str, float], expected: list[str],
                          expected_error: str | None) -> None:
    if expected_error is not None:
        with pytest.raises(ValueError, match=expected_error):
            check_enrollable(q, **limits)
        return
    reasons = check_enrollable(q, **limits)
    assert len(reasons) == len(expected)
    for reason, start in zip(reasons, expected, strict=True):
        assert reason.startswith(start)


@pytest.mark.parametrize(
    ("nose_shift", "expected"),
    [(0.0, 1.0), (0.1, 0.8), (-0.1, 0.8), (0.25, 0.5), (0.5, 0.0), (0.9, 0.0)],
)
def test_frontalness_from_nose_offset(nose_shift: float, expected: float) -> None:
    points = ARCFACE_TEMPLATE.copy()
    eye_distance = points[1, 0] - points[0, 0]
    points[:2, 1] = points[0, 1]  # level eyes
    points[2, 0] = (points[0, 0] + points[1, 0]) / 2 + nose_shift * eye_distance
    assert frontalness_of(points) == pytest.approx(expected, abs=1e-6)
    # roll does not matter
    angle = 0.5
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    assert frontalness_of(points @ rot.T) == pytest.approx(expected, abs=1e-5)


def test_degenerate_eyes_are_not_frontal() -> None:
    assert frontalness_of(np.zeros((5, 2), np.float32)) == 0.0


@pytest.mark.parametrize(
    ("size", "sharp", "front", "expected"),
    [(112, 1.0, 1.0, 1.0), (224, 1.0, 1.0, 1.0), (56, 1.0, 1.0, 0.5 ** (1 / 3)), (112, 0.0, 1.0, 0.0)],
)
def test_combined_score(size: float, sharp: float, front: float, expected: float) -> None:
    assert combine(size, sharp, front) == pytest.approx(expected)


def test_real_faces_and_blur(scrfd: ScrfdDetector, photos: Photos) -> None:
    image = photos["astronaut.png"]
    (det,) = scrfd.infer([image])
    assert det.landmarks is not None
    face = Face(det.xyxy[0], float(det.scores[0]), det.landmarks[0])
    q = assess(image, face)
    # measured: size 92 px, sharpness 0.87, frontalness ~0.9
    assert 80 < q.size_px < 130
    assert q.sharpness > 0.6 and q.frontalness > 0.7 and 0.6 < q.score <= 1.0
    assert check_enrollable(q) == []
    blurred = assess(cv2.GaussianBlur(image, (0, 0), 3), face)
    assert blurred.sharpness < 0.2 < q.sharpness
    assert any(r.startswith("face too blurry") for r in check_enrollable(blurred))
    flat = np.full((112, 112, 3), 90, np.uint8)
    assert sharpness_of(flat) == 0.0
