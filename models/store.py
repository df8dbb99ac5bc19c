"""Where models and cached downloads live on disk.

* data directory: ``ESTATEWATCH_DATA_DIR`` (default ``./data``)
* model store: ``ESTATEWATCH_MODELS_DIR`` (default ``<data dir>/models``)
* download cache (pinned wheels, test media): ``ESTATEWATCH_CACHE_DIR``
  (default ``~/.cache/estatewatch``)
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.files import data_dir


def models_dir() -> Path:
    """The model store: one ``<name>.onnx`` per fetched model."""
    env = os.environ.get("ESTATEWATCH_MODELS_DIR")
    return Path(env).expanduser() if env else data_dir() / "models"


def cache_dir() -> Path:
    """The download cache shared by fetches and tests (wheels, media)."""
    env = os.environ.get("ESTATEWATCH_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "estatewatch"


def wheels_dir() -> Path:
    """Cached pinned wheels: a fetch that finds its wheel here never goes to the network."""
    return cache_dir() / "wheels"
