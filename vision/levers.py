"""Doing less per frame: the detector on every k-th frame, faces and plates only where undecided.

Two levers, each off by default and set per pipeline (``pipeline:`` in the service config):

* **detect_every** (``k``): a camera that runs YOLO (vehicles or plates) runs it on every k-th
  analysed frame; on the frames between, a light tracker *carries* the people and vehicles it
  found (constant-velocity prediction), and faces and plates are searched on those carried
  boxes. A frame still runs the detector when motion is large (``carry_max_motion`` of the
  thumbnail changed), when a motion region touches no carried box (something new came in), when
  the gate did not give motion regions (first frame, keepalive, gating off), or when the last
  detector run is older than ``carry_max_s`` (frames were dropped or paced). :class:`Carrier`
  decides, per camera.
* **undecided_only**: a face whose track's identity is decided is still detected (so its track
  lives on) but not embedded again, and a vehicle whose track's plate is decided is not searched
  for plates again, nor is a vehicle that stood still through several searches in a row without
  a valid plate (a parked car whose plate this camera cannot read; the alarm layer's
  ``CameraObserver`` decides when: until it moves, or its re-check is due); on a carried
  frame, a head holding a decided face is not searched at all (its track is matched on the
  frames the detector runs on); each decided track is looked at
  in full again every ``recheck_s`` seconds (a face track that then matches someone else is
  re-decided: a track switch does not hide a watchlisted person). Which tracks are decided is
  the alarm layer's knowledge: it answers :class:`TrackHints`, and the boxes it gives
  (:class:`Settled`) reach the cascade with the frame.

Pure apart from each :class:`Carrier`'s state: times are passed in (seconds, monotonic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vision.gating import GateDecision
from vision.tracking import Tracker, TrackerConfig, iou_matrix
from vision.types import F32, Detections

PlanReason = Literal["off", "no_regions", "first", "every", "stale", "motion", "new_region", "carry"]

_CARRY_TRACKER = TrackerConfig(min_hits=1, max_missed=0, high_score=0.01, low_score=0.0, match_iou=0.2)
"""The carrier follows every box of the last detector run (it never confirms or votes)."""


class Levers(BaseModel):
    """How much of each frame the pipeline skips (see the module docstring); off by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detect_every: int = Field(1, ge=1, le=10,
                              description="Run the person/vehicle detector on every k-th analysed frame of "
                                          "a camera; between, carry its boxes while motion is small "
                                          "(1: every frame). Needs motion gating.")
    carry_max_motion: float = Field(0.05, gt=0, le=1,
                                    description="A frame whose changed share of the gate's thumbnail reaches "
                                                "this runs the detector anyway.")
    carry_max_s: float = Field(1.0, gt=0, le=10,
                               description="Boxes are carried at most this long after a detector run.")
    undecided_only: bool = Field(False, description="Embed faces and read plates only on tracks not decided "
                                                    "yet (decided ones are re-checked every recheck_s).")
    recheck_s: float = Field(3.0, gt=0, le=600,
                             description="A decided track gets full work again this often.")

    @property
    def active(self) -> bool:
        return self.detect_every > 1 or self.undecided_only


@dataclass(frozen=True, slots=True)
class Settled:
    """Boxes (frame pixels, predicted at the frame's time) of tracks that need no more work.

    Attributes:
        faces: ``(N, 4)`` float32 xyxy of decided face tracks: a face here is not embedded.
        vehicles: ``(M, 4)`` float32 xyxy of vehicle tracks with a decided plate: not searched.
    """

    faces: F32 = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    vehicles: F32 = field(default_factory=lambda: np.zeros((0, 4), np.float32))

    def __post_init__(self) -> None:
        for name in ("faces", "vehicles"):
            boxes = getattr(self, name)
            if boxes.ndim != 2 or boxes.shape[1] != 4:
                raise ValueError(f"{name} must be (N, 4), got {boxes.shape}")

    def __bool__(self) -> bool:
        return bool(len(self.faces) or len(self.vehicles))


SETTLED_IOU = 0.5
"""A face or vehicle is a settled track's when its box overlaps the track's predicted box this much."""


def settled_rows(boxes: F32, settled: F32, min_iou: float = SETTLED_IOU) -> np.ndarray:
    """``(N,)`` bool: which of ``boxes`` overlap some ``settled`` box by at least ``min_iou``."""
    if boxes.shape[0] == 0 or settled.shape[0] == 0:
        return np.zeros(boxes.shape[0], bool)
    return np.asarray(iou_matrix(boxes.astype(np.float32), settled.astype(np.float32)).max(axis=1) >= min_iou)


class TrackHints(Protocol):
    """What the pipeline asks before analysing a frame (the alarm layer's intake answers)."""

    def settled(self, camera_id: str, at: float, recheck_s: float) -> Settled:
        """Decided tracks of ``camera_id`` at ``at`` whose re-check is not due (a due one is left out)."""
        ...


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one analysed frame: run the detector, or use the carried boxes.

    Attributes:
        detect: run YOLO on the frame.
        reason: why (see :class:`Carrier`).
        objects: when not detecting, the carried people and vehicles (frame pixels).
    """

    detect: bool
    reason: PlanReason
    objects: Detections | None = None


def touches(region: F32, boxes: F32) -> bool:
    """Whether ``region`` (xyxy) intersects any of ``boxes`` ``(N, 4)``."""
    if boxes.shape[0] == 0:
        return False
    inter_w = np.minimum(region[2], boxes[:, 2]) - np.maximum(region[0], boxes[:, 0])
    inter_h = np.minimum(region[3], boxes[:, 3]) - np.maximum(region[1], boxes[:, 1])
    return bool(((inter_w > 0) & (inter_h > 0)).any())


class Carrier:
    """One camera's detector schedule and the boxes it carries between detector runs.

    Call :meth:`plan` for every frame the gate lets through, in time order, then
    :meth:`detected` with the detector's people and vehicles when the plan said ``detect``.
    """

    def __init__(self, levers: Levers) -> None:
        self.levers = levers
        self._trackers: dict[int, Tracker[None]] = {}
        self._labels: dict[tuple[int, int], str] = {}
        self._detected_at: float | None = None
        self._carried = 0

    def plan(self, decision: GateDecision, at: float) -> Plan:
        """Detect or carry this frame (see the module docstring for when it detects)."""
        levers = self.levers
        if levers.detect_every <= 1:
            return Plan(True, "off")
        if decision.reason != "motion" or decision.regions is None:
            return Plan(True, "no_regions" if decision.reason == "motion" else "first")
        if self._detected_at is None:
            return Plan(True, "first")
        if self._carried + 1 >= levers.detect_every:
            return Plan(True, "every")
        if at - self._detected_at > levers.carry_max_s:
            return Plan(True, "stale")
        if decision.changed_fraction >= levers.carry_max_motion:
            return Plan(True, "motion")
        objects = self.predict(at)
        if any(not touches(region, objects.xyxy) for region in decision.regions):
            return Plan(True, "new_region")
        self._carried += 1
        return Plan(False, "carry", objects)

    def detected(self, objects: Detections, at: float) -> None:
        """The detector's people and vehicles of a frame at ``at`` (frame pixels)."""
        self._detected_at, self._carried = at, 0
        classes = {int(c) for c in objects.class_ids} | set(self._trackers)
        labels = objects.data.get("label")
        for cls in classes:
            rows = np.flatnonzero(objects.class_ids == cls)
            tracker = self._trackers.setdefault(cls, Tracker(_CARRY_TRACKER))
            update = tracker.update(objects[rows], at)
            if labels is not None:
                for row, track_id in zip(rows, update.assigned, strict=True):
                    if track_id is not None:
                        self._labels[(cls, track_id)] = str(labels[row])
        live = {(cls, t.id) for cls, tracker in self._trackers.items() for t in tracker.tracks}
        self._labels = {key: label for key, label in self._labels.items() if key in live}

    def predict(self, at: float) -> Detections:
        """The carried people and vehicles at ``at``: every box of the last run, moved on."""
        boxes, scores, classes, labels = [], [], [], []
        for cls, tracker in sorted(self._trackers.items()):
            for track in tracker.tracks:
                boxes.append(track.predict(at))
                scores.append(track.score)
                classes.append(cls)
                labels.append(self._labels.get((cls, track.id), str(cls)))
        if not boxes:
            return Detections.empty()
        return Detections.build(np.stack(boxes), scores, classes, label=np.asarray(labels))
