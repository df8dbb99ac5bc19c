"""The database probe of the readiness check: SELECT 1 with a deadline, a reason without secrets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from storage.db import DatabaseProbe, make_engine


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections (kernel backlog) and never answers: a hung database."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_a_reachable_database_answers(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ok.db'}")
    assert DatabaseProbe(engine).check() is None
    engine.dispose()


def test_an_unreachable_database_says_why_without_its_password() -> None:
    engine = create_engine("postgresql+psycopg://estatewatch:hunter2secret@127.0.0.1:1/db?connect_timeout=2")
    why = DatabaseProbe(engine).check()
    assert why is not None and why.startswith("OperationalError: ") and "hunter2secret" not in why
    engine.dispose()


def test_a_hung_database_times_out_and_is_not_probed_twice(silent_server: int) -> None:
    engine = create_engine(f"postgresql+psycopg://u:pw-secret@127.0.0.1:{silent_server}/x")
    probe = DatabaseProbe(engine, timeout_s=0.3)
    before = threading.active_count()
    assert probe.check() == "no answer to SELECT 1 within 0.3 s"
    again = probe.check()  # the first is still waiting: reported, no second thread
    assert again is not None and again.startswith("no answer to SELECT 1 for ")
    assert threading.active_count() == before + 1
    engine.dispose()
