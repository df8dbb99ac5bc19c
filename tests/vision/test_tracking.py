"""Tracker and identity vote: pure, synthetic boxes, no models."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from pydantic import ValidationError

from vision.tracking import (
    Ballot,
    IdentityVote,
    Tracker,
    TrackerConfig,
    TrackUpdate,
    greedy_match,
    iou_matrix,
    tally,
)
from vision.types import Detections

DT = 0.2  # 5 fps


def dets(boxes: Sequence[Sequence[float]], scores: Sequence[float] | None = None) -> Detections:
    if not boxes:
        return Detections.empty()
    return Detections.build(boxes, scores if scores is not None else [0.9] * len(boxes))


def walker(x0: float, vx: float, i: int, y: float = 100.0, w: float = 40.0, h: float = 80.0) -> list[float]:
    x = x0 + vx * i
    return [x, y, x + w, y + h]


def run(tracker: Tracker[str], frames: Sequence[Detections], start: float = 0.0) -> list[TrackUpdate[str]]:
    return [tracker.update(d, start + i * DT) for i, d in enumerate(frames)]


def ballot(identity: str | None, weight: float = 1.0, at: float = 0.0) -> Ballot[str]:
    return Ballot(identity, weight, at, f"evidence-{identity}-{weight}")


# -- geometry ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "expected"), [
    ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
    ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
    ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
    ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
    ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate: no division by zero
])
def test_iou(a: list[float], b: list[float], expected: float) -> None:
    got = iou_matrix(np.array([a], np.float32), np.array([b], np.float32))
    assert got.shape == (1, 1)
    assert got[0, 0] == pytest.approx(expected, abs=1e-6)


def test_iou_empty_shapes() -> None:
    assert iou_matrix(np.zeros((0, 4), np.float32), np.zeros((3, 4), np.float32)).shape == (0, 3)


def test_greedy_match_takes_best_pair_first() -> None:
    iou = np.array([[0.9, 0.8], [0.85, 0.1]], np.float32)
    assert sorted(greedy_match(iou, 0.3)) == [(0, 0)]  # row 1's only candidate >= 0.3 is taken
    assert sorted(greedy_match(iou, 0.05)) == [(0, 0), (1, 1)]


# -- tracker ----------------------------------------------------------------------------------

def test_one_track_per_walker() -> None:
    tracker: Tracker[str] = Tracker()
    frames = [dets([walker(0, 8, i), walker(400, -4, i, y=300)]) for i in range(15)]
    updates = run(tracker, frames)
    ids = {tid for u in updates for tid in u.assigned}
    assert ids == {1, 2}
    assert [t.id for t in tracker.tracks] == [1, 2]
    assert tracker.tracks[0].hits == 15
    assert tracker.tracks[0].age == pytest.approx(14 * DT)


def test_birth_after_min_hits_and_tentative_dies_at_first_miss() -> None:
    tracker: Tracker[str] = Tracker(TrackerConfig(min_hits=3))
    updates = run(tracker, [dets([walker(0, 5, 0)]), dets([walker(0, 5, 1)]), dets([walker(0, 5, 2)])])
    assert [len(u.active) for u in updates] == [0, 0, 1]
    flicker: Tracker[str] = Tracker(TrackerConfig(min_hits=3))
    run(flicker, [dets([walker(0, 5, 0)]), dets([]), dets([walker(0, 5, 2)])])
    assert flicker.tracks == []  # a one-frame blip never becomes a track


def test_id_stable_across_missed_frames() -> None:
    tracker: Tracker[str] = Tracker()
    frames = [dets([walker(0, 6, i)]) if i not in (4, 5) else dets([]) for i in range(10)]
    updates = run(tracker, frames)
    assert {tid for u in updates for tid in u.assigned if tid is not None} == {1}
    assert not any(u.ended for u in updates)


def test_track_ends_after_max_missed_frames() -> None:
    tracker: Tracker[str] = Tracker(TrackerConfig(max_missed=2, max_idle_s=60))
    updates = run(tracker, [dets([walker(0, 5, i)]) for i in range(3)] + [dets([])] * 3)
    ended_at = [i for i, u in enumerate(updates) if u.ended]
    assert ended_at == [5]  # third miss
    assert tracker.tracks == []


def test_track_ends_after_idle_seconds_even_with_few_frames() -> None:
    tracker: Tracker[str] = Tracker(TrackerConfig(max_missed=100, max_idle_s=1.0))
    run(tracker, [dets([walker(0, 5, i)]) for i in range(3)])
    update = tracker.update(dets([]), 10.0)  # the camera was silent for ~10 s
    assert [t.id for t in update.ended] == [1]


def test_no_id_swap_for_crossing_walkers() -> None:
    tracker: Tracker[str] = Tracker()
    # Two people walking towards each other on the same line, boxes overlap mid-way.
    frames = [dets([walker(0, 20, i), walker(400, -20, i)]) for i in range(21)]
    updates = run(tracker, frames)
    first = {tid: box for tid, box in zip(updates[0].assigned, frames[0].xyxy, strict=True)}
    last = dict(zip(updates[-1].assigned, frames[-1].xyxy, strict=True))
    assert set(first) == set(last) == {1, 2}
    # Track 1 started on the left and must end on the right (it kept walking right).
    assert first[1][0] < first[2][0]
    assert last[1][0] > last[2][0]


def test_low_score_detection_keeps_track_but_never_starts_one() -> None:
    tracker: Tracker[str] = Tracker(TrackerConfig(high_score=0.6, low_score=0.2))
    updates = run(tracker, [dets([walker(0, 5, 0)], [0.9]), dets([walker(0, 5, 1)], [0.9]),
                            dets([walker(0, 5, 2)], [0.3]),  # blurred: continues track 1
                            dets([[500, 500, 540, 580]], [0.3])])  # low score elsewhere: ignored
    assert updates[2].assigned == (1,)
    assert updates[3].assigned == (None,)
    assert [t.id for t in tracker.tracks] == [1]


@pytest.mark.parametrize(("kwargs", "expected_error"), [
    ({}, None),
    ({"low_score": 0.7, "high_score": 0.5}, "low_score"),
    ({"min_hits": 0}, "min_hits"),
    ({"match_iou": 0}, "match_iou"),
    ({"votes_needed": 0}, "votes_needed"),
    ({"unknown": 1}, "unknown"),
])
def test_tracker_config(kwargs: dict[str, float], expected_error: str | None) -> None:
    if expected_error is None:
        TrackerConfig(**kwargs)
        return
    with pytest.raises(ValidationError, match=expected_error):
        TrackerConfig(**kwargs)


@pytest.mark.parametrize(("times", "n_ballots", "expected_error"), [
    ([0.0, 0.2], 1, None),
    ([0.2, 0.2], 1, None),  # same time is allowed
    ([0.4, 0.2], 1, "backwards"),
    ([0.0, float("nan")], 1, "finite"),
    ([0.0, 0.2], 2, "ballots"),
])
def test_update_rejects_bad_input(times: list[float], n_ballots: int, expected_error: str | None) -> None:
    tracker: Tracker[str] = Tracker()
    tracker.update(dets([walker(0, 0, 0)]), times[0])
    ballots = [ballot("a")] * n_ballots
    if expected_error is None:
        tracker.update(dets([walker(0, 0, 0)]), times[1], ballots)
        return
    with pytest.raises(ValueError, match=expected_error):
        tracker.update(dets([walker(0, 0, 0)]), times[1], ballots)


# -- identity vote ----------------------------------------------------------------------------

@pytest.mark.parametrize(("ballots", "identity", "share"), [
    ([("w1", 1.0), ("w1", 0.8), (None, 0.5)], "w1", 1.8 / 2.3),
    ([(None, 0.9), (None, 0.9), ("r1", 1.0)], None, 1.8 / 2.8),
    ([("a", 1.0), ("b", 1.0)], "a", 0.5),  # tie on total and heaviest: stable by name
    ([("a", 0.5), ("a", 0.5), ("b", 0.9)], "a", 1.0 / 1.9),
    ([("a", 0.0), (None, 0.0)], "a", 0.5),  # all weightless: known identity wins the tie
])
def test_tally(ballots: list[tuple[str | None, float]], identity: str | None, share: float) -> None:
    decision = tally([ballot(i, w) for i, w in ballots])
    assert decision.identity == identity
    assert decision.share == pytest.approx(share)
    assert decision.best.identity == identity
    assert decision.votes == len(ballots)


@pytest.mark.parametrize(("weight", "expected_error"), [
    (0.5, None), (0.0, None), (-0.1, "weight"), (float("inf"), "weight"),
])
def test_ballot_weight(weight: float, expected_error: str | None) -> None:
    if expected_error is None:
        assert ballot("a", weight).weight == weight
        return
    with pytest.raises(ValueError, match=expected_error):
        ballot("a", weight)


def test_vote_decides_once_after_k_and_keeps_best() -> None:
    vote: IdentityVote[str] = IdentityVote(needed=3)
    decisions = []
    for w in (0.2, 0.9, 0.8, 0.95, 0.99):
        vote.add(ballot("w1", w))
        decisions.append(vote.poll())
    assert [d is not None for d in decisions] == [False, False, True, False, False]
    assert vote.decided is decisions[2]
    assert vote.poll(final=True) is None
    assert [b.weight for b in vote.ballots] == [0.9, 0.8, 0.2]


def test_vote_min_weight_waits_for_good_frames_and_final_decides() -> None:
    vote: IdentityVote[str] = IdentityVote(needed=2, min_weight=0.5)
    for w in (0.1, 0.2, 0.3):
        vote.add(ballot(None, w))
    assert vote.poll() is None
    vote.add(ballot("r1", 0.9))
    assert vote.poll() is None  # only one counted ballot
    decision = vote.poll(final=True)
    assert decision is not None
    assert decision.identity == "r1"  # best two kept: r1 0.9 vs unknown 0.3


def test_vote_with_no_ballots_never_decides() -> None:
    vote: IdentityVote[str] = IdentityVote()
    assert vote.poll(final=True) is None
    with pytest.raises(ValueError, match="needed"):
        IdentityVote(needed=0)


def test_walk_past_gives_one_decision() -> None:
    tracker: Tracker[str] = Tracker(TrackerConfig(votes_needed=3))
    decisions = []
    for i in range(12):
        at = i * DT
        update = tracker.update(dets([walker(0, 10, i)]), at, [ballot("watchlist:w1", 0.9, at)])
        decisions += update.decisions
    decisions += tracker.update(dets([]), 12 * DT + 5.0).decisions  # walked out
    assert len(decisions) == 1
    assert decisions[0].track_id == 1
    assert decisions[0].decision.identity == "watchlist:w1"
    assert not decisions[0].final


def test_short_track_decides_when_it_ends() -> None:
    tracker: Tracker[str] = Tracker(TrackerConfig(votes_needed=5, min_hits=2, max_missed=1))
    for i in range(3):
        assert tracker.update(dets([walker(0, 10, i)]), i * DT, [ballot("r1", 0.7, i * DT)]).decisions == []
    tracker.update(dets([]), 3 * DT)
    update = tracker.update(dets([]), 4 * DT)
    assert [(d.track_id, d.final, d.decision.votes) for d in update.decisions] == [(1, True, 3)]


def test_unconfirmed_track_never_decides() -> None:
    tracker: Tracker[str] = Tracker(TrackerConfig(votes_needed=1, min_hits=3))
    first = tracker.update(dets([walker(0, 0, 0)]), 0.0, [ballot("w1")])
    assert first.decisions == []
    assert tracker.update(dets([]), DT).decisions == []  # the blip died unconfirmed
    assert tracker.close(1.0).decisions == []


def test_close_decides_undecided_tracks() -> None:
    tracker: Tracker[str] = Tracker(TrackerConfig(votes_needed=10))
    for i in range(3):
        tracker.update(dets([walker(0, 10, i)]), i * DT, [ballot("r1", 0.7, i * DT)])
    update = tracker.close(1.0)
    assert [(d.track_id, d.decision.identity, d.final) for d in update.decisions] == [(1, "r1", True)]
    assert tracker.tracks == []
