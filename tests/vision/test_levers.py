"""The per-frame levers' pure logic: when the detector runs, what is carried, what is settled."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from vision.gating import GateDecision, GateReason
from vision.levers import Carrier, Levers, Settled, settled_rows, touches
from vision.live import PipelineSettings
from vision.types import Detections

PERSON, CAR = 0, 2


def objects(*rows: tuple[float, float, float, float, int]) -> Detections:
    """People and vehicles: ``(x1, y1, x2, y2, class)`` rows, score 0.9, labelled."""
    if not rows:
        return Detections.empty()
    names = {PERSON: "person", CAR: "car"}
    return Detections.build([r[:4] for r in rows], [0.9] * len(rows), [r[4] for r in rows],
                            label=np.asarray([names[r[4]] for r in rows]))


def motion(*regions: tuple[float, float, float, float], changed: float = 0.01,
           reason: GateReason = "motion") -> GateDecision:
    boxes = np.asarray(regions, np.float32).reshape(-1, 4) if reason == "motion" else None
    return GateDecision(True, reason, changed, boxes)


WALKER = (100, 100, 150, 250, PERSON)
NEAR_WALKER = (90, 90, 160, 260)
ELSEWHERE = (600, 300, 700, 400)


def carrier_after_one_run(levers: Levers) -> Carrier:
    carrier = Carrier(levers)
    assert carrier.plan(motion(NEAR_WALKER), 0.0).detect
    carrier.detected(objects(WALKER), 0.0)
    return carrier


@pytest.mark.parametrize(("levers", "decision", "at", "detect", "reason"), [
    (Levers(), motion(NEAR_WALKER), 0.2, True, "off"),
    (Levers(detect_every=2), motion(NEAR_WALKER), 0.2, False, "carry"),
    (Levers(detect_every=2), motion(reason="keepalive"), 0.2, True, "first"),
    (Levers(detect_every=2), motion(NEAR_WALKER, changed=0.2), 0.2, True, "motion"),
    (Levers(detect_every=2), motion(NEAR_WALKER, ELSEWHERE), 0.2, True, "new_region"),
    (Levers(detect_every=2, carry_max_s=1.0), motion(NEAR_WALKER), 1.5, True, "stale"),
    (Levers(detect_every=2), GateDecision(True, "motion", 0.01, None), 0.2, True, "no_regions"),
])
def test_which_frames_run_the_detector(levers: Levers, decision: GateDecision, at: float, detect: bool,
                                       reason: str) -> None:
    plan = carrier_after_one_run(levers).plan(decision, at)
    assert (plan.detect, plan.reason) == (detect, reason)
    assert (plan.objects is None) == detect


def test_the_first_frame_always_runs_the_detector() -> None:
    plan = Carrier(Levers(detect_every=3)).plan(motion(NEAR_WALKER), 0.0)
    assert (plan.detect, plan.reason) == (True, "first")


def test_every_kth_analysed_frame_runs_the_detector() -> None:
    carrier = carrier_after_one_run(Levers(detect_every=3, carry_max_s=10))
    runs = []
    for k in range(1, 10):
        plan = carrier.plan(motion(NEAR_WALKER), k * 0.2)
        runs.append(plan.detect)
        if plan.detect:
            carrier.detected(objects(WALKER), k * 0.2)
    assert runs == [False, False, True] * 3


def test_carried_boxes_move_on_with_their_track_and_keep_class_and_label() -> None:
    carrier = Carrier(Levers(detect_every=2))
    car_at = [(200 + 10 * k, 300, 400 + 10 * k, 420, CAR) for k in range(2)]
    for k in range(2):
        carrier.detected(objects(WALKER, car_at[k]), k * 0.2)
    carried = carrier.predict(0.4)
    assert sorted(carried.class_ids.tolist()) == [PERSON, CAR]
    car = carried[carried.class_ids == CAR]
    np.testing.assert_allclose(car.xyxy[0], [220, 300, 420, 420], atol=1e-3)
    assert car.data["label"].tolist() == ["car"]


def test_an_object_gone_from_a_detector_run_is_no_longer_carried() -> None:
    carrier = carrier_after_one_run(Levers(detect_every=2))
    carrier.detected(objects(), 0.2)
    assert len(carrier.predict(0.4)) == 0
    # With nothing carried, any motion is new: the detector runs.
    assert carrier.plan(motion(NEAR_WALKER), 0.4).reason == "new_region"


def test_touches_and_settled_rows() -> None:
    boxes = np.asarray([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    assert touches(np.asarray([5, 5, 20, 20], np.float32), boxes)
    assert not touches(np.asarray([20, 20, 40, 40], np.float32), boxes)
    assert settled_rows(boxes, np.asarray([[1, 1, 11, 11]], np.float32)).tolist() == [True, False]
    assert settled_rows(boxes, np.zeros((0, 4), np.float32)).tolist() == [False, False]
    assert not Settled() and Settled(vehicles=boxes)


@pytest.mark.parametrize(("values", "expected_error"), [
    ({"detect_every": 0}, "greater than or equal to 1"),
    ({"recheck_s": 0}, "greater than 0"),
    ({"carry_max_motion": 2}, "less than or equal to 1"),
    ({"detect_everyy": 2}, "Extra inputs are not permitted"),
])
def test_bad_lever_values(values: dict[str, float], expected_error: str) -> None:
    with pytest.raises(ValidationError, match=expected_error):
        PipelineSettings.model_validate(values)


def test_pipeline_settings_carry_the_levers() -> None:
    settings = PipelineSettings.model_validate({"detect_every": 2, "undecided_only": True, "recheck_s": 5})
    assert settings.levers() == Levers(detect_every=2, undecided_only=True, recheck_s=5)
    assert PipelineSettings().levers() == Levers(detect_every=2, undecided_only=True)  # the service default
    assert not Levers().active  # off unless asked for
