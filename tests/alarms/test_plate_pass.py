"""One alarm per car passing the gate: the live path reads every frame, the track's vote decides.

Real parts: a rendered pass (a car approaching the camera, its plate growing from about 20 to
60 px), the real models through the cascade with the live policy, the alarm intake with the
registry and the alarm store on the test database. Frames go in as the live scheduler hands
them over (one :class:`FrameResult` each, 5 per second).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from alarms.intake import Alarmist
from alarms.records import Alarm
from alarms.rules import RuleSet, parse_rules
from media.passes import FPS, RenderedPass, generate_passes
from registry.plates import PlateMatch
from registry.service import Registry
from streams.config import CameraConfig
from streams.frames import Frame, Instant
from tests.alarms.conftest import StoreFactory
from vision.cascade import Cascade, FrameTask, ImageRecognition
from vision.config import VisionSettings
from vision.gating import GatingConfig
from vision.levers import Levers, Settled
from vision.live import FrameResult, SerialLane
from vision.policy import RecognitionPolicy

T0 = dt.datetime(2026, 6, 6, 6, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def seen(model_store: Path) -> tuple[RenderedPass, list[ImageRecognition]]:
    """A rendered pass and what the cascade (live policy) found in each of its frames."""
    [car] = list(generate_passes(1, seed=3))
    cascade = Cascade.from_store(VisionSettings(), store=model_store, run=("vehicles", "plates"))
    try:
        found = [cascade.analyse([FrameTask(f, ("vehicles", "plates"), None)], RecognitionPolicy.live())[0]
                 for f in car.frames]
    finally:
        cascade.close()
    return car, found


class CountingRegistry:
    """The registry, counting the plates the intake asks about."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.plates: list[str] = []
        self.match_faces = registry.match_faces
        self.list_residents = registry.list_residents

    def match_plate(self, text: str) -> PlateMatch:
        self.plates.append(text)
        return self.registry.match_plate(text)


def result(car: RenderedPass, k: int, recognition: ImageRecognition) -> FrameResult:
    at = T0 + dt.timedelta(seconds=k / FPS)
    image = car.frames[min(k, len(car.frames) - 1)]  # (after the pass: the car has gone, nothing found)
    frame = Frame("gate", image, Instant(50 + k / FPS, at.timestamp()), k)
    return FrameResult("gate", frame, recognition, 400.0, False)


def test_a_pass_raises_one_alarm_on_the_plate_its_frames_voted_for(
        seen: tuple[RenderedPass, list[ImageRecognition]], make_store: StoreFactory,
        registry: Registry) -> None:
    car, found = seen
    assert car.heights[0] < 25 and car.heights[-1] > 50
    registry.add_watchlist_entry("stolen car", plate=car.text, reason="test", severity="high")
    asking = CountingRegistry(registry)
    rules = RuleSet.build(parse_rules([{"type": "watchlist_vehicle"}]), {"gate": ["vehicles", "plates"]})
    intake = Alarmist(["gate"], rules, [], make_store(), asking, started=T0)
    raised = [alarm for k, recognition in enumerate(found)
              for alarm in intake.on_result(result(car, k, recognition))]
    raised += [alarm for k in range(len(found), len(found) + 15)  # the car has gone: the track ends
               for alarm in intake.on_result(result(car, k, ImageRecognition()))]
    assert [(a.type, a.plate_text) for a in raised] == [("watchlist_vehicle", car.text)]
    details = raised[0].details
    assert details["plate_votes"] > 1 and 0 < details["plate_confidence"] <= 1
    assert details["read_text"] == car.text
    assert asking.plates == [car.text]  # only the decided plate was matched, once
    assert sum(bool(r.plates) for r in found) >= details["plate_votes"]


class WatchedHints:
    """The intake as the pipeline's track hints, remembering what it answered."""

    def __init__(self, intake: Alarmist) -> None:
        self.intake = intake
        self.settled_vehicles: list[int] = []

    def settled(self, camera_id: str, at: float, recheck_s: float) -> Settled:
        found = self.intake.settled(camera_id, at, recheck_s)
        self.settled_vehicles.append(len(found.vehicles))
        return found


def test_with_the_levers_on_a_watchlisted_pass_still_raises_its_alarm(
        seen: tuple[RenderedPass, list[ImageRecognition]], make_store: StoreFactory, registry: Registry,
        model_store: Path) -> None:
    """The live path with every lever on (YOLO on every 2nd frame, plates only on undecided tracks)."""
    car, _ = seen
    registry.add_watchlist_entry("stolen car", plate=car.text, reason="test", severity="high")
    rules = RuleSet.build(parse_rules([{"type": "watchlist_vehicle"}]), {"gate": ["vehicles", "plates"]})
    intake = Alarmist(["gate"], rules, [], make_store(), registry, started=T0)
    hints = WatchedHints(intake)
    cascade = Cascade.from_store(VisionSettings(), store=model_store, run=("vehicles", "plates"))
    camera = CameraConfig(id="gate", url="rendered", run=["vehicles", "plates"])
    lane = SerialLane(camera, cascade, gating=GatingConfig(),
                      levers=Levers(detect_every=2, undecided_only=True, recheck_s=60), hints=hints)
    raised: list[tuple[int, Alarm]] = []
    plates_seen: list[int] = []
    try:
        for k in range(len(car.frames)):
            live = lane.analyse(result(car, k, ImageRecognition()).frame)
            plates_seen.append(len(live.recognition.plates))
            raised += [(k, alarm) for alarm in intake.on_result(live)]
    finally:
        cascade.close()
    for k in range(len(car.frames), len(car.frames) + 15):  # the car has gone: the track ends
        raised += [(k, alarm) for alarm in intake.on_result(result(car, k, ImageRecognition()))]
    assert [(a.type, a.plate_text) for _, a in raised] == [("watchlist_vehicle", car.text)]
    raised_at = [k for k, _ in raised]
    if raised_at[0] < len(car.frames) - 1:
        # Decided during the pass: from the next frame on the car is settled, its plate not read again.
        assert hints.settled_vehicles[raised_at[0] + 1:] and all(hints.settled_vehicles[raised_at[0] + 1:])
        assert not any(plates_seen[raised_at[0] + 1:])
