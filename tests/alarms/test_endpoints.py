"""Webhook endpoints kept in the database: sealed secrets, a running relay that picks up changes,
rotation overlap, disable, the delivery log and replay (real receiver, SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable

import pytest
from sqlalchemy import select

from alarms import outbox
from alarms.config import RelayConfig, accepts_event
from alarms.endpoints import (
    EndpointBusyError,
    EndpointDisabledError,
    EndpointNotFoundError,
    MessageNotFoundError,
    WebhookSinks,
    check_event_types,
    check_url,
)
from alarms.relay import Relay
from alarms.schema import WEBHOOK_ENDPOINTS
from alarms.store import AlarmStore
from alarms.webhooks import verify_signature
from registry.crypto import TemplateCipher
from tests.alarms.conftest import CROP_KEY, FAST_SCHEDULE, T0, Receiver, StoreFactory, make_draft


class UnixClock:
    """The sinks' clock (signature timestamps, a rotation's overlap), stepped by the test."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


def running_relay(store: AlarmStore, clock: UnixClock) -> Relay:
    """A relay with no config endpoints, made before any API endpoint exists."""
    return Relay(store.engine, [], RelayConfig(retry_schedule_s=FAST_SCHEDULE, workers=2),
                 source=WebhookSinks(store.webhooks, clock))


@pytest.mark.parametrize(
    ("url", "expected_error"),
    [
        ("https://pms.example/hooks/estatewatch", None),
        ("http://10.0.0.5:8080/hook?site=1", None),
        ("ftp://pms.example/hook", "http:// or https://"),
        ("pms.example/hook", "http:// or https://"),
        ("https:///hook", "no host"),
        ("https://pms.example:99999/hook", "port"),
        ("https://pms.example/a b", "whitespace"),
        ("https://pms.example/" + "a" * 2000, "longer than"),
    ],
)
def test_check_url(url: str, expected_error: str | None) -> None:
    if expected_error is None:
        assert check_url(url) == url
    else:
        with pytest.raises(ValueError, match=expected_error):
            check_url(url)


@pytest.mark.parametrize(
    ("filters", "event_type", "accepted"),
    [
        (["alarm.*"], "alarm.raised", True),
        (["alarm.*"], "alarm.resolved", True),
        (["alarm.*"], "camera.offline", False),
        (["*"], "endpoint.disabled", True),
        (["alarm.raised"], "alarm.raised", True),
        (["alarm.raised"], "alarm.acknowledged", False),
    ],
)
def test_event_filters(filters: list[str], event_type: str, accepted: bool) -> None:
    assert accepts_event(filters, event_type) is accepted


@pytest.mark.parametrize(
    ("types", "expected_error"),
    [(["alarm.*", "camera.offline", "alarm.*"], None), ([], "at least one"), (["alarm"], "must look like"),
     (["Alarm.Raised"], "must look like")],
)
def test_check_event_types(types: list[str], expected_error: str | None) -> None:
    if expected_error is None:
        assert check_event_types(types) == ["alarm.*", "camera.offline"]
    else:
        with pytest.raises(ValueError, match=expected_error):
            check_event_types(types)


def test_created_endpoint_gets_alarms_signed_with_its_secret_sealed_at_rest(
    make_store: StoreFactory, receiver: Callable[..., Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store, r = make_store(), receiver(secret=None)
    clock = UnixClock(T0)
    relay = running_relay(store, clock)
    assert relay.run_once(T0).claimed == 0
    endpoint, secret = store.webhooks.create(r.url, "boss", "物业平台", now=T0)
    assert endpoint.id.startswith("ep_") and endpoint.enabled and endpoint.event_types == ["alarm.*"]
    store.record_event("camera.offline", {"camera_id": "gate-north"}, now=T0)  # not in alarm.*
    alarm = store.raise_alarm(make_draft(), now=T0)
    assert relay.run_once(T0).delivered == 1
    (request,) = r.requests
    assert request.json()["data"]["id"] == alarm.id
    assert verify_signature(secret, request.headers, request.body)
    with store.engine.connect() as conn:
        row = conn.execute(select(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.id == endpoint.id)).one()
    raw_key = base64.b64decode(secret.removeprefix("whsec_"))
    stored = b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in row)
    assert secret.encode() not in stored and raw_key not in stored
    assert secret[6:].encode() not in stored
    assert not hasattr(endpoint, "secret") and secret not in repr(store.webhooks.list())
    assert secret not in caplog.text and secret[6:] not in caplog.text
    relay.stop()


def test_rotation_signs_with_both_secrets_during_the_overlap_then_only_the_new(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    store, r = make_store(), receiver(secret=None)
    clock = UnixClock(T0)
    relay = running_relay(store, clock)
    endpoint, old = store.webhooks.create(r.url, "boss", now=T0)
    rotated, new = store.webhooks.rotate(endpoint.id, dt.timedelta(minutes=10), now=T0)
    assert new != old and rotated.secret_fingerprint != endpoint.secret_fingerprint
    assert rotated.previous_secret_expires_at == T0 + dt.timedelta(minutes=10)

    store.raise_alarm(make_draft(), now=T0)
    clock.at = T0 + dt.timedelta(minutes=9)
    relay.run_once(clock.at)
    during = r.requests[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify_signature(old, during.headers, during.body)
    assert verify_signature(new, during.headers, during.body)

    clock.at = T0 + dt.timedelta(minutes=10)
    store.raise_alarm(make_draft(subject_id="wl-2"), now=clock.at)
    relay.run_once(clock.at)
    after = r.requests[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert verify_signature(new, after.headers, after.body)
    assert not verify_signature(old, after.headers, after.body)

    _, newest = store.webhooks.rotate(endpoint.id, dt.timedelta(0), now=clock.at)  # no overlap
    store.raise_alarm(make_draft(subject_id="wl-3"), now=clock.at)
    relay.run_once(clock.at)
    last = r.requests[-1]
    assert verify_signature(newest, last.headers, last.body)
    assert not verify_signature(new, last.headers, last.body)
    relay.stop()


def test_disabled_endpoint_gets_nothing_until_enabled(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    store, r = make_store(), receiver(secret=None)
    relay = running_relay(store, UnixClock(T0))
    endpoint, _ = store.webhooks.create(r.url, "boss", now=T0)
    store.raise_alarm(make_draft(), now=T0)  # queued, then given up by the disable
    disabled = store.webhooks.disable(endpoint.id, "boss", "receiver moves", now=T0)
    assert (disabled.enabled, disabled.disabled_by) == (False, "boss")
    assert disabled.disabled_reason == "receiver moves"
    store.raise_alarm(make_draft(subject_id="wl-2"), now=T0)
    assert relay.run_once(T0).claimed == 0 and r.requests == []
    assert [m.status for m in store.messages(endpoint.id)] == ["dead"]
    with pytest.raises(EndpointDisabledError):
        store.webhooks.replay(endpoint.id, store.messages(endpoint.id)[0].id, now=T0)
    enabled = store.webhooks.enable(endpoint.id, "boss", now=T0)
    assert enabled.enabled and enabled.disabled_by is None
    third = store.raise_alarm(make_draft(subject_id="wl-3"), now=T0)
    assert relay.run_once(T0).delivered == 1
    assert [q.json()["data"]["id"] for q in r.requests] == [third.id]
    relay.stop()


def test_delivery_log_shows_failures_and_replay_resends_the_same_webhook_id(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    answers = [500]
    r = receiver(secret=None, responder=lambda _req: (answers.pop(0) if answers else 204, {}, b""))
    store = make_store()
    relay = running_relay(store, UnixClock(T0))
    endpoint, _ = store.webhooks.create(r.url, "boss", event_types=["alarm.raised"], now=T0)
    store.raise_alarm(make_draft(), now=T0)
    assert relay.run_once(T0).retrying == 1
    page = store.webhooks.messages(endpoint.id)
    (message,) = page.items
    assert page.total == 1
    assert (message.status, message.attempts, message.last_status_code, message.last_error) == (
        "pending", 1, 500, "HTTP 500")
    later = T0 + dt.timedelta(seconds=1)
    assert relay.run_once(later).delivered == 1
    attempts = store.webhooks.attempts(endpoint.id, message.id)
    assert [(a.status_code, a.outcome) for a in attempts.items] == [(204, "delivered"), (500, "retry")]
    assert all(a.duration_ms > 0 for a in attempts.items)

    replayed = store.webhooks.replay(endpoint.id, message.id, now=later)
    assert (replayed.status, replayed.attempts) == ("pending", 0)
    assert relay.run_once(later).delivered == 1
    ids = r.ids()
    assert len(ids) == 3 and len(set(ids)) == 1 and ids[0] == message.event_id

    with pytest.raises(MessageNotFoundError):
        store.webhooks.attempts(endpoint.id, message.id + 1000)
    with pytest.raises(EndpointNotFoundError):
        store.webhooks.messages("ep_nope")
    relay.stop()


def test_key_rotation_reseals_secrets_and_they_still_sign(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    r = receiver(secret=None)
    store = make_store()
    endpoint, secret = store.webhooks.create(r.url, "boss", now=T0)
    store.webhooks.rotate(endpoint.id, dt.timedelta(hours=1), now=T0)
    old_cipher = TemplateCipher(CROP_KEY)
    assert store.key_ids_in_use() == {old_cipher.current_key_id}
    rotated = TemplateCipher(b"n" * 32, retired=[CROP_KEY])
    assert store.reencrypt(rotated) == 1
    assert store.key_ids_in_use() == {rotated.current_key_id}
    store = make_store(cipher=TemplateCipher(b"n" * 32))  # the old key is gone now
    relay = running_relay(store, UnixClock(T0))
    store.raise_alarm(make_draft(), now=T0)
    assert relay.run_once(T0).delivered == 1
    assert verify_signature(secret, r.requests[0].headers, r.requests[0].body)
    relay.stop()


def test_deleting_an_endpoint_refuses_while_messages_wait_unless_forced(make_store: StoreFactory) -> None:
    store = make_store()
    endpoint, _ = store.webhooks.create("https://pms.example/hook", "boss")
    kept, _ = store.webhooks.create("https://ops.example/hook", "boss")
    store.raise_alarm(make_draft(subject_id="wl-1"), now=T0)
    with pytest.raises(EndpointBusyError, match="1 message"):
        store.webhooks.delete(endpoint.id, "boss")
    assert store.webhooks.get(endpoint.id) == endpoint  # refused: nothing changed
    # A relay claims the message and is delivering it while the endpoint is forcibly deleted.
    with store.engine.begin() as conn:
        [claimed] = outbox.claim(conn, [endpoint.id], T0, limit=10, lease_s=30)
    deleted = store.webhooks.delete(endpoint.id, "boss", force=True)
    assert (deleted.endpoint.id, deleted.dropped, deleted.messages) == (endpoint.id, 1, 1)
    with store.engine.begin() as conn:  # the relay finishes: nothing to log, no error
        outcome = outbox.Outcome(claimed, outbox.DeliveryResult(ok=True, status_code=204),
                                 outbox.Decision("delivered", T0), T0)
        assert outbox.finish(conn, [outcome], T0) == []
    with pytest.raises(EndpointNotFoundError):
        store.webhooks.get(endpoint.id)
    with pytest.raises(EndpointNotFoundError):
        store.webhooks.delete(endpoint.id, "boss")
    assert store.messages(endpoint.id) == [] and store.attempts(endpoint_id=endpoint.id) == []
    store.raise_alarm(make_draft(subject_id="wl-2"), now=T0)  # new events go to the others only
    assert store.messages(endpoint.id) == [] and len(store.messages(kept.id)) == 2
    assert [e.id for e in store.webhooks.list()] == [kept.id]
    # Messages given up (failed, dead) never hold a delete back.
    store.webhooks.disable(kept.id, "boss")
    assert store.webhooks.delete(kept.id, "boss").dropped == 0
