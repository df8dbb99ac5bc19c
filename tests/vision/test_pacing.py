"""Adaptive pacing: the controller alone (simulated load), then in the live scheduler with a slow analysis."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from streams.config import CameraConfig
from streams.frames import Frame, Instant
from streams.source import CameraSource
from vision.cascade import Cascade, FrameTask, ImageRecognition
from vision.live import FramePipeline, FrameResult
from vision.pacing import Load, Pacer, PacingConfig, RateController
from vision.policy import RecognitionPolicy


def simulate(controller: RateController, capacity: float, seconds: int, start: float = 0.0) -> list[float]:
    """One tick a second against a machine analysing ``capacity`` frames/s; the total rate per tick."""
    totals = []
    for t in range(seconds):
        demand = sum(controller.rates().values())
        if demand > capacity:
            load = Load(int(demand - capacity) + 1, 1.0)
        elif demand > 0.85 * capacity:
            load = Load(0, 0.5)  # queues half full: neither overload nor calm
        else:
            load = Load(0, 0.1)
        controller.update(start + t, load)
        totals.append(sum(controller.rates().values()))
    return totals


def test_floor() -> None:
    config = PacingConfig(floor_fps=1.0, floor_fraction=0.2)
    assert config.floor(5.0) == 1.0
    assert config.floor(10.0) == 2.0
    assert config.floor(0.5) == 0.5  # never above detect_fps


def test_overload_lowers_rates_fairly_down_to_the_floor_and_no_lower() -> None:
    controller = RateController({"a": 10.0, "b": 5.0, "c": 5.0, "d": 2.0})
    controller.update(0, Load(3, 1.0))
    rates = controller.rates()
    # the same fraction for every camera: the highest rate loses the most frames/s
    assert rates["a"] / 10 == pytest.approx(rates["b"] / 5)
    assert rates["a"] / 10 == pytest.approx(rates["d"] / 2)
    assert rates["a"] < 10
    assert all(controller.degraded(cam) for cam in rates)
    controller.update(0.5, Load(3, 1.0))
    assert controller.rates() == rates  # one cut per cooldown: its effect is seen first
    simulate(controller, capacity=0.5, seconds=60, start=1)
    assert controller.rates() == {"a": 2.0, "b": 1.0, "c": 1.0, "d": 1.0}  # the floors


def test_recovery_goes_back_to_the_configured_rates_and_reports_each_change_once() -> None:
    configured = {f"cam{i}": 5.0 for i in range(6)}
    controller = RateController(configured)
    changes = [c for t in range(20) for c in controller.update(t, Load(5, 1.0))]
    assert [(c.camera_id, c.degraded) for c in changes] == [(cam, True) for cam in configured]
    assert set(controller.rates().values()) == {1.0}
    for t in range(20, 300):
        changes += controller.update(t, Load(0, 0.0))
    assert controller.rates() == configured
    assert [(c.camera_id, c.degraded) for c in changes[6:]] == [(cam, False) for cam in configured]


def test_half_full_queues_hold_the_rates() -> None:
    controller = RateController({"a": 5.0})
    controller.update(0, Load(1, 1.0))
    for t in range(1, 100):
        controller.update(t, Load(0, 0.5))
    assert controller.rate("a") == 5.0 * 0.75


def test_steady_load_settles_without_oscillating() -> None:
    controller = RateController({f"cam{i}": 5.0 for i in range(6)})  # 30 fps wanted
    totals = simulate(controller, capacity=18.0, seconds=900)
    settled = totals[300:]
    assert max(settled) <= 18.0 * 1.1 and min(settled) >= 18.0 * 0.6  # near the capacity, not see-sawing
    cuts_before = controller.cuts
    simulate(controller, capacity=18.0, seconds=600, start=900)
    assert controller.cuts - cuts_before <= 10  # a rare probe, not a cut every few seconds


def test_pacer_keeps_the_share_evenly() -> None:
    pacer = Pacer()
    kept = [pacer.keep(0.5) for _ in range(10)]
    assert sum(kept) == 5 and all(a != b for a, b in itertools.pairwise(kept))
    fifth = Pacer()
    assert sum(fifth.keep(0.2) for _ in range(100)) == 20
    whole = Pacer()
    assert all(whole.keep(1.0) for _ in range(5))


# -- in the scheduler -----------------------------------------------------------------------
FPS = 10.0
MARKED = (4.0, 6.0)  # seconds after start during which every camera shows "a watchlist face"


class TimedSource(CameraSource):
    """Frames at ``FPS`` from a clock, never started (the pipeline only asks for ``latest``)."""

    def __init__(self, config: CameraConfig, start: float) -> None:
        super().__init__(config)
        self.start_at, self.seq = start, 0

    def latest(self, timeout: float | None = None) -> Frame | None:
        due = self.start_at + self.seq / FPS
        time.sleep(max(0.0, due - time.monotonic()))
        marked = MARKED[0] <= due - self.start_at < MARKED[1]
        image = np.full((8, 8, 3), 255 if marked else 0, np.uint8)
        frame = Frame(self.config.id, image, Instant(due, time.time()), self.seq)
        self.seq += 1
        return frame


class SlowCascade(Cascade):
    """Analysis that takes 0.1 s per call and finds nothing: a machine that handles 10 frames/s."""

    def __init__(self) -> None:
        super().__init__(None, None, None)

    def analyse(self, tasks: Sequence[FrameTask], policy: RecognitionPolicy) -> list[ImageRecognition]:
        time.sleep(0.1)
        return [ImageRecognition() for _ in tasks]


def run_overloaded(pacing: PacingConfig | None, seconds: float) -> tuple[FramePipeline, list[FrameResult]]:
    cams = [CameraConfig(id=f"cam{i}", url="none.mp4", detect_fps=FPS) for i in range(6)]  # 60 fps wanted
    start = time.monotonic() + 0.2
    results: list[FrameResult] = []
    lock = threading.Lock()

    def on_result(result: FrameResult) -> None:
        with lock:
            results.append(result)

    pipeline = FramePipeline(cams, SlowCascade(), on_result, workers=1, max_queue=2, frames_per_call=1,
                             sources={c.id: TimedSource(c, start) for c in cams}, pacing=pacing)
    with pipeline:
        time.sleep(seconds)
    return pipeline, results


@pytest.mark.slow
def test_under_overload_pacing_replaces_drops_and_the_watchlist_window_is_still_analysed() -> None:
    pacing = PacingConfig(floor_fps=1.0, floor_fraction=0.1, tick_s=0.5, cooldown_s=1.0, calm_s=2.0)
    paced, paced_results = run_overloaded(pacing, 10.0)
    dropping, _ = run_overloaded(None, 4.0)
    with_pacing, without = paced.counters(), dropping.counters()
    sampled = sum(c.sampled for c in with_pacing.values())
    dropped = sum(c.dropped for c in with_pacing.values())
    assert sum(c.paced for c in with_pacing.values()) > dropped  # pacing, not dropping, thins the frames
    assert dropped / sampled < 0.5 * sum(c.dropped for c in without.values()) / sum(
        c.sampled for c in without.values())
    for cam, counted in with_pacing.items():
        assert counted.degraded and pacing.floor(FPS) <= counted.effective_fps < FPS, (cam, counted)
        # the 2 s the "face" was shown: analysed at least twice on every camera, never below the floor
        shown = [r for r in paced_results if r.camera_id == cam and r.frame.image[0, 0, 0] == 255]
        assert len(shown) >= 2, (cam, counted)
    assert all(not c.degraded and c.paced == 0 for c in without.values())
