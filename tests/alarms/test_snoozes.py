"""Camera snoozes (issue 13): stored, announced, holding back a camera's alarms, ending by themselves.

Real parts: the alarm store and the registry on the test database (SQLite and PostgreSQL), the
intake with the site's rules; cars are driven past the gate as in ``test_intake``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from alarms.intake import Alarmist
from alarms.records import Alarm
from alarms.rules import RuleSet, parse_rules
from alarms.snoozes import Snoozes
from alarms.store import AlarmStore
from registry.service import Registry
from tests.alarms.builders import T0, WATCHED, car, result
from tests.alarms.conftest import StoreFactory, make_draft

STRANGER = "沪B67890"


def drive(intake: Alarmist, text: str, start_s: float, camera: str = "gate") -> list[Alarm]:
    """A car with plate ``text`` rolling through ``camera`` from ``start_s`` after T0 (8 frames)."""
    return [alarm for i in range(8) for alarm in intake.on_result(result(i, car(i, text), camera, start_s))]


@pytest.fixture
def store(make_store: StoreFactory) -> AlarmStore:
    return make_store()


@pytest.fixture
def intake(store: AlarmStore, registry: Registry) -> Alarmist:
    registry.add_watchlist_entry("stolen car", plate=WATCHED, reason="test", severity="critical")
    rules = RuleSet.build(parse_rules([{"type": "watchlist_vehicle"}, {"type": "unregistered_vehicle"}]),
                          {"gate": ["vehicles", "plates"], "yard": ["vehicles", "plates"]})
    return Alarmist(["gate", "yard"], rules, [], store, registry, started=T0, snoozes=store.snoozes)


def test_a_snooze_holds_back_alarms_but_not_watchlist_ones_and_ends_by_itself(
        intake: Alarmist, store: AlarmStore) -> None:
    snooze = store.snoozes.start("gate", 30, "guard1", "workers at the gate", now=T0)
    assert snooze.until == T0 + dt.timedelta(minutes=30)
    assert drive(intake, STRANGER, 60) == []  # an unregistered car: held back
    watched = drive(intake, WATCHED, 120)
    assert [(a.type, a.severity) for a in watched] == [("watchlist_vehicle", "critical")]  # never snoozed
    assert [a.type for a in drive(intake, STRANGER, 180, camera="yard")] == ["unregistered_vehicle"]
    assert store.snoozes.active(T0 + dt.timedelta(minutes=10))["gate"].suppressed == 1
    # Nor are the camera's own health alarms: a camera cut or covered while snoozed still alarms.
    soon = T0 + dt.timedelta(minutes=5)
    for kind in ("camera_offline", "camera_tampered"):
        health = make_draft("gate", "camera", "gate", soon, type=kind, severity="high")
        assert not store.snoozes.held(health, soon)
    assert store.snoozes.held(make_draft("gate", "unknown_track", "t9", soon, type="unknown_person"), soon)
    assert store.snoozes.suppressed_total == 2 and store.snoozes.suppressed_by_camera == {"gate": 2}
    # 30 minutes on, the snooze is over without anyone ending it.
    later = drive(intake, STRANGER, 31 * 60)
    assert [(a.type, a.camera_id) for a in later] == [("unregistered_vehicle", "gate")]
    assert store.snoozes.active(T0 + dt.timedelta(minutes=31)) == {}


def test_snoozes_are_stored_announced_and_end_early(store: AlarmStore) -> None:
    with pytest.raises(ValueError, match="5 to 60 minutes"):
        store.snoozes.start("gate", 61, "guard1", now=T0)
    with pytest.raises(ValueError, match="5 to 60 minutes"):
        store.snoozes.start("gate", 4, "guard1", now=T0)
    assert store.events() == []  # nothing half-written
    store.snoozes.start("gate", 5, "guard1", now=T0)
    replaced = store.snoozes.start("gate", 60, "guard2", "delivery", now=T0 + dt.timedelta(minutes=1))
    # Another process (a fresh cache on the same database) sees the same active snooze.
    other = Snoozes(store.engine, store.emitter)
    assert other.active(T0 + dt.timedelta(minutes=2)) == {"gate": replaced}
    ended = store.snoozes.end("gate", "guard1", now=T0 + dt.timedelta(minutes=3))
    assert ended is not None and ended.id == replaced.id
    assert store.snoozes.active(T0 + dt.timedelta(minutes=3)) == {}
    assert store.snoozes.end("gate", "guard1", now=T0 + dt.timedelta(minutes=4)) is None
    events = [(kind, env["data"]["camera_id"], env["data"]["by"]) for _, kind, env in store.events()]
    assert events == [("camera.snoozed", "gate", "guard1"), ("camera.snoozed", "gate", "guard2"),
                      ("camera.unsnoozed", "gate", "guard2")]
    unsnoozed = store.events("camera.unsnoozed")[0][2]["data"]
    assert unsnoozed["ended_by"] == "guard1" and unsnoozed["reason"] == "delivery"
    assert store.events_after(0)[-1].camera_id == "gate"  # camera-scoped on the live feed
