"""Pure 1:N decisions: from search candidates to ``match`` or ``unknown``.

Scores are cosine similarities of L2-normalised embeddings, in [-1, 1]. A query matches the owner
of its best candidate when that score is at or above the threshold; below it the answer is
``unknown``, never the nearest person.

A score does not depend on the batch it was computed in, nor on the CPU: queries are normalised
row by row with correctly rounded sums (:func:`normalise_queries`), the search backend re-scores its
candidates exactly (:func:`exact_scores`), and every score is reported and compared rounded to
:data:`SCORE_DECIMALS` decimals (:func:`reported_score`). So a threshold equal to a reported score
matches, on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

MatchStatus = Literal["match", "unknown"]

SCORE_DECIMALS = 6
"""Decimals a similarity is reported and compared with (``round(score, 6) >= threshold``)."""


def reported_score(score: float) -> float:
    """A similarity as reported and compared with the threshold: rounded to 6 decimals."""
    return round(float(score), SCORE_DECIMALS)


def exact_dot(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Inner product of two float32 vectors, correctly rounded to float64.

    Each product of two float32 values is exact in float64 and ``math.fsum`` rounds the sum once,
    so the result is the same whatever the CPU, its SIMD width or the shape of the surrounding call
    (a BLAS product is not: it picks kernels and summation orders by shape).
    """
    return math.fsum(np.multiply(a, b, dtype=np.float64).tolist())


@dataclass(frozen=True, slots=True)
class Candidate:
    """One template found by the search, with its owner (``kind`` resident/visitor/watchlist)."""

    template_id: str
    owner_kind: str
    owner_id: str
    score: float


@dataclass(frozen=True, slots=True)
class FaceDecision:
    """The decision for one query: ``best`` is set only when ``status`` is ``match``."""

    status: MatchStatus
    best: Candidate | None
    candidates: tuple[Candidate, ...]


def check_threshold(threshold: float) -> float:
    """Validate a cosine threshold (finite, within [-1, 1])."""
    if not math.isfinite(threshold) or not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a finite cosine similarity in [-1, 1], got {threshold}")
    return threshold


def decide(candidates: Sequence[Candidate], threshold: float) -> FaceDecision:
    """Match or unknown from candidates in any order (best per owner kept, best first)."""
    check_threshold(threshold)
    ranked: dict[tuple[str, str], Candidate] = {}
    for cand in sorted(candidates, key=lambda c: -c.score):
        if not math.isfinite(cand.score):
            raise ValueError(f"candidate {cand.template_id} has a non-finite score")
        ranked.setdefault((cand.owner_kind, cand.owner_id), cand)
    per_owner = tuple(ranked.values())
    if per_owner and per_owner[0].score >= threshold:
        return FaceDecision("match", per_owner[0], per_owner)
    return FaceDecision("unknown", None, per_owner)


def normalise_queries(embeddings: npt.ArrayLike, dim: int) -> npt.NDArray[np.float32]:
    """Queries as ``(N, dim)`` float32 unit rows; a zero or non-finite row raises ``ValueError``.

    Each row is normalised on its own with a correctly rounded norm, so a row's result does not
    depend on the other rows or on the CPU.
    """
    queries = np.asarray(embeddings, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"embeddings must be (N, {dim}), got {queries.shape}")
    if not np.all(np.isfinite(queries)):
        raise ValueError("embeddings must be finite and non-zero")
    norms = np.sqrt([exact_dot(row, row) for row in queries], dtype=np.float64)[:, None]
    if np.any(norms == 0):
        raise ValueError("embeddings must be finite and non-zero")
    return np.ascontiguousarray(queries.astype(np.float64) / norms, dtype=np.float32)
