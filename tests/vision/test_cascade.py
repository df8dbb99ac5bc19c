"""The one recognition path on real models: still images and live frames, each policy switch."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from media.plates import RenderedPlate, generate, load_background
from streams.config import ALL_ANALYSES, Analysis
from tests.tolerances import PIXEL_ATOL
from vision.cascade import Cascade, FrameTask, ImageRecognition, to_json
from vision.policy import RecognitionPolicy, head_box, head_input
from vision.types import Detections, Face, Image
from vision.vehicle.yolo import PERSON

STILL, LIVE = RecognitionPolicy.still(), RecognitionPolicy.live()
CAR_PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg")
Loader = Callable[[str], Image]


@pytest.fixture(scope="module")
def cascade(model_store: Path) -> Cascade:
    return Cascade.from_store()


@pytest.fixture(scope="module")
def car() -> RenderedPlate:
    """A car with a rendered Chinese plate (the demo's gate scene)."""
    (sample,) = generate(1, seed=11, backgrounds={"car": load_background(str(CAR_PHOTO))})
    return sample


def one(cascade: Cascade, image: Image, policy: RecognitionPolicy, run: Collection[Analysis] = ALL_ANALYSES,
        regions: list[list[float]] | None = None) -> ImageRecognition:
    """One image through the cascade (``regions``: its motion regions, xyxy)."""
    area = None if regions is None else np.asarray(regions, np.float32)
    (result,) = cascade.analyse([FrameTask(image, run, area)], policy)
    return result


def test_recognize_is_analyse_with_the_still_policy(cascade: Cascade, image: Loader) -> None:
    images = [image("players.jpg"), image("bus.jpg")]
    tasks = [FrameTask(im) for im in images]
    assert ([to_json(r) for r in cascade.recognize(images)]
            == [to_json(r) for r in cascade.analyse(tasks, STILL)])


def test_only_still_images_are_searched_whole_for_plates(cascade: Cascade, car: RenderedPlate) -> None:
    """A close-up of a plate (no vehicle YOLO knows): read in a still image, not in a live frame."""
    x1, y1 = car.corners.min(axis=0).astype(int) - 40
    x2, y2 = car.corners.max(axis=0).astype(int) + 40
    close_up = np.ascontiguousarray(car.image[max(0, y1):y2, max(0, x1):x2])
    still = one(cascade, close_up, STILL)
    assert len(still.vehicles) == 0
    assert [(p.reading.text, p.vehicle) for p in still.plates] == [(car.text, None)]
    assert one(cascade, close_up, LIVE).plates == []
    assert one(cascade, close_up, replace(LIVE, whole_image_plates=True)).plates[0].reading.text == car.text


def test_vehicles_searched_for_plates_are_reported_only_in_still_images(cascade: Cascade,
                                                                       car: RenderedPlate) -> None:
    still = one(cascade, car.image, STILL, ("plates",))
    live = one(cascade, car.image, LIVE, ("plates",))
    assert len(still.vehicles) == 1 and len(live.vehicles) == 0
    for result in (still, live):  # the plate names its vehicle either way
        assert [(p.reading.text, p.vehicle) for p in result.plates] == [(car.text, 0)]


def test_small_faces_are_not_embedded_live(cascade: Cascade, image: Loader) -> None:
    players = image("players.jpg")
    for policy in (STILL, LIVE, replace(LIVE, min_embed_face=1e9)):
        faces = one(cascade, players, policy, ("faces",)).faces
        assert len(faces) >= 15
        for face in faces:
            side = min(face.box[2] - face.box[0], face.box[3] - face.box[1])
            assert (face.embedding is not None) == (side >= policy.min_embed_face)
    small = [f for f in one(cascade, players, LIVE, ("faces",)).faces if f.embedding is None]
    assert small, "players.jpg has faces under 24 px: some must go without an embedding"


def _side(face: Face) -> float:
    return float(min(face.box[2] - face.box[0], face.box[3] - face.box[1]))


def test_a_face_of_min_embed_face_on_a_small_head_is_found_and_embedded(cascade: Cascade,
                                                                        image: Loader) -> None:
    """bus.jpg scaled so its largest face is ~26 px, on a person whose head input is under 160."""
    bus = image("bus.jpg")
    face = max(cascade.recognize([bus], ("faces",))[0].faces, key=_side)
    scale = 26 / _side(face)  # box sides vary by ~1 px with the input size
    small = cv2.resize(bus, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x1, y1, x2, _ = face.box * scale
    width = x2 - x1
    person = np.asarray([[x1 - width / 2, y1 - width / 3, x2 + width / 2, y1 + 5 * width]], np.float32)
    head = head_box(person[0], (small.shape[1], small.shape[0]), LIVE.head_fraction)
    assert head_input(head, LIVE)[0] < LIVE.face_input
    people = Detections.build(person, [0.9], [PERSON])
    found = {}
    for name, policy in (("new", LIVE), ("160", replace(LIVE, head_face_input=1e9))):
        (result,) = cascade.analyse([FrameTask(small, ("faces", "vehicles"), objects=people)], policy)
        (found[name],) = result.faces
    assert LIVE.min_embed_face <= _side(found["new"]) < LIVE.min_embed_face + 5
    assert found["new"].embedding is not None and found["160"].embedding is not None
    assert float(found["new"].embedding @ found["160"].embedding) > 0.9


def test_live_faces_are_searched_on_people_when_yolo_runs(cascade: Cascade, image: Loader) -> None:
    players = image("players.jpg")
    assert len(one(cascade, players, LIVE).faces) >= 10  # on the players YOLO found
    assert one(cascade, players, replace(LIVE, min_person_height=1e6)).faces == []  # no one tall enough
    assert one(cascade, players, replace(LIVE, min_person_height=1e6), ("faces",)).faces  # no YOLO
    assert len(one(cascade, players, replace(LIVE, faces_on_people=False)).faces) >= 15


def test_regions_limit_where_live_detectors_look(cascade: Cascade, image: Loader) -> None:
    bus = image("bus.jpg")  # 810x1080, the bus spans most of its width
    assert len(one(cascade, bus, LIVE, ("vehicles",)).vehicles) == 1
    assert len(one(cascade, bus, LIVE, ("vehicles",), [[0, 0, 60, 60]]).vehicles) == 0
    (box,) = one(cascade, bus, LIVE, ("vehicles",), [[0, 200, 810, 760]]).vehicles.xyxy
    assert box[2] - box[0] > 600


def test_frames_analysed_together_equal_each_alone(cascade: Cascade, image: Loader,
                                                   car: RenderedPlate) -> None:
    tasks = [FrameTask(image("players.jpg")), FrameTask(car.image, ("vehicles", "plates")),
             FrameTask(image("bus.jpg"), ("faces", "vehicles"), np.asarray([[0, 200, 810, 760]], np.float32))]
    together = cascade.analyse(tasks, LIVE)
    for task, batched in zip(tasks, together, strict=True):
        (alone,) = cascade.analyse([task], LIVE)
        assert len(alone.faces) == len(batched.faces)
        for a, b in zip(alone.faces, batched.faces, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=PIXEL_ATOL)
        np.testing.assert_allclose(alone.vehicles.xyxy, batched.vehicles.xyxy, atol=PIXEL_ATOL)
        assert [p.reading.text for p in alone.plates] == [p.reading.text for p in batched.plates]
    assert together[1].plates[0].reading.text == car.text


@pytest.mark.parametrize("policy", [STILL, LIVE])
def test_a_frame_gets_only_the_analyses_its_camera_runs(cascade: Cascade, car: RenderedPlate,
                                                        policy: RecognitionPolicy) -> None:
    faces_only = one(cascade, car.image, policy, ("faces",))
    assert len(faces_only.vehicles) == 0 and faces_only.plates == []
    vehicles_only = one(cascade, car.image, policy, ("vehicles",))
    assert len(vehicles_only.vehicles) == 1 and vehicles_only.plates == [] and vehicles_only.faces == []
