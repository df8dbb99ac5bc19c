"""Pure cores: match decisions, query validation, plate confusion matching, retention."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from registry.enrollment import count_refusal
from registry.matching import Candidate, decide, normalise_queries
from registry.plates import PlateBook, PlateOwner, confusion_key, match_plate, near_confidence
from registry.retention import visit_active, visitor_expired, visitors_to_purge


def c(owner: str, score: float, template: str | None = None) -> Candidate:
    return Candidate(template or f"t-{owner}-{score}", "resident", owner, score)


@pytest.mark.parametrize(
    ("candidates", "threshold", "status", "best_owner", "expected_error"),
    [
        ([], 0.4, "unknown", None, None),
        ([c("a", 0.41)], 0.4, "match", "a", None),
        ([c("a", 0.40)], 0.40, "match", "a", None),  # at the threshold: match
        ([c("a", 0.3999999)], 0.40, "unknown", None, None),  # just below: unknown, not nearest
        ([c("a", 0.2), c("b", 0.7), c("a", 0.6)], 0.5, "match", "b", None),
        ([c("a", 0.6), c("a", 0.55)], 0.5, "match", "a", None),
        ([c("a", -0.2)], -1.0, "match", "a", None),
        ([c("a", 1.0)], 1.0, "match", "a", None),
        ([c("a", 0.9)], 1.5, None, None, "threshold"),
        ([c("a", 0.9)], float("nan"), None, None, "threshold"),
        ([c("a", float("nan"))], 0.4, None, None, "non-finite"),
    ],
)
def test_decide(
    candidates: list[Candidate],
    threshold: float,
    status: str | None,
    best_owner: str | None,
    expected_error: str | None,
) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            decide(candidates, threshold)
        return
    decision = decide(candidates, threshold)
    assert decision.status == status
    assert (decision.best.owner_id if decision.best else None) == best_owner
    owners = [x.owner_id for x in decision.candidates]
    assert len(owners) == len(set(owners)), "one candidate per person"
    assert [x.score for x in decision.candidates] == sorted(
        (x.score for x in decision.candidates), reverse=True
    )


@pytest.mark.parametrize(
    ("shape", "fill", "expected_error"),
    [
        ((512,), 1.0, None),
        ((3, 512), 2.0, None),
        ((2, 128), 1.0, r"\(N, 512\)"),
        ((1, 512), 0.0, "non-zero"),
        ((1, 512), np.inf, "finite"),
    ],
)
def test_normalise_queries(shape: tuple[int, ...], fill: float, expected_error: str | None) -> None:
    x = np.full(shape, fill, np.float32)
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            normalise_queries(x, 512)
        return
    out = normalise_queries(x, 512)
    assert out.dtype == np.float32 and out.ndim == 2
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


def book(*plates: str) -> PlateBook:
    return PlateBook.build(
        PlateOwner(p, "vehicle", f"v{i}", "resident", f"r{i}") for i, p in enumerate(plates)
    )


@pytest.mark.parametrize(
    ("registered", "query", "status", "plate", "confidence", "positions"),
    [
        (("京A12345",), "京A12345", "exact", "京A12345", 1.0, ()),
        (("京A12345",), "京a·12345", "exact", "京A12345", 1.0, ()),  # normalised first
        (("京A12345",), "京Ａ１２３４５", "exact", "京A12345", 1.0, ()),  # full-width folded
        (("京A12345",), "京AI2345", "near", "京A12345", 0.85, (2,)),  # 1/I
        (("京A12345",), "京AIZ345", "near", "京A12345", 0.7, (2, 3)),  # 1/I and 2/Z
        (("粤B0D8Q5",), "粤BD0BQS", "near", "粤B0D8Q5", 0.4, (2, 3, 4, 6)),  # 0/D, 8/B, 5/S
        (("京A12345",), "京A12346", "unknown", None, 0.0, ()),  # 5 vs 6 is not a confusion
        (("京A12345",), "沪A12345", "unknown", None, 0.0, ()),  # province differs
        (("京A12345",), "京A1234", "unknown", None, 0.0, ()),  # length differs
        (("京A12345",), "", "unknown", None, 0.0, ()),
        (("京A8B000", "京AB8000"), "京A88000", "near", "京A8B000", 0.425, (3,)),  # ambiguous: halved
    ],
)
def test_match_plate(
    registered: tuple[str, ...],
    query: str,
    status: str,
    plate: str | None,
    confidence: float,
    positions: tuple[int, ...],
) -> None:
    result = match_plate(query, book(*registered))
    assert (result.status, result.plate, result.confused_positions) == (status, plate, positions)
    assert result.confidence == pytest.approx(confidence)
    if status == "near":
        assert result.confidence < 1.0 and result.owners


def test_near_match_is_never_equal() -> None:
    result = match_plate("京AI2345", book("京A12345"))
    assert result.query != result.plate and result.status == "near"


@pytest.mark.parametrize(
    ("confused", "ambiguous", "expected", "expected_error"),
    [(1, False, 0.85, None), (10, False, 0.4, None), (2, True, 0.35, None), (0, False, None, "at least one")],
)
def test_near_confidence(
    confused: int, ambiguous: bool, expected: float | None, expected_error: str | None
) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            near_confidence(confused, ambiguous=ambiguous)
    else:
        assert near_confidence(confused, ambiguous=ambiguous) == pytest.approx(expected)


def test_confusion_key_folds_groups() -> None:
    assert confusion_key("DQO0") == "0000" and confusion_key("B8IZ2S") == "881225"


T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("valid_until", "now", "retention", "expected", "expected_error"),
    [
        (T0, T0 + 30 * DAY, 30 * DAY, True, None),  # exactly at the end of retention
        (T0, T0 + 30 * DAY - dt.timedelta(seconds=1), 30 * DAY, False, None),
        (T0, T0, dt.timedelta(0), True, None),
        (T0, T0 - DAY, dt.timedelta(0), False, None),
        (T0, T0, -DAY, None, "negative"),
        (T0.replace(tzinfo=None), T0, DAY, None, "timezone-aware"),
    ],
)
def test_visitor_expired(
    valid_until: dt.datetime,
    now: dt.datetime,
    retention: dt.timedelta,
    expected: bool | None,
    expected_error: str | None,
) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            visitor_expired(valid_until, now, retention)
    else:
        assert visitor_expired(valid_until, now, retention) is expected


def test_visitors_to_purge_and_active_window() -> None:
    rows = [("old", T0 - 40 * DAY), ("recent", T0 - DAY), ("future", T0 + DAY)]
    assert visitors_to_purge(rows, T0, 30 * DAY) == ["old"]
    assert visit_active(T0 - DAY, T0, T0) and not visit_active(T0 - DAY, T0, T0 + dt.timedelta(seconds=1))


@pytest.mark.parametrize(
    ("n", "expected", "expected_error"),
    [
        (0, "no face found", None),
        (1, None, None),
        (3, "several faces found (3); the photo must show exactly one person", None),
        (-1, None, "negative"),
    ],
)
def test_count_refusal(n: int, expected: str | None, expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            count_refusal(n)
    else:
        assert count_refusal(n) == expected
