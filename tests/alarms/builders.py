"""Builders for the alarm intake's input: plate readings, a car rolling through the gate, live results."""

from __future__ import annotations

import datetime as dt

import numpy as np

from streams.frames import Frame, Instant
from vision.cascade import ImageRecognition, PlateFinding
from vision.live import FrameResult
from vision.types import Detections, PlateReading

WATCHED = "京A12345"
T0 = dt.datetime(2025, 6, 6, 6, 0, tzinfo=dt.UTC)
SIZE = (320, 180)


def plate_reading(text: str = WATCHED, score: float = 0.95, valid: bool = True) -> PlateReading:
    """A reading of ``text`` with ``score`` on every character; a valid one has the standard layout."""
    return PlateReading(text, text, score, np.full(len(text), score, np.float32), valid,
                        "standard" if valid else None)


def car(i: int, text: str = WATCHED) -> ImageRecognition:
    """Frame ``i`` of a car rolling right through the gate, its plate read."""
    box = Detections.build([[20 + 4 * i, 60, 140 + 4 * i, 150]], [0.9], [2])
    return ImageRecognition(vehicles=box, plates=[PlateFinding(plate_reading(text), 0)])


def result(i: int, recognition: ImageRecognition | None = None, camera: str = "gate",
           start_s: float = 0.0) -> FrameResult:
    """The scheduler's result for frame ``i`` (0.2 s apart from ``start_s`` after :data:`T0`).

    ``recognition`` ``None``: the frame was gated as unchanged.
    """
    at = T0 + dt.timedelta(seconds=start_s + 0.2 * i)
    image = np.full((SIZE[1], SIZE[0], 3), i, np.uint8)
    frame = Frame(camera, image, Instant(100 + start_s + 0.2 * i, at.timestamp()), i)
    gated = recognition is None
    return FrameResult(camera, frame, ImageRecognition() if gated else recognition, 0.0 if gated else 5.0,
                       gated)
