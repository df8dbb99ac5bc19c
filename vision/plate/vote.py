"""Character-level majority vote of several recognisers' readings of one plate.

One general-purpose recogniser has blind spots that another does not share: PP-OCRv6 reads
the GA 36 "1" (narrow, with a flag) as "7" where PP-OCRv4 and PP-OCRv5 read it right, and each
of them takes a small province character for a different look-alike. When the first reader is
unsure of a plate, the others read the same crop and every position is decided by majority
(ROVER-style voting over readings of equal length; the first reader breaks ties). On the
project's rendered set (``estatewatch bench plates``) this took exact reads from 96.5% to
98.0% on seed 1 and removed the 1/7 confusions; see ``benchmarks/README.md``.

Confidence-weighted votes were measured too and were worse (a reader that is confidently wrong
about a province outvotes two that agree), so a vote is one reader, one voice.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np

from vision.plate.grammar import parse_plate
from vision.types import PlateReading


def needs_vote(reading: PlateReading, min_score: float) -> bool:
    """Whether the first reader's reading is unsure enough to ask the others.

    A valid reading whose every character scores at least ``min_score`` is taken as it is; an
    invalid one or one with a weaker character goes to the vote.
    """
    return not reading.valid or not reading.char_scores.size or float(reading.char_scores.min()) < min_score


def vote(readings: Sequence[PlateReading]) -> PlateReading:
    """The majority reading of one plate by several readers (the first one is the tie-breaker).

    Only valid readings vote. Their length is decided first (the most common, ties to the first
    valid reading's), then each position among the readings of that length. A character's score
    is the mean score of the readers that chose it times the share of voters that chose it, so
    a 2-of-3 character is never more than 0.67 sure.

    Args:
        readings: one plate's readings, first reader first (all from the same crop).

    Returns:
        The first reading when fewer than two readings are valid or the voted text is not a
        valid plate; else the first reading with the voted text and scores (its ``raw``,
        ``corners``, ``box`` and ``colour`` kept).
    """
    if not readings:
        raise ValueError("vote() needs at least one reading")
    first = readings[0]
    valid = [r for r in readings if r.valid]
    if len(valid) < 2:
        return first
    lengths = Counter(len(r.text) for r in valid)
    top = max(lengths.values())
    length = next(len(r.text) for r in valid if lengths[len(r.text)] == top)
    voters = [r for r in valid if len(r.text) == length]
    if len(voters) < 2:
        return first
    text: list[str] = []
    scores: list[float] = []
    for i in range(length):
        counts = Counter(r.text[i] for r in voters)
        best = max(counts.values())
        char = next(r.text[i] for r in voters if counts[r.text[i]] == best)
        agree = [float(r.char_scores[i]) for r in voters if r.text[i] == char]
        text.append(char)
        scores.append(float(np.mean(agree)) * len(agree) / len(voters))
    parsed = parse_plate("".join(text))
    if not parsed.valid:
        return first
    char_scores = np.asarray(scores, np.float32)
    return dataclasses.replace(first, text=parsed.text, valid=True, kind=parsed.kind,
                               char_scores=char_scores, score=float(char_scores.mean()))
