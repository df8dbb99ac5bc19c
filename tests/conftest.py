"""Session-wide fixtures: the fetched model pack and real test media (both cached)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from models.fetch import fetch
from models.store import models_dir
from tests import media


@pytest.fixture(scope="session")
def model_store() -> Path:
    """The model store with every model of the manifest fetched and verified (cached)."""
    fetch()
    return models_dir()


@pytest.fixture(scope="session")
def image() -> object:
    """Factory: ``image("players.jpg")`` -> BGR uint8 array (fetched and cached)."""
    cache: dict[str, npt.NDArray[np.uint8]] = {}

    def load(name: str) -> npt.NDArray[np.uint8]:
        if name not in cache:
            cache[name] = media.read_image(name)
        return cache[name].copy()

    return load
