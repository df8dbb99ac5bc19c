"""Dedup and cooldown windows: pure tables over times passed in."""

from __future__ import annotations

import datetime as dt

import pytest

from alarms.dedup import Deduplicator
from alarms.types import AlarmDraft, Subject, dedup_key

T0 = dt.datetime(2025, 6, 6, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(("cooldown", "renotify", "times", "raised"), [
    (60, None, [0], [True]),
    (60, None, [0, 30], [True, False]),
    (60, None, [0, 60], [True, True]),  # exactly the cooldown later: a new episode
    (60, None, [0, 59.9], [True, False]),
    # Each repeat restarts the quiet period: 0, 50, 100, 150 is one continuous episode.
    (60, None, [0, 50, 100, 150], [True, False, False, False]),
    (60, None, [0, 50, 111], [True, False, True]),
    (0, None, [0, 0, 1], [True, True, True]),  # no cooldown: every sighting raises
    # Renotify: suppressed continuously for 120 s since the last raise -> raise again.
    (60, 120, [0, 50, 100, 150, 170], [True, False, False, True, False]),
    # Out of order (clock stepped back): suppressed, window unchanged.
    (60, None, [100, 90, 161], [True, False, True]),
])
def test_cooldown_windows(cooldown: float, renotify: float | None, times: list[float],
                          raised: list[bool]) -> None:
    dedup = Deduplicator(cooldown, renotify)
    assert [dedup.should_raise("k", at(t)) for t in times] == raised


def test_flapping_camera_gives_one_alarm() -> None:
    """offline, online, offline, online, offline within the cooldown: one alarm."""
    dedup = Deduplicator(default_cooldown_s=600)
    key = dedup_key("camera_offline", Subject("camera", "gate-north"), "gate-north")
    offline_times = [0, 120, 300, 500]  # the camera's offline events (online events raise nothing)
    assert [dedup.should_raise(key, at(t)) for t in offline_times] == [True, False, False, False]
    assert dedup.should_raise(key, at(500 + 600))  # quiet for a full cooldown: a new outage


@pytest.mark.parametrize(("keys", "raised"), [
    (["rule|watchlist:w1|cam-a", "rule|watchlist:w1|cam-b"], [True, True]),  # other camera
    (["rule|watchlist:w1|cam-a", "rule|watchlist:w2|cam-a"], [True, True]),  # other subject
    (["r1|watchlist:w1|cam-a", "r2|watchlist:w1|cam-a"], [True, True]),  # other rule
    (["rule|watchlist:w1|cam-a", "rule|watchlist:w1|cam-a"], [True, False]),
])
def test_keys_are_independent(keys: list[str], raised: list[bool]) -> None:
    dedup = Deduplicator(300)
    assert [dedup.should_raise(k, at(i)) for i, k in enumerate(keys)] == raised


def test_per_draft_cooldown_and_admit() -> None:
    def draft(cooldown: float, seconds: float) -> AlarmDraft:
        subject = Subject("watchlist", "w1")
        return AlarmDraft("watchlist_person", "critical", "wl", "cam", None, at(seconds), subject,
                          dedup_key("wl", subject, "cam"), cooldown)

    dedup = Deduplicator(default_cooldown_s=3600)
    assert len(dedup.admit([draft(10, 0), draft(10, 5)], at(0))) == 1
    assert len(dedup.admit([draft(10, 20)], at(20))) == 1  # the draft's 10 s cooldown, not 3600


def test_expire_forgets_quiet_keys_only() -> None:
    dedup = Deduplicator(60)
    dedup.should_raise("old", at(0))
    dedup.should_raise("new", at(50))
    assert dedup.expire(at(100)) == 1
    assert len(dedup) == 1
    assert not dedup.should_raise("new", at(100))


@pytest.mark.parametrize(("cooldown", "renotify", "when", "expected_error"), [
    (-1, None, at(0), "default_cooldown_s"),
    (float("nan"), None, at(0), "default_cooldown_s"),
    (60, -5, at(0), "renotify_s"),
    (60, None, dt.datetime(2025, 6, 6, 12, 0), "timezone-aware"),
])
def test_bad_input(cooldown: float, renotify: float | None, when: dt.datetime, expected_error: str) -> None:
    with pytest.raises(ValueError, match=expected_error):
        Deduplicator(cooldown, renotify).should_raise("k", when)


def test_bad_per_key_cooldown() -> None:
    with pytest.raises(ValueError, match="cooldown_s"):
        Deduplicator().should_raise("k", at(0), cooldown_s=-1)
