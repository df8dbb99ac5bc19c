"""Import every model family module so that each registers itself in ``vision.model.FAMILIES``."""

from __future__ import annotations

import importlib

FAMILY_MODULES = (
    "vision.face.scrfd",
    "vision.face.retinaface",
    "vision.face.arcface",
    "vision.vehicle.yolo",
    "vision.plate.detector",
    "vision.plate.reader",
)

for _module in FAMILY_MODULES:
    importlib.import_module(_module)
