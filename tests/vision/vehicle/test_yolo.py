"""YOLO11n on bus.jpg, and the vehicle -> plate cascade."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.tolerances import PIXEL_ATOL, SCORE_ATOL
from vision.model import create
from vision.plate.pipeline import PlatePipeline
from vision.types import Image
from vision.vehicle.yolo import BUS, DEFAULT_PARAMS, PERSON, YoloDetector


@pytest.fixture(scope="module")
def yolo(model_store: Path) -> YoloDetector:
    detector = create("yolo", model_store / "yolo11n.onnx", name="yolo11n")
    assert isinstance(detector, YoloDetector)
    detector.load()
    return detector


def test_bus_and_people_found(yolo: YoloDetector, image: Callable[[str], Image]) -> None:
    (det,) = yolo.infer([image("bus.jpg")])
    assert BUS in det.class_ids
    bus = det[det.class_ids == BUS]
    assert list(bus.data["label"]) == ["bus"]
    x1, y1, x2, y2 = bus.xyxy[0]
    assert x2 - x1 > 600 and y2 - y1 > 350  # the bus spans most of the 810 px wide photo
    assert int((det.class_ids == PERSON).sum()) >= 3
    assert det.scores.min() > yolo.params.score_threshold and det.scores.max() <= 1.0
    assert yolo.names[2] == "car" and len(yolo.names) == 80


def test_keep_classes_filters(model_store: Path, image: Callable[[str], Image]) -> None:
    only_bus = YoloDetector(model_store / "yolo11n.onnx", params=replace(DEFAULT_PARAMS, keep_classes=(BUS,)))
    (det,) = only_bus.infer([image("bus.jpg")])
    assert set(det.class_ids.tolist()) == {BUS}


def test_batched_equals_single(yolo: YoloDetector, image: Callable[[str], Image]) -> None:
    images = [image("bus.jpg"), image("zidane.jpg"), image("bus.jpg")[:400, :600]]
    batched = yolo.infer(images)
    for img, det in zip(images, batched, strict=True):
        (single,) = yolo.infer([img])
        np.testing.assert_array_equal(det.class_ids, single.class_ids)
        np.testing.assert_allclose(det.xyxy, single.xyxy, atol=PIXEL_ATOL)
        np.testing.assert_allclose(det.scores, single.scores, atol=SCORE_ATOL)


def test_vehicle_crop_flows_into_the_plate_stage(model_store: Path, yolo: YoloDetector,
                                                  image: Callable[[str], Image]) -> None:
    bus_image = image("bus.jpg")
    (det,) = yolo.infer([bus_image])
    vehicles = det[np.isin(det.class_ids, (BUS,))]
    pipeline = PlatePipeline.from_store()
    (readings,) = pipeline.read([bus_image], vehicle_boxes=[vehicles.xyxy])
    for reading in readings:  # bus.jpg's bus has no Chinese plate: anything found must map back
        assert reading.box is not None and reading.corners is not None
        assert np.all(reading.box[:2] >= vehicles.xyxy[0, :2] - 50)
