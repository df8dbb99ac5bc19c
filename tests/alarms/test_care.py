"""The care alarm (lives_alone residents not seen for N hours): pure tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from alarms.care import CareRule, CareSubject, LastSeen, care_alarms
from alarms.dedup import Deduplicator

START = dt.datetime(2025, 6, 1, 0, 0, tzinfo=dt.UTC)
NOW = START + dt.timedelta(days=5)


def hours_ago(h: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=h)


ALONE = CareSubject("r1", "王阿姨", ("lives_alone",))


@pytest.mark.parametrize(("resident", "last_seen", "watch_since", "alarms"), [
    (ALONE, hours_ago(25), START, 1),
    (ALONE, hours_ago(24), START, 1),  # exactly N hours: due
    (ALONE, hours_ago(23.9), START, 0),
    (ALONE, None, START, 1),  # never seen since the watch started 5 days ago
    (ALONE, None, hours_ago(2), 0),  # never seen, but watching only for 2 h
    (ALONE, hours_ago(48), hours_ago(2), 0),  # seen long ago, watch (re)started recently
    (CareSubject("r2", "李伯", ()), hours_ago(72), START, 0),  # not tagged
    (CareSubject("r3", "张奶奶", ("lives_alone", "vip")), hours_ago(72), START, 1),
    (CareSubject("r4", "赵爷爷", ("lives_alone",), status="moved_out"), hours_ago(72), START, 0),
])
def test_care_alarms(resident: CareSubject, last_seen: dt.datetime | None, watch_since: dt.datetime,
                     alarms: int) -> None:
    seen = {} if last_seen is None else {resident.resident_id: last_seen}
    drafts = care_alarms(CareRule(), [resident], seen, watch_since, NOW)
    assert len(drafts) == alarms
    for d in drafts:
        assert d.type == "care_not_seen"
        assert d.subject.id == resident.resident_id
        assert d.camera_id is None
        assert d.occurred_at == NOW
        assert d.dedup_key == f"care_not_seen|resident:{resident.resident_id}|site"
        assert d.details["last_seen"] == (None if last_seen is None else last_seen.isoformat())


def test_custom_tag_and_hours() -> None:
    rule = CareRule(tag="elderly", not_seen_h=6, severity="critical")
    people = [CareSubject("a", "A", ("elderly",)), CareSubject("b", "B", ("lives_alone",))]
    drafts = care_alarms(rule, people, {"a": hours_ago(7), "b": hours_ago(7)}, START, NOW)
    assert [(d.subject.id, d.severity) for d in drafts] == [("a", "critical")]


def test_repeated_checks_give_one_alarm_until_seen() -> None:
    rule = CareRule(cooldown_s=3600)
    seen = LastSeen({"r1": hours_ago(30)})
    dedup = Deduplicator()
    raised = []
    for minutes in range(0, 180, 10):  # a check every 10 minutes for 3 hours
        now = NOW + dt.timedelta(minutes=minutes)
        raised += dedup.admit(care_alarms(rule, [ALONE], seen.as_dict(), START, now), now)
    assert len(raised) == 1


def test_last_seen_keeps_latest() -> None:
    seen = LastSeen()
    seen.record("r1", hours_ago(1))
    seen.record("r1", hours_ago(5))  # an older, late-arriving sighting
    assert seen.get("r1") == hours_ago(1)
    with pytest.raises(ValueError, match="timezone-aware"):
        seen.record("r1", dt.datetime(2025, 6, 1))


@pytest.mark.parametrize(("fields", "expected_error"), [
    ({}, None),
    ({"not_seen_h": 0}, "not_seen_h"),
    ({"not_seen_h": 24 * 31}, "not_seen_h"),
    ({"tag": ""}, "tag"),
    ({"severity": "urgent"}, "severity"),
    ({"hours": 3}, "Extra inputs"),
])
def test_care_rule_validation(fields: dict[str, Any], expected_error: str | None) -> None:
    if expected_error is None:
        assert CareRule.model_validate(fields).id == "care_not_seen"
        return
    with pytest.raises(ValidationError, match=expected_error):
        CareRule.model_validate(fields)


def test_naive_times_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        care_alarms(CareRule(), [ALONE], {}, START, dt.datetime(2025, 6, 5))
