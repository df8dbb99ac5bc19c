"""One plate per vehicle pass: a vote over the readings of every frame of a track.

A car approaching a gate is read in many frames, its plate growing from a few pixels to the
size the reader is sure of. Single frames misread (a small plate's ``8`` as ``B``, a province
for its look-alike); the same plate read in many frames rarely gets the *same* character wrong
every time. So every valid reading of a track is kept with its plate height and confidence, and:

1. **grouped** by similarity: a confusion-aware edit distance (``0``/``D``, ``8``/``B``, two
   province characters ... cost half a substitution), each reading joining the group of the
   first heavier reading it is close to; the group with the most weight is the plate, the
   others are misreads (or another vehicle's plate);
2. **voted character by character** inside that group (the readings of its most voted length),
   each reading's character weighing ``weight(reading) x its character score``, where
   ``weight = score x (height / full_height_px) ** size_power`` (capped at ``max_height_px``):
   a larger, sharper plate outweighs several small misreads;
3. **decided** once the vote is stable (enough readings and weight, the leading text unchanged
   over the last readings, every character leading by a margin), or when the track ends (with
   a lower bar; below it the pass stays undecided rather than guessing).

The decided text is a valid plate made only of characters some frame actually read: where the
per-character winners do not form a valid plate, the valid reading of the group that the vote
supports most is taken instead. Pure: no clock, no I/O (as learnt from Frigate's grouping by
string similarity and the per-character vote of UFPR-SR-Plates; see DESIGN.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vision.plate.grammar import PROVINCES, parse_plate
from vision.types import F32

T = TypeVar("T")

CONFUSABLE: tuple[str, ...] = ("0DQOU", "8B", "1IT7J", "2Z", "5S", "6G", "4A", "UV", "MNH", "KX", "EF",
                               "CG", "PR", "3B")
"""Characters a plate reader mistakes for each other at small sizes (substitution costs half)."""

_PAIRS = frozenset((a, b) for group in CONFUSABLE for a in group for b in group if a != b)


class PlateVoteConfig(BaseModel):
    """When a track's plate vote decides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    full_height_px: float = Field(40.0, gt=0,
                                  description="A reading of a plate this high (score 1) weighs 1.")
    max_height_px: float = Field(60.0, gt=0, description="Heights above this weigh as this height.")
    size_power: float = Field(3.0, ge=0, description="How fast weight falls with a smaller plate.")
    char_score_power: float = Field(0.5, ge=0,
                                    description="How much each character's own score weighs its vote "
                                                "(0: not at all, 1: in proportion).")
    group_distance: float = Field(2.0, ge=0,
                                  description="Most confusion-aware edit distance between two readings "
                                              "of the same plate.")
    min_reads: int = Field(3, ge=1, le=100,
                           description="Readings in the winning group before the vote may decide early.")
    stable_reads: int = Field(2, ge=1, le=100,
                              description="Consecutive readings the leading text must have led.")
    min_weight: float = Field(2.5, ge=0, description="Winning group weight before an early decision.")
    min_confidence: float = Field(0.85, ge=0, le=1, description="Least confidence of an early decision.")
    final_min_weight: float = Field(0.6, ge=0,
                                    description="Least winning weight to decide when the track ends.")
    final_min_confidence: float = Field(0.7, ge=0, le=1,
                                        description="Least confidence to decide when the track ends.")
    max_reads: int = Field(60, ge=1, le=10_000, description="Readings kept (the heaviest).")


@dataclass(frozen=True, slots=True)
class PlateRead(Generic[T]):
    """One frame's reading of the track's plate.

    Attributes:
        text: the valid plate text read.
        char_scores: ``(len(text),)`` confidence per character.
        score: the reading's confidence in [0, 1].
        height: plate height in pixels (the mean of its left and right edges); ``None`` when
            unknown (it then weighs as a plate of ``full_height_px``).
        at: frame time, seconds.
        evidence: what the caller wants back with the decision (a ballot, a frame reference).
    """

    text: str
    char_scores: F32
    score: float
    height: float | None
    at: float
    evidence: T

    def __post_init__(self) -> None:
        if len(self.char_scores) != len(self.text):
            raise ValueError(f"{len(self.char_scores)} character scores for {self.text!r}")
        height = 0.0 if self.height is None else self.height
        if not (math.isfinite(self.score) and math.isfinite(height)) or height < 0:
            raise ValueError(f"score and height must be finite (height >= 0): {self.score}, {self.height}")


@dataclass(frozen=True, slots=True)
class PlateTally:
    """Where a vote stands.

    Attributes:
        text: the leading plate text.
        kind: its grammar kind (``standard`` / ``new_energy``).
        confidence: the winning group's share of all weight x its weakest character's share of
            the per-character vote, in [0, 1].
        char_shares: ``(len(text),)`` share of the vote each character of ``text`` won.
        weight: the winning group's weight.
        agreeing: readings in the winning group.
        votes: all readings weighed.
        groups: weight per group, by the group's leading text.
    """

    text: str
    kind: str | None
    confidence: float
    char_shares: F32
    weight: float
    agreeing: int
    votes: int
    groups: dict[str, float]


@dataclass(frozen=True, slots=True)
class PlateDecision(Generic[T]):
    """A decided plate: the tally and the reading that stands for it (the heaviest agreeing one)."""

    tally: PlateTally
    best: PlateRead[T]
    final: bool

    @property
    def text(self) -> str:
        return self.tally.text


def substitution_cost(a: str, b: str) -> float:
    """0 for equal characters, 0.5 for look-alikes (and two provinces), else 1."""
    if a == b:
        return 0.0
    if (a, b) in _PAIRS or (a in PROVINCES and b in PROVINCES):
        return 0.5
    return 1.0


def distance(a: str, b: str) -> float:
    """Confusion-aware edit distance (insert/delete 1, substitution :func:`substitution_cost`)."""
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        cur = [float(i)] + [0.0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + substitution_cost(ca, cb))
        prev = cur
    return prev[-1]


def read_weight(read: PlateRead[T], config: PlateVoteConfig) -> float:
    """``score x (height / full_height) ** size_power``, the height capped at ``max_height_px``."""
    if read.height is None:
        return float(max(0.0, read.score))
    size = min(read.height, config.max_height_px) / config.full_height_px
    return float(max(0.0, read.score) * size ** config.size_power)


def tally(reads: Sequence[PlateRead[T]], config: PlateVoteConfig) -> tuple[PlateTally, PlateRead[T]] | None:
    """The vote over ``reads``: the leading plate and the reading that stands for it (None if no weight)."""
    weighted = sorted(((read_weight(r, config), r) for r in reads), key=lambda p: -p[0])
    total = sum(w for w, _ in weighted)
    if not weighted or total <= 0:
        return None
    groups: list[list[tuple[float, PlateRead[T]]]] = []
    for w, r in weighted:
        home = next((g for g in groups if distance(g[0][1].text, r.text) <= config.group_distance), None)
        if home is None:
            groups.append([(w, r)])
        else:
            home.append((w, r))
    group = max(groups, key=lambda g: sum(w for w, _ in g))
    lengths: dict[int, float] = {}
    for w, r in group:
        lengths[len(r.text)] = lengths.get(len(r.text), 0.0) + w
    length = max(lengths, key=lambda n: (lengths[n], -n))
    voters = [(w, r) for w, r in group if len(r.text) == length]
    votes: list[dict[str, float]] = [{} for _ in range(length)]
    for w, r in voters:
        for p, (ch, cs) in enumerate(zip(r.text, r.char_scores, strict=True)):
            votes[p][ch] = votes[p].get(ch, 0.0) + w * max(float(cs), 0.01) ** config.char_score_power
    text = _plate_from(votes, voters)
    shares = np.array([v[ch] / sum(v.values()) if sum(v.values()) > 0 else 0.0 for v, ch in zip(votes, text,
                                                                                                strict=True)],
                      np.float32)
    weight = sum(w for w, _ in group)
    confidence = (weight / total) * float(shares.min())
    best = next((r for _, r in group if r.text == text), group[0][1])
    names = {_lead(g): sum(w for w, _ in g) for g in groups}
    standing = PlateTally(text, parse_plate(text).kind, confidence, shares, weight, len(group), len(reads),
                          names)
    return standing, best


def _plate_from(votes: list[dict[str, float]], voters: list[tuple[float, PlateRead[T]]]) -> str:
    """The per-character winners if they form a valid plate, else the best-supported valid reading."""
    winners = "".join(max(v, key=lambda ch: (v[ch], ch)) for v in votes)
    if parse_plate(winners).valid:
        return winners
    texts = {r.text for _, r in voters}
    return max(texts, key=lambda t: (sum(v.get(ch, 0.0) for v, ch in zip(votes, t, strict=True)), t))


def _lead(group: list[tuple[float, PlateRead[T]]]) -> str:
    return group[0][1].text


class PlateVote(Generic[T]):
    """The plate vote of one track: :meth:`add` every frame's reading, :meth:`poll` for the decision.

    Decides at most once: early when the vote is stable (see :class:`PlateVoteConfig`), else
    with ``poll(final=True)`` when the track ends, if the readings carry enough weight and
    agree enough; otherwise the pass stays undecided.
    """

    def __init__(self, config: PlateVoteConfig | None = None) -> None:
        self.config = config or PlateVoteConfig()
        self.decided: PlateDecision[T] | None = None
        self.closed = False
        self._reads: list[PlateRead[T]] = []
        self._leader: str | None = None
        self._led = 0
        self._current: tuple[PlateTally, PlateRead[T]] | None = None

    @property
    def reads(self) -> tuple[PlateRead[T], ...]:
        """The readings kept, in arrival order."""
        return tuple(self._reads)

    @property
    def standing(self) -> PlateTally | None:
        """The vote as it stands (``None`` before any reading with weight)."""
        return None if self._current is None else self._current[0]

    def add(self, read: PlateRead[T]) -> None:
        """Record one frame's reading (ignored once decided or closed)."""
        if self.decided is not None or self.closed:
            return
        self._reads.append(read)
        if len(self._reads) > self.config.max_reads:
            lightest = min(range(len(self._reads)), key=lambda k: read_weight(self._reads[k], self.config))
            del self._reads[lightest]
        self._current = tally(self._reads, self.config)
        leader = None if self._current is None else self._current[0].text
        same = leader is not None and leader == self._leader
        self._led = self._led + 1 if same else int(leader is not None)
        self._leader = leader

    def poll(self, final: bool = False) -> PlateDecision[T] | None:
        """The decision, the first time it can be made (``None`` before, and ever after).

        ``final``: the track ended; decide now if the readings are enough, else never.
        """
        if self.decided is not None or self.closed or self._current is None:
            if final:
                self.closed = True
            return None
        standing, best = self._current
        cfg = self.config
        if final:
            self.closed = True
            ok = standing.weight >= cfg.final_min_weight and standing.confidence >= cfg.final_min_confidence
        else:
            ok = (standing.agreeing >= cfg.min_reads and standing.weight >= cfg.min_weight
                  and standing.confidence >= cfg.min_confidence and self._led >= cfg.stable_reads)
        if not ok:
            return None
        self.decided = PlateDecision(standing, best, final)
        return self.decided
