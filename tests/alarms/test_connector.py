"""Property-management connectors: body templates, HMAC, OAuth2 client credentials against a real server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from alarms.config import (
    BearerAuth,
    ConnectorConfig,
    DeliveryConfig,
    HmacAuth,
    OAuth2ClientCredentials,
    RelayConfig,
)
from alarms.connector import ConnectorSink, hmac_headers, parse_token_response, token_fresh
from alarms.mapping import TemplateError, check_template, event_context, render
from alarms.relay import Relay
from tests.alarms.conftest import T0, Received, Receiver, StoreFactory, make_draft

PAYLOAD = {
    "type": "alarm.raised",
    "timestamp": "2025-03-01T08:00:00.000Z",
    "data": {
        "id": "a-1",
        "type": "watchlist_person",
        "severity": "critical",
        "similarity": 0.61,
        "camera_id": "gate-north",
        "subject": {"kind": "watchlist", "id": "wl-1"},
        "zone": None,
    },
}
CONTEXT = event_context("msg_1", PAYLOAD)


@pytest.mark.parametrize(
    ("template", "expected", "expected_error"),
    [
        ("{alarm.type}", "watchlist_person", None),
        ("{alarm.similarity}", 0.61, None),  # a whole-leaf placeholder keeps its JSON type
        ("{alarm.subject}", {"kind": "watchlist", "id": "wl-1"}, None),
        ("{alarm.zone}", None, None),
        ("{alarm.missing}", None, None),
        (
            "Alarm {alarm.severity} at {alarm.camera_id} ({alarm.zone})",
            "Alarm critical at gate-north ()",
            None,
        ),
        ("score={alarm.similarity}", "score=0.61", None),
        ("{{literal}} {event.id}", "{literal} msg_1", None),
        (
            {"evt": "{event.type}", "items": ["{alarm.id}", 1, True, None]},
            {"evt": "alarm.raised", "items": ["a-1", 1, True, None]},
            None,
        ),
        ("{data.subject.id}", "wl-1", None),
        ("{os.environ}", None, "must start with"),
        ("{alarm.__class__()}", None, "bad placeholder"),
        ("{alarm.type", None, "unbalanced"),
        ("}", None, "unbalanced"),
        ({"a": 1.5j}, None, "unsupported"),
    ],
)
def test_body_template(template: Any, expected: Any, expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(TemplateError, match=expected_error):
            check_template(template)
        return
    check_template(template)
    assert render(template, CONTEXT) == expected


def test_a_bad_template_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="must start with"):
        ConnectorConfig(url="http://127.0.0.1:1/x", body={"x": "{secret.key}"})


@pytest.mark.parametrize(
    ("auth", "expected", "expected_error"),
    [
        (HmacAuth(secret="k"), {"X-Signature": hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()}, None),
        (
            HmacAuth(
                secret="k", header="X-PMS-Sign", algorithm="sha512", encoding="base64", prefix="sha512="
            ),
            {
                "X-PMS-Sign": "sha512="
                + base64.b64encode(hmac.new(b"k", b"{}", hashlib.sha512).digest()).decode()
            },
            None,
        ),
        (
            HmacAuth(secret="k", signed="timestamp.body"),
            {
                "X-Signature": hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest(),
                "X-Timestamp": "1700000000",
            },
            None,
        ),
        ({"secret": "k", "algorithm": "md5"}, None, "algorithm"),
        ({"secret": "k", "header": "Bad Header"}, None, "header"),
    ],
)
def test_hmac_headers(auth: Any, expected: dict[str, str] | None, expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(ValidationError, match=expected_error):
            HmacAuth(**auth)
        return
    assert hmac_headers(auth, b"{}", 1_700_000_000) == expected


@pytest.mark.parametrize(
    ("status", "body", "expected", "expected_error"),
    [
        (200, b'{"access_token": "t", "expires_in": 60}', ("t", 160.0), None),
        (200, b'{"access_token": "t"}', ("t", 3700.0), None),
        (401, b"{}", None, "answered 401"),
        (200, b"not json", None, "invalid JSON"),
        (200, b'{"token": "t"}', None, "no access_token"),
        (200, b'{"access_token": "t", "expires_in": 0}', None, "expires_in"),
    ],
)
def test_parse_token_response(status: int, body: bytes, expected: Any, expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            parse_token_response(status, body, 100.0)
        return
    assert parse_token_response(status, body, 100.0) == expected


@pytest.mark.parametrize(
    ("expires_at", "now", "margin", "expected"),
    [
        (None, 0.0, 0.0, False),
        (100.0, 50.0, 30.0, True),
        (100.0, 70.0, 30.0, False),
        (100.0, 100.0, 0.0, False),
    ],
)
def test_token_fresh(expires_at: float | None, now: float, margin: float, expected: bool) -> None:
    assert token_fresh(expires_at, now, margin) is expected


class PmsServer:
    """A property-management system: OAuth2 token endpoint + an alarm endpoint that checks tokens.

    ``revoke()`` makes the current tokens invalid on the server (a token that expires mid-run as far as
    the server is concerned, while the client still thinks it is fresh).
    """

    def __init__(self, receiver: Callable[..., Receiver]) -> None:
        self.lock = threading.Lock()
        self.valid: set[str] = set()
        self.issued = 0
        self.alarms: list[dict[str, Any]] = []
        self.server = receiver(secret=None, responder=self.respond)

    def respond(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            if request.path == "/oauth/token":
                expected = "Basic " + base64.b64encode(b"estatewatch:s3cret").decode()
                form = urllib.parse.parse_qs(request.body.decode())
                if request.headers.get("authorization") != expected or form.get("grant_type") != [
                    "client_credentials"
                ]:
                    return 401, {}, b'{"error": "invalid_client"}'
                self.issued += 1
                token = f"tok-{self.issued}"
                self.valid.add(token)
                return (
                    200,
                    {"content-type": "application/json"},
                    json.dumps(
                        {
                            "access_token": token,
                            "token_type": "Bearer",
                            "expires_in": 3600,
                            "scope": form["scope"][0],
                        }
                    ).encode(),
                )
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token not in self.valid:
                return 401, {}, b""
            self.alarms.append(
                {"body": json.loads(request.body), "webhook-id": request.headers["webhook-id"]}
            )
            return 201, {}, b""

    def revoke(self) -> None:
        with self.lock:
            self.valid.clear()


def test_oauth2_connector_with_own_shape_and_token_expiring_mid_run(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    pms = PmsServer(receiver)
    base = f"http://127.0.0.1:{pms.server.port}"
    clock = [0.0]
    config = ConnectorConfig(
        id="pms",
        url=f"{base}/api/alarms",
        events=["alarm.raised"],
        auth=OAuth2ClientCredentials(
            token_url=f"{base}/oauth/token",
            client_id="estatewatch",
            client_secret="s3cret",
            scope="alarms:write",
            refresh_margin_s=60,
        ),
        body={
            "eventId": "{event.id}",
            "category": "{alarm.type}",
            "level": "{alarm.severity}",
            "device": {"code": "{alarm.camera_id}"},
            "score": "{alarm.similarity}",
            "title": "{alarm.type} @ {alarm.camera_id}",
        },
    )
    delivery = DeliveryConfig(connectors=[config], relay=RelayConfig(retry_schedule_s=[0, 1, 1], workers=2))
    store = make_store(delivery)
    sink = ConnectorSink(config, token_clock=lambda: clock[0])
    relay = Relay(store.engine, [sink], delivery.relay)
    try:
        first = store.raise_alarm(make_draft(), now=T0)
        assert relay.run_once(T0).delivered == 1
        pms.revoke()  # the server expired it early: 401, one refresh, resent
        store.raise_alarm(make_draft(subject_id="wl-2"), now=T0)
        assert relay.run_once(T0).delivered == 1
        clock[0] = 3600.0 - 59  # inside the refresh margin: a new token before sending
        store.raise_alarm(make_draft(subject_id="wl-3"), now=T0)
        assert relay.run_once(T0).delivered == 1
    finally:
        relay.stop()
    assert pms.issued == 3 and sink.tokens is not None and sink.tokens.fetches == 3
    assert len(pms.alarms) == 3
    body = pms.alarms[0]["body"]
    assert body == {
        "eventId": pms.alarms[0]["webhook-id"],
        "category": "watchlist_person",
        "level": "critical",
        "device": {"code": "gate-north"},
        "score": 0.61,
        "title": "watchlist_person @ gate-north",
    }
    assert store.get(first.id).id == first.id
    assert all(a.status_code == 201 for a in store.attempts())


def test_wrong_client_secret_is_retried_not_lost(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    pms = PmsServer(receiver)
    base = f"http://127.0.0.1:{pms.server.port}"
    config = ConnectorConfig(
        id="pms",
        url=f"{base}/api/alarms",
        auth=OAuth2ClientCredentials(
            token_url=f"{base}/oauth/token",
            client_id="estatewatch",
            client_secret="wrong",
            scope="alarms:write",
        ),
    )
    delivery = DeliveryConfig(connectors=[config], relay=RelayConfig(retry_schedule_s=[0, 1], workers=2))
    store = make_store(delivery)
    relay = Relay(store.engine, [ConnectorSink(config)], delivery.relay)
    store.raise_alarm(make_draft(), now=T0)
    assert relay.run_once(T0).retrying == 1
    relay.stop()
    (attempt,) = store.attempts()
    assert attempt.error == "token endpoint answered 401"
    assert "wrong" not in (attempt.error or "")


def test_bearer_and_hmac_connectors(make_store: StoreFactory, receiver: Callable[..., Receiver]) -> None:
    r = receiver(secret=None)
    bearer = ConnectorConfig(
        id="bearer",
        url=r.url,
        auth=BearerAuth(token="static-token"),
        method="PUT",
        headers={"X-Site": "garden-court"},
    )
    signed = ConnectorConfig(id="signed", url=r.url, auth=HmacAuth(secret="shared", header="X-Pms-Signature"))
    delivery = DeliveryConfig(connectors=[bearer, signed], relay=RelayConfig(workers=2))
    store = make_store(delivery)
    relay = Relay(store.engine, [ConnectorSink(bearer), ConnectorSink(signed)], delivery.relay)
    store.raise_alarm(make_draft(), now=T0)
    assert relay.run_once(T0).delivered == 2
    relay.stop()
    by_auth = {("bearer" if "authorization" in q.headers else "signed"): q for q in r.requests}
    assert by_auth["bearer"].headers["authorization"] == "Bearer static-token"
    assert by_auth["bearer"].headers["x-site"] == "garden-court"
    assert by_auth["bearer"].json()["type"] == "alarm.raised"  # no template: the Standard Webhooks body
    expected = hmac.new(b"shared", by_auth["signed"].body, hashlib.sha256).hexdigest()
    assert by_auth["signed"].headers["x-pms-signature"] == expected
    assert by_auth["signed"].headers["webhook-id"] == by_auth["bearer"].headers["webhook-id"]
