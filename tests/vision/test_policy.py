"""The recognition policy: each still/live difference, and the geometry it drives (pure)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from vision.policy import RecognitionPolicy, crop_boxes, crop_plan, plate_input

STILL, LIVE = RecognitionPolicy.still(), RecognitionPolicy.live()


def test_still_and_live_differ_only_in_the_documented_switches() -> None:
    differ = {f.name for f in fields(RecognitionPolicy) if getattr(STILL, f.name) != getattr(LIVE, f.name)}
    assert differ == {"fit_input_to_crop", "faces_on_people", "min_embed_face", "plate_inputs",
                      "whole_image_plates", "vehicles_for_plates"}
    documented = RecognitionPolicy.__doc__ or ""
    assert all(f"{name}:" in documented for name in (f.name for f in fields(RecognitionPolicy)))


@pytest.mark.parametrize(("policy", "expected"), [
    # live: the detector input follows the crop at the whole frame's scale (0.5), rounded to 64
    (LIVE, [((0, 0, 1280, 720), (640, 384)), ((100, 100, 300, 500), (128, 256))]),
    # still: every crop letterboxed into the detector's own input
    (STILL, [((0, 0, 1280, 720), (640, 640)), ((100, 100, 300, 500), (640, 640))]),
])
def test_crop_plan_fits_the_input_to_the_crop_only_live(policy: RecognitionPolicy,
                                                        expected: list[object]) -> None:
    whole = crop_plan((1280, 720), None, (640, 640), policy)
    region = crop_plan((1280, 720), np.asarray([[100, 100, 300, 500]], np.float32), (640, 640), policy)
    assert whole + region == expected


@pytest.mark.parametrize(("regions", "expected"), [
    (None, [(0, 0, 1280, 720)]),
    ([[100.4, 100.6, 300.2, 500.9]], [(100, 100, 301, 501)]),  # outward to whole pixels
    ([[-20, -5, 40, 30]], [(0, 0, 40, 30)]),  # clipped to the frame
    ([[10, 10, 17, 100]], [(0, 0, 1280, 720)]),  # under 8 px: dropped, so the whole frame
    ([[0, 0, 1000, 720]], [(0, 0, 1280, 720)]),  # over half the frame: the whole frame
])
def test_crop_boxes(regions: list[list[float]] | None, expected: list[tuple[int, ...]]) -> None:
    array = None if regions is None else np.asarray(regions, np.float32)
    assert crop_boxes((1280, 720), array, LIVE) == expected


@pytest.mark.parametrize(("longest", "policy", "expected"), [
    (100.0, LIVE, (320, 320)),
    (320.0, LIVE, (320, 320)),
    (321.0, LIVE, (480, 480)),
    (700.0, LIVE, (960, 960)),  # larger than every listed input: the detector's own
    (100.0, STILL, (960, 960)),  # still images: always the detector's own
])
def test_plate_input(longest: float, policy: RecognitionPolicy, expected: tuple[int, int]) -> None:
    assert plate_input(longest, (960, 960), policy) == expected
