"""One loaded detector run at many input sizes, in shared batches.

The cascade asks a detector for crops at many input sizes (:func:`vision.policy.crop_plan`).
:class:`SizedDetector` takes ``(size, image)`` requests and runs one model call per size on
variants (:meth:`vision.detector.Detector.resized`) of one detector, all on its one session;
behind one :class:`~vision.engine.BatchedModel` the requests of all cameras share those calls.
:class:`AtSize` is a fixed-size view of it, a plain images-in detector again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from vision.detector import Detector, Size
from vision.model import Model
from vision.types import Detections, Image

SizedImage = tuple[Size, Image]
"""An image and the detector input (width, height) to run it at."""


class SizedDetector:
    """``infer([(size, image), ...])``: grouped by size, one model call per size.

    Args:
        base: the loaded detector; variants at other sizes share its session and are made
            on first use.
    """

    def __init__(self, base: Detector) -> None:
        self.base = base
        self.name = f"{base.name}-sized"
        self._variants: dict[Size, Detector] = {}
        self._lock = threading.Lock()

    def at(self, size: Size) -> Detector:
        """The detector with input ``size`` (the base itself at its own size)."""
        if tuple(self.base.params.input_size) == size:
            return self.base
        with self._lock:
            if size not in self._variants:
                self._variants[size] = self.base.resized(size)
            return self._variants[size]

    def load(self) -> None:
        """Load the base detector (its variants share its session)."""
        self.base.load()

    def close(self) -> None:
        """Nothing: the base detector belongs to its owner."""

    def infer(self, batch: Sequence[SizedImage]) -> list[Detections]:
        """One :class:`Detections` per request, in order."""
        out: dict[int, Detections] = {}
        groups: dict[Size, list[int]] = {}
        for k, (size, _) in enumerate(batch):
            groups.setdefault(size, []).append(k)
        for size, members in groups.items():
            found = self.at(size).infer([batch[k][1] for k in members])
            out.update(zip(members, found, strict=True))
        return [out[k] for k in range(len(batch))]


class AtSize:
    """A fixed-size view of a (batched) :class:`SizedDetector`: ``infer(images)``."""

    def __init__(self, sized: Model[SizedImage, Detections], size: Size) -> None:
        self.sized = sized
        self.size = size
        self.name = f"{sized.name}@{size[0]}x{size[1]}"

    def load(self) -> None:
        """Load the detector behind the view."""
        self.sized.load()

    def close(self) -> None:
        """Nothing: the detector belongs to its owner."""

    def infer(self, batch: Sequence[Image]) -> list[Detections]:
        """One :class:`Detections` per image, detected at :attr:`size`."""
        return self.sized.infer([(self.size, image) for image in batch])
