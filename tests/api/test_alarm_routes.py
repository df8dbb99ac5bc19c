"""Alarm list filters (type, severity, zone, time) and bulk acknowledge, camera scope included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from alarms.store import AlarmStore
from alarms.types import AlarmDraft, AlarmType, Severity, Subject
from tests.api.test_auth import STATIC, Site, make_site

T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from make_site(db_url, tmp_path)


def raise_alarm(store: AlarmStore, camera: str, kind: AlarmType, severity: Severity, minute: int,
                zone: str | None = None) -> str:
    draft = AlarmDraft(type=kind, severity=severity, rule_id=f"r-{kind}", camera_id=camera, zone=zone,
                       occurred_at=T0 + dt.timedelta(minutes=minute),
                       subject=Subject(kind="plate", id=f"p{minute}"),
                       dedup_key=f"{kind}|{camera}|{minute}", similarity=None, plate_text=None, details={})
    return store.raise_alarm(draft, snapshot=np.full((8, 8, 3), 80, np.uint8)).id


def ids(site: Site, query: str, headers: dict[str, str] = STATIC) -> list[str]:
    response = site.client.get(f"/api/v1/alarms?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return sorted(a["id"] for a in response.json()["items"])


def test_filters_by_type_severity_zone_and_time(site: Site) -> None:
    plate = raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 0)
    car = raise_alarm(site.store, "gate", "unregistered_vehicle", "medium", 10)
    pool = raise_alarm(site.store, "lobby", "unknown_person", "high", 20, zone="pool")
    assert ids(site, "type=watchlist_vehicle") == [plate]
    assert ids(site, "type=watchlist_vehicle&type=unregistered_vehicle") == sorted([plate, car])
    assert ids(site, "severity=critical&severity=high") == sorted([plate, pool])
    assert ids(site, "zone=pool") == [pool]
    assert ids(site, f"since={(T0 + dt.timedelta(minutes=5)).isoformat()}"
                     f"&until={(T0 + dt.timedelta(minutes=15)).isoformat()}".replace("+", "%2B")) == [car]
    bad = site.client.get("/api/v1/alarms?severity=urgent", headers=STATIC)
    assert bad.status_code == 422 and "critical" in bad.text  # says what is allowed


def test_bulk_acknowledge_reports_each_id(site: Site) -> None:
    first = raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 0)
    second = raise_alarm(site.store, "gate", "unregistered_vehicle", "medium", 1)
    lobby = raise_alarm(site.store, "lobby", "unknown_person", "high", 2)
    site.client.post(f"/api/v1/alarms/{second}/resolve", headers=STATIC, json={"by": "g", "note": "gone"})
    guard = site.user("gate-guard", "guard", cameras=["gate"])
    body = {"ids": [first, second, lobby, "missing", first], "note": "burst"}
    result = site.client.post("/api/v1/alarms/acknowledge", headers=guard, json=body)
    assert result.status_code == 200, result.text
    data = result.json()
    assert [a["id"] for a in data["acknowledged"]] == [first]
    assert data["acknowledged"][0]["acknowledged_by"] == "gate-guard"
    assert set(data["conflicts"]) == {second}
    assert data["not_found"] == [lobby, "missing"]  # another camera's alarm is as good as missing
    assert site.client.get(f"/api/v1/alarms/{lobby}", headers=STATIC).json()["state"] == "open"
    viewer = site.user("viewer", "viewer")
    assert site.client.post("/api/v1/alarms/acknowledge", headers=viewer, json=body).status_code == 403
    assert site.client.post("/api/v1/alarms/acknowledge", headers=STATIC, json={"ids": []}).status_code == 422
