"""Motion gating and the live crop plan: pure table tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from vision.gating import GatingConfig, MotionGate, detect_motion, merge_boxes, thumbnail
from vision.policy import RecognitionPolicy, crop_plan, head_box


def scene(square: tuple[int, int] | None = None, noise: int = 0, seed: int = 0) -> np.ndarray:
    """A 1280x720 textured grey scene, optionally with a bright 120 px square at (x, y)."""
    rng = np.random.default_rng(seed)
    image = np.full((720, 1280, 3), 90, np.uint8)
    image[::40, :] = 60
    if square is not None:
        x, y = square
        image[y:y + 120, x:x + 120] = 230
    if noise:
        jitter = rng.integers(-noise, noise + 1, image.shape)
        image = np.clip(image.astype(np.int16) + jitter, 0, 255).astype(np.uint8)
    return image


@pytest.mark.parametrize(("fields", "expected_error"), [
    ({}, None),
    ({"blur_kernel": 4}, "blur_kernel must be odd"),
    ({"pixel_threshold": 0}, "greater than or equal to 1"),
    ({"keepalive_s": 0}, "greater than 0"),
    ({"min_changed_fraction": 1.5}, "less than or equal to 1"),
    ({"colour": True}, "Extra inputs are not permitted"),
])
def test_config_validation(fields: dict[str, Any], expected_error: str | None) -> None:
    if expected_error is None:
        assert GatingConfig(**fields).thumb_width == 160
    else:
        with pytest.raises(ValidationError, match=expected_error):
            GatingConfig(**fields)


@pytest.mark.parametrize(("shape", "dtype", "expected", "expected_error"), [
    ((720, 1280, 3), np.uint8, (90, 160), None),
    ((576, 768, 3), np.uint8, (120, 160), None),
    ((60, 100, 3), np.uint8, (60, 100), None),  # smaller than the thumbnail: kept as is
    ((720, 1280), np.uint8, None, "expected a non-empty"),
    ((720, 1280, 3), np.float32, None, "expected a non-empty"),
])
def test_thumbnail(shape: tuple[int, ...], dtype: Any, expected: tuple[int, int] | None,
                   expected_error: str | None) -> None:
    image = np.zeros(shape, dtype)
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            thumbnail(image, GatingConfig())
    else:
        assert thumbnail(image, GatingConfig()).shape == expected


# Each row: a sequence of (frame, time) and the expected (analyse, reason) of the last one.
@pytest.mark.parametrize(("frames", "expected"), [
    ([(scene(), 0.0)], (True, "first")),
    ([(scene(), 0.0), (scene(), 1.0)], (False, "still")),
    ([(scene(), 0.0), (scene(noise=6, seed=1), 1.0)], (False, "still")),  # sensor noise
    ([(scene(), 0.0), (scene((600, 300)), 1.0)], (True, "motion")),
    ([(scene(), 0.0), (scene(), 4.9)], (False, "still")),
    ([(scene(), 0.0), (scene(), 5.0)], (True, "keepalive")),
    # compared with the last *analysed* frame: slow drift adds up
    ([(scene((600, 300)), 0.0), (scene((604, 300)), 0.2), (scene((640, 300)), 0.4)], (True, "motion")),
    # a keepalive resets the reference and the clock
    ([(scene(), 0.0), (scene(), 5.0), (scene(), 9.0)], (False, "still")),
])
def test_gate_decisions(frames: list[tuple[np.ndarray, float]], expected: tuple[bool, str]) -> None:
    gate = MotionGate(GatingConfig())
    decisions = [gate.check(image, t) for image, t in frames]
    assert (decisions[-1].analyse, decisions[-1].reason) == expected
    if expected[1] in ("first", "keepalive"):
        assert decisions[-1].regions is None


def test_motion_region_covers_the_change() -> None:
    gate = MotionGate(GatingConfig())
    gate.check(scene(), 0.0)
    decision = gate.check(scene((600, 300)), 0.2)
    assert decision.regions is not None and len(decision.regions) == 1
    x1, y1, x2, y2 = decision.regions[0]
    assert x1 <= 600 and y1 <= 300 and x2 >= 720 and y2 >= 420
    assert (x2 - x1) * (y2 - y1) < 0.1 * 1280 * 720


def test_two_changes_give_two_regions() -> None:
    config = GatingConfig()
    motion = detect_motion(thumbnail(scene(), config), thumbnail(scene((100, 100)), config) // 2
                           + thumbnail(scene((1000, 500)), config) // 2, (1280, 720), config)
    assert len(motion.regions) == 2
    assert motion.changed_fraction > 0


def test_thumbnails_of_different_shapes_are_an_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        detect_motion(np.zeros((90, 160), np.uint8), np.zeros((120, 160), np.uint8), (1280, 720),
                      GatingConfig())


@pytest.mark.parametrize(("boxes", "expected"), [
    ([], []),
    ([[0, 0, 10, 10]], [[0, 0, 10, 10]]),
    ([[0, 0, 10, 10], [20, 20, 30, 30]], [[0, 0, 10, 10], [20, 20, 30, 30]]),
    ([[0, 0, 10, 10], [5, 5, 15, 15]], [[0, 0, 15, 15]]),
    # a chain: the union of the first two then overlaps the third
    ([[0, 0, 10, 10], [8, 0, 20, 10], [18, 8, 30, 30]], [[0, 0, 30, 30]]),
])
def test_merge_boxes(boxes: list[list[float]], expected: list[list[float]]) -> None:
    merged = merge_boxes(np.asarray(boxes, np.float32).reshape(-1, 4))
    assert sorted(merged.tolist()) == sorted(np.asarray(expected, np.float32).reshape(-1, 4).tolist())


@pytest.mark.parametrize(("regions", "expected"), [
    # whole 720p frame into a 640x640 model: 640x384, no letterbox band
    (None, [((0, 0, 1280, 720), (640, 384))]),
    ([], [((0, 0, 1280, 720), (640, 384))]),
    # one person-sized region: input follows the crop at the same scale (0.5), rounded to 64
    ([[100, 100, 300, 500]], [((100, 100, 300, 500), (128, 256))]),
    # tiny region: the minimum input
    ([[10, 10, 40, 40]], [((10, 10, 40, 40), (64, 64))]),
    # regions covering more than half the frame: whole frame instead
    ([[0, 0, 1000, 720]], [((0, 0, 1280, 720), (640, 384))]),
    # more regions than max_crops (4): the two nearest merged, crops still
    ([[0, 0, 50, 50], [60, 0, 110, 50], [400, 0, 450, 50], [800, 0, 850, 50], [1200, 0, 1250, 50]],
     [((400, 0, 450, 50), (64, 64)), ((800, 0, 850, 50), (64, 64)), ((1200, 0, 1250, 50), (64, 64)),
      ((0, 0, 110, 50), (64, 64))]),
    # five regions of 49% of the frame: merging two covers over half of it, so the whole frame
    ([[0, 0, 300, 300], [980, 0, 1280, 300], [0, 420, 300, 720], [980, 420, 1280, 720],
      [490, 210, 790, 510]], [((0, 0, 1280, 720), (640, 384))]),
])
def test_crop_plan(regions: list[list[float]] | None, expected: list[Any]) -> None:
    array = None if regions is None else np.asarray(regions, np.float32).reshape(-1, 4)
    assert crop_plan((1280, 720), array, (640, 640), RecognitionPolicy.live()) == expected


def test_head_box_is_the_upper_part_clipped() -> None:
    assert head_box(np.asarray([100, 100, 200, 400], np.float32), (1280, 720), 0.45) == (85, 85, 215, 235)
    assert head_box(np.asarray([0, 0, 100, 100], np.float32), (90, 720), 0.5) == (0, 0, 90, 50)
