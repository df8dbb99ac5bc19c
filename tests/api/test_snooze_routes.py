"""Snoozing a camera over the API (issue 13): bounds, the camera list, ending it, scope, audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from alarms.types import AlarmDraft, Subject
from tests.api.test_auth import STATIC, Site, make_site


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from make_site(db_url, tmp_path)


def cameras(site: Site, headers: dict[str, str] = STATIC) -> dict[str, dict[str, object]]:
    response = site.client.get("/api/v1/cameras", headers=headers)
    assert response.status_code == 200, response.text
    return {c["id"]: c for c in response.json()}


def test_snooze_shows_in_the_camera_list_and_ends(site: Site) -> None:
    guard = site.user("guard1", "guard", ["gate"])
    before = dt.datetime.now(dt.UTC)
    made = site.client.post("/api/v1/cameras/gate/snooze", headers=guard,
                            json={"minutes": 15, "reason": "  window cleaners "})
    assert made.status_code == 201, made.text
    body = made.json()
    until = dt.datetime.fromisoformat(body["until"])
    assert before + dt.timedelta(minutes=15) <= until <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)
    assert (body["camera_id"], body["by"], body["reason"], body["suppressed"]) == \
        ("gate", "guard1", "window cleaners", 0)
    draft = AlarmDraft(type="unknown_person", severity="high", rule_id="r", camera_id="gate", zone=None,
                       occurred_at=before, subject=Subject(kind="unknown_track", id="t1"), dedup_key="k",
                       similarity=None, plate_text=None, details={})
    assert site.store.snoozes.held(draft, dt.datetime.now(dt.UTC))  # as the intake asks it
    metrics = site.client.get("/metrics").text
    assert 'estatewatch_alarms_snoozed_total{camera="gate"} 1.0' in metrics
    listed = cameras(site)
    assert dt.datetime.fromisoformat(str(listed["gate"]["snoozed_until"])) == until
    assert listed["gate"]["snoozed_by"] == "guard1"
    assert (listed["lobby"]["snoozed_until"], listed["lobby"]["snoozed_by"]) == (None, None)
    ended = site.client.delete("/api/v1/cameras/gate/snooze", headers=guard)
    assert ended.status_code == 200, ended.text
    assert ended.json()["suppressed"] == 1
    assert cameras(site)["gate"]["snoozed_until"] is None
    again = site.client.delete("/api/v1/cameras/gate/snooze", headers=guard)
    assert again.status_code == 404 and "not snoozed" in again.text
    audit = site.client.get("/api/v1/audit", headers=STATIC).json()
    done = [(e["actor"], e["action"], e["entity"], e["entity_id"]) for e in reversed(audit)
            if e["entity"] == "camera"]
    assert done == [("guard1", "snooze", "camera", "gate"), ("guard1", "unsnooze", "camera", "gate")]
    assert next(e for e in audit if e["action"] == "snooze")["details"]["minutes"] == 15
    kinds = [e.type for e in site.store.events_after(0)]
    assert kinds == ["camera.snoozed", "camera.unsnoozed"]


@pytest.mark.parametrize("minutes", [4, 61, 0, -5])
def test_minutes_outside_5_to_60_are_refused(site: Site, minutes: int) -> None:
    response = site.client.post("/api/v1/cameras/gate/snooze", headers=STATIC, json={"minutes": minutes})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "minutes"]
    assert cameras(site)["gate"]["snoozed_until"] is None  # nothing half-written
    assert site.store.events_after(0) == []


def test_scope_and_camera_limits(site: Site) -> None:
    guard = site.user("gate-guard", "guard", ["gate"])
    viewer = site.user("viewer", "viewer")
    for path in ("/api/v1/cameras/lobby/snooze", "/api/v1/cameras/nowhere/snooze"):
        assert site.client.post(path, headers=guard, json={"minutes": 5}).status_code == 404
        assert site.client.delete(path, headers=guard).status_code == 404
    refused = site.client.post("/api/v1/cameras/gate/snooze", headers=viewer, json={"minutes": 5})
    assert refused.status_code == 403 and "alarms:write" in refused.text
    assert site.client.delete("/api/v1/cameras/gate/snooze", headers=viewer).status_code == 403
    assert site.store.snoozes.active() == {}
