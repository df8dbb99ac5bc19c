"""Alarm list filters (type, severity, zone, time) and bulk acknowledge, camera scope included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import HTTPException

from alarms.records import Paging
from alarms.store import AlarmStore
from alarms.types import AlarmDraft, AlarmType, Severity, Subject
from api.list_answers import CheckedQueries
from api.routes.alarms import ListQuery
from api.schemas import AlarmList, PublicAlarm
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


def test_the_list_is_the_json_of_its_models(site: Site) -> None:
    """The list writes its JSON without models (speed): it must be what AlarmList would give."""
    alarm_id = raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 0, zone="北门")
    clip = site.store.clip_target(alarm_id, T0)
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(b"mp4")
    site.store.clip_ready(alarm_id)
    raise_alarm(site.store, "lobby", "unknown_person", "high", 1)
    response = site.client.get("/api/v1/alarms", headers=STATIC)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    page = site.store.list()
    expected = AlarmList(total=page.total, items=[PublicAlarm.of(a, site.service.public_base_url)
                                                  for a in page.items])
    assert response.json() == expected.model_dump(mode="json")
    assert AlarmList.model_validate_json(response.content) == expected
    assert response.json()["items"][1]["clip_url"].endswith(f"/api/v1/alarms/{alarm_id}/clip")


def test_a_listed_page_is_revalidated_by_its_etag_and_never_stale(site: Site, db_url: str) -> None:
    raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 0)
    first = site.client.get("/api/v1/alarms?limit=10", headers=STATIC)
    tag = first.headers["etag"]
    assert tag.startswith('W/"') and first.headers["cache-control"] == "private, no-cache"
    again = site.client.get("/api/v1/alarms?limit=10", headers={**STATIC, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert site.client.get("/api/v1/alarms?limit=10", headers={**STATIC, "If-None-Match": f'"x", {tag}'}
                           ).status_code == 304  # one of several tags
    assert site.client.get("/api/v1/alarms?limit=11", headers={**STATIC, "If-None-Match": tag}
                           ).status_code == 200  # another query
    # Any change of an alarm, by this process or any other writer, and the tag is stale.
    changes = [
        lambda: raise_alarm(site.store, "lobby", "unknown_person", "high", 5),
        lambda: site.client.post(f"/api/v1/alarms/{site.store.list().items[0].id}/acknowledge",
                                 headers=STATIC, json={"by": "g"}),
        lambda: _update_elsewhere(db_url, zone="pool"),
        lambda: site.store.purge(dt.timedelta(days=1), now=T0 + dt.timedelta(days=3)),
    ]
    for change in changes:
        change()
        response = site.client.get("/api/v1/alarms?limit=10", headers={**STATIC, "If-None-Match": tag})
        assert response.status_code == 200 and response.headers["etag"] != tag
        page = site.store.list(paging=Paging(limit=10))  # what the store holds now
        assert response.json() == AlarmList(total=page.total, items=[
            PublicAlarm.of(a, site.service.public_base_url) for a in page.items]).model_dump(mode="json")
        assert site.client.get("/api/v1/alarms?limit=10", headers=STATIC).content == response.content
        tag = response.headers["etag"]


def _update_elsewhere(db_url: str, **values: object) -> None:
    """A write through another engine: what another process (the pipeline's) does."""
    from sqlalchemy import update

    from alarms import db
    from alarms.schema import ALARMS

    engine = db.make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(ALARMS).values(**values))
    engine.dispose()


def test_a_page_is_never_revalidated_for_a_caller_of_other_cameras(site: Site) -> None:
    gate = raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 0)
    raise_alarm(site.store, "lobby", "unknown_person", "high", 1)
    gate_guard = site.user("gate-guard", "guard", cameras=["gate"])
    lobby_guard = site.user("lobby-guard", "guard", cameras=["lobby"])
    other_gate_guard = site.user("gate-guard-2", "guard", cameras=["gate"])
    everything = site.client.get("/api/v1/alarms", headers=STATIC)
    mine = site.client.get("/api/v1/alarms", headers=gate_guard)
    assert [a["id"] for a in mine.json()["items"]] == [gate]
    for tag in (everything.headers["etag"], mine.headers["etag"]):
        response = site.client.get("/api/v1/alarms", headers={**lobby_guard, "If-None-Match": tag})
        assert response.status_code == 200 and gate not in response.text
    full = site.client.get("/api/v1/alarms", headers={**STATIC, "If-None-Match": mine.headers["etag"]})
    assert full.status_code == 200 and full.json()["total"] == 2
    # The same cameras make the same answer: the tag may be shared.
    shared = {**other_gate_guard, "If-None-Match": mine.headers["etag"]}
    same = site.client.get("/api/v1/alarms", headers=shared)
    assert same.status_code == 304
    no_credentials = site.client.get("/api/v1/alarms", headers={"If-None-Match": mine.headers["etag"]})
    assert no_credentials.status_code == 401


# -- the checked way (api.routes.alarms.ListRoute) ------------------------------------------------
def _served(site: Site) -> int:
    queries: CheckedQueries[ListQuery] = site.client.app.state.list_queries  # type: ignore[attr-defined]
    return queries.served


def test_a_query_string_seen_before_answers_as_the_full_route_does(site: Site) -> None:
    """The same status, body and headers; and never a page older than the request."""
    raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 0)
    raise_alarm(site.store, "lobby", "unknown_person", "high", 1)
    query = "/api/v1/alarms?limit=10&severity=critical&severity=high"
    full = site.client.get(query, headers=STATIC)
    served = _served(site)
    checked = site.client.get(query, headers=STATIC)
    assert _served(site) == served + 1, "the second request took the checked way"
    assert (checked.status_code, checked.content, checked.headers) == (full.status_code, full.content,
                                                                       full.headers)
    unchanged = site.client.get(query, headers={**STATIC, "If-None-Match": full.headers["etag"]})
    assert unchanged.status_code == 304
    assert _served(site) == served + 2
    newer = raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 2)
    fresh = site.client.get(query, headers=STATIC)
    assert _served(site) == served + 3
    assert fresh.json()["items"][0]["id"] == newer and fresh.json()["total"] == 3
    assert fresh.headers["etag"] != full.headers["etag"]
    page = site.store.list(paging=Paging(limit=10))
    assert fresh.json() == AlarmList(total=page.total, items=[
        PublicAlarm.of(a, site.service.public_base_url) for a in page.items]).model_dump(mode="json")


def test_the_checked_way_keeps_each_caller_to_their_cameras_and_scopes(site: Site) -> None:
    gate = raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 0)
    lobby = raise_alarm(site.store, "lobby", "unknown_person", "high", 1)
    gate_guard = site.user("gate-guard", "guard", cameras=["gate"])
    lobby_guard = site.user("lobby-guard", "guard", cameras=["lobby"])
    query = "/api/v1/alarms?limit=5"
    for _ in range(2):  # the second time, everyone's query string was checked before
        assert ids(site, "limit=5") == sorted([gate, lobby])
        assert ids(site, "limit=5", gate_guard) == [gate]
        assert ids(site, "limit=5", lobby_guard) == [lobby]
        assert ids(site, "limit=5&camera_id=gate", lobby_guard) == []
    served = _served(site)
    assert ids(site, "limit=5&camera_id=gate", lobby_guard) == [] and _served(site) == served + 1
    pms = site.client.post("/api/v1/keys", headers=STATIC, json={"name": "pms", "scopes": ["registry:read"]})
    no_scope = {"X-API-Key": pms.json()["key"]}
    for _ in range(2):
        assert site.client.get(query, headers=no_scope).status_code == 403
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Basic x"}):
        assert site.client.get(query, headers=headers).status_code == 401
    assert site.client.post("/api/v1/auth/logout", headers=gate_guard).status_code == 204
    revoked = site.client.get(query, headers=gate_guard)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    site.clock.advance(hours=13)
    assert site.client.get(query, headers=lobby_guard).status_code == 401, "expired"
    assert _served(site) == served + 1, "none of these was answered the checked way"


def test_the_checked_way_yields_to_dependency_overrides(site: Site) -> None:
    from api.deps import get_alarm_reader

    raise_alarm(site.store, "gate", "watchlist_vehicle", "critical", 0)
    assert ids(site, "limit=3") == ids(site, "limit=3")
    served = _served(site)

    async def not_open() -> AlarmStore:
        raise HTTPException(503, "overridden")

    site.client.app.dependency_overrides[get_alarm_reader] = not_open  # type: ignore[attr-defined]
    try:
        response = site.client.get("/api/v1/alarms?limit=3", headers=STATIC)
        assert response.status_code == 503 and response.json()["detail"] == "overridden"
    finally:
        site.client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert _served(site) == served
