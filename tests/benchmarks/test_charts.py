"""Benchmark charts: every benchmark kind renders real PNG files from a tiny synthetic result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from benchmarks.charts import render
from estatewatch.cli import app

PNG = b"\x89PNG\r\n\x1a\n"
MACHINE = {"cpu": "Test CPU", "usable_cores": 2, "date": "2026-12-02T00:00:00+00:00",
           "provider": "CPUExecutionProvider"}


def _run(cameras: int, dropped: float, p99: float) -> dict[str, Any]:
    return {"cameras": cameras, "dropped_percent": dropped, "latency_ms_p99": p99,
            "latency_ms_percentiles": [p99 * i / 100 for i in range(101)]}


def _timed(n: int) -> dict[str, Any]:
    return {"images_per_s": 10.0 * n, "latency_ms_median": 5.0, "latency_ms_p90": 6.0, "runs": 3}


RESULTS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "models": ({"benchmark": "models", "machine": MACHINE, "batches": [1, 2, 4], "models": {
        "yolo11n": {"task": "vehicle_detect", "by_batch": {
            str(b): {"pure": _timed(b), "full": _timed(b)} for b in (1, 2, 4)}}}}, {"throughput"}),
    "pipeline": ({"benchmark": "pipeline", "machine": MACHINE,
                  "runs": [_run(2, 0.0, 300.0), _run(4, 3.5, 1400.0)]}, {"drops-latency", "latency-cdf"}),
    "capacity": ({"benchmark": "capacity", "machine": MACHINE, "capacity": 2,
                  "targets": {"max_drop_percent": 1.0, "max_p99_ms": 1000.0},
                  "trials": [{**_run(2, 0.0, 300.0), "trial": 1}, {**_run(4, 3.5, 1400.0), "trial": 2}]},
                 {"drops-latency", "latency-cdf"}),
    "search": ({"benchmark": "search", "machine": MACHINE, "results": [
        {"backend": "exact", "size": 1000, "single_p50_ms": 0.1, "recall_at_1": None, "nprobe": None},
        {"backend": "faiss-ivf", "size": 1000, "single_p50_ms": 0.05, "recall_at_1": 0.97, "nprobe": 16},
        {"backend": "faiss-ivf", "size": 1000, "single_p50_ms": 0.08, "recall_at_1": 0.99, "nprobe": 32},
    ]}, {"recall-speed"}),
    "delivery": ({"benchmark": "delivery", "machine": MACHINE, "results": [
        {"database": "sqlite", "relays": 1, "deliveries_per_s": 900.0}]}, {"throughput"}),
    "console": ({"benchmark": "console", "machine": MACHINE, "results": [
        {"feed": "live", "p50_ms": 21, "p99_ms": 105, "max_ms": 115}]}, {"latency"}),
    "api": ({"benchmark": "api", "machine": MACHINE, "results": [{"database": "sqlite", **{
        key: {"alarms": 100, "clients": clients, "by_kind": {"first_page": {"p99_ms": 12.0 * clients},
                                                             "deep_page": {"p99_ms": 20.0 * clients}}}
        for key, clients in (("list_one_client", 1), ("list", 50))}}]}, {"list-latency"}),
    "media": ({"machine": MACHINE, "buffer": {"clip_write_ms": 30.0}, "viewers": [
        {"viewers": 0, "process_cpu_percent": 7.2, "viewer_reports": []},
        {"viewers": 1, "process_cpu_percent": 10.9, "viewer_reports": [{"frames": 540}]},
    ]}, {"viewers-cpu"}),
    "live": ({"benchmark": "live", "machine": MACHINE, "subscribers": 50, "runs": [
        {"cameras": n, "without": {"dropped_percent": 0.0, "latency_ms_p99": 300.0},
         "with": {"dropped_percent": 0.5, "latency_ms_p99": 350.0}, "feed": {"p99_ms": 40.0}}
        for n in (4, 8)]}, {"drops-latency"}),
    "faces": ({"benchmark": "faces", "machine": MACHINE, "sides": {
        "ours": {"faces_per_s": 150.0, "round_ms": [150.0, 160.0, 155.0]}}}, {"throughput", "latency-cdf"}),
}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_each_benchmark_renders_its_charts(name: str, tmp_path: Path) -> None:
    result, charts = RESULTS[name]
    written = render(result, tmp_path / name)
    assert {p.name for p in written} == {f"{name}-{chart}.png" for chart in charts}
    for path in written:
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, path  # a drawn chart, not an empty image


def test_bench_charts_rerenders_recorded_json(tmp_path: Path) -> None:
    for name in ("pipeline", "search"):
        (tmp_path / f"{name}.json").write_text(json.dumps(RESULTS[name][0]))
    (tmp_path / "unknown.json").write_text(json.dumps({"something": 1}))
    (tmp_path / "broken.json").write_text(json.dumps({"benchmark": "models", "models": {"m": {}}}))
    result = CliRunner().invoke(app, ["bench", "charts", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "unknown.json: no charts" in result.output
    assert "broken.json: no charts ('by_batch' missing)" in result.output
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "pipeline-drops-latency.png", "pipeline-latency-cdf.png", "search-recall-speed.png"]
