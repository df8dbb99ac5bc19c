"""From per-frame recognitions to sightings: one per track (and one per zone a track enters).

A :class:`CameraObserver` per camera holds a face tracker and a vehicle tracker. Each sampled
frame's :class:`~vision.cascade.ImageRecognition`, with the registry's matches, goes in; out
come :class:`PersonSighting` / :class:`VehicleSighting` values, which the rules evaluate:

* ``trigger="decision"``: the track's identity was decided (once per track), with every zone the
  track has been in so far;
* ``trigger="zone_entry"``: a track already decided entered one more zone (once per zone).

Pure: frame times are passed in (``at`` monotonic seconds for tracking, ``wall`` an aware datetime
for alarms); no clock, no threads, no I/O.
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
from vision.tracking import Ballot, Decision, Track, Tracker, TrackerConfig, faces_to_detections
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
    """One plate observation on a vehicle: the reading, the registry's answer, when it was seen."""

    reading: PlateReading
    match: PlateMatch
    seen_at: dt.datetime
    frame_ref: object = None


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


def plate_ballot(finding: PlateFinding, match: PlateMatch, at: float, seen_at: dt.datetime,
                 box: F32, frame_ref: object = None) -> Ballot[PlateEvidence] | None:
    """A plate reading's ballot for its vehicle; ``None`` for text that is not a valid plate.

    The identity is the registered plate matched (exact or near), else the read text; the weight
    is the reading's confidence.
    """
    reading = finding.reading
    if not reading.valid:
        return None
    identity = match.plate if match.status != "unknown" and match.plate else reading.text
    evidence = PlateEvidence(reading, match, seen_at, frame_ref)
    return Ballot(identity, max(0.0, reading.score), at, evidence, box)


@dataclass(frozen=True, slots=True)
class _Entry:
    """The frame a zone entry happened in."""

    wall: dt.datetime
    frame_ref: object


@dataclass(slots=True)
class _TrackZones(Generic[T]):
    visited: set[str] = field(default_factory=set)
    decided: Decision[T] | None = None


class _Follow(Generic[T]):
    """One tracker plus the zones each of its tracks has visited and its decision."""

    def __init__(self, camera_id: str, zones: tuple[ZoneConfig, ...], config: TrackerConfig | None,
                 make: Callable[[int, Decision[T], frozenset[str], _Entry | None], Sighting]) -> None:
        self.camera_id = camera_id
        self.zones = zones
        self.tracker: Tracker[T] = Tracker(config)
        self.make = make
        self.state: dict[int, _TrackZones[T]] = {}

    def update(self, detections: Detections, ballots: Sequence[Ballot[T] | None], frame_size: tuple[int, int],
               at: float, entry: _Entry) -> list[Sighting]:
        update = self.tracker.update(detections, at, ballots)
        decided = {d.track_id: d.decision for d in update.decisions}
        out: list[Sighting] = []
        for track in update.active + update.ended:
            state = self.state.setdefault(track.id, _TrackZones())
            new = self._enter(state, track, frame_size)
            if track.id in decided:
                state.decided = decided[track.id]
                out.append(self.make(track.id, state.decided, frozenset(state.visited), None))
            elif state.decided is not None and track.missed == 0:
                out += [self.make(track.id, state.decided, frozenset({z}), entry) for z in sorted(new)]
        for track in update.ended:
            self.state.pop(track.id, None)
        return out

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


class CameraObserver:
    """Tracks faces and vehicles of one camera and reports decided sightings."""

    def __init__(self, camera_id: str, zones: Sequence[ZoneConfig] = (),
                 faces: TrackerConfig | None = None, vehicles: TrackerConfig | None = None) -> None:
        self.camera_id = camera_id
        mine = tuple(z for z in zones if z.camera == camera_id)
        self.faces: _Follow[FaceEvidence] = _Follow(camera_id, mine, faces, self._person)
        self.vehicles: _Follow[PlateEvidence] = _Follow(camera_id, mine, vehicles, self._vehicle)

    def observe(self, recognition: ImageRecognition, face_matches: Sequence[FaceMatch],
                plate_matches: Sequence[PlateMatch], frame_size: tuple[int, int], at: float,
                wall: dt.datetime, frame_ref: object = None) -> list[Sighting]:
        """Feed one frame; returns the sightings it completed.

        Args:
            recognition: what the cascade found in the frame.
            face_matches: the registry's answer per ``recognition.faces`` (same order and length).
            plate_matches: the registry's answer per ``recognition.plates`` (same order and length).
            frame_size: ``(width, height)`` of the analysed image, pixels.
            at: frame time, seconds (monotonic, non-decreasing).
            wall: frame time, timezone-aware.
            frame_ref: any handle on this frame (a sequence number, a buffer key); sightings
                hand back the one of their best observation, for the snapshot.
        """
        if len(face_matches) != len(recognition.faces) or len(plate_matches) != len(recognition.plates):
            raise ValueError("one registry match per face and per plate is needed")
        if wall.tzinfo is None:
            raise ValueError("wall must be timezone-aware")
        faces = recognition.faces
        face_votes: list[Ballot[FaceEvidence] | None] = [
            face_ballot(f.score, f.quality, m, at, wall, f.box, frame_ref)
            for f, m in zip(faces, face_matches, strict=True)]
        vehicles = recognition.vehicles
        plate_votes = vehicle_ballots(recognition.plates, plate_matches, vehicles.xyxy, at, wall,
                                      frame_ref)
        entry = _Entry(wall, frame_ref)
        return (self.faces.update(faces_to_detections(faces), face_votes, frame_size, at, entry)
                + self.vehicles.update(vehicles, plate_votes, frame_size, at, entry))

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
        return VehicleSighting(self.camera_id, track_id, at, _box(decision), zones, ev.reading, ev.match,
                               decision.share, trigger, ref)


def _when(seen_at: dt.datetime, frame_ref: object,
          entry: _Entry | None) -> tuple[dt.datetime, object, Trigger]:
    """Time, frame and trigger of a sighting: the best observation's, or the zone entry's."""
    if entry is None:
        return seen_at, frame_ref, "decision"
    return entry.wall, entry.frame_ref, "zone_entry"


def _box(decision: Decision[FaceEvidence] | Decision[PlateEvidence]) -> F32:
    return decision.best.box if decision.best.box is not None else np.zeros(4, np.float32)


def vehicle_ballots(plates: Sequence[PlateFinding], matches: Sequence[PlateMatch], boxes: F32, at: float,
                    wall: dt.datetime, frame_ref: object = None) -> list[Ballot[PlateEvidence] | None]:
    """One ballot per vehicle row: its most confident valid plate (``None`` without one)."""
    vehicles = boxes.shape[0]
    out: list[Ballot[PlateEvidence] | None] = [None] * vehicles
    for finding, match in zip(plates, matches, strict=True):
        i = finding.vehicle
        if i is None or not 0 <= i < vehicles:
            continue
        ballot = plate_ballot(finding, match, at, wall, boxes[i], frame_ref)
        current = out[i]
        if ballot is not None and (current is None or ballot.weight > current.weight):
            out[i] = ballot
    return out
