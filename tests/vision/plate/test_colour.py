"""Plate colour from a crop, and what the colour allows the text to be."""

from __future__ import annotations

import numpy as np
import pytest

from media import plates as plate_set
from vision.plate.colour import TEMPLATES_BY_COLOUR, plate_colour
from vision.plate.grammar import TEMPLATES, matches, parse_plate


@pytest.mark.parametrize("colour", plate_set.COLOURS)
def test_flat_rendered_plates_have_their_colour(colour: plate_set.Colour) -> None:
    text = {"blue": "京A12345", "yellow": "苏E1234学", "green": "粤BD12345"}[colour]
    plate = plate_set.render_plate(text, colour, scale=0.5)
    assert plate_colour(plate) == colour


@pytest.mark.parametrize("bgr", [(255, 255, 255), (20, 20, 20), (128, 128, 128), (40, 40, 200)],
                         ids=["white-police", "black-hk", "grey-infrared", "red"])
def test_other_plates_get_no_colour(bgr: tuple[int, int, int]) -> None:
    crop = np.zeros((48, 200, 3), np.uint8)
    crop[:] = bgr
    crop[10:38, 20:180:20] = (255 - np.asarray(bgr)).astype(np.uint8)  # some "characters"
    assert plate_colour(crop) is None


def test_a_malformed_crop_is_an_error() -> None:
    with pytest.raises(ValueError, match="crop"):
        plate_colour(np.zeros((48, 100), np.uint8))
    with pytest.raises(ValueError, match="crop"):
        plate_colour(np.zeros((0, 100, 3), np.uint8))


@pytest.mark.parametrize(("text", "colours"), [
    ("京A12345", {"blue", "yellow"}),
    ("苏E1234学", {"yellow"}),
    ("粤BD12345", {"green"}),
    ("京A12345D", {"yellow", "green"}),
])
def test_each_kind_of_plate_fits_its_colours(text: str, colours: set[str]) -> None:
    assert parse_plate(text).valid
    fits = {c for c, allowed in TEMPLATES_BY_COLOUR.items()
            if any(matches(text, TEMPLATES[t]) for t in allowed)}
    assert fits == colours


def test_matches_checks_every_position() -> None:
    assert matches("京A12345", TEMPLATES["standard"])
    assert not matches("京A1234", TEMPLATES["standard"])
    assert not matches("京I12345", TEMPLATES["standard"])
    assert not matches("A京12345", TEMPLATES["standard"])
