"""The matcher reads what a match says about its owner once per registry version, not per frame."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, event

from registry.service import Registry
from registry.types import Owner
from tests.registry.builders import unit_vectors
from tests.registry.conftest import RegistryFactory

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
OWNER_TABLES = ("residents", "visitors", "watchlist_entries")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def owner_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if any(f" {table}" in s for table in OWNER_TABLES)]


def enrolled(registry: Registry) -> tuple[str, npt.NDArray[np.float32]]:
    """A resident, a visitor (1 h visit from T0) and a watchlist entry, one face each."""
    rid = registry.add_resident("Ann", building="1", unit="2", room="301")
    vid = registry.add_visitor("guest", rid, T0, T0 + dt.timedelta(hours=1))
    wid = registry.add_watchlist_entry("wanted", severity="high")
    faces = unit_vectors(3, seed=21)
    for owner, face in zip(
        (Owner("resident", rid), Owner("visitor", vid), Owner("watchlist", wid)), faces, strict=True
    ):
        registry.add_templates(owner, face[None])
    return rid, faces


def test_owner_details_are_read_once_per_version(registry: Registry) -> None:
    _, faces = enrolled(registry)
    with statements(registry.engine) as first_seen:
        first = registry.match_faces(faces, now=T0)
    assert owner_reads(first_seen)  # the listener sees the owner query of the first match
    with statements(registry.engine) as seen:
        second = registry.match_faces(faces, now=T0 + dt.timedelta(hours=2))
    assert seen, "the version check should run on every match"
    assert owner_reads(seen) == []
    assert [(m.name, m.address, m.owner_status, m.severity) for m in first] == [
        ("Ann", "1-2-301", "active", None),
        ("guest", None, "valid", None),
        ("wanted", None, "watchlist", "high"),
    ]
    # the cached visit window gives the status at the time of each match
    assert [m.owner_status for m in second] == ["active", "expired", "watchlist"]


def test_a_rename_is_seen_by_the_next_match(make_registry: RegistryFactory) -> None:
    writer, reader = make_registry(), make_registry()
    rid, faces = enrolled(writer)
    assert [m.name for m in writer.match_faces(faces[:1])] == ["Ann"]
    assert [m.name for m in reader.match_faces(faces[:1])] == ["Ann"]
    writer.update_resident(rid, name="Anna", status="moved_out")
    assert [(m.name, m.owner_status) for m in writer.match_faces(faces[:1])] == [("Anna", "moved_out")]
    assert [(m.name, m.owner_status) for m in reader.match_faces(faces[:1])] == [("Anna", "moved_out")]
    writer.delete_resident(rid)  # the visitor goes with the host
    assert [m.status for m in reader.match_faces(faces)] == ["unknown", "unknown", "match"]
