"""From per-frame recognitions to sightings: one per track (and one per zone a track enters).

A :class:`CameraObserver` per camera holds a face tracker and a vehicle tracker. Each sampled
frame's :class:`~vision.cascade.ImageRecognition`, with the registry's matches, goes in; out
come :class:`PersonSighting` / :class:`VehicleSighting` values, which the rules evaluate:

* ``trigger="decision"``: the track's identity was decided (once per track), with every zone the
  track has been in so far;
* ``trigger="zone_entry"``: a track already decided entered one more zone (once per zone).

A vehicle's plate is decided once per track by :class:`vision.plate.vote.PlateVote` over the
readings of all its frames (grouped by similarity, voted character by character, larger and more
confident plates weighing more); only the decided text is matched against the registry (the
``match_plate`` given to the observer), and that match is what the rules see.

Pure: frame times are passed in (``at`` monotonic seconds for tracking, ``wall`` an aware datetime
for alarms); no clock, no threads, no I/O besides the caller's ``match_plate``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

import numpy as np

from alarms.zones import ZoneConfig, zones_containing
from registry.plates import PlateMatch
from registry.types import FaceMatch, Owner
from vision.cascade import ImageRecognition, PlateFinding
from vision.levers import Settled
from vision.plate.rectify import plate_size
from vision.plate.vote import PlateRead, PlateVote, PlateVoteConfig, distance
from vision.tracking import (
    Ballot,
    Decision,
    Track,
    Tracker,
    TrackerConfig,
    Vote,
    faces_to_detections,
    iou_matrix,
)
from vision.types import F32, Detections, PlateReading

Trigger = Literal["decision", "zone_entry"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FaceEvidence:
    """One face observation: the registry's answer and when (wall clock) it was seen."""

    match: FaceMatch
    seen_at: dt.datetime
    frame_ref: object = None


@dataclass(frozen=True, slots=True)
class PlateEvidence:
    """A plate observation on a vehicle, or the plate decided for its track.

    Attributes:
        reading: the frame's reading; for a decision, the decided plate (its ``score`` the
            vote's confidence, its ``char_scores`` each character's share of the vote).
        match: the registry's answer for ``reading.text`` (decisions only; ``None`` per frame).
        seen_at: when the frame (the decision's best one) was seen.
        frame_ref: the caller's handle on that frame.
        votes: frames whose readings voted (1 for a single frame).
        agreeing: of those, the readings of the decided plate's group.
    """

    reading: PlateReading
    match: PlateMatch | None
    seen_at: dt.datetime
    frame_ref: object = None
    votes: int = 1
    agreeing: int = 1


@dataclass(frozen=True, slots=True)
class PersonSighting:
    """A person track whose identity was decided.

    Attributes:
        camera_id: the camera.
        track_id: the face track's id on that camera.
        occurred_at: wall time of the best observation (decision) or of the zone entry.
        box: ``(4,)`` float32 xyxy pixels of the best observation.
        zones: ids of the zones the track has been in (decision) or just entered (zone entry).
        match: the registry answer of the best observation of the decided identity
            (``status == "unknown"``: nobody known).
        share: the decided identity's share of the vote weight, in [0, 1].
        trigger: ``decision`` or ``zone_entry``.
        frame_ref: the caller's handle on the frame of ``occurred_at`` (for the snapshot), as passed
            to :meth:`CameraObserver.observe`.
    """

    camera_id: str
    track_id: int
    occurred_at: dt.datetime
    box: F32
    zones: frozenset[str]
    match: FaceMatch
    share: float = 1.0
    trigger: Trigger = "decision"
    frame_ref: object = None

    @property
    def owner(self) -> Owner | None:
        """The matched person, ``None`` for an unknown face."""
        return self.match.owner if self.match.status == "match" else None


@dataclass(frozen=True, slots=True)
class VehicleSighting:
    """A vehicle track whose plate was decided (fields as in :class:`PersonSighting`)."""

    camera_id: str
    track_id: int
    occurred_at: dt.datetime
    box: F32
    zones: frozenset[str]
    reading: PlateReading
    match: PlateMatch
    share: float = 1.0
    trigger: Trigger = "decision"
    frame_ref: object = None
    votes: int = 1
    """Frames whose plate readings voted for the decision."""


Sighting = PersonSighting | VehicleSighting


def owner_key(match: FaceMatch) -> str | None:
    """The vote identity of a face match: ``kind:id``, ``None`` when unknown."""
    owner = match.owner if match.status == "match" else None
    return None if owner is None else f"{owner.kind}:{owner.id}"


def face_ballot(face_score: float, quality: float | None, match: FaceMatch, at: float,
                seen_at: dt.datetime, box: F32, frame_ref: object = None) -> Ballot[FaceEvidence]:
    """A face observation's ballot; weight = detector score x quality (1 when unknown)."""
    weight = max(0.0, face_score) * (1.0 if quality is None else max(0.0, quality))
    return Ballot(owner_key(match), weight, at, FaceEvidence(match, seen_at, frame_ref), box)


def plate_ballot(finding: PlateFinding, at: float, seen_at: dt.datetime, box: F32,
                 frame_ref: object = None) -> Ballot[PlateEvidence] | None:
    """A plate reading's ballot for its vehicle; ``None`` for text that is not a valid plate.

    The identity is the read text, the weight the reading's confidence (the plate vote weighs
    it again by the plate's size).
    """
    reading = finding.reading
    if not reading.valid:
        return None
    evidence = PlateEvidence(reading, None, seen_at, frame_ref)
    return Ballot(reading.text, max(0.0, reading.score), at, evidence, box)


def reading_height(reading: PlateReading) -> float | None:
    """The plate's height in pixels: from its corners, else its box (``None`` when neither is known)."""
    if reading.corners is not None:
        return plate_size(reading.corners)[1]
    if reading.box is not None:
        return float(reading.box[3] - reading.box[1])
    return None


def unknown_plate(text: str) -> PlateMatch:
    """The registry's answer when there is no registry."""
    return PlateMatch(text, "unknown")


class TrackPlateVote:
    """A vehicle track's vote (:class:`vision.tracking.Vote`): one plate per pass.

    Each ballot's reading goes into a :class:`~vision.plate.vote.PlateVote`; the decision is the
    voted plate, matched once against the registry (``match_plate``), as a
    :class:`~vision.tracking.Decision` whose best ballot carries the decided reading and match.
    """

    def __init__(self, config: PlateVoteConfig | None = None,
                 match_plate: Callable[[str], PlateMatch] = unknown_plate) -> None:
        self.vote: PlateVote[Ballot[PlateEvidence]] = PlateVote(config)
        self.match_plate = match_plate

    @property
    def ballots(self) -> tuple[Ballot[PlateEvidence], ...]:
        return tuple(sorted((r.evidence for r in self.vote.reads), key=lambda b: -b.weight))

    def add(self, ballot: Ballot[PlateEvidence]) -> None:
        reading = ballot.evidence.reading
        self.vote.add(PlateRead(reading.text, reading.char_scores, reading.score, reading_height(reading),
                                ballot.at, ballot))

    def poll(self, final: bool = False) -> Decision[PlateEvidence] | None:
        decided = self.vote.poll(final)
        if decided is None:
            return None
        t = decided.tally
        ballot = decided.best.evidence
        seen = ballot.evidence
        reading = PlateReading(t.text, t.text, t.confidence, t.char_shares, True, t.kind,
                               seen.reading.corners, seen.reading.box, seen.reading.colour)
        evidence = PlateEvidence(reading, self.match_plate(t.text), seen.seen_at, seen.frame_ref, t.votes,
                                 t.agreeing)
        best = Ballot(t.text, ballot.weight, ballot.at, evidence, ballot.box)
        groups: dict[str | None, float] = {text: weight for text, weight in t.groups.items()}
        return Decision(t.text, t.confidence, t.votes, best, groups)


@dataclass(frozen=True, slots=True)
class _Entry:
    """The frame a zone entry happened in."""

    wall: dt.datetime
    frame_ref: object


@dataclass(slots=True)
class _TrackZones(Generic[T]):
    visited: set[str] = field(default_factory=set)
    decided: Decision[T] | None = None
    checked_at: float = 0.0
    """When the track was last looked at in full (decided, or re-checked)."""
    empty_looks: int = 0
    """Frames in a row the track was looked at, kept still and gave no ballot (see ``idle_after``)."""
    still_box: F32 | None = None
    """The track's box when that run of empty looks began."""


STILL_IOU = 0.9
"""A track whose box overlaps the box its run of empty looks began with this much has kept still."""


class _Follow(Generic[T]):
    """One tracker plus the zones each of its tracks has visited and its decision.

    With ``idle_after`` a track that has kept still (:data:`STILL_IOU`) through that many looked-at
    frames in a row without a ballot is *idle*: :meth:`settled` gives it like a decided track
    (left alone, re-checked every ``recheck_s``) until it moves or a ballot comes.
    """

    def __init__(self, camera_id: str, zones: tuple[ZoneConfig, ...], config: TrackerConfig | None,
                 make: Callable[[int, Decision[T], frozenset[str], _Entry | None], Sighting],
                 vote: Callable[[], Vote[T]] | None = None,
                 reopen: Callable[[str | None, str], bool] | None = None,
                 idle_after: int | None = None) -> None:
        if idle_after is not None and idle_after < 1:
            raise ValueError(f"idle_after must be >= 1 or None, got {idle_after}")
        self.idle_after = idle_after
        self.camera_id = camera_id
        self.zones = zones
        self.tracker: Tracker[T] = Tracker(config, vote, reopen)
        self.make = make
        self.state: dict[int, _TrackZones[T]] = {}

    def update(self, detections: Detections, ballots: Sequence[Ballot[T] | None], frame_size: tuple[int, int],
               at: float, entry: _Entry, looked: bool = True) -> list[Sighting]:
        update = self.tracker.update(detections, at, ballots)
        decided = {d.track_id: d.decision for d in update.decisions}
        counting = looked and self.idle_after is not None
        voted = {tid for tid, ballot in zip(update.assigned, ballots, strict=True)
                 if tid is not None and ballot is not None} if counting else set()
        out: list[Sighting] = []
        for track in update.active + update.ended:
            state = self.state.setdefault(track.id, _TrackZones())
            if counting and track.missed == 0:
                self._look(state, track, track.id in voted, at)
            new = self._enter(state, track, frame_size)
            if track.id in decided:
                state.decided, state.checked_at = decided[track.id], at
                out.append(self.make(track.id, state.decided, frozenset(state.visited), None))
            elif state.decided is not None and track.missed == 0:
                out += [self.make(track.id, state.decided, frozenset({z}), entry) for z in sorted(new)]
        for track in update.ended:
            self.state.pop(track.id, None)
        return out

    def settled(self, at: float, recheck_s: float) -> F32:
        """``(N, 4)`` predicted boxes at ``at`` of the decided live tracks whose re-check is not due.

        A track whose last full look is ``recheck_s`` old is left out (this frame re-checks it).
        """
        boxes: list[F32] = []
        for track in self.tracker.tracks:
            state = self.state.get(track.id)
            if state is None or not ((state.decided is not None and track.decided) or self._idle(state)):
                continue
            if at - state.checked_at >= recheck_s:
                state.checked_at = at
                continue
            boxes.append(track.predict(at))
        return np.stack(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32)

    def _look(self, state: _TrackZones[T], track: Track[T], voted: bool, at: float) -> None:
        """Count a frame that looked at ``track``: a ballot or a move starts the count again."""
        if state.decided is not None:
            return
        if voted:
            state.empty_looks, state.still_box = 0, None
            return
        still = (state.still_box is not None
                 and iou_matrix(state.still_box[None], track.box[None])[0, 0] >= STILL_IOU)
        if not still:
            state.empty_looks, state.still_box = 0, track.box.copy()
        state.empty_looks += 1
        if state.empty_looks == self.idle_after:
            state.checked_at = at  # idle from now: the next full look is a re-check

    def _idle(self, state: _TrackZones[T]) -> bool:
        return (self.idle_after is not None and state.decided is None
                and state.empty_looks >= self.idle_after)

    def close(self, at: float) -> list[Sighting]:
        decisions = self.tracker.close(at).decisions
        out = [self.make(d.track_id, d.decision, frozenset(self._visited(d.track_id)), None)
               for d in decisions]
        self.state.clear()
        return out

    def _visited(self, track_id: int) -> set[str]:
        state = self.state.get(track_id)
        return set() if state is None else state.visited

    def _enter(self, state: _TrackZones[T], track: Track[T], frame_size: tuple[int, int]) -> set[str]:
        """Zones the track's box is in now and was not before (recorded as visited)."""
        now_in = zones_containing(self.zones, self.camera_id, track.box, frame_size)
        new = set(now_in - state.visited)
        state.visited |= now_in
        return new


PLATELESS_AFTER = 5
"""Looks in a row without a valid plate after which a vehicle that keeps still is left alone."""


class CameraObserver:
    """Tracks faces and vehicles of one camera and reports decided sightings.

    Besides the decided tracks, :meth:`settled` gives the vehicles that stood still through
    ``plateless_after`` looked-at frames in a row without a valid plate reading: a parked car
    whose plate cannot be read from this camera (too small, turned away, covered) would
    otherwise be searched on every frame for as long as it stays. Such a vehicle is searched
    again every ``recheck_s``, and at once when it moves (its box overlaps where it stood less
    than :data:`STILL_IOU`); a valid reading starts its vote as usual. ``None`` turns this off.
    """

    def __init__(self, camera_id: str, zones: Sequence[ZoneConfig] = (),
                 faces: TrackerConfig | None = None, vehicles: TrackerConfig | None = None,
                 plates: PlateVoteConfig | None = None,
                 match_plate: Callable[[str], PlateMatch] = unknown_plate,
                 plateless_after: int | None = PLATELESS_AFTER) -> None:
        self.camera_id = camera_id
        self.plates = plates or PlateVoteConfig()
        self.match_plate = match_plate
        mine = tuple(z for z in zones if z.camera == camera_id)
        self.faces: _Follow[FaceEvidence] = _Follow(camera_id, mine, faces, self._person,
                                                    reopen=other_person)
        self.vehicles: _Follow[PlateEvidence] = _Follow(
            camera_id, mine, vehicles, self._vehicle, self.plate_vote,
            reopen=lambda decided, text: other_plate(decided, text, self.plates.group_distance),
            idle_after=plateless_after)

    def plate_vote(self) -> TrackPlateVote:
        """A new vehicle track's plate vote (with this camera's :attr:`plates` settings)."""
        return TrackPlateVote(self.plates, self.match_plate)

    def observe(self, recognition: ImageRecognition, face_matches: Sequence[FaceMatch],
                frame_size: tuple[int, int], at: float, wall: dt.datetime,
                frame_ref: object = None, looked: bool = True) -> list[Sighting]:
        """Feed one frame; returns the sightings it completed.

        Args:
            recognition: what the cascade found in the frame.
            face_matches: the registry's answer per ``recognition.faces`` (same order and length).
            frame_size: ``(width, height)`` of the analysed image, pixels.
            at: frame time, seconds (monotonic, non-decreasing).
            wall: frame time, timezone-aware.
            frame_ref: any handle on this frame (a sequence number, a buffer key); sightings
                hand back the one of their best observation, for the snapshot.
            looked: ``recognition`` is this frame's own analysis; ``False`` when it repeats an
                earlier one (a frame the motion gate skipped): nothing was searched, so no
                vehicle counts a look without a plate.
        """
        if len(face_matches) != len(recognition.faces):
            raise ValueError("one registry match per face is needed")
        if wall.tzinfo is None:
            raise ValueError("wall must be timezone-aware")
        faces = recognition.faces
        face_votes: list[Ballot[FaceEvidence] | None] = [
            face_ballot(f.score, f.quality, m, at, wall, f.box, frame_ref)
            for f, m in zip(faces, face_matches, strict=True)]
        vehicles = recognition.vehicles
        plate_votes = vehicle_ballots(recognition.plates, vehicles.xyxy, at, wall, frame_ref)
        entry = _Entry(wall, frame_ref)
        return (self.faces.update(faces_to_detections(faces), face_votes, frame_size, at, entry)
                + self.vehicles.update(vehicles, plate_votes, frame_size, at, entry, looked))

    def settled(self, at: float, recheck_s: float) -> Settled:
        """Decided face and vehicle tracks (and idle plateless vehicles) that need no embedding or plate read.

        Each decided track is left out once every ``recheck_s`` seconds: that frame looks at it
        in full again, and a face matched to someone else (or a plate far from the decided one)
        reopens the track's vote (see :func:`other_person`, :func:`other_plate`).
        """
        return Settled(self.faces.settled(at, recheck_s), self.vehicles.settled(at, recheck_s))

    def close(self, at: float) -> list[Sighting]:
        """End every track (camera stopped): undecided tracks with observations decide now."""
        return self.faces.close(at) + self.vehicles.close(at)

    def _person(self, track_id: int, decision: Decision[FaceEvidence], zones: frozenset[str],
                entry: _Entry | None) -> PersonSighting:
        ev = decision.best.evidence
        at, ref, trigger = _when(ev.seen_at, ev.frame_ref, entry)
        return PersonSighting(self.camera_id, track_id, at, _box(decision), zones, ev.match, decision.share,
                              trigger, ref)

    def _vehicle(self, track_id: int, decision: Decision[PlateEvidence], zones: frozenset[str],
                 entry: _Entry | None) -> VehicleSighting:
        ev = decision.best.evidence
        at, ref, trigger = _when(ev.seen_at, ev.frame_ref, entry)
        match = ev.match if ev.match is not None else unknown_plate(ev.reading.text)
        return VehicleSighting(self.camera_id, track_id, at, _box(decision), zones, ev.reading, match,
                               decision.share, trigger, ref, ev.votes)


def other_person(decided: str | None, identity: str) -> bool:
    """A face track decided as ``decided`` now matches another known person: reopen its vote."""
    return identity != decided


def other_plate(decided: str | None, text: str, group_distance: float) -> bool:
    """A vehicle track's decided plate and a new valid reading too far apart to be one plate."""
    return decided is None or distance(decided, text) > group_distance


def _when(seen_at: dt.datetime, frame_ref: object,
          entry: _Entry | None) -> tuple[dt.datetime, object, Trigger]:
    """Time, frame and trigger of a sighting: the best observation's, or the zone entry's."""
    if entry is None:
        return seen_at, frame_ref, "decision"
    return entry.wall, entry.frame_ref, "zone_entry"


def _box(decision: Decision[FaceEvidence] | Decision[PlateEvidence]) -> F32:
    return decision.best.box if decision.best.box is not None else np.zeros(4, np.float32)


def vehicle_ballots(plates: Sequence[PlateFinding], boxes: F32, at: float, wall: dt.datetime,
                    frame_ref: object = None) -> list[Ballot[PlateEvidence] | None]:
    """One ballot per vehicle row: its most confident valid plate (``None`` without one)."""
    vehicles = boxes.shape[0]
    out: list[Ballot[PlateEvidence] | None] = [None] * vehicles
    for finding in plates:
        i = finding.vehicle
        if i is None or not 0 <= i < vehicles:
            continue
        ballot = plate_ballot(finding, at, wall, boxes[i], frame_ref)
        current = out[i]
        if ballot is not None and (current is None or ballot.weight > current.weight):
            out[i] = ballot
    return out
