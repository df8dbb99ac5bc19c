from __future__ import annotations

import numpy as np
import pytest

from vision.plate.ctc import constrained, edit_distance, greedy


def frames(*rows: tuple[int, float], classes: int = 6) -> np.ndarray:
    """One frame per (class, probability); the rest of the mass goes to the blank (0)."""
    out = np.zeros((len(rows), classes), np.float32)
    for t, (cls, p) in enumerate(rows):
        out[t, cls] = p
        out[t, 0] += 1 - p
    return out


def test_greedy_collapses_repeats_and_drops_blanks() -> None:
    probs = frames((1, 0.9), (1, 0.8), (0, 1.0), (1, 0.7), (2, 0.6), (0, 1.0))
    chars = greedy(probs)
    assert [c.index for c in chars] == [1, 1, 2]
    assert [c.score for c in chars] == pytest.approx([0.9, 0.7, 0.6])
    assert [(c.start, c.end) for c in chars] == [(0, 2), (3, 4), (4, 5)]


def test_constrained_recovers_a_character_the_blank_swallowed() -> None:
    probs = frames((0, 1.0), (1, 0.9), (0, 1.0), (2, 0.9), (0, 1.0))
    probs[0] = [0.6, 0.0, 0.0, 0.1, 0.3, 0.0]  # the blank wins, class 4 is the best allowed one
    template = [np.array([3, 4]), np.array([1]), np.array([2])]
    best = constrained(probs, template, np.array([0]))
    assert [c.index for c in best.chars] == [4, 1, 2]
    assert best.chars[0].score == pytest.approx(0.3)
    assert best.log_prob < 0


def test_constrained_needs_a_blank_between_equal_characters() -> None:
    probs = frames((1, 0.9), (1, 0.9), (0, 1.0))
    best = constrained(probs, [np.array([1]), np.array([1])], np.array([0]))
    first, second = best.chars
    assert second.start > first.end  # a blank frame separates them, else CTC would merge them


def test_constrained_reports_impossible_templates() -> None:
    probs = frames((1, 0.9), (0, 1.0))
    best = constrained(probs, [np.array([1])] * 3, np.array([0]))
    assert best.chars == [] and best.log_prob == float("-inf")


@pytest.mark.parametrize(("a", "b", "distance"), [
    ("", "", 0), ("京A12345", "京A12345", 0), ("A12345", "京A12345", 1), ("HELLO", "京AHELL0", 3),
])
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
