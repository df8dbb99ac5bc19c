"""The capacity search: few trials to the boundary, a lucky pass near the edge demoted, the CLI end to end."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.capacity import find_capacity
from estatewatch.cli import app
from streams.testing.server import gstreamer_missing


def _counting(limit: int) -> tuple[list[int], Callable[[int], bool]]:
    calls: list[int] = []

    def trial(count: int) -> bool:
        calls.append(count)
        return count <= limit

    return calls, trial


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 5, 8, 13, 40, 63, 64])
def test_monotone_trials_find_the_boundary_in_few_trials(limit: int) -> None:
    calls, trial = _counting(limit)
    result = find_capacity(trial, start=2, maximum=64, confirm=0)
    assert result.capacity == limit
    assert result.capped == (limit == 64) and not result.exhausted
    # doubling to the first failure, then bisection: about 2 log2(limit) trials, never a sweep
    assert len(calls) <= 2 * math.ceil(math.log2(max(limit, 2))) + 2
    assert [t.count for t in result.trials] == calls
    assert all(t.passed == (t.count <= limit) for t in result.trials)


def test_confirmation_reruns_the_largest_pass_once() -> None:
    calls, trial = _counting(6)
    result = find_capacity(trial, start=2, maximum=64, confirm=1)
    assert result.capacity == 6
    assert calls.count(6) == 2 and calls.count(7) == 1


def test_a_lucky_pass_at_the_edge_is_demoted() -> None:
    """True capacity 5; 6 passes the first time by luck and fails when it is confirmed."""
    seen: dict[int, int] = {}

    def noisy(count: int) -> bool:
        seen[count] = seen.get(count, 0) + 1
        return count <= 5 or (count == 6 and seen[count] == 1)

    result = find_capacity(noisy, start=3, maximum=64, confirm=1)
    assert result.capacity == 5
    assert seen[6] == 2 and seen[5] == 2  # 6 demoted after its rerun; 5 confirmed
    assert not result.exhausted


def test_a_failed_count_is_never_retried_and_trials_are_bounded() -> None:
    calls: list[int] = []

    def flaky(count: int) -> bool:  # passes only on odd-numbered calls
        calls.append(count)
        return len(calls) % 2 == 1

    result = find_capacity(flaky, start=2, maximum=64, confirm=2, max_trials=12)
    assert len(calls) <= 12
    failed = {t.count for t in result.trials if not t.passed}
    assert result.capacity not in failed


def test_start_above_one_that_fails_still_tries_one() -> None:
    calls, trial = _counting(1)
    result = find_capacity(trial, start=8, maximum=64, confirm=0)
    assert result.capacity == 1 and calls[0] == 8


def test_bad_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="maximum"):
        find_capacity(lambda _n: True, maximum=0)


@pytest.mark.skipif(gstreamer_missing() is not None, reason="GStreamer RTSP server not installed")
def test_find_capacity_cli_runs_one_tiny_trial(tmp_path: Path) -> None:
    stem = tmp_path / "capacity"
    result = CliRunner().invoke(app, [
        "bench", "pipeline", "--find-capacity", "--start", "1", "--max-cameras", "1", "--seconds", "5",
        "--warmup", "1", "--confirm", "0", "--raw-seconds", "0.5", "--max-p99-ms", "60000",
        "--max-drop", "100", "--out", str(stem)])
    assert result.exit_code == 0, result.output
    assert "trial 1: 1 cameras" in result.output
    data = json.loads(stem.with_suffix(".json").read_text())
    assert data["benchmark"] == "capacity" and data["machine"]["cpu"]
    assert data["raw_model_limit"]["model"] == "yolo11n" and data["raw_model_limit"]["full_images_per_s"] > 0
    (trial,) = data["trials"]
    assert trial["cameras"] == 1 and trial["sampled"] > 0
    # one 720p25 camera's reading thread: some CPU, and never more than the process's
    assert 0 < trial["readers_cpu_percent_of_one_core"] <= trial["cpu_percent_of_one_core"]
    assert data["capacity"] == (1 if trial["passed"] else 0)
    assert "Camera capacity" in stem.with_suffix(".md").read_text()


def test_a_trial_whose_cameras_sent_too_few_frames_does_not_pass() -> None:
    from benchmarks.capacity import passes

    run = {"sampled": 903, "dropped_percent": 0.0, "latency_ms_p99": 620.0, "delivered_percent": 75.2}
    assert not passes(run, 1.0, 1000.0)
    assert passes({**run, "sampled": 1199, "delivered_percent": 99.9}, 1.0, 1000.0)
    assert not passes({**run, "delivered_percent": 99.9, "dropped_percent": 1.2}, 1.0, 1000.0)
    del run["delivered_percent"]  # results recorded before the rule: judged as then
    assert passes(run, 1.0, 1000.0)
