"""The live frame pipeline with the real cascade on looping demo clips (no timing assertions)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from media.clips import gate_clip, lobby_clip, vtest_clip
from media.images import media_dir
from streams.config import CameraConfig
from tests.waiting import wait_until
from vision.cascade import Cascade, tasks_for
from vision.config import VisionSettings
from vision.engine import VisionEngine
from vision.gating import GatingConfig
from vision.levers import Levers, Settled
from vision.live import FramePipeline, FrameResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clips() -> dict[str, Path]:
    folder = media_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    return {"lobby": lobby_clip(folder), "gate": gate_clip(folder)}


@pytest.fixture(scope="module")
def engine(model_store: Path) -> Iterator[VisionEngine]:
    settings = VisionSettings(max_batch={"yolo11n": 8, "scrfd_500m": 8, "w600k_mbf": 16, "clp_det": 8,
                                         "ppocrv6_rec": 16})
    with VisionEngine(settings, store=model_store,
                      tasks=tasks_for(("faces", "vehicles", "plates"))) as started:
        yield started


class Results:
    def __init__(self) -> None:
        self.items: list[FrameResult] = []
        self._lock = threading.Lock()

    def __call__(self, result: FrameResult) -> None:
        with self._lock:
            self.items.append(result)

    def snapshot(self) -> list[FrameResult]:
        with self._lock:
            return list(self.items)


def cameras(clips: dict[str, Path], count: int, fps: float) -> list[CameraConfig]:
    out = []
    for i in range(count):
        kind = "gate" if i % 2 else "lobby"
        run = ["vehicles", "plates"] if kind == "gate" else ["faces"]
        out.append(CameraConfig(id=f"{kind}{i}", url=str(clips[kind]), detect_fps=fps, run=run))
    return out


def wait_for_results(results: Results, enough: Callable[[list[FrameResult]], bool], what: str) -> None:
    """Wait (generously) until ``enough(results)``; fail the test, showing the count per camera, if not."""
    wait_until(lambda: enough(results.snapshot()), timeout=120, what=what,
               seen=lambda: per_camera(results.snapshot()))


def per_camera(results: list[FrameResult]) -> dict[str, int]:
    return dict(Counter(r.camera_id for r in results))


def test_overload_drops_oldest_frames_readers_keep_running(engine: VisionEngine,
                                                           clips: dict[str, Path]) -> None:
    cascade = Cascade.from_engine(engine)
    results = Results()
    # 6 cameras at 25 fps each: far more than 2 cores analyse; one worker, one queued frame each.
    pipeline = FramePipeline(cameras(clips, 6, 25.0), cascade, results, workers=1, max_queue=1)
    with pipeline:
        ids = set(pipeline.sources)
        wait_for_results(results, lambda got: {r.camera_id for r in got} == ids,
                         f"a result from each of the cameras {sorted(ids)}")
        decoded_before = {k: s.stats().decoded for k, s in pipeline.sources.items()}

        def decoded() -> dict[str, int]:
            return {k: s.stats().decoded for k, s in pipeline.sources.items()}

        # every reader keeps decoding while analysis is behind, and frames are dropped, not queued
        wait_until(lambda: all(n > decoded_before[k] for k, n in decoded().items()), timeout=120,
                   what="every reader to decode more frames", seen=decoded)
        wait_until(lambda: sum(c.dropped for c in pipeline.counters().values()) > 0, timeout=120,
                   what="dropped frames", seen=pipeline.counters)
        counters = pipeline.counters()
    cascade.close()
    for c in counters.values():
        assert c.sampled >= c.analysed + c.gated + c.dropped + c.failed
        assert c.failed == 0
    got = results.snapshot()
    assert {r.camera_id for r in got} == set(counters)
    assert any(r.recognition.faces for r in got if r.camera_id.startswith("lobby"))
    assert any(p.reading.valid for r in got for p in r.recognition.plates)
    assert all(r.latency_ms > 0 and not r.skipped_by_gate for r in got)


def test_frames_of_several_cameras_share_batches(engine: VisionEngine, clips: dict[str, Path]) -> None:
    cascade = Cascade.from_engine(engine)
    results = Results()
    # One worker and more frames than it can take: frames of several cameras are always waiting,
    # so calls carry several (timing cannot make this pass or fail by chance).
    pipeline = FramePipeline(cameras(clips, 6, 10.0), cascade, results, workers=1, max_queue=2,
                             frames_per_call=4)
    with pipeline:
        wait_for_results(results, lambda got: len(got) >= 24, "24 results")
    batchers = cascade.batchers()
    cascade.close()
    assert batchers["yolo"].stats.batches > 0
    assert batchers["yolo"].stats.mean_batch > 1 or batchers["face"].stats.mean_batch > 1, {
        name: (b.stats.requests, b.stats.batches) for name, b in batchers.items()}


def test_gating_skips_the_unchanged_gate_scene(engine: VisionEngine, clips: dict[str, Path]) -> None:
    cascade = Cascade.from_engine(engine)
    results = Results()
    camera = CameraConfig(id="gate", url=str(clips["gate"]), detect_fps=5.0, run=["vehicles", "plates"])
    pipeline = FramePipeline([camera], cascade, results, workers=1, max_queue=2,
                             gating=GatingConfig(keepalive_s=30))
    with pipeline:
        wait_for_results(results, lambda got: len(got) >= 12, "12 results")
        counters = pipeline.counters()["gate"]
    cascade.close()
    got = results.snapshot()
    assert not got[0].skipped_by_gate  # the first frame is always analysed
    assert any(r.skipped_by_gate for r in got)
    assert all(not r.recognition.plates for r in got if r.skipped_by_gate)
    assert any(p.reading.valid for r in got for p in r.recognition.plates)
    assert counters.gated > 0 and counters.analysed > 0
    assert counters.latency_p99_ms is not None and counters.latency_p50_ms is not None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unique"):
        FramePipeline([CameraConfig(id="a", url="x.mp4")] * 2, Cascade(None, None, None), lambda r: None)
    with pytest.raises(ValueError, match=">= 1"):
        FramePipeline([], Cascade(None, None, None), lambda r: None, workers=0)


class AskedHints:
    """Track hints that settle nothing and count the questions (the alarm intake answers for real)."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()

    def settled(self, camera_id: str, at: float, recheck_s: float) -> Settled:
        self.asked[camera_id] += 1
        return Settled()


def test_with_detect_every_frames_between_detector_runs_carry_their_boxes(
        engine: VisionEngine) -> None:
    """Pedestrians (small motion): some analysed frames carry the tracker's boxes instead of YOLO."""
    cascade = Cascade.from_engine(engine)
    results = Results()
    hints = AskedHints()
    camera = CameraConfig(id="street", url=str(vtest_clip(media_dir() / "demo")), detect_fps=5.0,
                          run=["faces", "vehicles", "plates"])
    pipeline = FramePipeline([camera], cascade, results, workers=1, max_queue=5, gating=GatingConfig(),
                             levers=Levers(detect_every=2, undecided_only=True), hints=hints)
    with pipeline:
        wait_for_results(results, lambda got: sum(r.carried for r in got) >= 3, "3 carried frames")
        counters = pipeline.counters()["street"]
    cascade.close()
    got = results.snapshot()
    assert not got[0].carried  # the first frame runs the detector
    carried = [r for r in got if r.carried]
    assert all(len(r.recognition.objects) for r in carried)  # people carried from the last run
    assert all(not r.skipped_by_gate for r in carried)
    assert counters.carried >= 3 and counters.failed == 0
    assert hints.asked["street"] >= counters.analysed  # asked before every analysis
