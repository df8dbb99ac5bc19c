"""Loaded face models shared by every face test (loading is the slow part)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from models.manifest import load_manifest
from vision.face.arcface import ArcFaceEmbedder
from vision.face.pipeline import FaceAnalyzer
from vision.face.retinaface import RetinaFaceDetector
from vision.face.scrfd import ScrfdDetector

ImageFactory = Callable[[str], npt.NDArray[np.uint8]]


def _path(store: Path, name: str) -> Path:
    return store / load_manifest()[name].filename


@pytest.fixture(scope="session")
def scrfd(model_store: Path) -> ScrfdDetector:
    model = ScrfdDetector(_path(model_store, "scrfd_500m"))
    model.load()
    return model


@pytest.fixture(scope="session")
def retinaface(model_store: Path) -> RetinaFaceDetector:
    model = RetinaFaceDetector(_path(model_store, "retinaface_mnet025"))
    model.load()
    return model


@pytest.fixture(scope="session")
def arcface(model_store: Path) -> ArcFaceEmbedder:
    model = ArcFaceEmbedder(_path(model_store, "w600k_mbf"))
    model.load()
    return model


@pytest.fixture(scope="session")
def analyzer(scrfd: ScrfdDetector, arcface: ArcFaceEmbedder) -> FaceAnalyzer:
    return FaceAnalyzer(scrfd, arcface)


@pytest.fixture(scope="session")
def photos(image: ImageFactory) -> dict[str, npt.NDArray[np.uint8]]:
    """The three face photos, BGR: players.jpg (1237x800), yaoming.jpg (233x287), astronaut (512)."""
    return {name: image(name) for name in ("players.jpg", "yaoming.jpg", "astronaut.png")}
