"""Session-wide fixtures: the fetched model pack, real test media (both cached), test databases."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import create_engine, text

from media.images import read_image
from models.fetch import fetch
from models.store import models_dir


@pytest.fixture(scope="session")
def model_store() -> Path:
    """The model store with every model of the manifest fetched and verified (cached), and the
    pack's default INT8 variants made (as `estatewatch models fetch` does)."""
    from benchmarks.quantize import make_default_variants

    fetch()
    make_default_variants(print)
    return models_dir()


@pytest.fixture(scope="session")
def image() -> object:
    """Factory: ``image("players.jpg")`` -> BGR uint8 array (fetched and cached)."""
    cache: dict[str, npt.NDArray[np.uint8]] = {}

    def load(name: str) -> npt.NDArray[np.uint8]:
        if name not in cache:
            cache[name] = read_image(name)
        return cache[name].copy()

    return load


# -- databases: the same tests on SQLite and PostgreSQL ------------------------------------------
PG_URL = os.environ.get(
    "ESTATEWATCH_TEST_POSTGRES_URL",
    "postgresql+psycopg://estatewatch:estatewatch@127.0.0.1:5432/estatewatch_test",  # scripts/services.sh
)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL URL; unreachable fails under CI (env CI set), skips locally."""
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any connection problem
        message = f"PostgreSQL at {PG_URL} unreachable: {exc.__class__.__name__}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return PG_URL


def _pg_schema(base_url: str) -> Iterator[str]:
    schema = f"ew_test_{secrets.token_hex(6)}"
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base_url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema in the test PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'estatewatch.db'}"
        return
    yield from _pg_schema(request.getfixturevalue("postgres_server"))
