"""The alarm intake: from the live scheduler's frames and camera health to stored, delivered alarms.

Per frame (a gated one stands for the camera's last analysis): the registry matches faces, the
camera's observer tracks faces and vehicles and decides identities once per track (a vehicle's
plate by the vote over all its frames' readings; only that decided plate is matched against the
registry), the rules turn
decided sightings into drafts, the deduplicator admits or suppresses each, and the store writes
every admitted alarm with its snapshot and outgoing messages in one transaction (the relay
delivers them).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from alarms.care import CareSubject, LastSeen, care_alarms
from alarms.dedup import Deduplicator
from alarms.records import Alarm
from alarms.rules import HealthWatch, RuleSet
from alarms.sightings import CameraObserver, PersonSighting, Sighting, unknown_plate
from alarms.types import AlarmDraft
from alarms.zones import ZoneConfig
from registry.plates import PlateMatch
from registry.types import FaceMatch, ResidentInfo
from streams.frames import Frame
from streams.health import CameraState, HealthEvent
from vision.cascade import ImageRecognition
from vision.levers import Settled
from vision.live import FrameResult
from vision.plate.vote import PlateVoteConfig

logger = logging.getLogger(__name__)

UNKNOWN_FACE = FaceMatch(status="unknown", score=-1.0)
Image = npt.NDArray[np.uint8]


class Matcher(Protocol):
    """What the intake asks the registry about each frame (``registry.service.Registry`` is one)."""

    def match_faces(self, embeddings: npt.ArrayLike) -> Sequence[FaceMatch]:
        """One answer per ``(N, 512)`` embedding row."""
        ...

    def match_plate(self, text: str) -> PlateMatch: ...


class SiteRegistry(Matcher, Protocol):
    """The registry as the intake uses it: matching, and the residents the care rules watch."""

    def list_residents(self) -> Sequence[ResidentInfo]: ...


class AlarmSink(Protocol):
    """Where the intake puts what it decided (``alarms.store.AlarmStore`` is one)."""

    def raise_alarm(self, draft: AlarmDraft, snapshot: Image | None = None, crop: Image | None = None,
                    now: dt.datetime | None = None) -> Alarm: ...

    def record_event(self, event_type: str, data: dict[str, Any], now: dt.datetime | None = None) -> str:
        """An operational event such as ``camera.offline``; returns its id."""
        ...


class SnoozeGate(Protocol):
    """Which drafts a camera snooze holds back (``alarms.snoozes.Snoozes`` is one)."""

    def held(self, draft: AlarmDraft, now: dt.datetime) -> bool: ...


def registry_matches(registry: Matcher, recognition: ImageRecognition
                     ) -> tuple[list[FaceMatch | None], list[PlateMatch | None]]:
    """The registry's answer per face and per plate of ``recognition``.

    One batched search for all embedded faces; ``None`` for a face without an embedding and
    for a plate whose text fails the grammar (nothing to match).
    """
    faces = recognition.faces
    vectors = {i: f.embedding for i, f in enumerate(faces) if f.embedding is not None}
    face_matches: list[FaceMatch | None] = [None] * len(faces)
    if vectors:
        found = registry.match_faces(np.stack(list(vectors.values())))
        for i, match in zip(vectors, found, strict=True):
            face_matches[i] = match
    plate_matches: list[PlateMatch | None] = [
        registry.match_plate(p.reading.text) if p.reading.valid else None for p in recognition.plates]
    return face_matches, plate_matches


def registry_match_json(registry: Matcher, recognition: ImageRecognition
                        ) -> tuple[list[dict[str, Any] | None], list[dict[str, Any] | None]]:
    """:func:`registry_matches` as the ``match`` values of ``recognize --json`` (no candidates)."""
    faces, plates = registry_matches(registry, recognition)
    face_json: list[dict[str, Any] | None] = []
    for match in faces:
        data = None if match is None else match.to_dict()
        if data is not None:
            data.pop("candidates", None)
        face_json.append(data)
    return face_json, [None if m is None else _plate_json(m) for m in plates]


def _plate_json(match: PlateMatch) -> dict[str, Any]:
    """A plate match as JSON values (a visitor's ``valid_until`` as ISO 8601)."""
    data = dataclasses.asdict(match)
    for owner in data["owners"]:
        if owner["valid_until"] is not None:
            owner["valid_until"] = owner["valid_until"].isoformat()
    return data


class FrameBuffer:
    """The last ``size`` analysed frames of each camera, for the snapshot of a decided sighting."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._frames: dict[str, collections.OrderedDict[int, npt.NDArray[np.uint8]]] = {}

    def put(self, camera_id: str, seq: int, image: npt.NDArray[np.uint8]) -> None:
        frames = self._frames.setdefault(camera_id, collections.OrderedDict())
        frames[seq] = image
        while len(frames) > self.size:
            frames.popitem(last=False)

    def get(self, camera_id: str, seq: object) -> npt.NDArray[np.uint8] | None:
        frames = self._frames.get(camera_id)
        return frames.get(seq) if frames is not None and isinstance(seq, int) else None


def crop_box(image: npt.NDArray[np.uint8], box: npt.NDArray[np.float32],
             margin: float = 0.25) -> npt.NDArray[np.uint8] | None:
    """The box grown by ``margin`` of its size on each side, clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(w, int(x2 + mx) + 1), min(h, int(y2 + my) + 1)
    if right - left < 2 or bottom - top < 2:
        return None
    return np.ascontiguousarray(image[top:bottom, left:right])


def wall_time(frame: Frame) -> dt.datetime:
    """The frame's capture time as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(frame.captured_at.wall, dt.UTC)


class Alarmist:
    """Turns analysed frames and health events into alarms. Thread-safe (one lock).

    Args:
        camera_ids: the site's cameras.
        rules: the site's rules (``RuleSet.build``).
        zones: the site's zones.
        store: where alarms and events go (``alarms.store.AlarmStore``).
        registry: the resident registry (``registry.service.Registry``), or ``None``: every
            face and plate is then unknown.
        dedup: the deduplicator (a fresh one by default).
        care_interval_s: how often :meth:`tick` runs the care check.
        plates: when a vehicle track's plate vote decides (defaults of
            :class:`~vision.plate.vote.PlateVoteConfig`).
        snoozes: the cameras' snoozes (``AlarmStore.snoozes``): a snoozed camera's drafts are
            dropped before the deduplicator (watchlist matches excepted, see :mod:`alarms.snoozes`).
    """

    def __init__(self, camera_ids: Sequence[str], rules: RuleSet, zones: Sequence[ZoneConfig],
                 store: AlarmSink, registry: SiteRegistry | None, dedup: Deduplicator | None = None,
                 care_interval_s: float = 300.0, started: dt.datetime | None = None,
                 plates: PlateVoteConfig | None = None, snoozes: SnoozeGate | None = None) -> None:
        self.rules = rules
        self.store = store
        self.registry = registry
        self.dedup = dedup or Deduplicator()
        self.snoozes = snoozes
        self.health = HealthWatch(rules)
        match_plate = unknown_plate if registry is None else registry.match_plate
        self.observers = {cid: CameraObserver(cid, zones, plates=plates, match_plate=match_plate)
                          for cid in camera_ids}
        self.buffer = FrameBuffer()
        self.last_seen = LastSeen()
        self.care_interval_s = care_interval_s
        self.watch_since = started or dt.datetime.now(dt.UTC)
        self._last_care: dt.datetime | None = None
        self._lock = threading.Lock()
        self._down: set[str] = set()
        self.raised = 0
        self._last_analysis: dict[str, ImageRecognition] = {}

    # -- frames ----------------------------------------------------------------------------
    def settled(self, camera_id: str, at: float, recheck_s: float) -> Settled:
        """The camera's decided tracks at ``at`` (:class:`vision.levers.TrackHints` for the pipeline)."""
        with self._lock:
            observer = self.observers.get(camera_id)
            return Settled() if observer is None else observer.settled(at, recheck_s)

    def on_result(self, result: FrameResult) -> list[Any]:
        """Feed one frame of the live scheduler; returns the alarms it raised.

        A frame the motion gate skipped shows an unchanged scene, so what was there is still
        there: the trackers see the camera's last analysis again (as re-running the models on
        this frame would have told them), which keeps a parked car or a person standing still
        one live track. A gated frame before the camera's first analysis feeds nothing.
        """
        recognition = self._analysis_of(result)
        return ([] if recognition is None
                else self.on_frame(result.frame, recognition, looked=not result.skipped_by_gate))

    def _analysis_of(self, result: FrameResult) -> ImageRecognition | None:
        """The recognition a frame stands for: its own, or the last one when it was gated."""
        with self._lock:
            if result.skipped_by_gate:
                return self._last_analysis.get(result.camera_id)
            self._last_analysis[result.camera_id] = result.recognition
            return result.recognition

    def _face_matches(self, recognition: ImageRecognition) -> list[FaceMatch]:
        """The registry's answer per face (plates are matched once per track, when decided)."""
        faces = recognition.faces
        if self.registry is None or not faces:
            return [UNKNOWN_FACE] * len(faces)
        found: list[FaceMatch] = [UNKNOWN_FACE] * len(faces)
        vectors = {i: f.embedding for i, f in enumerate(faces) if f.embedding is not None}
        if vectors:
            for i, match in zip(vectors, self.registry.match_faces(np.stack(list(vectors.values()))),
                                strict=True):
                found[i] = match
        return found

    def on_frame(self, frame: Frame, recognition: ImageRecognition, looked: bool = True) -> list[Alarm]:
        """Feed one analysed frame; returns the alarms it raised.

        ``looked`` is False when ``recognition`` repeats an earlier frame's (a gated frame, see
        :meth:`on_result`; :meth:`~alarms.sightings.CameraObserver.observe`).
        """
        face_matches = self._face_matches(recognition)
        wall = wall_time(frame)
        with self._lock:
            self.buffer.put(frame.camera_id, frame.seq, frame.image)
            sightings = self.observers[frame.camera_id].observe(
                recognition, face_matches, (frame.width, frame.height),
                at=frame.captured_at.monotonic, wall=wall, frame_ref=frame.seq, looked=looked)
            return self._sightings(sightings, wall)

    def _sightings(self, sightings: list[Sighting], now: dt.datetime) -> list[Alarm]:
        raised = []
        for sighting in sightings:
            if isinstance(sighting, PersonSighting) and sighting.owner is not None \
                    and sighting.owner.kind == "resident":
                self.last_seen.record(sighting.owner.id, sighting.occurred_at)
            for draft in self._admit(self.rules.evaluate(sighting), now):
                image = self.buffer.get(sighting.camera_id, sighting.frame_ref)
                crop = None if image is None else crop_box(image, sighting.box)
                raised.append(self._raise(draft, image, crop, now))
        return raised

    def _admit(self, drafts: list[AlarmDraft], now: dt.datetime) -> list[AlarmDraft]:
        """The drafts no snooze holds back, then those the deduplicator admits."""
        if self.snoozes is not None:
            drafts = [d for d in drafts if not self.snoozes.held(d, now)]
        return self.dedup.admit(drafts, now)

    def _raise(self, draft: AlarmDraft, snapshot: npt.NDArray[np.uint8] | None,
               crop: npt.NDArray[np.uint8] | None, now: dt.datetime) -> Alarm:
        alarm = self.store.raise_alarm(draft, snapshot, crop, now)
        self.raised += 1
        return alarm

    # -- health and time -------------------------------------------------------------------
    def on_health(self, event: HealthEvent) -> list[Alarm]:
        """Feed a camera health event: operational event for offline/online, alarms by the rules."""
        now = dt.datetime.fromtimestamp(event.at.wall, dt.UTC)
        with self._lock:
            # One camera.offline per outage (retries that fail again are the same outage) and
            # one camera.online when frames flow again.
            if not event.is_tamper:
                if event.state in (CameraState.OFFLINE, CameraState.AUTH_FAILED) \
                        and event.camera_id not in self._down:
                    self._down.add(event.camera_id)
                    self.store.record_event("camera.offline", event.to_dict(), now)
                elif event.state is CameraState.ONLINE and event.camera_id in self._down:
                    self._down.discard(event.camera_id)
                    self.store.record_event("camera.online", event.to_dict(), now)
            return [self._raise(d, None, None, now)
                    for d in self._admit(self.health.on_event(event), now)]

    def tick(self, now: dt.datetime) -> list[Alarm]:
        """Periodic work: camera-offline grace periods, the care check, dedup expiry."""
        with self._lock:
            drafts = self.health.tick(now)
            if self.rules.care_rules and (self._last_care is None or
                                          (now - self._last_care).total_seconds() >= self.care_interval_s):
                self._last_care = now
                drafts += self._care(now)
            raised = [self._raise(d, None, None, now) for d in self._admit(drafts, now)]
            self.dedup.expire(now)
            return raised

    def _care(self, now: dt.datetime) -> list[AlarmDraft]:
        if self.registry is None:
            return []
        residents = [CareSubject(r.id, r.name, tuple(r.tags), r.status)
                     for r in self.registry.list_residents()]
        out: list[AlarmDraft] = []
        for rule in self.rules.care_rules:
            out += care_alarms(rule, residents, self.last_seen.as_dict(), self.watch_since, now)
        return out
