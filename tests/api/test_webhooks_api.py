"""Webhook endpoints over HTTP: the real app and store on SQLite and PostgreSQL, a relay that was
running before the endpoint existed, and a real HTTP receiver."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alarms.config import RelayConfig
from alarms.endpoints import WebhookSinks
from alarms.relay import Relay
from alarms.schema import WEBHOOK_ENDPOINTS
from alarms.store import AlarmStore
from alarms.webhooks import verify_signature
from api.app import create_app
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from registry.service import Registry
from tests.alarms.conftest import Received, Receiver
from tests.api.test_auth import CONFIG, KEY, STATIC, Site, make_site, raise_alarm
from tests.waiting import wait_until

HOOKS = "/api/v1/webhooks"


class UnixClock:
    """The sinks' clock (signature timestamps, the rotation overlap), set by the test."""

    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC)

    def __call__(self) -> float:
        return self.at.timestamp()


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from make_site(db_url, tmp_path)


@pytest.fixture
def hook() -> Iterator[Receiver]:
    """A real receiver that records what it gets (signatures are checked by the tests)."""
    receiver = Receiver(secret=None).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def relay(site: Site) -> Iterator[tuple[Relay, UnixClock]]:
    """The service's kind of relay over the site's store, started before any endpoint exists."""
    clock = UnixClock()
    running = Relay(site.store.engine, [], RelayConfig(retry_schedule_s=[0.0, 1.0, 2.0], workers=2),
                    source=WebhookSinks(site.store.webhooks, clock))
    yield running, clock
    running.stop()


def deliver(relay: Relay, hook: Receiver, seconds_later: float = 0.0) -> Received:
    """Run one relay round (``seconds_later`` from now) and return what the receiver got last."""
    before = len(hook.requests)
    report = relay.run_once(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_later))
    assert report.claimed == len(hook.requests) - before == 1, report
    return hook.requests[-1]


def test_webhook_endpoint_lifecycle(site: Site, hook: Receiver, relay: tuple[Relay, UnixClock],
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    running, clock = relay
    admin = site.user("boss", "admin")
    client = site.client

    created = client.post(HOOKS, headers=admin, json={"url": hook.url, "description": "物业平台"})
    assert created.status_code == 201, created.text
    endpoint = created.json()
    secret, hook_id = endpoint["secret"], endpoint["id"]
    assert secret.startswith("whsec_") and hook_id.startswith("ep_")
    assert (endpoint["event_types"], endpoint["enabled"]) == (["alarm.*"], True)
    assert endpoint["created_by"] == "boss"
    listed, one = client.get(HOOKS, headers=admin), client.get(f"{HOOKS}/{hook_id}", headers=admin)
    assert [e["id"] for e in listed.json()] == [hook_id]
    assert one.json()["secret_fingerprint"] == endpoint["secret_fingerprint"]
    for response in (listed, one):
        assert secret not in response.text and secret[6:16] not in response.text
        assert "secret" not in (response.json()[0] if isinstance(response.json(), list) else response.json())

    # an alarm reaches the relay that was running before the endpoint existed, signed with the secret
    alarm = raise_alarm(site.store, "gate", "京A11111")
    first = deliver(running, hook)
    assert first.json()["data"]["id"] == alarm and verify_signature(secret, first.headers, first.body)

    # rotation: both secrets sign during the overlap, only the new one after it
    rotated = client.post(f"{HOOKS}/{hook_id}/rotate", headers=admin, json={"overlap_s": 600})
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != secret and rotated.json()["previous_secret_expires_at"] is not None
    assert new_secret not in client.get(f"{HOOKS}/{hook_id}", headers=admin).text
    rotated_at = dt.datetime.now(dt.UTC)
    clock.at = rotated_at + dt.timedelta(seconds=300)
    raise_alarm(site.store, "gate", "京A22222")
    during = deliver(running, hook)
    assert verify_signature(secret, during.headers, during.body)
    assert verify_signature(new_secret, during.headers, during.body)
    clock.at = rotated_at + dt.timedelta(seconds=601)
    raise_alarm(site.store, "gate", "京A33333")
    after = deliver(running, hook)
    assert verify_signature(new_secret, after.headers, after.body)
    assert not verify_signature(secret, after.headers, after.body)

    # disabled: nothing is delivered; enabled again: the next alarm is
    disabled = client.post(f"{HOOKS}/{hook_id}/disable", headers=admin, json={"reason": "receiver moves"})
    assert disabled.json()["enabled"] is False and disabled.json()["disabled_by"] == "boss"
    raise_alarm(site.store, "gate", "京A44444")
    assert running.run_once().claimed == 0 and len(hook.requests) == 3
    assert client.post(f"{HOOKS}/{hook_id}/enable", headers=admin).json()["enabled"] is True

    # a 500 shows in the delivery log and the attempts; replay sends the same webhook-id again
    answers = [500]
    hook.responder = lambda _request: (answers.pop(0) if answers else 204, {}, b"")
    raise_alarm(site.store, "gate", "京A55555")
    failed = deliver(running, hook)
    log = client.get(f"{HOOKS}/{hook_id}/messages", headers=admin, params={"limit": 2}).json()
    assert log["total"] == 4 and len(log["items"]) == 2, "nothing was queued while it was disabled"
    newest = log["items"][0]
    assert (newest["webhook_id"], newest["event_type"], newest["status"], newest["attempts"],
            newest["last_status_code"], newest["last_error"]) == (
        failed.headers["webhook-id"], "alarm.raised", "pending", 1, 500, "HTTP 500")
    assert log["items"][1]["status"] == "delivered"
    deliver(running, hook, seconds_later=1.5)
    tries = client.get(f"{HOOKS}/{hook_id}/messages/{newest['id']}/attempts", headers=admin).json()
    assert tries["total"] == 2
    assert [(t["status_code"], t["outcome"], t["error"]) for t in tries["items"]] == [
        (204, "delivered", None), (500, "retry", "HTTP 500")]
    assert all(t["duration_ms"] >= 0 and t["attempted_at"] for t in tries["items"])
    replayed = client.post(f"{HOOKS}/{hook_id}/messages/{newest['id']}/replay", headers=admin)
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    again = deliver(running, hook)
    assert again.headers["webhook-id"] == newest["webhook_id"] == hook.requests[-2].headers["webhook-id"]

    # the audit log has every change, by whom and from where, and no secret
    audit = client.get("/api/v1/audit", headers=admin)
    entries = [e for e in audit.json() if e["entity"] == "webhook"]
    assert [e["action"] for e in reversed(entries)] == ["create", "rotate", "disable", "enable", "replay"]
    assert {(e["actor"], e["source"], e["entity_id"]) for e in entries} == {("boss", "testclient", hook_id)}
    # the secrets: not in the audit, not in the database in clear, not in the logs
    with site.store.engine.connect() as conn:
        row = conn.execute(select(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.id == hook_id)).one()
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    for s in (secret, new_secret):
        assert s[6:] not in audit.text and s[6:].encode() not in stored and s[6:] not in caplog.text


def test_webhook_routes_need_the_webhooks_admin_scope(site: Site, hook: Receiver) -> None:
    admin = site.user("boss", "admin")
    guard = site.user("guard1", "guard")
    reader = site.client.post("/api/v1/keys", headers=admin,
                              json={"name": "pms-read", "scopes": ["alarms:read"]}).json()["key"]
    hooks_key = site.client.post("/api/v1/keys", headers=admin,
                                 json={"name": "pms", "scopes": ["webhooks:admin"]}).json()["key"]
    new = {"url": hook.url}
    for headers in ({"X-API-Key": reader}, guard):
        refused = [site.client.post(HOOKS, headers=headers, json=new),
                   site.client.get(HOOKS, headers=headers)]
        assert [r.status_code for r in refused] == [403, 403]
        assert "webhooks:admin" in refused[0].json()["detail"]
    assert site.client.get(HOOKS).status_code == 401
    assert site.client.post(HOOKS, json=new).status_code == 401
    made = site.client.post(HOOKS, headers={"X-API-Key": hooks_key}, json=new)
    assert made.status_code == 201 and made.json()["created_by"] == "key:pms"
    assert [e["id"] for e in site.client.get(HOOKS, headers=STATIC).json()] == [made.json()["id"]]


def test_patch_changes_the_filter_and_the_state_and_is_audited(site: Site) -> None:
    made = site.client.post(HOOKS, headers=STATIC, json={"url": "https://pms.example/hook"}).json()
    path = f"{HOOKS}/{made['id']}"
    changed = site.client.patch(path, headers=STATIC, json={
        "url": "https://ops:pw@pms.example/v2", "description": "运维", "event_types": ["camera.offline"]})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["url"], body["description"], body["event_types"]) == (
        "https://ops:***@pms.example/v2", "运维", ["camera.offline"])
    raise_alarm(site.store, "gate", "京A11111")
    site.store.record_event("camera.offline", {"camera_id": "gate"})
    assert [m.type for m in site.store.messages(made["id"])] == ["camera.offline"]
    off = site.client.patch(path, headers=STATIC, json={"enabled": False}).json()
    assert (off["enabled"], off["disabled_by"]) == (False, "api-key")
    assert off["disabled_reason"] == "disabled by api-key"
    assert site.client.patch(path, headers=STATIC, json={"enabled": True}).json()["enabled"] is True
    audit = [e for e in site.client.get("/api/v1/audit", headers=STATIC).json() if e["entity"] == "webhook"]
    assert [e["action"] for e in reversed(audit)] == ["create", "update", "update", "update"]
    assert audit[-2]["details"]["url"] == "https://ops:***@pms.example/v2" and "pw@" not in str(audit)


def test_delete_refuses_while_messages_wait_unless_forced_and_is_audited(site: Site) -> None:
    admin = site.user("boss", "admin")
    guard = site.user("guard1", "guard")
    made = site.client.post(HOOKS, headers=admin, json={"url": "https://ops:pw@pms.example/hook"}).json()
    path = f"{HOOKS}/{made['id']}"
    raise_alarm(site.store, "gate", "京A11111")  # one message waits for delivery (no relay runs)
    assert site.client.delete(path, headers=guard).status_code == 403
    assert site.client.delete(path).status_code == 401
    busy = site.client.delete(path, headers=admin)
    assert busy.status_code == 409 and "1 message(s) waiting" in busy.json()["detail"]
    assert site.client.get(path, headers=admin).status_code == 200
    forced = site.client.delete(path, headers=admin, params={"force": "true"})
    assert forced.status_code == 200, forced.text
    assert forced.json() == {"id": made["id"], "dropped": 1, "removed_messages": 1}
    assert site.client.get(path, headers=admin).status_code == 404
    assert site.client.get(f"{path}/messages", headers=admin).status_code == 404
    assert site.client.delete(path, headers=admin).status_code == 404
    raise_alarm(site.store, "gate", "京A22222")
    assert site.store.messages(made["id"]) == []
    audit = [e for e in site.client.get("/api/v1/audit", headers=admin).json() if e["entity"] == "webhook"]
    assert [e["action"] for e in reversed(audit)] == ["create", "delete"]
    assert audit[0]["details"] == {"url": "https://ops:***@pms.example/hook", "force": True, "dropped": 1,
                                   "removed_messages": 1}


@pytest.fixture(scope="module")
def sqlite_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One site for the table of bad requests (each leaves it as it found it)."""
    folder = tmp_path_factory.mktemp("webhooks-bad-input")
    yield from make_site(f"sqlite:///{folder / 'estatewatch.db'}", folder)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "says"),
    [
        ("post", "", {"url": "ftp://pms.example/hook"}, 422, "http:// or https://"),
        ("post", "", {"url": "javascript:alert(1)"}, 422, "http:// or https://"),
        ("post", "", {"url": "https:///hook"}, 422, "no host"),
        ("post", "", {"url": "https://pms.example/h", "event_types": []}, 422, "at least 1"),
        ("post", "", {"url": "https://pms.example/h", "event_types": ["ALARM"]}, 422, "pattern"),
        ("post", "", {"url": "https://pms.example/h", "secret": "whsec_x"}, 422, "Extra inputs"),
        ("get", "/ep_nope", None, 404, "no webhook endpoint 'ep_nope'"),
        ("patch", "/{id}", {}, 422, "at least one of"),
        ("patch", "/{id}", {"url": "mailto:x@y"}, 422, "http:// or https://"),
        ("patch", "/{id}", {"url": None}, 422, "must not be null"),
        ("post", "/{id}/rotate", {"overlap_s": -1}, 422, "greater than or equal"),
        ("post", "/ep_nope/rotate", {}, 404, "no webhook endpoint"),
        ("get", "/ep_nope/messages", None, 404, "no webhook endpoint"),
        ("get", "/{id}/messages/999/attempts", None, 404, "has no message 999"),
        ("post", "/{id}/messages/999/replay", None, 404, "has no message 999"),
        ("get", "/{id}/messages?limit=0", None, 422, "greater than or equal"),
        ("post", "", {"url": "https://pms.example/h", "description": "a\u0000b"}, 422, "pattern"),
        ("post", "", {"url": "https://pms.example/h\u0000"}, 422, "control characters"),
        ("post", "/{id}/disable", {"reason": "x" * 501}, 422, "at most 500"),
        ("get", "/{id}/messages/99999999999999999999/attempts", None, 422, "less than or equal"),
        ("delete", "/ep_nope", None, 404, "no webhook endpoint 'ep_nope'"),
        ("delete", "/{id}?force=maybe", None, 422, "valid boolean"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    sqlite_site: Site, method: str, path: str, body: object, status: int, says: str
) -> None:
    client = sqlite_site.client
    made = client.post(HOOKS, headers=STATIC, json={"url": "https://pms.example/hook"}).json()
    before = client.get(HOOKS, headers=STATIC).json()
    response = client.request(method.upper(), HOOKS + path.format(id=made["id"]), headers=STATIC, json=body)
    assert response.status_code == status, response.text
    assert says in response.text
    assert client.get(HOOKS, headers=STATIC).json() == before, "nothing half-written"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_running_service_delivers_to_endpoints_managed_over_http(
    db_url: str, tmp_path: Path, hook: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's own relay threads, started before the endpoint exists, pick up every change."""
    monkeypatch.setenv("ESTATEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ESTATEWATCH_TEMPLATE_KEY", raising=False)
    monkeypatch.delenv("ESTATEWATCH_TEMPLATE_KEY_FILE", raising=False)
    registry = Registry.open(url=db_url)
    store = AlarmStore.open(db_url, data_dir=tmp_path, cipher=registry.cipher)
    config = {**CONFIG, "alarms": {"retention_days": 3650}}  # the test's alarms happened in May
    service = Service(ServiceConfig.model_validate(config), registry=registry, store=store)
    service._start_alarms()  # the alarm side of start(): store, relay, upkeep (no models, no cameras)
    try:
        with TestClient(create_app(service, frozenset([KEY]))) as client:
            made = client.post(HOOKS, headers=STATIC, json={"url": hook.url}).json()
            raise_alarm(store, "gate", "京A11111")
            wait_until(lambda: len(hook.requests) == 1, timeout=30, what="the first delivery",
                       seen=lambda: len(hook.requests))
            assert verify_signature(made["secret"], hook.requests[0].headers, hook.requests[0].body)
            rotated = client.post(f"{HOOKS}/{made['id']}/rotate", headers=STATIC).json()
            raise_alarm(store, "gate", "京A22222")
            wait_until(lambda: len(hook.requests) == 2, timeout=30, what="the delivery after the rotation",
                       seen=lambda: len(hook.requests))
            for secret in (made["secret"], rotated["secret"]):
                assert verify_signature(secret, hook.requests[1].headers, hook.requests[1].body)
            client.post(f"{HOOKS}/{made['id']}/disable", headers=STATIC)
            raise_alarm(store, "gate", "京A33333")
            assert len(store.messages(made["id"])) == 2, "nothing is queued for a disabled endpoint"
    finally:
        service.stop()
        store.close()
        registry.close()
