"""Fixtures of the service tests: an isolated data directory per module (SQLite, secrets, snapshots)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def site_dir(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh data directory (the model store stays the shared, fetched one)."""
    data = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ESTATEWATCH_DATA_DIR", str(data))
        mp.setenv("ESTATEWATCH_MODELS_DIR", str(model_store))
        mp.delenv("ESTATEWATCH_DATABASE_URL", raising=False)
        mp.delenv("ESTATEWATCH_TEMPLATE_KEY", raising=False)
        mp.delenv("ESTATEWATCH_TEMPLATE_KEY_FILE", raising=False)
        yield data
