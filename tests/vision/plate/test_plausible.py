"""What makes a grammatical reading a plate, and how split plate detections are joined (no models)."""

from __future__ import annotations

import dataclasses

import numpy as np

from vision.plate.colour import foreign_colour
from vision.plate.ctc import CtcChar, evidence
from vision.plate.grammar import PROVINCES
from vision.plate.pipeline import best_of, halves, merge_split, rows_in_order
from vision.plate.plausible import PlausibleOptions, judge
from vision.plate.province import with_province
from vision.plate.reader import alike_classes
from vision.types import PlateReading

OPTIONS = PlausibleOptions()
QUAD = np.asarray([[0, 0], [310, 0], [310, 100], [0, 100]], np.float32)


def reading(text: str, seen: list[float], raw: str | None = None) -> PlateReading:
    return PlateReading(text=text, raw=text if raw is None else raw, score=0.9,
                        char_scores=np.full(len(text), 0.9, np.float32), valid=True, kind="standard",
                        evidence=np.asarray(seen, np.float32))


def test_a_province_the_image_does_not_show_makes_no_plate() -> None:
    """The issue's sign: 川 put before EASTGA by the grammar, with no probability in the image."""
    out = judge(reading("川EASTGA", [1e-5, 1, 1, 1, 1, 1, 1], raw="EASTGATE"), QUAD, None, OPTIONS)
    assert not out.valid and out.kind is None
    assert "'川' at position 1 not seen in the image" in out.rejected
    assert out.text == "川EASTGA"


def test_a_letter_the_grammar_put_in_for_a_digit_makes_no_plate() -> None:
    out = judge(reading("云A12345", [0.9, 0.0, 1, 1, 1, 1, 1], raw="12345"), QUAD, None, OPTIONS)
    assert not out.valid and "'A' at position 2" in out.rejected


SMALL = np.asarray([[0, 0], [90, 0], [90, 29], [0, 29]], np.float32)
"""A one-row plate 29 px high: its province is a blur of about 19 px."""


def test_a_blurred_but_seen_province_is_a_plate() -> None:
    plate = reading("桂M17431", [0.002, 0.98, 1, 1, 1, 1, 1], raw="M17431")
    assert judge(plate, SMALL, None, OPTIONS) == plate


def test_a_province_large_enough_to_be_plain_needs_more_evidence_than_a_blur() -> None:
    """Seed 2's sign: 苏 before NO PARKING (raw NPRKING) at 0.001, lettering boxed 116 x 49 px."""
    sign = reading("苏NPRKNG", [0.001, 0.42, 0.26, 0.63, 0.68, 0.68, 0.70], raw="NPRKING")
    lettering = np.asarray([[0, 0], [116, 0], [116, 49], [0, 49]], np.float32)
    out = judge(sign, lettering, None, OPTIONS)
    assert not out.valid and "'苏' at position 1 not seen" in out.rejected and "32 px" in out.rejected
    assert judge(sign, SMALL, None, OPTIONS).valid  # the same evidence on a blur passes
    assert judge(dataclasses.replace(sign, evidence=np.asarray([0.05, *sign.evidence[1:]], np.float32)),
                 lettering, None, OPTIONS).valid
    # A two-row plate's province is in its upper row, 60 of 220 mm: 49 px of plate is a blur.
    assert judge(dataclasses.replace(sign, rows=2), lettering, None,
                 PlausibleOptions(aspect_two_rows=(1.2, 3.2))).valid


def test_shape_colour_and_length_of_a_sign_make_no_plate() -> None:
    plate = reading("京A12345", [1.0] * 7)
    square = np.asarray([[0, 0], [100, 0], [100, 100], [0, 100]], np.float32)
    assert "shape 1.00:1" in judge(plate, square, None, OPTIONS).rejected
    assert judge(plate, QUAD, "red background", OPTIONS).rejected == "red background"
    long = reading("京A12345", [1.0] * 7, raw="京A12345678")
    assert "10 characters read" in judge(long, QUAD, None, OPTIONS).rejected
    two_rows = dataclasses.replace(plate, rows=2)
    assert judge(two_rows, np.asarray([[0, 0], [200, 0], [200, 100], [0, 100]], np.float32),
                 None, OPTIONS).valid


def test_red_and_purple_backgrounds_are_no_plates_blue_and_grey_are_not_judged() -> None:
    def crop(bgr: tuple[int, int, int]) -> np.ndarray:
        return np.full((48, 200, 3), bgr, np.uint8)

    assert foreign_colour(crop((30, 30, 200))) is not None  # red
    assert foreign_colour(crop((160, 40, 150))) is not None  # purple
    for plate_like in ((170, 60, 10), (20, 185, 245), (90, 200, 40), (128, 128, 128), (250, 250, 250)):
        assert foreign_colour(crop(plate_like)) is None


def test_evidence_is_the_character_s_own_probability_near_its_frames() -> None:
    probs = np.full((6, 4), 0.01, np.float32)
    probs[1, 2], probs[2, 3], probs[4, 1] = 0.9, 0.3, 0.002
    chars = [CtcChar(2, 0.9, 1, 2), CtcChar(1, 0.002, 4, 5)]
    np.testing.assert_allclose(evidence(probs, chars, {}), [0.9, 0.01])
    # A look-alike class (O for 0) counts as the character itself.
    np.testing.assert_allclose(evidence(probs, [CtcChar(2, 0.3, 2, 3)], {2: np.asarray([2, 3])}), [0.9])


def test_a_re_read_province_carries_its_presence_as_evidence() -> None:
    plate = reading("川E721BL", [1e-5, 1, 1, 1, 1, 1, 1])
    shares = np.zeros(len(PROVINCES), np.float32)
    shares[PROVINCES.index("吉")] = 1.0
    out = with_province(plate, shares, seen=1e-4)
    assert out.text == "吉E721BL"
    assert out.evidence is not None and float(out.evidence[0]) == np.float32(1e-4)
    assert not judge(out, QUAD, None, OPTIONS).valid


def test_two_halves_of_one_plate_are_joined_and_separate_plates_are_not() -> None:
    def det(x1: float, x2: float, y1: float = 10, y2: float = 50) -> tuple[np.ndarray, np.ndarray, float]:
        box = np.asarray([x1, y1, x2, y2], np.float32)
        quad = np.asarray([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
        return box, quad, 0.5

    (joined,) = merge_split([det(0, 70), det(80, 130)])
    np.testing.assert_array_equal(joined[0], [0, 10, 130, 50])
    np.testing.assert_array_equal(joined[1][[0, 2]], [[0, 10], [130, 50]])
    assert len(merge_split([det(0, 120), det(130, 250)])) == 2  # two whole plates side by side
    assert len(merge_split([det(0, 70), det(200, 260)])) == 2  # far apart
    assert len(merge_split([det(0, 70), det(75, 130, 60, 100)])) == 2  # different rows


def test_a_plate_is_not_joined_with_a_taller_patch_it_overlaps_only_in_part() -> None:
    """Seed 0's 挂 lorry plate (38 px) beside a 57 px yellow patch of the wall behind it."""
    def det(x1: float, x2: float, y1: float, y2: float) -> tuple[np.ndarray, np.ndarray, float]:
        quad = np.asarray([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
        return np.asarray([x1, y1, x2, y2], np.float32), quad, 0.15

    assert len(merge_split([det(85, 234, 327, 384), det(266, 355, 314, 352)])) == 2
    # Halves of one plate span its rows, a pixel or two apart: joined.
    assert len(merge_split([det(85, 160, 327, 365), det(170, 240, 325, 366)])) == 1


def test_a_province_put_over_a_character_the_reader_saw_needs_more_evidence() -> None:
    """危险品 / HAZMAT 3: 险 read with confidence became 宁 (evidence 0.0135)."""
    sign = dataclasses.replace(reading("宁HAZMAT", [0.0135, 1, 1, 1, 1, 1, 1], raw="险HAZMAT"),
                               overwritten="险")
    assert "stands where '险' was read" in judge(sign, QUAD, None, OPTIONS).rejected
    blurred = dataclasses.replace(reading("沪P7306挂", [0.06, 1, 1, 1, 1, 1, 1], raw="PP7306挂"),
                                  overwritten="P")
    assert judge(blurred, QUAD, None, OPTIONS).valid


def test_chinese_text_besides_the_plate_makes_no_plate() -> None:
    """京东快递 / JD EXPRESS read 京东快NHAES became 京ENHAES: two Chinese characters too many."""
    sign = reading("京ENHAES", [0.99, 0.5, 1, 1, 1, 1, 1], raw="京东快NHAES")
    assert "Chinese text '东快'" in judge(sign, QUAD, None, OPTIONS).rejected
    misread_province = reading("琼DF667G", [0.5, 1, 1, 1, 1, 1, 1], raw="吃DF667G")
    assert judge(misread_province, QUAD, None, OPTIONS).valid


def test_a_plate_read_again_from_a_part_of_it_is_kept_once() -> None:
    whole = dataclasses.replace(reading("青D483PP", [1.0] * 7), box=np.asarray([0, 0, 300, 100], np.float32))
    part = dataclasses.replace(reading("青D483PL", [1.0] * 7), score=0.8,
                               box=np.asarray([150, 10, 310, 100], np.float32))
    other = dataclasses.replace(reading("京A12345", [1.0] * 7), score=0.7,
                                box=np.asarray([400, 0, 700, 100], np.float32))
    assert [r.text for r in best_of([part, whole, other], 0.5)] == ["青D483PP", "京A12345"]


def test_parts_of_different_colours_are_not_joined() -> None:
    """A lorry's yellow plate beside the lettering of its tailgate is no split plate."""
    def det(x1: float, x2: float) -> tuple[np.ndarray, np.ndarray, float]:
        quad = np.asarray([[x1, 10], [x2, 10], [x2, 50], [x1, 50]], np.float32)
        return np.asarray([x1, 10, x2, 50], np.float32), quad, 0.5

    assert len(merge_split([det(0, 70), det(80, 130)], same=lambda a, b: True)) == 1
    assert len(merge_split([det(0, 70), det(80, 130)], same=lambda a, b: False)) == 2


def test_a_two_row_reading_takes_two_characters_above_and_five_below() -> None:
    plate = dataclasses.replace(reading("鲁Q1234挂", [1.0] * 7),
                                positions=np.asarray([0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9], np.float32))
    assert rows_in_order(plate, 0.4)
    # A sign's Chinese line over Latin lettering: one of the lower line's letters made the letter.
    sign = dataclasses.replace(plate, positions=np.asarray([0.1, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9], np.float32))
    assert not rows_in_order(sign, 0.4)
    assert rows_in_order(dataclasses.replace(plate, positions=None), 0.4)  # unknown: not judged


def test_large_images_are_searched_in_two_overlapping_halves() -> None:
    assert halves(810, 1080) == [(0, 0, 810, 720), (0, 360, 810, 1080)]
    assert halves(1920, 1080) == [(0, 0, 1280, 1080), (640, 0, 1920, 1080)]


def test_a_j_read_as_its_glyph_twin_counts_as_a_j() -> None:
    """The upper row's thin J is read as 」 or 丁: seen, so the grammar may choose J."""
    classes = alike_classes(["<blank>", "J", "」", "丁", "A", " "])
    assert sorted(classes[1].tolist()) == [1, 2, 3]
    assert classes[4].tolist() == [4]


def test_a_close_photo_of_a_two_row_plate_is_one_a_yellow_plate_spans() -> None:
    from vision.plate.pipeline import CloseupOptions, two_row_closeup

    opts = CloseupOptions()
    photo = np.zeros((351, 470, 3), np.uint8)  # a motorcycle plate filling the photo, 1.34:1
    lower_row = dataclasses.replace(reading("云K4F471", [0.0] + [1.0] * 6), valid=False, colour="yellow",
                                    box=np.asarray([58, 101, 435, 262], np.float32))
    assert two_row_closeup(photo, [lower_row], opts)
    assert not two_row_closeup(photo, [dataclasses.replace(lower_row, colour="blue")], opts)
    narrow = dataclasses.replace(lower_row, box=np.asarray([58, 101, 200, 262], np.float32))
    assert not two_row_closeup(photo, [narrow], opts)
    assert not two_row_closeup(np.zeros((200, 700, 3), np.uint8), [lower_row], opts)  # one-row shaped


def test_a_separator_where_the_province_stands_is_no_character_it_replaced() -> None:
    """A two-row plate's upper row read ``·Y`` where its faint province 藏 is."""
    from pathlib import Path

    from vision.plate.ctc import CtcChar
    from vision.plate.reader import PlateReader

    reader = PlateReader(Path("unused.onnx"))
    reader.characters = ["<blank>", "·", "Y", "险", "藏", " "]
    reader._provinces = np.asarray([4], np.intp)
    province = CtcChar(4, 0.01, 0, 2)
    assert reader._overwritten([CtcChar(1, 0.9, 0, 2), CtcChar(2, 0.9, 3, 4)], province) == ""
    assert reader._overwritten([CtcChar(3, 0.9, 0, 2), CtcChar(2, 0.9, 3, 4)], province) == "险"
