"""The recognition policy: each still/live difference, and the geometry it drives (pure)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from vision.policy import RecognitionPolicy, crop_boxes, crop_plan, fewest_regions, head_input, plate_input

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


def test_fewest_regions_merges_the_nearest_pairs_first() -> None:
    regions = np.asarray([[0, 0, 10, 10], [12, 0, 22, 10], [500, 500, 510, 510], [100, 100, 110, 110],
                          [503, 512, 513, 522]], np.float32)
    merged = fewest_regions(regions, 3)
    assert sorted(merged.tolist()) == [[0, 0, 22, 10], [100, 100, 110, 110], [500, 500, 513, 522]]
    assert fewest_regions(regions, 5).tolist() == regions.tolist()  # few enough: unchanged
    assert fewest_regions(regions, 1).tolist() == [[0, 0, 513, 522]]
    # Every region stays inside some merged box.
    assert all(any(b[0] <= r[0] and b[1] <= r[1] and r[2] <= b[2] and r[3] <= b[3] for b in merged)
               for r in regions)
    with pytest.raises(ValueError, match="most"):
        fewest_regions(regions, 0)


@pytest.mark.parametrize(("longest", "policy", "expected"), [
    (100.0, LIVE, (320, 320)),
    (320.0, LIVE, (320, 320)),
    (321.0, LIVE, (480, 480)),
    (700.0, LIVE, (960, 960)),  # larger than every listed input: the detector's own
    (100.0, STILL, (960, 960)),  # still images: always the detector's own
])
def test_plate_input(longest: float, policy: RecognitionPolicy, expected: tuple[int, int]) -> None:
    assert plate_input(longest, (960, 960), policy) == expected


@pytest.mark.parametrize(("head", "policy", "expected"), [
    # live: longest side x head_face_input / min_embed_face (32 / 24), up to a multiple of 32
    ((0, 0, 30, 40), LIVE, (64, 64)),  # 53 px: at least min_input
    ((0, 0, 50, 40), LIVE, (96, 96)),  # 67 px
    ((10, 20, 70, 116), LIVE, (128, 128)),  # the longer side counts: 96 -> 128
    ((0, 0, 96, 97), LIVE, (160, 160)),  # 130 px: at most face_input
    ((0, 0, 300, 280), LIVE, (160, 160)),  # a large head is scaled down, as before
    ((0, 0, 50, 40), RecognitionPolicy(min_embed_face=0.0), (160, 160)),  # every face embedded
    ((0, 0, 30, 40), RecognitionPolicy(face_input=320), (64, 64)),
])
def test_head_input_follows_the_head_within_bounds(head: tuple[int, int, int, int],
                                                    policy: RecognitionPolicy,
                                                    expected: tuple[int, int]) -> None:
    assert head_input(head, policy) == expected


def test_head_input_gives_a_face_of_min_embed_face_its_input_pixels() -> None:
    """Below face_input, the smallest embedded face spans at least head_face_input input pixels."""
    for longest in range(8, 400):
        (side, _) = head_input((0, 0, longest, longest // 2), LIVE)
        assert side % 32 == 0 and LIVE.min_input <= side <= LIVE.face_input
        if side < LIVE.face_input:
            assert LIVE.min_embed_face * side / longest >= LIVE.head_face_input
