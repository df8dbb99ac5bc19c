"""The alarm intake on its own: live-scheduler frames -> registry matches -> sightings -> stored alarms.

Real parts: the alarm store and the registry on the test database (SQLite and PostgreSQL), the
site's rules; only the frames are built here (a car driving through the gate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alarms.intake import Alarmist, registry_matches
from alarms.rules import RuleSet, parse_rules
from registry.service import Registry
from registry.types import Owner
from tests.alarms.builders import T0, WATCHED, car, plate_reading, result
from tests.alarms.conftest import StoreFactory
from tests.registry.builders import unit_vectors
from vision.cascade import ImageRecognition, PlateFinding
from vision.types import Face


@pytest.fixture
def intake(make_store: StoreFactory, registry: Registry) -> Alarmist:
    registry.add_watchlist_entry("stolen car", plate=WATCHED, reason="test", severity="high")
    rules = RuleSet.build(parse_rules([{"type": "watchlist_vehicle"}]), {"gate": ["vehicles", "plates"],
                                                                         "yard": ["vehicles", "plates"]})
    return Alarmist(["gate", "yard"], rules, [], make_store(), registry, started=T0)


def test_a_watchlisted_car_raises_one_alarm_with_its_snapshot(intake: Alarmist, tmp_path: Path) -> None:
    raised = [alarm for i in range(8) for alarm in intake.on_result(result(i, car(i)))]
    assert [(a.type, a.camera_id, a.plate_text) for a in raised] == [("watchlist_vehicle", "gate", WATCHED)]
    snapshot = intake.store.snapshot_file(raised[0].id)
    assert snapshot is not None and snapshot.is_file()
    assert intake.raised == 1


def test_gated_frames_show_the_trackers_the_last_analysis(intake: Alarmist) -> None:
    # One analysed frame, then the gate judges the scene unchanged: the car is still there, so
    # its track goes on collecting plate votes until its identity is decided.
    raised = intake.on_result(result(0, car(0)))
    for i in range(1, 8):
        raised += intake.on_result(result(i))
    assert [(a.type, a.plate_text) for a in raised] == [("watchlist_vehicle", WATCHED)]


def test_a_gated_frame_replays_only_its_own_camera(intake: Alarmist) -> None:
    assert intake.on_result(result(0)) == []  # nothing analysed on this camera yet
    assert intake.on_result(result(0, car(0))) == []
    raised = [alarm for i in range(1, 8) for alarm in intake.on_result(result(i, camera="yard"))]
    assert raised == []  # the gate's car never shows up on the yard camera


def test_registry_matches_one_answer_per_face_and_plate(registry: Registry) -> None:
    person = registry.add_resident("张三")
    vector = unit_vectors(1, seed=3)
    registry.add_templates(Owner("resident", person), vector)
    registry.add_vehicle(WATCHED, resident_id=person)
    box = np.array([10, 10, 50, 60], np.float32)
    eyes = np.zeros((5, 2), np.float32)
    faces = [Face(box, 0.9, eyes, embedding=vector[0]), Face(box, 0.8, eyes)]  # the second: not embedded
    plates = [PlateFinding(plate_reading(), None), PlateFinding(plate_reading("X1", valid=False), None)]
    face_matches, plate_matches = registry_matches(registry, ImageRecognition(faces=faces, plates=plates))
    assert face_matches[0] is not None and face_matches[0].status == "match"
    assert face_matches[0].owner == Owner("resident", person)
    assert face_matches[1] is None  # no embedding: nothing to match
    assert plate_matches[0] is not None and plate_matches[0].status == "exact"
    assert plate_matches[1] is None  # fails the plate grammar: nothing to match
