"""Zone geometry and schedules: pure tables."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from alarms.zones import Schedule, TimeWindow, ZoneConfig, box_anchor, point_in_polygon, zones_containing

SQUARE = ((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8))
# A "U" (concave): the notch between the arms, x in (0.4, 0.6) and y < 0.6, is outside.
U_SHAPE = ((0.2, 0.2), (0.4, 0.2), (0.4, 0.6), (0.6, 0.6), (0.6, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8))
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


@pytest.mark.parametrize(("polygon", "point", "inside"), [
    (SQUARE, (0.5, 0.5), True),
    (SQUARE, (0.1, 0.5), False),
    (SQUARE, (0.2, 0.5), True),  # on the left edge
    (SQUARE, (0.8, 0.8), True),  # on a vertex
    (SQUARE, (0.5, 0.2), True),  # on the top edge (horizontal: the ray test alone would miss it)
    (SQUARE, (0.8000001, 0.5), False),  # just outside
    (U_SHAPE, (0.3, 0.4), True),  # left arm
    (U_SHAPE, (0.7, 0.4), True),  # right arm
    (U_SHAPE, (0.5, 0.4), False),  # in the notch
    (U_SHAPE, (0.5, 0.7), True),  # the base, under the notch
    (U_SHAPE, (0.5, 0.6), True),  # on the notch's bottom edge
    (U_SHAPE, (0.3, 0.6), True),  # ray passes through the notch's vertex level
])
def test_point_in_polygon(polygon: tuple[tuple[float, float], ...], point: tuple[float, float],
                          inside: bool) -> None:
    assert point_in_polygon(point, polygon) is inside
    assert ZoneConfig(id="z", camera="c", polygon=polygon).contains_point(point) is inside


@pytest.mark.parametrize(("polygon", "expected_error"), [
    (SQUARE, None),
    (((0, 0), (1, 0), (0, 1)), None),
    (((0.1, 0.1), (0.5, 0.5)), "at least 3"),
    (((0.1, 0.1), (0.5, 0.5), (0.9, 0.9)), "no area"),  # collinear
    (((0.1, 0.1), (0.1, 0.1), (0.1, 0.1)), "no area"),
    (((0.1, 0.1), (1.5, 0.1), (0.5, 0.5)), "normalised"),  # pixels given by mistake
    (((-0.1, 0.1), (0.5, 0.1), (0.5, 0.5)), "normalised"),
])
def test_zone_polygon_validation(polygon: Any, expected_error: str | None) -> None:
    if expected_error is None:
        ZoneConfig(id="z", camera="c", polygon=polygon)
        return
    with pytest.raises(ValidationError, match=expected_error):
        ZoneConfig(id="z", camera="c", polygon=polygon)


@pytest.mark.parametrize(("fields", "expected_error"), [
    ({"id": "pool", "camera": "lobby"}, None),
    ({"id": "pool", "camera": "lobby", "colour": "red"}, "Extra inputs"),
    ({"id": "bad id", "camera": "lobby"}, "pattern"),
    ({"id": "pool", "camera": "lobby", "anchor": "top"}, "anchor"),
])
def test_zone_fields(fields: dict[str, Any], expected_error: str | None) -> None:
    if expected_error is None:
        ZoneConfig(polygon=SQUARE, **fields)
        return
    with pytest.raises(ValidationError, match=expected_error):
        ZoneConfig(polygon=SQUARE, **fields)


@pytest.mark.parametrize(("box", "anchor", "point"), [
    ([100, 100, 200, 300], "bottom_center", (0.15, 0.5)),
    ([100, 100, 200, 300], "center", (0.15, 1 / 3)),
    ([0, 0, 1000, 600], "bottom_center", (0.5, 1.0)),  # the frame's bottom edge
])
def test_box_anchor(box: list[float], anchor: Any, point: tuple[float, float]) -> None:
    got = box_anchor(np.array(box, np.float32), (1000, 600), anchor)
    assert got == pytest.approx(point)


@pytest.mark.parametrize("size", [(0, 600), (1000, -1)])
def test_box_anchor_rejects_bad_frame_size(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="frame size"):
        box_anchor(np.zeros(4, np.float32), size)


def test_box_in_zone_uses_feet_not_head() -> None:
    # Lower half of the image is the zone; a person whose head is above the line but feet below is in.
    zone = ZoneConfig(id="lawn", camera="c", polygon=((0, 0.5), (1, 0.5), (1, 1), (0, 1)))
    person = np.array([400, 100, 460, 400], np.float32)  # feet at y=400 of 600
    assert zone.contains_box(person, (1000, 600))
    assert not zone.model_copy(update={"anchor": "center"}).contains_box(person, (1000, 600))
    other = ZoneConfig(id="x", camera="other", polygon=((0, 0.5), (1, 0.5), (1, 1), (0, 1)))
    assert zones_containing([zone, other], "c", person, (1000, 600)) == frozenset({"lawn"})


# -- schedules --------------------------------------------------------------------------------

NIGHT = {"windows": [{"start": "22:00", "end": "06:00"}]}
WORK = {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}]}
FRI_NIGHT = {"windows": [{"days": ["fri"], "start": "22:00", "end": "06:00"}]}

# 2025-06-06 is a Friday.
@pytest.mark.parametrize(("schedule", "at", "active"), [
    (NIGHT, local(2025, 6, 6, 21, 59), False),
    (NIGHT, local(2025, 6, 6, 22, 0), True),  # start inclusive
    (NIGHT, local(2025, 6, 7, 0, 0), True),  # midnight inside an overnight window
    (NIGHT, local(2025, 6, 7, 5, 59), True),
    (NIGHT, local(2025, 6, 7, 6, 0), False),  # end exclusive
    (FRI_NIGHT, local(2025, 6, 6, 23, 0), True),  # Friday night
    (FRI_NIGHT, local(2025, 6, 7, 3, 0), True),  # ... which runs into Saturday morning
    (FRI_NIGHT, local(2025, 6, 7, 23, 0), False),  # Saturday night is not listed
    (FRI_NIGHT, local(2025, 6, 6, 3, 0), False),  # Friday early morning belongs to Thursday's window
    (WORK, local(2025, 6, 6, 17, 59), True),
    (WORK, local(2025, 6, 6, 18, 0), False),
    (WORK, local(2025, 6, 7, 12, 0), False),  # Saturday
    (WORK, local(2025, 6, 9, 8, 0), True),  # Monday, start inclusive
    # UTC input is converted: 2025-06-06 14:30 UTC is 22:30 in Shanghai (UTC+8, no DST).
    (NIGHT, dt.datetime(2025, 6, 6, 14, 30, tzinfo=dt.UTC), True),
    (NIGHT, dt.datetime(2025, 1, 6, 13, 59, tzinfo=dt.UTC), False),  # 21:59 in winter too: no DST
    ({**NIGHT, "mode": "outside"}, local(2025, 6, 6, 12, 0), True),
    ({**NIGHT, "mode": "outside"}, local(2025, 6, 6, 23, 0), False),
    ({**WORK, "timezone": "UTC"}, dt.datetime(2025, 6, 6, 8, 30, tzinfo=dt.UTC), True),
    ({**WORK, "timezone": "UTC"}, local(2025, 6, 6, 8, 30), False),  # 00:30 UTC
])
def test_schedule_active(schedule: dict[str, Any], at: dt.datetime, active: bool) -> None:
    assert Schedule.model_validate(schedule).active(at) is active


@pytest.mark.parametrize(("schedule", "expected_error"), [
    (NIGHT, None),
    ({"windows": [{"start": "08:00", "end": "08:00"}]}, "both"),
    ({"windows": []}, "at least 1"),
    ({"windows": [{"start": "25:00", "end": "06:00"}]}, "time"),
    ({"windows": [{"days": ["fri", "someday"], "start": "08:00", "end": "09:00"}]}, "days"),
    ({"windows": [{"days": [], "start": "08:00", "end": "09:00"}]}, "at least 1"),
    ({**NIGHT, "timezone": "Mars/Olympus"}, "unknown timezone"),
    ({**NIGHT, "mode": "sometimes"}, "mode"),
    ({**NIGHT, "extra": 1}, "Extra inputs"),
])
def test_schedule_validation(schedule: dict[str, Any], expected_error: str | None) -> None:
    if expected_error is None:
        assert Schedule.model_validate(schedule).timezone == "Asia/Shanghai"
        return
    with pytest.raises(ValidationError, match=expected_error):
        Schedule.model_validate(schedule)


def test_schedule_needs_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Schedule.model_validate(NIGHT).active(dt.datetime(2025, 6, 6, 23, 0))


def test_window_overnight_flag() -> None:
    assert TimeWindow.model_validate({"start": "22:00", "end": "06:00"}).overnight
    assert not TimeWindow.model_validate({"start": "06:00", "end": "22:00"}).overnight
