"""Plates as users send them (issue 12), through the full still-image path on real models.

Signs and lettering are never read as plates; close photos of a plate are read whole, never
split; two-row plates are read in order. Images are rendered (see :mod:`media.plates`,
:mod:`media.signs`) with a fixed seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media.plates import (
    closeup,
    generate_two_row,
    load_background,
    render_motorcycle,
    render_plate,
    render_two_row,
)
from media.signs import LATIN_FONTS, SIGN_FONTS, generate_signs, render_sign
from vision.cascade import Cascade, to_json
from vision.plate.grammar import parse_plate

CAR_PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg")


@pytest.fixture(scope="module")
def cascade(model_store: Path) -> Cascade:
    return Cascade.from_store(run=["vehicles", "plates"])


def _pad(sign: np.ndarray, share: float = 0.15) -> np.ndarray:
    h, w = sign.shape[:2]
    canvas = np.full((round(h * (1 + 2 * share)), round(w * (1 + 2 * share)), 3), 128, np.uint8)
    y, x = round(h * share), round(w * share)
    canvas[y:y + h, x:x + w] = sign
    return canvas


def test_signs_and_lettering_are_never_plates(cascade: Cascade) -> None:
    """The issue's two signs (read as 川EASTGA and 川XPRESS before) and 18 more: no plate."""
    blue, white, red = (170, 60, 10), (245, 245, 245), (30, 30, 200)
    issue = [render_sign(("小区东门", "EAST GATE"), blue, white, SIGN_FONTS[0], line_height=56),
             render_sign(("京东快递", "JD EXPRESS"), red, white, SIGN_FONTS[0], line_height=56,
                         latin_font=LATIN_FONTS[0])]
    images = [_pad(s) for s in issue] + [s.image for s in generate_signs(18, seed=12)]
    results = [to_json(r) for r in cascade.recognize(images)]
    plates = [p for r in results for p in r["plates"]]
    assert [p["text"] for p in plates if p["valid"]] == []
    assert all(p["kind"] is None for p in plates)
    assert all(p["rejected"] for p in plates if parse_plate(p["text"]).valid)


@pytest.mark.parametrize(("text", "colour"), [("吉XE721B", "blue"), ("粤B8X6K2", "yellow")])
def test_close_photos_of_a_plate_are_read_whole(cascade: Cascade, text: str, colour: str) -> None:
    """A plate filling most of the image: one plate, read exactly (吉XE721B came back in two halves)."""
    rng = np.random.default_rng(1212)
    photo = load_background(str(CAR_PHOTO)) if CAR_PHOTO.is_file() else np.full((480, 640, 3), 90, np.uint8)
    reads = []
    for fill in ((0.88, 0.9), (0.7, 0.72)):
        plate = render_plate(text, "blue" if colour == "blue" else "yellow")
        image, _ = closeup(plate, photo, rng, fill=fill, width=(300, 300))
        (result,) = cascade.recognize([image])
        reads.append([(p.reading.text, p.reading.valid) for p in result.plates if p.reading.valid])
    assert reads == [[(text, True)], [(text, True)]]


def test_a_two_row_plate_is_read_in_order(cascade: Cascade) -> None:
    """A lorry's yellow two-row plate: 鲁Q above, 1234挂 below."""
    rng = np.random.default_rng(1213)
    photo = load_background(str(CAR_PHOTO)) if CAR_PHOTO.is_file() else np.full((480, 640, 3), 90, np.uint8)
    image, _ = closeup(render_two_row("鲁Q1234挂"), photo, rng, fill=(0.7, 0.7), width=(260, 260))
    (result,) = cascade.recognize([image])
    plates = [p for p in to_json(result)["plates"] if p["valid"]]
    read = [(p["text"], p["rows"], p["kind"], p["colour"]) for p in plates]
    assert read == [("鲁Q1234挂", 2, "standard", "yellow")]


def test_a_motorcycle_plate_is_read_in_order_as_a_motorcycles(cascade: Cascade) -> None:
    """A motorcycle's yellow two-row plate (220 x 140 mm): 浙C above, 8K215 below."""
    rng = np.random.default_rng(1214)
    photo = load_background(str(CAR_PHOTO)) if CAR_PHOTO.is_file() else np.full((480, 640, 3), 90, np.uint8)
    image, _ = closeup(render_motorcycle("浙C8K215"), photo, rng, fill=(0.7, 0.7), width=(240, 240))
    (result,) = cascade.recognize([image])
    plates = [p for p in to_json(result)["plates"] if p["valid"]]
    assert [(p["text"], p["rows"], p["kind"]) for p in plates] == [("浙C8K215", 2, "motorcycle")]


def test_two_row_plates_in_scenes_are_read_whole(cascade: Cascade) -> None:
    """The two-row set's first plates (seed 0): the detector found 晋E98V42 (on the bus photo) only
    beside the bus's lettering, and 闽Z919S2 without the top of its upper row (its Z read as 2)."""
    assert cascade.plates is not None
    plates = generate_two_row(7, 0)
    found = cascade.plates.read([p.image for p in plates])
    assert [[(r.text, r.rows) for r in found[i] if r.valid] for i in (4, 6)] == [
        [(plates[i].text, 2)] for i in (4, 6)]


def test_a_sign_with_chinese_over_latin_is_no_two_row_plate(cascade: Cascade) -> None:
    """A yellow sign's two lines look like a two-row plate, but its upper line is no province + letter."""
    assert cascade.plates is not None
    sign = render_sign(("粤港车行", "AUTO SERVICE"), (20, 185, 245), (15, 15, 15), SIGN_FONTS[0],
                       line_height=56)
    (found,) = cascade.plates.read([_pad(sign)])
    assert [r.text for r in found if r.valid] == []
