"""Registry fixtures: the same tests on SQLite and PostgreSQL, a registry factory, the face engine."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from registry.config import RegistrySettings
from registry.service import Registry

PG_URL = os.environ.get("ESTATEWATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEST_KEY = base64.b64encode(b"k" * 32).decode()

RegistryFactory = Callable[..., Registry]


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
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema in the test PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'estatewatch.db'}"
        return
    yield from _pg_schema(request.getfixturevalue("postgres_server"))


@pytest.fixture
def settings_for(db_url: str) -> Callable[..., RegistrySettings]:
    def make(**overrides: Any) -> RegistrySettings:
        values: dict[str, Any] = {"database_url": db_url, "template_key": TEST_KEY}
        values.update(overrides)
        return RegistrySettings(**values)

    return make


@pytest.fixture
def make_registry(settings_for: Callable[..., RegistrySettings]) -> Iterator[RegistryFactory]:
    """Factory: ``make_registry(**settings)`` opens (and migrates) the test database."""
    opened: list[Registry] = []

    def make(**overrides: Any) -> Registry:
        registry = Registry.open(settings_for(**overrides))
        opened.append(registry)
        return registry

    yield make
    for registry in opened:
        registry.close()


@pytest.fixture
def registry(make_registry: RegistryFactory) -> Registry:
    return make_registry()


@pytest.fixture(scope="session")
def analyzer(model_store: Any) -> Any:
    """The default face engine, loaded once per session."""
    from vision.face.pipeline import FaceAnalyzer

    face_analyzer = FaceAnalyzer.from_store("default", store=model_store)
    face_analyzer.load()
    return face_analyzer
