"""Comments and each alarm's history over HTTP: who acted, camera scope, scopes (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_auth import STATIC, Site, make_site, raise_alarm


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from make_site(db_url, tmp_path)


def test_comments_and_the_history_say_who_did_what(site: Site) -> None:
    alarm = raise_alarm(site.store, "gate", "京A11111")
    guard = site.user("guard1", "guard", ["gate"])
    client = site.client
    acked = client.post(f"/api/v1/alarms/{alarm}/acknowledge", headers=guard, json={"note": "on my way"})
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "guard1"
    posted = client.post(f"/api/v1/alarms/{alarm}/comments", headers=guard, json={"text": "  van left  "})
    assert posted.status_code == 201, posted.text
    comment = posted.json()
    assert (comment["alarm_id"], comment["text"], comment["author"]) == (
        alarm, "van left", {"name": "guard1", "kind": "user"})
    key = client.post("/api/v1/keys", headers=STATIC, json={"name": "pms", "scopes": ["alarms:write"]})
    resolved = client.post(f"/api/v1/alarms/{alarm}/resolve", headers={"X-API-Key": key.json()["key"]},
                           json={"by": "pms guard 7", "note": "towed"})
    assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "pms guard 7"

    assert client.get(f"/api/v1/alarms/{alarm}/comments", headers=guard).json() == [comment]
    history = client.get(f"/api/v1/alarms/{alarm}/events", headers=guard).json()
    assert [(e["type"], e["state"], e["actor"], e["note"]) for e in history] == [
        ("alarm.raised", "open", None, None),
        ("alarm.acknowledged", "acknowledged", {"name": "guard1", "kind": "user"}, "on my way"),
        ("alarm.commented", "acknowledged", {"name": "guard1", "kind": "user"}, None),
        ("alarm.resolved", "resolved", {"name": "key:pms", "kind": "key"}, "towed"),
    ]
    assert history[2]["comment"] == comment and [e["comment"] for e in history].count(None) == 3
    assert [e["id"] for e in history] == [str(e.seq) for e in site.store.alarm_events(alarm)]
    assert all(e["event_id"].startswith("msg_") for e in history)
    audit = client.get("/api/v1/audit", headers=STATIC).json()
    assert ("guard1", "comment", alarm) in {(e["actor"], e["action"], e["entity_id"]) for e in audit}


def test_another_cameras_alarm_is_404_and_a_viewer_cannot_comment(site: Site) -> None:
    other = raise_alarm(site.store, "lobby", "京B22222")
    mine = raise_alarm(site.store, "gate", "京A11111")
    guard = site.user("guard1", "guard", ["gate"])
    viewer = site.user("viewer1", "viewer")
    client = site.client
    for method, path in (("GET", "comments"), ("POST", "comments"), ("GET", "events")):
        for alarm_id in (other, "no-such-alarm"):
            hidden = client.request(method, f"/api/v1/alarms/{alarm_id}/{path}", headers=guard,
                                    json={"text": "hello"} if method == "POST" else None)
            assert hidden.status_code == 404 and hidden.json() == {"detail": f"no alarm {alarm_id!r}"}
    refused = client.post(f"/api/v1/alarms/{mine}/comments", headers=viewer, json={"text": "hello"})
    assert refused.status_code == 403 and "alarms:write" in refused.json()["detail"]
    assert client.get(f"/api/v1/alarms/{mine}/comments", headers=viewer).json() == []
    for body in ({"text": "   "}, {"text": ""}, {"text": "x" * 2001}, {}, {"text": "a", "extra": 1}):
        bad = client.post(f"/api/v1/alarms/{mine}/comments", headers=guard, json=body)
        assert bad.status_code == 422, body
    assert site.store.comments(mine) == [] and site.store.comments(other) == []
    assert [e.type for e in site.store.alarm_events(mine)] == ["alarm.raised"]
