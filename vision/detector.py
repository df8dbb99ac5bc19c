"""Detectors: one parameter set per detector, and variants that share the loaded session.

Every detector family (SCRFD, RetinaFace, YOLO, the plate detector) takes its parameters as one
frozen :class:`DetectorParams` (a family adds its own fields in a subclass). A variant of a
loaded detector at another input size (:meth:`OnnxDetector.resized`) or score threshold
(:meth:`OnnxDetector.with_score_threshold`) runs on the same ONNX session: no second load, no
second thread pool.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, Protocol, Self, TypeVar

from vision.model import CtxT, Model, OnnxModel, create
from vision.session import SessionConfig
from vision.types import Detections, Image

Size = tuple[int, int]
"""(width, height) in pixels."""


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """What a detector family is run with.

    Attributes:
        input_size: model input (width, height); every image is letterboxed into it.
        score_threshold: minimum detection score in [0, 1].
        nms_threshold: IoU above which the lower-scored of two detections is dropped.
        max_detections: the most detections kept per image (``None``: all).
    """

    input_size: Size
    score_threshold: float
    nms_threshold: float
    max_detections: int | None = None

    def __post_init__(self) -> None:
        if min(self.input_size) < 1:
            raise ValueError(f"input_size must be positive, got {self.input_size}")
        if not 0 <= self.score_threshold <= 1 or not 0 <= self.nms_threshold <= 1:
            raise ValueError(f"thresholds must lie in [0, 1], got {self.score_threshold}, "
                             f"{self.nms_threshold}")


ParamsT = TypeVar("ParamsT", bound=DetectorParams)


class Detector(Model[Image, Detections], Protocol):
    """A detector whose variants share its session (what the cascade resizes)."""

    @property
    def params(self) -> DetectorParams:
        """The parameters it runs with."""
        ...

    def resized(self, size: Size) -> Self:
        """The same detector at input ``size`` (itself when that is its size)."""
        ...

    def with_score_threshold(self, score: float) -> Self:
        """The same detector keeping detections down to ``score``."""
        ...


class OnnxDetector(OnnxModel[Image, CtxT, Detections], Generic[CtxT, ParamsT]):
    """The shell of a detector family: :class:`~vision.model.OnnxModel` plus its parameters.

    ``infer(images)`` takes BGR uint8 ``(H, W, 3)`` images of any sizes and returns one
    :class:`~vision.types.Detections` per image, in that image's pixels.
    """

    params: ParamsT

    def with_params(self, params: ParamsT) -> Self:
        """A variant with other parameters on this detector's session (itself when equal)."""
        if params == self.params:
            return self
        variant = copy.copy(self)
        variant.params = params
        variant._prepare()
        return variant

    def resized(self, size: Size) -> Self:
        """The variant at input ``size`` = (width, height)."""
        return self.with_params(replace(self.params, input_size=size))

    def with_score_threshold(self, score: float) -> Self:
        """The variant keeping detections down to ``score``."""
        return self.with_params(replace(self.params, score_threshold=score))

    def _prepare(self) -> None:
        """Check the parameters and compute what depends on them (anchors, priors)."""


def create_detector(family: str, path: Path, config: SessionConfig | None = None, *, name: str,
                    workers: int = 1) -> Detector:
    """:func:`vision.model.create` for a detector family (a TypeError when it is none)."""
    model = create(family, path, config, name=name, workers=workers)
    if not isinstance(model, OnnxDetector):
        raise TypeError(f"model {name}: family {family!r} ({type(model).__name__}) is not a detector")
    return model
