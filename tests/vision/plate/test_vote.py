"""The per-track plate vote: grouping, per-character voting by size and confidence, deciding once."""

from __future__ import annotations

import numpy as np
import pytest

from vision.plate.vote import PlateRead, PlateVote, PlateVoteConfig, distance, read_weight, tally

TRUTH = "京A12345"


def read(text: str, height: float | None = 40.0, score: float = 0.9, at: float = 0.0) -> PlateRead[int]:
    return PlateRead(text, np.full(len(text), score, np.float32), score, height, at, 0)


def feed(vote: PlateVote[int], reads: list[PlateRead[int]]) -> list[int]:
    """Add each reading and poll; the indices of the readings after which the vote decided."""
    decided = []
    for k, r in enumerate(reads):
        vote.add(r)
        if vote.poll() is not None:
            decided.append(k)
    return decided


def test_confusion_aware_distance() -> None:
    assert distance(TRUTH, TRUTH) == 0
    assert distance(TRUTH, "京A1234S") == 0.5  # 5/S look alike
    assert distance(TRUTH, "沪A12345") == 0.5  # two provinces
    assert distance(TRUTH, "京A12349") == 1
    assert distance(TRUTH, "京A123456") == 1  # one character more
    assert distance(TRUTH, "粤B98765") > 4


def test_a_noisy_approach_decides_the_true_plate() -> None:
    # A car approaches: the plate grows from 20 to 56 px; small frames misread one character each
    # (a different one each time), larger frames read right.
    misreads = ["京A1B345", "沪A12345", "京A12S45", "京A123A5", "京A12346", "京A1Z345"]
    reads = [read(text, 20 + 4 * k, 0.7, k * 0.2) for k, text in enumerate(misreads)]
    reads += [read(TRUTH, 44 + 4 * k, 0.95, 1.2 + k * 0.2) for k in range(4)]
    vote: PlateVote[int] = PlateVote()
    decided = feed(vote, reads)
    assert len(decided) == 1  # decides once
    assert vote.decided is not None and vote.decided.text == TRUTH and not vote.decided.final
    assert vote.decided.tally.votes == decided[0] + 1 and vote.decided.tally.kind == "standard"
    assert vote.poll(final=True) is None  # never twice


def test_the_character_vote_mends_what_no_single_frame_read_right() -> None:
    # Every frame has one error, each at another position: only the per-character vote is right.
    misreads = ("沪A12345", "京B12345", "京A02345", "京A1Z345", "京A12S45", "京A123A5", "京A1234B")
    vote: PlateVote[int] = PlateVote()
    feed(vote, [read(t, 40, 0.9, k * 0.2) for k, t in enumerate(misreads)])
    decision = vote.decided or vote.poll(final=True)
    assert decision is not None and decision.text == TRUTH
    assert decision.tally.char_shares.tolist() == pytest.approx([6 / 7] * 7)  # one dissenter each
    assert decision.best.text != TRUTH  # no frame read it, yet it is what the vote says


def test_a_split_vote_waits() -> None:
    vote: PlateVote[int] = PlateVote()
    reads = [read(TRUTH if k % 2 else "京A12846", 45, 0.9, k * 0.2) for k in range(10)]
    assert feed(vote, reads) == []  # two plates with equal support: no early decision
    standing = vote.standing
    assert standing is not None and standing.confidence < PlateVoteConfig().min_confidence


def test_larger_plates_outweigh_small_misreads() -> None:
    small = [read("京A1234B", 22, 0.9, k * 0.2) for k in range(5)]  # far away: 8 read as B
    large = [read("京A12348", 56, 0.9, 1 + k * 0.2) for k in range(2)]
    assert read_weight(large[0], PlateVoteConfig()) > 5 * read_weight(small[0], PlateVoteConfig())
    vote: PlateVote[int] = PlateVote()
    feed(vote, small + large)
    decision = vote.decided or vote.poll(final=True)
    assert decision is not None and decision.text == "京A12348"


def test_the_track_end_decides_a_short_pass() -> None:
    vote: PlateVote[int] = PlateVote()
    assert feed(vote, [read(TRUTH, 45, 0.95), read(TRUTH, 48, 0.95, 0.2)]) == []  # too few to decide early
    decision = vote.poll(final=True)
    assert decision is not None and decision.text == TRUTH and decision.final
    assert decision.tally.votes == 2 and decision.tally.agreeing == 2


def test_a_pass_of_tiny_plates_stays_undecided() -> None:
    vote: PlateVote[int] = PlateVote()
    feed(vote, [read("京A1234B", 14, 0.6, k * 0.2) for k in range(3)])
    assert vote.poll(final=True) is None  # too little evidence: no guess
    vote.add(read(TRUTH, 60))
    assert vote.poll() is None and vote.poll(final=True) is None  # closed for good


def test_another_plate_in_the_track_is_outvoted_not_mixed_in() -> None:
    other = [read("粤B98765", 45, 0.9, k * 0.2) for k in range(2)]
    mine = [read(TRUTH, 45, 0.9, 1 + k * 0.2) for k in range(4)]
    result = tally(other + mine, PlateVoteConfig())
    assert result is not None
    standing, best = result
    assert standing.text == TRUTH and best.text == TRUTH and standing.agreeing == 4
    assert set(standing.groups) == {TRUTH, "粤B98765"}
    assert standing.confidence == pytest.approx(4 / 6)


def test_the_decision_is_always_a_valid_plate_of_read_characters() -> None:
    # Position 3 is D in the new-energy reads (valid there) and 1 elsewhere; lengths differ too.
    reads = [read("京AD12345", 40), read("京AD12345", 40), read("京A12345", 40, 0.5)]
    result = tally(reads, PlateVoteConfig())
    assert result is not None and result[0].text == "京AD12345" and result[0].kind == "new_energy"


def test_bad_readings_are_refused() -> None:
    with pytest.raises(ValueError, match="character scores"):
        PlateRead(TRUTH, np.ones(3, np.float32), 0.9, 40.0, 0.0, 0)
    with pytest.raises(ValueError, match="finite"):
        PlateRead(TRUTH, np.ones(7, np.float32), 0.9, -1.0, 0.0, 0)
