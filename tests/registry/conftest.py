"""Registry fixtures: the same tests on SQLite and PostgreSQL, a registry factory, the face engine."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from registry.config import RegistrySettings
from registry.service import Registry

TEST_KEY = base64.b64encode(b"k" * 32).decode()

RegistryFactory = Callable[..., Registry]


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
