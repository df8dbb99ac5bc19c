"""MQTT delivery to a real Mosquitto broker: topics, QoS 1 PUBACK, broker down then up."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alarms.config import DeliveryConfig, MqttConfig, RelayConfig
from alarms.mqtt import MqttSink, topic_for
from alarms.relay import Relay
from tests.alarms.conftest import T0, StoreFactory, make_draft
from tests.waiting import wait_until

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


@dataclass(frozen=True)
class Received:
    """One message as the subscriber got it: the delivered QoS is the publisher's (subscribed at 1)."""

    topic: str
    payload: dict[str, Any]
    qos: int


class Subscriber:
    """A paho subscriber at QoS 1 collecting what it receives."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[Received] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}"
        )
        # Delivered QoS = min(published, subscribed): subscribing at 1 lets a QoS 0 publish show.
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append(
            Received(m.topic, json.loads(m.payload), m.qos))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10), "subscription not acknowledged"

    def wait_for(self, count: int, timeout_s: float = 30.0) -> None:
        wait_until(lambda: len(self.messages) >= count, timeout=timeout_s, interval=0.02,
                   what=f"{count} message(s) at the subscriber", seen=lambda: self.messages)

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


def run_until_delivered(relay: Relay, store: Any) -> None:
    """Run relay rounds, a second apart on the relay's clock, until one delivers (fails after 90 s)."""
    rounds = itertools.count(1)
    wait_until(lambda: relay.run_once(T0 + dt.timedelta(seconds=next(rounds))).delivered, timeout=90,
               what="a relay round that delivers", seen=store.messages)


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
    topics = {m.topic: m.payload for m in sub.messages}
    assert topics[f"{prefix}/gate-north/alarm.raised"]["data"]["id"] == alarm.id
    assert topics[f"{prefix}/car-park/camera.offline"]["type"] == "camera.offline"
    assert [m.qos for m in sub.messages] == [1, 1], "published below QoS 1"


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


def start_mosquitto(port: int, procs: list[subprocess.Popen[bytes]]) -> None:
    """Start a Mosquitto on ``port`` (stopped by ``own_broker``) and wait until it listens."""
    procs.append(
        subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    wait_until(lambda: _broker_up(port), timeout=30, interval=0.05, what=f"Mosquitto listening on {port}")


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
        start_mosquitto(port, procs)
        sub = Subscriber(port, "estatewatch/#")
        try:
            run_until_delivered(relay, store)  # paho reconnects in the background (1 s back-off)
            sub.wait_for(1)
        finally:
            sub.close()
    finally:
        relay.stop()
    assert [(m.topic, m.qos) for m in sub.messages] == [("estatewatch/gate-north/alarm.raised", 1)]
    assert {m.status for m in store.messages()} == {"delivered"}  # type: ignore[attr-defined]


PUBLISH, PUBACK = 3, 4  # MQTT control packet types (the high nibble of the first byte)


def _take_packet(buffer: bytearray) -> bytes | None:
    """Remove and return the first whole MQTT packet in ``buffer`` (None until one is complete)."""
    length, shift = 0, 0
    for i in range(1, min(len(buffer), 5)):
        length |= (buffer[i] & 0x7F) << shift
        shift += 7
        if not buffer[i] & 0x80:
            end = i + 1 + length
            if len(buffer) < end:
                return None
            packet = bytes(buffer[:end])
            del buffer[:end]
            return packet
    return None


@dataclass(frozen=True)
class SeenPublish:
    """A PUBLISH the client sent through the proxy, on its ``connection``-th connection."""

    connection: int
    qos: int
    dup: bool


class PubackCutter:
    """A loopback TCP proxy to a broker that loses the broker's first PUBACK.

    Client bytes go to the broker unchanged (every PUBLISH is recorded); when the broker answers
    the first PUBACK, the proxy closes that connection instead of passing it on, as a network
    failure between PUBLISH and PUBACK would. Later connections pass untouched, unless
    ``refuse_after_cut``: then they are closed at once until ``refusing`` is cleared.
    """

    def __init__(self, broker_port: int, *, refuse_after_cut: bool = False) -> None:
        self.broker_port = broker_port
        self.refuse_after_cut = refuse_after_cut
        self.cut = threading.Event()
        self.refusing = threading.Event()
        self.publishes: list[SeenPublish] = []
        self._connections = 0
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="puback-cutter")
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.refusing.is_set():
                _close(client)
                continue
            broker = socket.create_connection(("127.0.0.1", self.broker_port))
            with self._lock:
                self._connections += 1
                self._sockets += [client, broker]
            self._spawn(self._client_to_broker, client, broker, self._connections)
            self._spawn(self._broker_to_client, broker, client)

    def _client_to_broker(self, client: socket.socket, broker: socket.socket, connection: int) -> None:
        buffer = bytearray()
        while data := _recv(client):
            buffer += data
            while (packet := _take_packet(buffer)) is not None:
                if packet[0] >> 4 == PUBLISH:
                    self.publishes.append(SeenPublish(connection, (packet[0] >> 1) & 3, bool(packet[0] & 8)))
                if not _send(broker, packet):
                    return
        _close(client, broker)

    def _broker_to_client(self, broker: socket.socket, client: socket.socket) -> None:
        buffer = bytearray()
        while data := _recv(broker):
            buffer += data
            while (packet := _take_packet(buffer)) is not None:
                if packet[0] >> 4 == PUBACK and not self.cut.is_set():
                    if self.refuse_after_cut:
                        self.refusing.set()
                    self.cut.set()
                    _close(client, broker)
                    return
                if not _send(client, packet):
                    return
        _close(client, broker)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            _close(*self._sockets)
        for thread in self._threads:
            thread.join(5)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.mark.parametrize("reconnect", ["in_time", "late"])
def test_connection_lost_before_puback_publishes_again(
    make_store: StoreFactory, own_broker: tuple[int, list[subprocess.Popen[bytes]]], reconnect: str
) -> None:
    """The broker got the alarm but its PUBACK was lost: it is published again, never lost.

    Reconnected within the PUBACK wait, the client re-sends its copy (DUP) and that PUBACK counts;
    reconnected later, the attempt counted as a retry and the outbox publishes the alarm again.
    """
    late = reconnect == "late"
    port, procs = own_broker
    start_mosquitto(port, procs)
    proxy = PubackCutter(port, refuse_after_cut=late)
    sub = Subscriber(port, "estatewatch/#")  # straight to the broker
    config = MqttConfig(id="broker", host="127.0.0.1", port=proxy.port, timeout_s=2.0 if late else 10.0)
    store, relay = _relay(make_store, config)
    try:
        alarm = store.raise_alarm(make_draft(), now=T0)  # type: ignore[attr-defined]
        if late:
            assert relay.run_once(T0).retrying == 1, "delivered without a PUBACK"
            proxy.refusing.clear()
        run_until_delivered(relay, store)
        # Delivered only on the PUBACK of a copy sent after the reconnect, never before.
        assert proxy.cut.is_set(), "the broker never sent a PUBACK (published below QoS 1?)"
        assert any(p.connection > 1 for p in proxy.publishes), proxy.publishes
        sub.wait_for(2)  # the first copy reached the broker before its PUBACK was lost
    finally:
        relay.stop()
        sub.close()
        proxy.close()
    first, *again = proxy.publishes
    assert first == SeenPublish(connection=1, qos=1, dup=False)
    assert any(p.connection > 1 and p.qos == 1 for p in again), proxy.publishes
    received = [m for m in sub.messages if m.payload["data"]["id"] == alarm.id]
    assert len(received) == len(sub.messages) >= 2 and {m.qos for m in received} == {1}
    (message,) = store.messages()  # type: ignore[attr-defined]
    assert message.status == "delivered"
    outcomes = [a.outcome for a in store.attempts(message_id=message.id)]  # type: ignore[attr-defined]
    assert outcomes.count("delivered") == 1 and outcomes[-1] == "delivered", outcomes
    assert (outcomes[0] == "retry") == late, outcomes
