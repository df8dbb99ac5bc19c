"""Decided tracks need no more embeddings or plate reads, come back every re-check, reopen on a switch.

Parked cars whose plate cannot be read are left alone the same way until they move.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from alarms.sightings import (
    PLATELESS_AFTER,
    CameraObserver,
    PersonSighting,
    Sighting,
    VehicleSighting,
    other_plate,
)
from registry.types import FaceMatch, Owner
from vision.cascade import ImageRecognition, PlateFinding
from vision.types import Detections, Face, PlateReading

T0 = dt.datetime(2026, 6, 6, 14, 0, tzinfo=dt.UTC)
RESIDENT = FaceMatch("match", 0.71, Owner("resident", "r1"), name="张三", owner_status="active")
WATCHLISTED = FaceMatch("match", 0.62, Owner("watchlist", "w1"), name="嫌疑人A", owner_status="watchlist")
STRANGER = FaceMatch("unknown", 0.21)
STEP = 0.2


def face(k: int) -> Face:
    """A face walking slowly right, frame ``k``."""
    x = 100 + 4 * k
    return Face(np.array([x, 200, x + 60, 280], np.float32), 0.9, np.zeros((5, 2), np.float32), quality=0.8)


def see_face(observer: CameraObserver, k: int, match: FaceMatch) -> list[Sighting]:
    at = k * STEP
    return observer.observe(ImageRecognition(faces=[face(k)]), [match], (1280, 720), at,
                            T0 + dt.timedelta(seconds=at), k)


def walk(observer: CameraObserver, frames: range, match: FaceMatch) -> list[Sighting]:
    return [s for k in frames for s in see_face(observer, k, match)]


def test_a_decided_face_track_is_settled_until_its_recheck_is_due() -> None:
    observer = CameraObserver("lobby")
    k, decided = 0, []
    while not decided:
        assert len(observer.settled(k * STEP, recheck_s=0.9).faces) == 0  # undecided: full work
        decided = see_face(observer, k, RESIDENT)
        k += 1
    assert isinstance(decided[0], PersonSighting) and decided[0].owner == RESIDENT.owner
    decided_at = (k - 1) * STEP
    settled = [len(observer.settled(decided_at + j * STEP, recheck_s=0.9).faces) for j in range(1, 12)]
    # Settled for just under a second, then one frame of full work (the re-check), then settled again.
    assert settled == [1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1]
    box = observer.settled(decided_at + STEP, recheck_s=0.9).faces[0]
    assert abs(float(box[0]) - face(k).box[0]) < 1.0  # predicted where the face is now


def test_a_face_track_that_now_matches_someone_else_is_decided_again() -> None:
    """A track switch: the resident's track continues on a watchlisted face; it must still alarm."""
    observer = CameraObserver("lobby")
    first = walk(observer, range(4), RESIDENT)
    assert [s.owner for s in first if isinstance(s, PersonSighting)] == [RESIDENT.owner]
    later = walk(observer, range(4, 10), WATCHLISTED)
    people = [s for s in later if isinstance(s, PersonSighting)]
    assert [(s.owner, s.track_id, s.trigger) for s in people] == [(WATCHLISTED.owner, 1, "decision")]
    assert len(observer.settled(10 * STEP, recheck_s=5.0).faces) == 1  # decided again: settled again


def test_an_unknown_face_on_a_decided_track_does_not_reopen_it() -> None:
    observer = CameraObserver("lobby")
    assert len(walk(observer, range(4), RESIDENT)) == 1
    assert walk(observer, range(4, 12), STRANGER) == []  # a bad angle: no match, no new decision


def plate(text: str, k: int) -> PlateFinding:
    height = 30 + 2 * k
    reading = PlateReading(text, text, 0.95, (0.95,) * len(text), True, "blue",
                           box=np.array([300, 400, 300 + 3 * height, 400 + height], np.float32))
    return PlateFinding(reading, 0)


def see_car(observer: CameraObserver, k: int, text: str | None) -> list[Sighting]:
    at = k * STEP
    x = 200 + 5 * k
    car = Detections.build([[x, 250, x + 400, 500]], [0.9], [2], label=np.asarray(["car"]))
    plates = [] if text is None else [plate(text, k)]
    return observer.observe(ImageRecognition(vehicles=car, plates=plates), [], (1280, 720), at,
                            T0 + dt.timedelta(seconds=at), k)


def test_a_vehicle_with_a_decided_plate_is_settled_and_a_far_plate_reopens_it() -> None:
    observer = CameraObserver("gate")
    decided = [s for k in range(8) for s in see_car(observer, k, "京A12345")]
    assert [s.reading.text for s in decided if isinstance(s, VehicleSighting)] == ["京A12345"]
    assert len(observer.settled(8 * STEP, recheck_s=3.0).vehicles) == 1
    # Frames without a reading (not read: settled) and a near misread change nothing.
    assert [s for k in range(8, 10) for s in see_car(observer, k, None)] == []
    assert [s for s in see_car(observer, 10, "京A12845")] == []
    # Another car's plate on this track (a switch) starts a new vote, decided as that plate.
    switched = [s for k in range(11, 20) for s in see_car(observer, k, "沪B99887")]
    assert [s.reading.text for s in switched if isinstance(s, VehicleSighting)] == ["沪B99887"]


def test_other_plate_is_a_plate_too_far_to_be_a_misread() -> None:
    assert not other_plate("京A12345", "京A12845", 2.0)  # 8/4: one substitution
    assert not other_plate("京A12345", "京A1234S", 2.0)  # 5/S: a look-alike
    assert other_plate("京A12345", "沪B99887", 2.0)


def see_parked(observer: CameraObserver, k: int, text: str | None = None, dx: float = 0.0,
               looked: bool = True) -> list[Sighting]:
    """A car standing at the same place in frame ``k`` (moved ``dx`` px), with a readable plate or none."""
    at = k * STEP
    car = Detections.build([[900 + dx, 60, 960 + dx, 112]], [0.7], [2], label=np.asarray(["car"]))
    plates = [] if text is None else [plate(text, 20)]
    return observer.observe(ImageRecognition(vehicles=car, plates=plates), [], (1280, 720), at,
                            T0 + dt.timedelta(seconds=at), k, looked=looked)


def parked_settled(observer: CameraObserver, k: int, recheck_s: float = 1.0) -> int:
    return len(observer.settled(k * STEP, recheck_s=recheck_s).vehicles)


def test_a_parked_car_without_a_readable_plate_is_left_alone_until_its_recheck() -> None:
    observer = CameraObserver("car-park")
    searched = []
    for k in range(16):
        settled = parked_settled(observer, k)
        searched.append(settled == 0)
        see_parked(observer, k)
    # Searched on its first frame (a tentative track) and PLATELESS_AFTER more, then left alone
    # but for one frame every re-check (1 s: every 5th frame).
    assert PLATELESS_AFTER == 5
    assert searched == [True] * 6 + [False, False, False, False, True] * 2


def test_frames_the_gate_skipped_are_no_looks() -> None:
    """A gated frame repeats the last analysis: nothing was searched, so it does not count."""
    observer = CameraObserver("car-park")
    see_parked(observer, 0)
    for k in range(1, 12):
        see_parked(observer, k, looked=False)
    assert parked_settled(observer, 12) == 0
    for k in range(12, 12 + PLATELESS_AFTER):
        see_parked(observer, k)
    assert parked_settled(observer, 12 + PLATELESS_AFTER) == 1


def test_a_parked_car_that_moves_is_searched_again_and_its_plate_decides() -> None:
    observer = CameraObserver("car-park")
    for k in range(6):
        see_parked(observer, k)
    assert parked_settled(observer, 6, recheck_s=30.0) == 1
    # It pulls out (its box now overlaps where it stood by less than STILL_IOU): searched again.
    see_parked(observer, 6, dx=12.0)
    assert parked_settled(observer, 7, recheck_s=30.0) == 0
    # Now its plate is read: it votes and decides as usual (then it is settled as decided).
    decided = [s for k in range(7, 14) for s in see_parked(observer, k, "京A12345", dx=12.0)]
    assert [s.reading.text for s in decided if isinstance(s, VehicleSighting)] == ["京A12345"]
    assert parked_settled(observer, 14, recheck_s=30.0) == 1


def test_a_moving_car_without_a_plate_is_never_left_alone() -> None:
    observer = CameraObserver("gate")
    for k in range(20):
        assert parked_settled(observer, k, recheck_s=30.0) == 0
        see_parked(observer, k, dx=3.0 * k)  # 15 px a second, a quarter of its length: slow


def test_leaving_parked_cars_alone_can_be_turned_off() -> None:
    observer = CameraObserver("car-park", plateless_after=None)
    for k in range(20):
        assert parked_settled(observer, k, recheck_s=30.0) == 0
        see_parked(observer, k)
