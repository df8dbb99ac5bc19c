"""The province re-read's pure parts: the crop geometry and when a re-read replaces a province."""

from __future__ import annotations

import numpy as np
import pytest

from vision.plate.grammar import PROVINCES
from vision.plate.province import needs_reread, sub_quad, with_province
from vision.types import PlateReading

QUAD = np.array([[10, 20], [450, 20], [450, 160], [10, 160]], np.float32)


def reading(text: str, first: float, *, valid: bool = True) -> PlateReading:
    scores = np.full(len(text), 0.99, np.float32)
    scores[0] = first
    return PlateReading(text=text, raw=text, score=float(scores.mean()), char_scores=scores,
                        valid=valid, kind="standard" if valid else None)


def one_hot(province: str, p: float) -> np.ndarray:
    probs = np.full(len(PROVINCES), (1 - p) / (len(PROVINCES) - 1), np.float32)
    probs[PROVINCES.index(province)] = p
    return probs


@pytest.mark.parametrize(("u", "v", "expected"), [
    ((0.0, 1.0), (0.0, 1.0), QUAD),
    ((0.0, 0.5), (0.0, 1.0), [[10, 20], [230, 20], [230, 160], [10, 160]]),
    ((-0.1, 0.25), (0.25, 0.75), [[-34, 55], [120, 55], [120, 125], [-34, 125]]),
])
def test_sub_quad_is_bilinear_in_plate_coordinates(u: tuple[float, float], v: tuple[float, float],
                                                   expected: object) -> None:
    np.testing.assert_allclose(sub_quad(QUAD, u, v), np.asarray(expected, np.float32), atol=1e-4)


def test_sub_quad_follows_a_rotated_plate() -> None:
    rotated = QUAD[[3, 0, 1, 2]]  # the same rectangle, its "top" edge now the left side
    left = sub_quad(rotated, (0.0, 0.25), (0.0, 1.0))
    np.testing.assert_allclose(left[0], rotated[0])
    np.testing.assert_allclose(left[1], rotated[0] + (rotated[1] - rotated[0]) * 0.25)


@pytest.mark.parametrize(("plate", "min_score", "expected"), [
    (reading("京A12345", 0.4), 0.95, True),
    (reading("京A12345", 0.99), 0.95, False),
    (reading("京A12345", 0.4), 0.0, False),
    (reading("A12345", 0.1, valid=False), 0.95, False),
])
def test_needs_reread(plate: PlateReading, min_score: float, expected: bool) -> None:
    assert needs_reread(plate, min_score) is expected


def test_a_more_confident_reread_replaces_the_province() -> None:
    out = with_province(reading("新T9471A", 0.02), one_hot("藏", 0.9))
    assert out.text == "藏T9471A" and out.valid and out.kind == "standard"
    assert out.char_scores[0] == pytest.approx(0.9)
    assert out.score == pytest.approx(float(out.char_scores.mean()))


@pytest.mark.parametrize("plate", [
    reading("新T9471A", 0.95),  # the whole-plate read is surer than the re-read
    reading("藏T9471", 0.02, valid=False),  # invalid readings are left alone
])
def test_a_less_confident_reread_or_an_invalid_reading_changes_nothing(plate: PlateReading) -> None:
    assert with_province(plate, one_hot("藏", 0.9)) is plate
