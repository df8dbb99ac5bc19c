"""A light multi-object tracker (ByteTrack-style) and the identity vote held by each track.

One tracker per camera and object kind (faces, vehicles). Feed it every sampled frame's
:class:`~vision.types.Detections` with the frame time (seconds, monotonic); it returns which
track each detection row joined, the live tracks and, once per track, the identity decided over
the track's best observations. A walk past a camera is one track and one decision.

Association, per frame:

1. predict each track's box at the frame time (constant velocity, smoothed);
2. match high-score detections (``score >= high_score``) to every live track by IoU (greedy,
   best pair first, ``IoU >= match_iou``);
3. match low-score detections (``low_score <= score < high_score``) to the *confirmed* tracks
   left over (``IoU >= low_match_iou``): a blurred or half-hidden face keeps its track alive but
   never starts one;
4. unmatched high-score detections start tentative tracks; a tentative track is confirmed after
   ``min_hits`` hits and dropped at its first miss; a confirmed track ends after ``max_missed``
   missed frames or ``max_idle_s`` seconds without a match.

Track ids are integers from 1, per tracker (so per camera and kind), never reused.

A decided track's vote ignores further ballots, unless the tracker is given ``reopen``: then a
ballot naming an identity that conflicts with the decided one (a track switch: someone else's
face now continues the track) starts a new vote, and the track is decided again.
This module is pure (no clock, no threads); it knows nothing about the registry: identities are
strings chosen by the caller (an owner key, a plate text), evidence is any object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vision.types import F32, Detections, Face

T = TypeVar("T")


class TrackerConfig(BaseModel):
    """Thresholds of the tracker and of each track's identity vote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    high_score: float = Field(default=0.5, gt=0, le=1,
                              description="Detections at or above this score match first and start tracks.")
    low_score: float = Field(default=0.1, ge=0, le=1,
                             description="Detections below this score are ignored.")
    match_iou: float = Field(default=0.3, gt=0, le=1,
                             description="Least IoU of a predicted track box and a high-score detection.")
    low_match_iou: float = Field(default=0.5, gt=0, le=1,
                                 description="Least IoU for a low-score detection to continue a track.")
    min_hits: int = Field(default=2, ge=1, le=100, description="Matched frames before a track is confirmed.")
    max_missed: int = Field(default=5, ge=0, le=1000,
                            description="Consecutive frames without a match before a track ends.")
    max_idle_s: float = Field(default=2.0, gt=0, le=600,
                              description="Seconds without a match before a track ends.")
    votes_needed: int = Field(default=3, ge=1, le=100,
                              description="Counted observations after which the identity is decided.")
    min_vote_weight: float = Field(default=0.0, ge=0,
                                   description="Observations lighter than this are kept but not counted "
                                               "towards votes_needed (they still vote when the track ends).")

    @model_validator(mode="after")
    def _ordered(self) -> TrackerConfig:
        if self.low_score > self.high_score:
            raise ValueError(f"low_score {self.low_score} must be <= high_score {self.high_score}")
        return self


@dataclass(frozen=True, slots=True)
class Ballot(Generic[T]):
    """One observation's say on who a track is.

    Attributes:
        identity: the candidate (e.g. ``"watchlist:w1"``, a plate text), ``None`` for "nobody known".
        weight: how much this observation counts, >= 0 (e.g. face quality x detector score).
        at: frame time, seconds (monotonic).
        evidence: what the caller wants back with the decision (a registry match, a reading).
        box: ``(4,)`` float32 xyxy pixels of the observation, or ``None``.
    """

    identity: str | None
    weight: float
    at: float
    evidence: T
    box: F32 | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.weight) or self.weight < 0:
            raise ValueError(f"ballot weight must be finite and >= 0, got {self.weight}")


@dataclass(frozen=True, slots=True)
class Decision(Generic[T]):
    """The identity a vote settled on.

    Attributes:
        identity: the winner (``None``: nobody known).
        share: the winner's fraction of the total weight, in [0, 1].
        votes: how many ballots were weighed.
        best: the winner's heaviest ballot (its evidence and box are the ones to report).
        tally: total weight per candidate.
    """

    identity: str | None
    share: float
    votes: int
    best: Ballot[T]
    tally: dict[str | None, float]


class Vote(Protocol[T]):
    """What a track's vote does (:class:`IdentityVote`; the plate vote of ``alarms.sightings``)."""

    @property
    def ballots(self) -> tuple[Ballot[T], ...]:
        """The ballots kept, heaviest first."""
        ...

    def add(self, ballot: Ballot[T]) -> None:
        """Record one observation."""
        ...

    def poll(self, final: bool = False) -> Decision[T] | None:
        """The decision, the first time it can be made; ``final``: the track ended."""
        ...


class IdentityVote(Generic[T]):
    """Weighted vote over a track's best observations; decides exactly once.

    Keeps the ``needed`` heaviest ballots. It is *ready* once ``needed`` ballots of at least
    ``min_weight`` arrived; :meth:`poll` then returns the decision, once. ``poll(final=True)``
    (the track ended) decides with whatever ballots there are.
    """

    def __init__(self, needed: int = 3, min_weight: float = 0.0) -> None:
        if needed < 1:
            raise ValueError(f"needed must be >= 1, got {needed}")
        self.needed = needed
        self.min_weight = min_weight
        self.counted = 0
        self.decided: Decision[T] | None = None
        self._best: list[Ballot[T]] = []

    @property
    def ballots(self) -> tuple[Ballot[T], ...]:
        """The kept ballots, heaviest first."""
        return tuple(self._best)

    @property
    def ready(self) -> bool:
        return self.counted >= self.needed

    def add(self, ballot: Ballot[T]) -> None:
        """Record one observation (ignored once decided)."""
        if self.decided is not None:
            return
        if ballot.weight >= self.min_weight:
            self.counted += 1
        self._best.append(ballot)
        self._best.sort(key=lambda b: -b.weight)
        del self._best[self.needed:]

    def poll(self, final: bool = False) -> Decision[T] | None:
        """The decision, the first time it can be made (``None`` before and ever after)."""
        if self.decided is not None or not self._best or not (self.ready or final):
            return None
        self.decided = tally(self._best)
        return self.decided


def tally(ballots: Sequence[Ballot[T]]) -> Decision[T]:
    """Decide among ``ballots`` (non-empty): most total weight wins.

    Ties go to the heaviest single ballot, then to a known identity over ``None``, then by name.
    """
    totals: dict[str | None, float] = {}
    heaviest: dict[str | None, Ballot[T]] = {}
    for b in ballots:
        totals[b.identity] = totals.get(b.identity, 0.0) + b.weight
        if b.identity not in heaviest or b.weight > heaviest[b.identity].weight:
            heaviest[b.identity] = b
    winner = min(totals, key=lambda k: (-totals[k], -heaviest[k].weight, k is None, str(k)))
    total = sum(totals.values())
    share = totals[winner] / total if total > 0 else 1.0 / len(totals)
    return Decision(winner, share, len(ballots), heaviest[winner], totals)


@dataclass(eq=False, slots=True)
class Track(Generic[T]):
    """One object followed across frames.

    Attributes:
        id: stable integer id (per tracker), from 1.
        box: ``(4,)`` float32 xyxy pixels, the last matched detection.
        score: detector score of the last match.
        first_seen: time of the first match, seconds (monotonic).
        last_seen: time of the last match, seconds.
        hits: matched frames.
        missed: consecutive frames without a match.
        confirmed: whether ``hits`` reached ``min_hits``.
        velocity: ``(4,)`` float32 pixels per second of each box coordinate (smoothed).
        vote: the identity vote over this track's observations.
        decided: whether the current vote has decided, and ``identity`` what.
    """

    id: int
    box: F32
    score: float
    first_seen: float
    last_seen: float
    vote: Vote[T]
    hits: int = 1
    missed: int = 0
    confirmed: bool = False
    velocity: F32 = field(default_factory=lambda: np.zeros(4, np.float32))
    decided: bool = False
    identity: str | None = None

    @property
    def age(self) -> float:
        """Seconds between the first and the last match."""
        return self.last_seen - self.first_seen

    @property
    def observations(self) -> tuple[Ballot[T], ...]:
        """The observations kept for the vote, heaviest first."""
        return self.vote.ballots

    def predict(self, at: float) -> F32:
        """The box expected at time ``at`` (constant velocity from the last match)."""
        return (self.box + self.velocity * np.float32(max(0.0, at - self.last_seen))).astype(np.float32)

    def hit(self, box: F32, score: float, at: float) -> None:
        dt = at - self.last_seen
        if dt > 0:
            step = ((box - self.box) / np.float32(dt)).astype(np.float32)
            self.velocity = step if self.hits == 1 else (0.5 * self.velocity + 0.5 * step).astype(np.float32)
        self.box, self.score, self.last_seen = box.astype(np.float32), score, at
        self.hits += 1
        self.missed = 0


@dataclass(frozen=True, slots=True)
class TrackDecision(Generic[T]):
    """A track's identity decision, reported once per track.

    ``final`` is True when the decision was forced by the track ending (fewer ballots than needed).
    """

    track_id: int
    decision: Decision[T]
    at: float
    final: bool
    box: F32


@dataclass(frozen=True, slots=True)
class TrackUpdate(Generic[T]):
    """The outcome of one frame.

    Attributes:
        assigned: per detection row, the id of the track it joined (tentative ones included),
            or ``None`` (below ``low_score``, or a low-score row that continued no track).
        active: confirmed tracks matched in this frame.
        decisions: identity decisions made in this frame (each track once, unless reopened).
        ended: confirmed tracks that ended in this frame.
    """

    assigned: tuple[int | None, ...]
    active: list[Track[T]]
    decisions: list[TrackDecision[T]]
    ended: list[Track[T]]


def iou_matrix(a: F32, b: F32) -> F32:
    """IoU of every box of ``a`` ``(N, 4)`` with every box of ``b`` ``(M, 4)``, xyxy: ``(N, M)`` float32."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0).astype(np.float32)


def greedy_match(iou: F32, min_iou: float) -> list[tuple[int, int]]:
    """``(row, col)`` pairs, best IoU first, each row and column used once, IoU >= ``min_iou``."""
    pairs: list[tuple[int, int]] = []
    used_r: set[int] = set()
    used_c: set[int] = set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        r, c = divmod(int(flat), iou.shape[1])
        if iou[r, c] < min_iou:
            break
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


def faces_to_detections(faces: Sequence[Face]) -> Detections:
    """The boxes and scores of ``faces`` as :class:`Detections` (row i is ``faces[i]``)."""
    if not faces:
        return Detections.empty()
    return Detections.build(np.stack([f.box for f in faces]), [f.score for f in faces])


class Tracker(Generic[T]):
    """Tracks of one camera and one object kind; feed frames in time order.

    Args:
        config: thresholds.
        vote: makes each new track's vote; default an :class:`IdentityVote` of
            ``config.votes_needed`` and ``config.min_vote_weight``.
        reopen: ``reopen(decided, identity)`` is True when a ballot for ``identity`` on a track
            decided as ``decided`` means another object now continues the track: the track's
            vote starts again from that ballot. ``None``: a decision is final.
    """

    def __init__(self, config: TrackerConfig | None = None,
                 vote: Callable[[], Vote[T]] | None = None,
                 reopen: Callable[[str | None, str], bool] | None = None) -> None:
        self.config = config or TrackerConfig()
        self._make_vote = vote
        self._reopen = reopen
        self._tracks: list[Track[T]] = []
        self._next_id = 1
        self._last_at: float | None = None

    @property
    def tracks(self) -> list[Track[T]]:
        """The live confirmed tracks."""
        return [t for t in self._tracks if t.confirmed]

    def update(self, detections: Detections, at: float,
               ballots: Sequence[Ballot[T] | None] | None = None) -> TrackUpdate[T]:
        """Advance to the frame at ``at`` (seconds, monotonic, non-decreasing).

        Args:
            detections: the frame's boxes (pixels) and scores.
            at: the frame time.
            ballots: optional, one per detection row (``None`` where a row has nothing to say);
                each is added to the vote of the track the row joins.
        """
        self._check(detections, at, ballots)
        rows = ballots if ballots is not None else [None] * len(detections)
        matched = self._associate(detections, at)
        assigned: list[int | None] = [None] * len(detections)
        active: list[Track[T]] = []
        for row, track in matched.items():
            track.hit(detections.xyxy[row], float(detections.scores[row]), at)
            track.confirmed = track.confirmed or track.hits >= self.config.min_hits
            self._vote(track, rows[row])
            assigned[row] = track.id
            if track.confirmed:
                active.append(track)
        ended = self._age_out(set(map(id, matched.values())), at)
        for row in self._births(detections, matched):
            track = self._birth(detections, row, at)
            self._vote(track, rows[row])
            assigned[row] = track.id
            if track.confirmed:
                active.append(track)
        decisions = self._decide(active, at, final=False) + self._decide(ended, at, final=True)
        return TrackUpdate(tuple(assigned), active, decisions, ended)

    def close(self, at: float) -> TrackUpdate[T]:
        """End every track now (camera stopped, shutdown); undecided confirmed tracks decide."""
        ended = [t for t in self._tracks if t.confirmed]
        self._tracks = []
        return TrackUpdate((), [], self._decide(ended, at, final=True), ended)

    def _check(self, detections: Detections, at: float, ballots: Sequence[Ballot[T] | None] | None) -> None:
        if not math.isfinite(at):
            raise ValueError(f"frame time must be finite, got {at}")
        if self._last_at is not None and at < self._last_at:
            raise ValueError(f"frame time went backwards: {at} < {self._last_at}")
        if ballots is not None and len(ballots) != len(detections):
            raise ValueError(f"{len(ballots)} ballots for {len(detections)} detections")
        self._last_at = at

    def _associate(self, detections: Detections, at: float) -> dict[int, Track[T]]:
        """Detection row -> track, by the two ByteTrack stages."""
        cfg = self.config
        high = np.flatnonzero(detections.scores >= cfg.high_score)
        low = np.flatnonzero((detections.scores >= cfg.low_score) & (detections.scores < cfg.high_score))
        matched: dict[int, Track[T]] = {}
        self._stage(detections, high, self._tracks, at, cfg.match_iou, matched)
        taken = {id(t) for t in matched.values()}
        leftover = [t for t in self._tracks if t.confirmed and id(t) not in taken]
        self._stage(detections, low, leftover, at, cfg.low_match_iou, matched)
        return matched

    @staticmethod
    def _stage(detections: Detections, rows: np.ndarray, tracks: list[Track[T]], at: float,
               min_iou: float, matched: dict[int, Track[T]]) -> None:
        if rows.size == 0 or not tracks:
            return
        predicted = np.stack([t.predict(at) for t in tracks]).astype(np.float32)
        iou = iou_matrix(detections.xyxy[rows], predicted)
        for r, c in greedy_match(iou, min_iou):
            matched[int(rows[r])] = tracks[c]

    def _births(self, detections: Detections, matched: dict[int, Track[T]]) -> list[int]:
        high = np.flatnonzero(detections.scores >= self.config.high_score)
        return [int(r) for r in high if int(r) not in matched]

    def _new_vote(self) -> Vote[T]:
        return (self._make_vote() if self._make_vote is not None
                else IdentityVote(self.config.votes_needed, self.config.min_vote_weight))

    def _birth(self, detections: Detections, row: int, at: float) -> Track[T]:
        track = Track(self._next_id, detections.xyxy[row].astype(np.float32), float(detections.scores[row]),
                      at, at, self._new_vote(), confirmed=self.config.min_hits <= 1)
        self._next_id += 1
        self._tracks.append(track)
        return track

    def _age_out(self, matched: set[int], at: float) -> list[Track[T]]:
        """Count a miss for unmatched tracks; drop dead ones; return the confirmed tracks that ended."""
        keep: list[Track[T]] = []
        ended: list[Track[T]] = []
        for track in self._tracks:
            if id(track) not in matched:
                track.missed += 1
                dead = (not track.confirmed or track.missed > self.config.max_missed
                        or at - track.last_seen > self.config.max_idle_s)
                if dead:
                    if track.confirmed:
                        ended.append(track)
                    continue
            keep.append(track)
        self._tracks = keep
        return ended

    def _vote(self, track: Track[T], ballot: Ballot[T] | None) -> None:
        if ballot is None:
            return
        if (track.decided and self._reopen is not None and ballot.identity is not None
                and self._reopen(track.identity, ballot.identity)):
            track.vote, track.decided, track.identity = self._new_vote(), False, None
        track.vote.add(ballot)

    @staticmethod
    def _decide(tracks: list[Track[T]], at: float, final: bool) -> list[TrackDecision[T]]:
        out: list[TrackDecision[T]] = []
        for track in tracks:
            decision = track.vote.poll(final=final)
            if decision is not None:
                track.decided, track.identity = True, decision.identity
                out.append(TrackDecision(track.id, decision, at, final, track.box))
        return out
