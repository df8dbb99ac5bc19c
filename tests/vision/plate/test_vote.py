"""The readers' majority vote (pure: readings in, reading out)."""

from __future__ import annotations

import numpy as np
import pytest

from vision.plate.grammar import parse_plate
from vision.plate.vote import needs_vote, vote
from vision.types import PlateReading


def reading(text: str, score: float = 0.9, *, scores: list[float] | None = None) -> PlateReading:
    parsed = parse_plate(text)
    char_scores = np.asarray(scores if scores is not None else [score] * len(parsed.text), np.float32)
    return PlateReading(text=parsed.text, raw=text, score=float(char_scores.mean()),
                        char_scores=char_scores, valid=parsed.valid, kind=parsed.kind)


def test_each_position_goes_to_the_majority() -> None:
    """v6 reads the trailing 1 as 7, the other two read 1; the province goes the other way."""
    voted = vote([reading("鄂K9507Y"), reading("鄂K9501Y"), reading("新K9501Y")])
    assert voted.text == "鄂K9501Y" and voted.valid and voted.kind == "standard"


def test_a_three_way_split_keeps_the_first_readers_character() -> None:
    assert vote([reading("云TG9E10"), reading("吉TG9E10"), reading("蒙TG9E10")]).text == "云TG9E10"


def test_scores_say_how_many_readers_agreed() -> None:
    voted = vote([reading("京A12347", 0.9), reading("京A12341", 0.6), reading("京A12341", 0.8)])
    assert voted.text == "京A12341"
    np.testing.assert_allclose(voted.char_scores[:6], [(0.9 + 0.6 + 0.8) / 3] * 6, rtol=1e-6)
    assert voted.char_scores[6] == pytest.approx((0.6 + 0.8) / 2 * 2 / 3)
    assert voted.score == pytest.approx(float(voted.char_scores.mean()))


def test_the_length_is_voted_first() -> None:
    """A green plate read with a character lost by one reader: the two 8-character readings win."""
    voted = vote([reading("新D15808"), reading("云JD15808"), reading("云JD15808")])
    assert voted.text == "云JD15808" and voted.kind == "new_energy"


def test_invalid_readings_do_not_vote() -> None:
    first = reading("京A12345")
    assert vote([first, reading("停车场"), reading("HELLO")]) is first
    assert vote([reading("停车场"), reading("京A12345"), reading("京A12345")]).text == "京A12345"


def test_fewer_than_two_valid_readings_keep_the_first() -> None:
    first = reading("出口")
    assert vote([first, reading("京A12345"), reading("EXIT 3")]) is first
    assert vote([reading("京A12345")]).text == "京A12345"
    with pytest.raises(ValueError, match="at least one"):
        vote([])


def test_the_first_readings_geometry_and_colour_are_kept() -> None:
    corners = np.zeros((4, 2), np.float32)
    first = reading("京A12347")
    first = PlateReading(**{**{f: getattr(first, f) for f in first.__dataclass_fields__},
                            "corners": corners, "colour": "blue", "raw": "京A·12347"})
    voted = vote([first, reading("京A12341"), reading("京A12341")])
    assert voted.corners is corners and voted.colour == "blue" and voted.raw == "京A·12347"


@pytest.mark.parametrize(("text", "scores", "expected"), [
    ("京A12345", [0.99] * 7, False),
    ("京A12345", [0.99] * 6 + [0.5], True),
    ("京A12345", [0.2] + [0.99] * 6, True),
    ("停车场", [0.99] * 3, True),
])
def test_who_goes_to_the_vote(text: str, scores: list[float], expected: bool) -> None:
    assert needs_vote(reading(text, scores=scores), 0.95) is expected
