"""Zones (polygons on a camera's image) and schedules (weekly time windows in a timezone).

Zone coordinates are **normalised**: ``x`` is a fraction of the frame width and ``y`` of its
height, both in [0, 1], origin top-left. So one zone fits a camera's detect sub-stream and its
main stream alike. Boxes (pixels) are normalised with the frame size before the test.

A person or vehicle is in a zone when its *anchor* is: the bottom-centre of its box by default
(where the feet or wheels touch the ground), or the box centre. A point on the polygon's edge
or vertex counts as inside. Polygons may be concave; they must not cross themselves (not
checked beyond a non-zero area).

Schedules: a window ``start``-``end`` on listed weekdays, in the schedule's timezone (default
``Asia/Shanghai``). ``start`` is inclusive, ``end`` exclusive. When ``end`` is earlier than
``start`` the window runs overnight: ``fri 22:00-06:00`` covers Friday 22:00 to Saturday 06:00,
and belongs to Friday. ``end == start`` is an error (a rule active all day has no schedule).
Asia/Shanghai has no daylight saving time; for zones that do, local wall-clock times are
compared, so a window follows the clock across a DST change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vision.types import F32

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Anchor = Literal["bottom_center", "center"]
Point = tuple[float, float]

EDGE_EPS = 1e-9
"""Distance (normalised units) within which a point counts as on an edge."""


class ZoneConfig(BaseModel):
    """A polygon on one camera's image (``zones:`` entries of the YAML file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                    description="Zone id used in rules and alarms.")
    camera: str = Field(min_length=1, description="Id of the camera whose image the polygon is drawn on.")
    name: str = Field(default="", max_length=200, description="Human name shown to guards.")
    polygon: tuple[Point, ...] = Field(
        description="Vertices in order, normalised [0, 1] (x of width, y of height), at least 3.")
    anchor: Anchor = Field(default="bottom_center",
                           description="Which point of a box must be inside: bottom_center or center.")

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, polygon: tuple[Point, ...]) -> tuple[Point, ...]:
        if len(polygon) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(polygon)}")
        for x, y in polygon:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside [0, 1]: zone coordinates are normalised")
        if abs(polygon_area(polygon)) <= EDGE_EPS:
            raise ValueError("the polygon has no area (points on one line or repeated)")
        return polygon

    def contains_point(self, point: Point) -> bool:
        """Whether a normalised point is inside (edges and vertices count as inside)."""
        return point_in_polygon(point, self.polygon)

    def contains_box(self, box: F32, frame_size: tuple[int, int]) -> bool:
        """Whether the anchor of ``box`` (``(4,)`` xyxy pixels) is inside, for a ``(width, height)`` frame."""
        return self.contains_point(box_anchor(box, frame_size, self.anchor))


def polygon_area(polygon: Sequence[Point]) -> float:
    """Signed area (shoelace), in the polygon's units squared."""
    n = len(polygon)
    return 0.5 * sum(polygon[i][0] * polygon[(i + 1) % n][1] - polygon[(i + 1) % n][0] * polygon[i][1]
                     for i in range(n))


def _on_segment(p: Point, a: Point, b: Point) -> bool:
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    length = max(abs(b[0] - a[0]), abs(b[1] - a[1]), EDGE_EPS)
    if abs(cross) > EDGE_EPS * length:
        return False
    return (min(a[0], b[0]) - EDGE_EPS <= p[0] <= max(a[0], b[0]) + EDGE_EPS
            and min(a[1], b[1]) - EDGE_EPS <= p[1] <= max(a[1], b[1]) + EDGE_EPS)


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting; a point on an edge or vertex is inside. Works for concave polygons."""
    n = len(polygon)
    inside = False
    x, y = point
    for i in range(n):
        a, b = polygon[i], polygon[(i + 1) % n]
        if _on_segment(point, a, b):
            return True
        if (a[1] > y) != (b[1] > y):
            x_cross = a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            if x < x_cross:
                inside = not inside
    return inside


def box_anchor(box: F32, frame_size: tuple[int, int], anchor: Anchor = "bottom_center") -> Point:
    """The normalised anchor point of a ``(4,)`` xyxy pixel box in a ``(width, height)`` frame."""
    width, height = frame_size
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {frame_size}")
    x1, y1, x2, y2 = (float(v) for v in box)
    y = y2 if anchor == "bottom_center" else (y1 + y2) / 2
    return ((x1 + x2) / 2 / width, y / height)


def zones_containing(zones: Sequence[ZoneConfig], camera_id: str, box: F32,
                     frame_size: tuple[int, int]) -> frozenset[str]:
    """Ids of ``camera_id``'s zones that contain ``box``."""
    return frozenset(z.id for z in zones if z.camera == camera_id and z.contains_box(box, frame_size))


class TimeWindow(BaseModel):
    """Weekdays and a daily time range; ``end < start`` runs overnight into the next day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[Weekday, ...] = Field(default=WEEKDAYS, min_length=1,
                                      description="Days the window starts on (mon..sun).")
    start: dt.time = Field(description="Start, HH:MM local time, inclusive.")
    end: dt.time = Field(description="End, HH:MM local time, exclusive; earlier than start = overnight.")

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError(f"window start and end are both {self.start}: give a non-empty range")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are local to the schedule's timezone: no UTC offset")
        return self

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def contains(self, local: dt.datetime) -> bool:
        """Whether a local (naive or aware, already in the schedule's zone) time falls inside."""
        t = local.time().replace(tzinfo=None)
        today = WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        if not self.overnight:
            return today in self.days and self.start <= t < self.end
        return (today in self.days and t >= self.start) or (yesterday in self.days and t < self.end)


class Schedule(BaseModel):
    """When a rule applies: inside (``mode: during``) or outside (``mode: outside``) the windows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(default="Asia/Shanghai", description="IANA timezone of the windows.")
    windows: tuple[TimeWindow, ...] = Field(min_length=1, description="The weekly windows.")
    mode: Literal["during", "outside"] = Field(
        default="during", description="during: active inside the windows; outside: active outside them.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {name!r}") from exc
        return name

    def active(self, at: dt.datetime) -> bool:
        """Whether the schedule is active at ``at`` (timezone-aware)."""
        if at.tzinfo is None:
            raise ValueError("schedule times must be timezone-aware")
        local = at.astimezone(ZoneInfo(self.timezone))
        inside = any(w.contains(local) for w in self.windows)
        return inside if self.mode == "during" else not inside
