"""The vision engine: real models behind batchers; concurrent callers share calls, results unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.tolerances import PIXEL_ATOL, SCORE_ATOL
from vision.cascade import Cascade, tasks_for
from vision.config import VisionSettings
from vision.engine import VisionEngine
from vision.face.pipeline import FaceAnalyzer
from vision.vehicle.yolo import YoloDetector

Loader = Callable[[str], npt.NDArray[np.uint8]]


@pytest.fixture(scope="module")
def engine(model_store: Path) -> Iterator[VisionEngine]:
    settings = VisionSettings(max_wait_ms=50, max_batch={"yolo11n": 4, "scrfd_500m": 4, "w600k_mbf": 16})
    with VisionEngine(settings, tasks=tasks_for(["faces", "vehicles"])) as eng:
        yield eng


def test_only_the_needed_models_are_loaded(engine: VisionEngine) -> None:
    assert set(engine.models) == {"face_detect", "face_embed", "vehicle_detect"}
    with pytest.raises(KeyError, match="without a plate_read model"):
        engine.batcher("plate_read")


def test_every_batcher_runs_the_lanes_the_settings_give_its_provider(engine: VisionEngine) -> None:
    expected = {engine.settings.batch_lanes(m.session.provider) for m in engine.models.values()}
    assert {b.lanes for b in engine.batchers.values()} == expected
    assert engine.lanes == max(expected)


def test_concurrent_cameras_share_batches_and_get_their_own_results(engine: VisionEngine,
                                                                    image: Loader) -> None:
    frames = [image(name) for name in ("bus.jpg", "players.jpg", "astronaut.png", "yaoming.jpg")] * 2
    yolo = engine.models["vehicle_detect"]
    alone = [yolo.infer([f])[0] for f in frames]
    before = engine.batcher("vehicle_detect").stats.batches
    with ThreadPoolExecutor(len(frames)) as pool:
        batched = engine.batched("vehicle_detect", YoloDetector)
        shared = list(pool.map(lambda f: batched.infer([f])[0], frames))
    batches = engine.batcher("vehicle_detect").stats.batches - before
    assert batches < len(frames), "eight concurrent callers never shared a call"
    for a, b in zip(alone, shared, strict=True):
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=PIXEL_ATOL)
        np.testing.assert_allclose(a.scores, b.scores, atol=SCORE_ATOL)


def test_cascade_through_the_engine_matches_direct_models(engine: VisionEngine, image: Loader) -> None:
    direct = Cascade(FaceAnalyzer(engine.models["face_detect"], engine.models["face_embed"]),
                     engine.models["vehicle_detect"], None)
    through = Cascade.from_engine(engine)
    frames = [image("players.jpg"), image("bus.jpg")]
    for a, b in zip(direct.recognize(frames), through.recognize(frames), strict=True):
        assert len(a.faces) == len(b.faces)
        for fa, fb in zip(a.faces, b.faces, strict=True):
            assert fa.embedding is not None and fb.embedding is not None
            assert float(fa.embedding @ fb.embedding) > 0.999
        np.testing.assert_array_equal(a.vehicles.class_ids, b.vehicles.class_ids)
