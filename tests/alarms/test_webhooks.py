"""Standard Webhooks signing and response handling (pure), and delivery to a real receiver."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from alarms.config import WebhookConfig
from alarms.relay import Relay
from alarms.webhooks import (
    WebhookSink,
    body_bytes,
    classify_response,
    decode_secret,
    parse_retry_after,
    sign,
    signature_header,
    verify_signature,
)
from tests.alarms.conftest import SECRET, T0, Receiver, StoreFactory, delivery_config, make_draft

SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()


def test_sign_matches_the_spec_test_vector() -> None:
    assert sign(decode_secret(SECRET), SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


def test_rotation_signs_with_every_secret_and_each_verifies() -> None:
    ts = int(dt.datetime.now(dt.UTC).timestamp())
    body = body_bytes({"type": "alarm.raised", "timestamp": "t", "data": {"label": "张三"}})
    header = signature_header([decode_secret(SECRET), decode_secret(OTHER_SECRET)], "msg_1", ts, body)
    assert len(header.split(" ")) == 2
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(ts), "webhook-signature": header}
    for secret in (SECRET, OTHER_SECRET):
        assert Webhook(secret).verify(body, headers)["data"]["label"] == "张三"


SPEC_HEADERS = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS), "webhook-signature": SPEC_SIG}


@pytest.mark.parametrize(
    ("secret", "headers", "body", "expected"),
    [
        (SECRET, SPEC_HEADERS, SPEC_BODY, True),
        (SECRET, {**SPEC_HEADERS, "webhook-signature": f"v1,b2xk {SPEC_SIG}"}, SPEC_BODY, True),  # rotation
        (OTHER_SECRET, SPEC_HEADERS, SPEC_BODY, False),
        (SECRET, SPEC_HEADERS, SPEC_BODY + b" ", False),
        (SECRET, {**SPEC_HEADERS, "webhook-timestamp": str(SPEC_TS + 1)}, SPEC_BODY, False),
        (SECRET, {**SPEC_HEADERS, "webhook-id": ""}, SPEC_BODY, False),
        (SECRET, {**SPEC_HEADERS, "webhook-timestamp": "soon"}, SPEC_BODY, False),
        (SECRET, {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS)}, SPEC_BODY, False),
    ],
)
def test_verify_signature(secret: str, headers: dict[str, str], body: bytes, expected: bool) -> None:
    assert verify_signature(secret, headers, body) is expected


@pytest.mark.parametrize(
    ("secret", "expected_error"),
    [
        (SECRET, None),
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
        ("whsec_not base64!", "base64"),
        ("whsec_", "empty"),
    ],
)
def test_decode_secret(secret: str, expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            decode_secret(secret)
        return
    assert len(decode_secret(secret)) == 24


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "expected_error"),
    [
        (SPEC_ID, SPEC_TS, None),
        ("", SPEC_TS, "message id"),
        ("a.b", SPEC_TS, "message id"),
        (SPEC_ID, -1, "timestamp"),
    ],
)
def test_sign_rejects_bad_input(msg_id: str, timestamp: int, expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            sign(b"k", msg_id, timestamp, b"")
        return
    assert sign(b"k", msg_id, timestamp, b"").startswith("v1,")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sat, 01 Mar 2025 08:01:30 GMT", 90.0),
        ("Sat, 01 Mar 2025 07:00:00 GMT", 0.0),  # in the past: now
        ("soon", None),
        ("-5", None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, T0) == expected


@pytest.mark.parametrize(
    ("status", "headers", "ok", "gone", "retry_after", "error"),
    [
        (200, {}, True, False, None, None),
        (204, {}, True, False, None, None),
        (299, {}, True, False, None, None),
        (301, {"location": "http://127.0.0.1/x"}, False, False, None, "redirect 301 not followed"),
        (307, {}, False, False, None, "redirect 307 not followed"),
        (400, {}, False, False, None, "HTTP 400"),
        (410, {}, False, True, None, "410 Gone"),
        (429, {"retry-after": "7"}, False, False, 7.0, "HTTP 429"),
        (503, {"retry-after": "Sat, 01 Mar 2025 08:00:10 GMT"}, False, False, 10.0, "HTTP 503"),
        (500, {"retry-after": "7"}, False, False, None, "HTTP 500"),  # only 429/503 honour it
    ],
)
def test_classify_response(
    status: int, headers: dict[str, str], ok: bool, gone: bool, retry_after: float | None, error: str | None
) -> None:
    result = classify_response(status, headers, T0)
    assert (result.ok, result.gone, result.retry_after_s, result.error, result.status_code) == (
        ok,
        gone,
        retry_after,
        error,
        status,
    )


# -- against a real receiver, on both databases ------------------------------------------------
def _setup(make_store: StoreFactory, url: str, **hook: Any) -> tuple[Any, Relay]:
    config = WebhookConfig(id="pms", url=url, secret=hook.pop("secret", SECRET), **hook)
    delivery = delivery_config(config)
    store = make_store(delivery)
    relay = Relay(store.engine, [WebhookSink(config)], delivery.relay)
    return store, relay


def test_delivers_signed_alarm_without_the_crop(
    make_store: StoreFactory, receiver: Callable[..., Receiver], tmp_path: Path
) -> None:
    import numpy as np

    r = receiver()
    store, relay = _setup(make_store, r.url, secret=[SECRET, OTHER_SECRET])
    image = np.full((64, 64, 3), 128, np.uint8)
    alarm = store.raise_alarm(
        make_draft(details={"label": "张三", "embedding": [0.1] * 4}), image, image, now=T0
    )
    assert relay.run_once(T0).delivered == 1
    (request,) = r.requests
    assert request.verified
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    body = request.json()
    assert body["type"] == "alarm.raised" and body["timestamp"] == "2025-03-01T08:00:00.000Z"
    assert body["data"]["id"] == alarm.id
    assert body["data"]["snapshot_url"] == f"http://127.0.0.1:8000/api/v1/alarms/{alarm.id}/snapshot"
    text = request.body.decode()
    assert "crop" not in text and "embedding" not in text
    (attempt,) = store.attempts()
    assert (attempt.status_code, attempt.outcome, attempt.event_id) == (
        204,
        "delivered",
        request.headers["webhook-id"],
    )
    relay.stop()


def test_event_filter_and_transition_events(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    r = receiver()
    store, relay = _setup(make_store, r.url, events=["alarm.resolved", "camera.offline"])
    alarm = store.raise_alarm(make_draft(), now=T0)
    store.acknowledge(alarm.id, "guard-1", now=T0)
    store.resolve(alarm.id, "guard-1", "checked", now=T0)
    store.record_event("camera.offline", {"camera_id": "gate-north"}, now=T0)
    store.record_event("camera.online", {"camera_id": "gate-north"}, now=T0)
    relay.run_once(T0)
    types = sorted(req.json()["type"] for req in r.requests)
    assert types == ["alarm.resolved", "camera.offline"]
    resolved = next(req.json() for req in r.requests if req.json()["type"] == "alarm.resolved")
    assert resolved["data"]["resolved_by"] == "guard-1" and resolved["data"]["resolution_note"] == "checked"
    relay.stop()


def test_receiver_down_then_up_delivers_everything(make_store: StoreFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    receiver = Receiver()
    store, relay = _setup(make_store, f"http://127.0.0.1:{port}/hook")
    alarms = [store.raise_alarm(make_draft(subject_id=f"wl-{i}"), now=T0) for i in range(5)]
    report = relay.run_once(T0)
    assert report.retrying == 5 and report.delivered == 0
    assert all(a.error and "Connect" in a.error for a in store.attempts())
    receiver.start(port)
    try:
        assert relay.run_once(T0).claimed == 0  # not due yet (schedule: 1 s)
        assert relay.run_once(T0 + dt.timedelta(seconds=1)).delivered == 5
    finally:
        receiver.stop()
        relay.stop()
    assert {r.json()["data"]["id"] for r in receiver.requests} == {a.id for a in alarms}
    assert all(r.verified for r in receiver.requests)
    assert {m.status for m in store.messages()} == {"delivered"}


def test_410_disables_the_endpoint_and_reports_it(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    gone = receiver(responder=lambda _r: (410, {}, b""))
    ops = receiver()
    gone_cfg = WebhookConfig(id="gone", url=gone.url, secret=SECRET)
    ops_cfg = WebhookConfig(id="ops", url=ops.url, secret=SECRET, events=["endpoint.disabled"])
    delivery = delivery_config(gone_cfg, ops_cfg)
    store = make_store(delivery)
    relay = Relay(store.engine, [WebhookSink(gone_cfg), WebhookSink(ops_cfg)], delivery.relay)
    store.raise_alarm(make_draft(), now=T0)
    report = relay.run_once(T0)
    assert report.dead == 1 and report.disabled_endpoints == ["gone"]
    store.raise_alarm(make_draft(subject_id="wl-2"), now=T0)  # not queued for a disabled endpoint
    relay.run_once(T0)
    assert len(gone.requests) == 1
    (event,) = [r.json() for r in ops.requests]
    assert event["type"] == "endpoint.disabled" and event["data"]["endpoint_id"] == "gone"
    assert [m.status for m in store.messages(endpoint_id="gone")] == ["dead"]
    relay.stop()


def test_redirect_is_a_failure_and_not_followed(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    target = receiver()
    moved = receiver(responder=lambda _r: (301, {"location": target.url}, b""))
    store, relay = _setup(make_store, moved.url)
    store.raise_alarm(make_draft(), now=T0)
    assert relay.run_once(T0).retrying == 1
    assert target.requests == []
    (message,) = store.messages()
    assert (message.last_status_code, message.last_error) == (301, "redirect 301 not followed")
    relay.stop()


def test_429_retry_after_is_honoured(make_store: StoreFactory, receiver: Callable[..., Receiver]) -> None:
    answers = iter([(429, {"retry-after": "60"}, b""), (200, {}, b"")])
    r = receiver(responder=lambda _r: next(answers))
    store, relay = _setup(make_store, r.url)
    store.raise_alarm(make_draft(), now=T0)
    relay.run_once(T0)
    (message,) = store.messages()
    assert message.next_attempt_at == T0 + dt.timedelta(seconds=60)  # not the schedule's 1 s
    assert relay.run_once(T0 + dt.timedelta(seconds=59)).claimed == 0
    assert relay.run_once(T0 + dt.timedelta(seconds=60)).delivered == 1
    assert r.ids()[0] == r.ids()[1]  # same webhook-id on the retry
    relay.stop()


def test_slow_receiver_times_out_and_is_retried(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    r = receiver(delay_s=1.0)
    store, relay = _setup(make_store, r.url, timeout_s=0.2)
    store.raise_alarm(make_draft(), now=T0)
    assert relay.run_once(T0).retrying == 1
    (attempt,) = store.attempts()
    assert attempt.status_code is None and attempt.error is not None and attempt.error.startswith("timeout")
    relay.stop()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server with a self-signed certificate for 127.0.0.1."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )

    class Ok(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("case", ["self-signed", "plain-http-port", "trusted-ca"])
def test_tls(
    case: str, make_store: StoreFactory, receiver: Callable[..., Receiver], tls_server: int, tmp_path: Path
) -> None:
    if case == "plain-http-port":
        store, relay = _setup(make_store, f"https://127.0.0.1:{receiver().port}/hook")
    elif case == "self-signed":
        store, relay = _setup(make_store, f"https://127.0.0.1:{tls_server}/hook")
    else:
        store, relay = _setup(
            make_store, f"https://127.0.0.1:{tls_server}/hook", ca_file=str(tmp_path / "cert.pem")
        )
    store.raise_alarm(make_draft(), now=T0)
    report = relay.run_once(T0)
    relay.stop()
    if case == "trusted-ca":
        assert report.delivered == 1
        return
    assert report.retrying == 1
    (attempt,) = store.attempts()
    assert (
        attempt.status_code is None and attempt.error and ("SSL" in attempt.error or "TLS" in attempt.error)
    )
