"""Periodic alarm work: the schedule (pure) and retention on the real store."""

from __future__ import annotations

import datetime as dt

import pytest

from alarms.intake import Alarmist
from alarms.rules import RuleSet
from alarms.upkeep import AlarmUpkeep, UpkeepSchedule, due
from tests.alarms.conftest import T0, StoreFactory, make_draft
from tests.waiting import wait_until

DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("last", "every_s", "now", "expected"),
    [
        (None, 3600.0, 0.0, True),  # never ran: runs on the first tick
        (100.0, 60.0, 159.9, False),
        (100.0, 60.0, 160.0, True),
        (100.0, 60.0, 500.0, True),
    ],
)
def test_due(last: float | None, every_s: float, now: float, expected: bool) -> None:
    assert due(last, every_s, now) is expected


def upkeep_of(store: object, schedule: UpkeepSchedule | None = None) -> AlarmUpkeep:
    intake = Alarmist(["gate-north"], RuleSet.build([], {"gate-north": ["plates"]}), [], store, None,
                      started=T0)
    return AlarmUpkeep(intake, store, None, retention=30 * DAY, schedule=schedule)


def test_retention_purges_old_alarms_once_per_interval(make_store: StoreFactory) -> None:
    store = make_store()
    store.raise_alarm(make_draft(subject_id="old", at=T0), now=T0)
    store.raise_alarm(make_draft(subject_id="new", at=T0 + 20 * DAY), now=T0 + 20 * DAY)
    upkeep = upkeep_of(store, UpkeepSchedule(purge_every_s=3600.0))

    upkeep.run_once(T0 + 40 * DAY, clock=1000.0)
    assert [a.subject.id for a in store.list().items] == ["new"]

    upkeep.run_once(T0 + 60 * DAY, clock=1000.0 + 3599)  # the second alarm is now old, but not due yet
    assert store.list().total == 1
    upkeep.run_once(T0 + 60 * DAY, clock=1000.0 + 3600)
    assert store.list().total == 0


def test_the_thread_ticks_until_stopped(make_store: StoreFactory) -> None:
    store = make_store()
    store.raise_alarm(make_draft(at=T0), now=T0)  # long past the retention: the first tick purges it
    upkeep = upkeep_of(store, UpkeepSchedule(tick_s=0.05)).start()
    try:
        wait_until(lambda: store.list().total == 0, timeout=30, what="the old alarm purged")
    finally:
        upkeep.stop()
    assert upkeep._thread is None
