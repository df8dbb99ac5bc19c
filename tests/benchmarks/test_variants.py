"""Pure parts of the INT8 checks and of ``bench models --variants``: box matching, speed ratios, tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmarks.models import markdown, variant_ratios
from benchmarks.quantize import matched
from vision.types import Detections


def dets(boxes: list[list[float]], scores: list[float], classes: list[int] | None = None) -> Detections:
    return Detections.build(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                            None if classes is None else np.asarray(classes, np.int32))


@pytest.mark.parametrize(
    ("reference", "found", "expected"),
    [
        (dets([[0, 0, 10, 10]], [0.9]), dets([[1, 1, 10, 10]], [0.8]), (1, 0, [])),
        (dets([[0, 0, 10, 10]], [0.9]), dets([[6, 6, 16, 16]], [0.8]), (0, 1, [0])),  # IoU < 0.5
        (dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0.6, 0.9]), dets([[20, 20, 30, 30]], [0.9]), (1, 0, [0])),
        # one found box cannot match two reference boxes
        (dets([[0, 0, 10, 10], [0, 0, 10, 11]], [0.9, 0.8]), dets([[0, 0, 10, 10]], [0.9]), (1, 0, [1])),
        # same box, other class: not a match
        (dets([[0, 0, 10, 10]], [0.9], [2]), dets([[0, 0, 10, 10]], [0.9], [7]), (0, 1, [0])),
        (Detections.empty(), dets([[0, 0, 10, 10]], [0.9]), (0, 1, [])),
        (dets([[0, 0, 10, 10]], [0.9]), Detections.empty(), (0, 0, [0])),
    ],
)
def test_matched(reference: Detections, found: Detections, expected: tuple[int, int, list[int]]) -> None:
    assert matched(reference, found) == expected


def _row(pure: float, full: float) -> dict[str, Any]:
    return {"pure": {"images_per_s": pure}, "full": {"images_per_s": full}}


def test_variant_ratios_and_table() -> None:
    fp32 = {"task": "vehicle_detect", "by_batch": {"1": _row(10, 8), "4": _row(12, 10)},
            "best_batch": 4, "best_speedup_vs_batch1": 1.25}
    int8 = {"task": "vehicle_detect", "by_batch": {"1": _row(20, 12), "4": _row(18, 20)},
            "best_batch": 4, "best_speedup_vs_batch1": 1.667}
    ratios = variant_ratios({"fp32": fp32, "int8": int8}, "int8")
    assert ratios == {"1": {"pure": 2.0, "full": 1.5}, "4": {"pure": 1.5, "full": 2.0}}
    result = {"machine": {"provider": "CPUExecutionProvider", "cpu": "x", "usable_cores": 2, "date": "d"},
              "profile": "default", "batches": [1, 4], "models": {"yolo11n": fp32},
              "variants": {"yolo11n": {"int8": int8}}, "ratios": {"yolo11n": {"int8": ratios}}}
    table = markdown(result)
    assert "| yolo11n | int8 | 20.0 / 12.0 (2.00x / 1.50x) | 18.0 / 20.0 (1.50x / 2.00x) |" in table
