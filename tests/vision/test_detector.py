"""Detector parameters and variants: another input size or threshold on the same session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from models.manifest import load_manifest
from vision.detector import DetectorParams
from vision.face.scrfd import ScrfdDetector, anchor_centres
from vision.types import Image
from vision.vehicle.yolo import BUS, YoloDetector

Loader = Callable[[str], Image]


def test_a_resized_variant_shares_the_loaded_session(model_store: Path, image: Loader) -> None:
    scrfd = ScrfdDetector(model_store / load_manifest()["scrfd_500m"].filename)
    small = scrfd.resized((320, 256))
    assert scrfd.resized(scrfd.params.input_size) is scrfd
    assert small.params.input_size == (320, 256) and scrfd.params.input_size == (640, 640)
    assert small.params.score_threshold == scrfd.params.score_threshold
    small.load()  # loading the variant opens the one session for both
    assert scrfd.loaded and small.session is scrfd.session
    calls = scrfd.session.calls
    (faces,) = small.infer([image("astronaut.png")])
    assert len(faces) == 1 and scrfd.session.calls == calls + 1
    assert small._centres.shape[0] == anchor_centres((320, 256))[0].shape[0] < scrfd._centres.shape[0]


def test_a_threshold_variant_keeps_fewer_detections(model_store: Path, image: Loader) -> None:
    yolo = YoloDetector(model_store / "yolo11n.onnx")
    strict = yolo.with_score_threshold(0.8)
    bus = image("bus.jpg")
    (loose,), (tight,) = yolo.infer([bus]), strict.infer([bus])
    assert 0 < len(tight) < len(loose) and tight.scores.min() > 0.8
    assert strict.session is yolo.session
    (small,) = yolo.resized((320, 320)).infer([bus])
    assert "bus" in small.data["label"] and BUS in small.class_ids  # variants read the class names too


@pytest.mark.parametrize(("params", "expected_error"), [
    (dict(input_size=(0, 640), score_threshold=0.5, nms_threshold=0.4), "input_size must be positive"),
    (dict(input_size=(640, 640), score_threshold=1.5, nms_threshold=0.4), "thresholds must lie in"),
    (dict(input_size=(640, 640), score_threshold=0.5, nms_threshold=-0.1), "thresholds must lie in"),
])
def test_bad_parameters_are_refused(params: dict[str, object], expected_error: str) -> None:
    with pytest.raises(ValueError, match=expected_error):
        DetectorParams(**params)  # type: ignore[arg-type]


def test_scrfd_input_must_be_multiples_of_32(model_store: Path) -> None:
    scrfd = ScrfdDetector(model_store / load_manifest()["scrfd_500m"].filename)
    with pytest.raises(ValueError, match="multiples of 32"):
        scrfd.resized((320, 250))
