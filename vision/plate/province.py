"""Province re-read: the plate's first character read again from a crop of the plate's left end.

The general-purpose recogniser reads the narrow, dense province character (GA 36 draws it in a
45 x 90 mm box) much worse than the Latin characters: in a whole-plate read it is often dropped
(the grammar-constrained decoder then has to guess one) or taken for a look-alike. Read again
from a crop of the first two characters only (the province and the issuing-authority letter,
which gives the recogniser the context of printed text) and with the rows above and below the
characters cut off (so the character is larger in the recogniser's 48-pixel input), it is read
markedly better (on the rendered set, seed 1: 96% of provinces right against 92%). What is
left is mostly plates under about 35 pixels high, whose province is a blur of 10 x 20 pixels.

Geometry is in plate coordinates: ``u`` runs 0 -> 1 from the left to the right edge of the
plate quad, ``v`` 0 -> 1 from its top to its bottom edge.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vision.plate.grammar import PROVINCES, parse_plate
from vision.types import F32, PlateReading

SPAN_U = (-0.02, 0.30)
"""Horizontal extent of the re-read crop: a little margin, the province and the letter."""

SPAN_V = (0.12, 0.88)
"""Vertical extent of the re-read crop: the character rows (25-115 mm of 140), with slack."""

VIEWS: tuple[tuple[tuple[float, float], tuple[float, float]], ...] = (
    (SPAN_U, SPAN_V),
    ((SPAN_U[0] - 0.02, SPAN_U[1] - 0.02), SPAN_V),
    ((SPAN_U[0] + 0.02, SPAN_U[1] + 0.02), SPAN_V),
    (SPAN_U, (SPAN_V[0] - 0.03, SPAN_V[1] - 0.03)),
    (SPAN_U, (SPAN_V[0] + 0.03, SPAN_V[1] + 0.03)),
)
"""``(u, v)`` spans of the crops whose province probabilities are averaged: the crop and the
crop shifted by about a stroke width each way, so that a corner estimate a few pixels off does
not decide the province (on the rendered set, seeds 0 and 1: about half a point of provinces
over one crop)."""


def sub_quad(corners: F32, u: tuple[float, float] = SPAN_U, v: tuple[float, float] = SPAN_V) -> F32:
    """The part ``[u0, u1] x [v0, v1]`` of a plate quad, bilinearly, as ``(4, 2)`` float32.

    Args:
        corners: ``(4, 2)`` float32 plate corners, TL, TR, BR, BL.
        u: left and right bound as fractions of the plate width (may leave ``[0, 1]``).
        v: top and bottom bound as fractions of the plate height.
    """
    tl, tr, br, bl = corners.astype(np.float64)

    def point(a: float, b: float) -> F32:
        top, bottom = tl + (tr - tl) * a, bl + (br - bl) * a
        return np.asarray(top + (bottom - top) * b, np.float32)

    return np.stack([point(u[0], v[0]), point(u[1], v[0]), point(u[1], v[1]), point(u[0], v[1])])


def needs_reread(reading: PlateReading, min_score: float, min_evidence: float = 0.0) -> bool:
    """Whether a valid reading's province is unsure enough to read again.

    It is when its score is below ``min_score`` or its evidence (:attr:`PlateReading.evidence`:
    the grammar, not the recogniser, put it there) is below ``min_evidence``.
    """
    if not reading.valid or not reading.char_scores.size:
        return False
    unseen = reading.evidence is not None and float(reading.evidence[0]) < min_evidence
    return unseen or float(reading.char_scores[0]) < min_score


def with_province(reading: PlateReading, probs: F32, seen: float | None = None) -> PlateReading:
    """``reading`` with its province replaced by the re-read one when that is more confident.

    Args:
        reading: a valid reading of the whole plate.
        probs: ``(len(PROVINCES),)`` float32 probabilities of each province on the re-read crop
            (summing to 1, in the order of :data:`vision.plate.grammar.PROVINCES`).
        seen: how strongly the re-read crop shows a province at all (the recogniser's highest
            per-frame probability of any province, see
            :meth:`vision.plate.reader.PlateReader.province_read`); the province it names gets
            ``seen`` times its share as evidence (:attr:`PlateReading.evidence`).

    Returns:
        The reading unchanged when it is invalid or its own province score is at least the
        re-read's best probability; else the reading with the re-read province and that
        probability as the first character's score.
    """
    if not reading.valid or not reading.text:
        return reading
    best = int(np.argmax(probs))
    score = float(probs[best])
    evidence = None if reading.evidence is None else reading.evidence.copy()
    if evidence is not None and seen is not None:
        own = PROVINCES.find(reading.text[0])
        if own >= 0:
            evidence[0] = max(float(evidence[0]), seen * float(probs[own]))
    if reading.text[0] == PROVINCES[best] or float(reading.char_scores[0]) >= score:
        return reading if evidence is None else dataclasses.replace(reading, evidence=evidence)
    parsed = parse_plate(PROVINCES[best] + reading.text[1:])
    char_scores = reading.char_scores.copy()
    char_scores[0] = score
    if evidence is not None:
        evidence[0] = score * (1.0 if seen is None else seen)
    return dataclasses.replace(reading, text=parsed.text, valid=parsed.valid, kind=parsed.kind,
                               char_scores=char_scores, score=float(char_scores.mean()), evidence=evidence)
