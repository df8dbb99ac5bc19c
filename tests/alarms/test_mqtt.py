"""MQTT delivery to a real Mosquitto broker: topics, QoS 1 PUBACK, broker down then up."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alarms.config import DeliveryConfig, MqttConfig, RelayConfig
from alarms.mqtt import MqttSink, topic_for
from alarms.relay import Relay
from tests.alarms.conftest import T0, StoreFactory, make_draft

BROKER_PORT = 1883


@pytest.mark.parametrize(
    ("prefix", "camera", "event", "expected", "expected_error"),
    [
        ("estatewatch", "gate-north", "alarm.raised", "estatewatch/gate-north/alarm.raised", None),
        ("site/a/", "gate", "camera.offline", "site/a/gate/camera.offline", None),
        ("estatewatch", None, "endpoint.disabled", "estatewatch/site/endpoint.disabled", None),
        ("estatewatch", "a/b#+", "alarm.raised", "estatewatch/a_b__/alarm.raised", None),
        ("bad/#", "gate", "alarm.raised", None, "prefix"),
        ("estatewatch", "gate", "", None, "event type"),
    ],
)
def test_topic_for(
    prefix: str, camera: str | None, event: str, expected: str | None, expected_error: str | None
) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            topic_for(prefix, camera, event)
        return
    assert topic_for(prefix, camera, event) == expected


class Subscriber:
    """A paho subscriber collecting ``(topic, payload)`` pairs."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict[str, object]]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10), "subscription not acknowledged"

    def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _broker_up(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _relay(make_store: StoreFactory, config: MqttConfig) -> tuple[object, Relay]:
    delivery = DeliveryConfig(mqtt=[config], relay=RelayConfig(retry_schedule_s=[0] + [1] * 49, workers=4))
    store = make_store(delivery)
    return store, Relay(store.engine, [MqttSink(config)], delivery.relay)


def test_publishes_to_the_real_broker(make_store: StoreFactory) -> None:
    if not _broker_up(BROKER_PORT):
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883")
    prefix = f"ew-test-{uuid.uuid4().hex[:8]}"
    sub = Subscriber(BROKER_PORT, f"{prefix}/#")
    config = MqttConfig(id="broker", host="127.0.0.1", port=BROKER_PORT, topic_prefix=prefix)
    store, relay = _relay(make_store, config)
    try:
        alarm = store.raise_alarm(make_draft(camera_id="gate-north"), now=T0)  # type: ignore[attr-defined]
        store.record_event("camera.offline", {"camera_id": "car-park"}, now=T0)  # type: ignore[attr-defined]
        assert relay.run_once(T0).delivered == 2
        sub.wait_for(2)
    finally:
        relay.stop()
        sub.close()
    topics = dict(sub.messages)
    assert topics[f"{prefix}/gate-north/alarm.raised"]["data"]["id"] == alarm.id  # type: ignore[index]
    assert topics[f"{prefix}/car-park/camera.offline"]["type"] == "camera.offline"


@pytest.fixture
def own_broker(tmp_path: object) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A port for a Mosquitto this test starts and stops itself."""
    if shutil.which("mosquitto") is None and not shutil.which("/usr/sbin/mosquitto"):
        pytest.fail("mosquitto binary not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs: list[subprocess.Popen[bytes]] = []
    yield port, procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_broker_down_then_up_retries_through_the_outbox(
    make_store: StoreFactory, own_broker: tuple[int, list[subprocess.Popen[bytes]]]
) -> None:
    port, procs = own_broker
    config = MqttConfig(id="broker", host="127.0.0.1", port=port, timeout_s=1.0)
    store, relay = _relay(make_store, config)
    try:
        store.raise_alarm(make_draft(), now=T0)  # type: ignore[attr-defined]
        report = relay.run_once(T0)
        assert report.retrying == 1
        procs.append(
            subprocess.Popen(
                [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 10
        while not _broker_up(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        sub = Subscriber(port, "estatewatch/#")
        try:
            for i in range(1, 100):  # paho reconnects in the background (1 s back-off)
                if relay.run_once(T0 + dt.timedelta(seconds=i)).delivered:
                    break
                time.sleep(0.1)
            sub.wait_for(1)
        finally:
            sub.close()
    finally:
        relay.stop()
    assert [t for t, _ in sub.messages] == ["estatewatch/gate-north/alarm.raised"]
    assert {m.status for m in store.messages()} == {"delivered"}  # type: ignore[attr-defined]
