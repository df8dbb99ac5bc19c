"""The two-row fallback: a yellow plate the detector missed or boxed wrongly is found by its paint.

The search itself (:func:`vision.plate.colour.coloured_quads`) is pure; the fallback through the
pipeline runs the real reader behind a detector that finds nothing, or only a box on something
else, and must read a two-row plate exactly while a yellow sign stays no plate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from media.plates import composite, render_motorcycle, render_plate, render_two_row
from media.signs import SIGN_FONTS, available, render_sign
from vision.plate import pipeline as plate_pipeline
from vision.plate.colour import coloured_quads
from vision.plate.pipeline import PlatePipeline
from vision.types import Detections, Image

PLATE_YELLOW = (20, 185, 245)
"""BGR of a yellow plate's paint (and of the yellow signs of :mod:`media.signs`)."""


def wall(height: int = 384, width: int = 512, seed: int = 0) -> np.ndarray:
    """A pale yellow wall with a little texture (the kind the detector misses plates on)."""
    rng = np.random.default_rng(seed)
    canvas = np.empty((height, width, 3), np.float32)
    canvas[:] = (150, 205, 220)  # pale, weakly saturated yellow
    canvas += rng.normal(0, 6, canvas.shape).astype(np.float32)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def scene(plate: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``plate`` warped into the wall, with camera degradation; the image and the plate's corners."""
    image, corners = composite(plate, wall(seed=seed), np.random.default_rng(seed))
    return image, corners


def test_a_two_row_plate_on_a_pale_yellow_wall_is_found_by_its_paint() -> None:
    image, corners = scene(render_two_row("鲁Q1234挂"), 3)
    quads = coloured_quads(image, "yellow")
    assert len(quads) == 1
    (quad,) = quads
    height = float(np.linalg.norm(corners[3] - corners[0]))
    # The patch is the paint inside the plate's border: its corners lie within a tenth of the
    # plate's height of the true ones, the top edge first.
    assert np.abs(quad - corners).max() < 0.1 * height
    assert quad[0][1] < quad[3][1] and quad[0][0] < quad[1][0]


def test_a_motorcycle_plate_is_found_too() -> None:
    image, corners = scene(render_motorcycle("粤B12345"), 4)
    quads = coloured_quads(image, "yellow")
    assert len(quads) == 1
    height = float(np.linalg.norm(corners[3] - corners[0]))
    assert np.abs(quads[0] - corners).max() < 0.1 * height


def test_no_quad_on_a_wall_a_blue_plate_or_a_yellow_one_row_plate() -> None:
    assert coloured_quads(wall(), "yellow") == []
    blue, _ = scene(render_plate("京A12345", "blue"), 5)
    assert coloured_quads(blue, "yellow") == []
    one_row, _ = scene(render_plate("京A12345", "yellow"), 6)  # 3.1:1, not a two-row plate's shape
    assert coloured_quads(one_row, "yellow") == []


def test_small_patches_are_not_plates() -> None:
    image = wall()
    cv2.rectangle(image, (100, 100), (120, 110), PLATE_YELLOW, -1)  # 21 x 11 px, 2:1
    assert coloured_quads(image, "yellow", min_height=16) == []


class Detector:
    """A plate detector that finds nothing, or only ``box`` (somewhere else) at a sure score."""

    def __init__(self, box: Sequence[float] | None = None) -> None:
        self.box = box

    def infer(self, images: Sequence[Image]) -> list[Detections]:
        if self.box is None:
            return [Detections.empty(landmarks=4) for _ in images]
        x1, y1, x2, y2 = self.box
        corners = np.asarray([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]], np.float32)
        return [Detections.build(np.asarray([self.box], np.float32), np.asarray([0.9], np.float32), None,
                                 corners) for _ in images]


@pytest.fixture(scope="module")
def plates(model_store: Path) -> PlatePipeline:  # type: ignore[type-arg]
    return PlatePipeline.from_store()


@pytest.mark.parametrize("box", [None, (20.0, 300.0, 200.0, 350.0)], ids=["missed", "wrong-box"])
def test_a_two_row_plate_the_detector_missed_or_boxed_wrongly_still_reads(
        plates: PlatePipeline, box: tuple[float, ...] | None) -> None:  # type: ignore[type-arg]
    image, corners = scene(render_two_row("鲁Q1234挂"), 7)
    # The plate lies away from the wrong box.
    assert corners[:, 1].max() < 300 or corners[:, 0].min() > 200
    (found,) = plates.with_detector(Detector(box)).read([image])
    valid = [(r.text, r.rows) for r in found if r.valid]
    assert valid == [("鲁Q1234挂", 2)]


def test_a_yellow_sign_the_colour_search_finds_stays_no_plate(plates: PlatePipeline) -> None:  # type: ignore[type-arg]
    fonts = available(SIGN_FONTS)
    if not fonts:
        pytest.skip("no CJK font installed")
    signs = [render_sign(lines, PLATE_YELLOW, (15, 15, 15), fonts[0], line_height=48)
             for lines in (("货运专线", "CARGO LINE"), ("京A出租", "TAXI"), ("危险品", "HAZMAT 3"))]
    images = [scene(sign, 8 + k)[0] for k, sign in enumerate(signs)]
    blind = plates.with_detector(Detector())
    assert any(coloured_quads(image, "yellow") for image in images)  # the search does look at them
    assert [[r.text for r in found if r.valid] for found in blind.read(images)] == [[], [], []]


def test_an_image_whose_plate_was_read_is_not_searched_by_colour(
        plates: PlatePipeline, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[type-arg]
    calls: list[int] = []

    def counted(image: Image, *args: object, **kwargs: object) -> list[np.ndarray]:
        calls.append(1)
        return []

    monkeypatch.setattr(plate_pipeline, "coloured_quads", counted)
    image, corners = scene(render_two_row("鲁Q1234挂"), 7)
    box = [float(corners[:, 0].min()), float(corners[:, 1].min()),
           float(corners[:, 0].max()), float(corners[:, 1].max())]

    class Exact(Detector):
        def infer(self, images: Sequence[Image]) -> list[Detections]:
            return [Detections.build(np.asarray([box], np.float32), np.asarray([0.9], np.float32), None,
                                     corners[None].astype(np.float32)) for _ in images]

    (found,) = plates.with_detector(Exact()).read([image])
    assert [r.text for r in found if r.valid] == ["鲁Q1234挂"]
    assert calls == []
    plates.with_detector(Detector()).read([image])
    assert calls == [1]
