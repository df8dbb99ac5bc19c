"""MQTT delivery (paho-mqtt 2.x): ``{prefix}/{camera_id}/{event type}`` at QoS 1, delivered on PUBACK.

A message counts as delivered only when the broker acknowledged it; a broker that is down or does
not answer in time leaves the message to the outbox's retry schedule (at least once).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alarms.config import MqttConfig
from alarms.outbox import DeliveryResult
from alarms.records import OutboxMessage
from alarms.webhooks import body_bytes

logger = logging.getLogger(__name__)

_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", "\x00": "_"})


def topic_for(prefix: str, camera_id: str | None, event_type: str) -> str:
    """``{prefix}/{camera_id}/{event type}``; site-wide events use ``site``; wildcards are escaped (pure)."""
    if not prefix or any(c in prefix for c in "+#"):
        raise ValueError(f"invalid topic prefix {prefix!r}")
    if not event_type:
        raise ValueError("event type must not be empty")
    camera = (camera_id or "site").translate(_UNSAFE) or "site"
    return f"{prefix.rstrip('/')}/{camera}/{event_type.translate(_UNSAFE)}"


class MqttSink:
    """Publishes outbox messages to one broker over one connection shared by the relay's threads."""

    def __init__(self, config: MqttConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None
        self._down_until = 0.0

    @property
    def endpoint_id(self) -> str:
        return self.config.endpoint_id()

    def accepts(self, event_type: str) -> bool:
        return self.config.accepts(event_type)

    def _new_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id or f"estatewatch-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
        )
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password.get_secret_value() if cfg.password else None)
        if cfg.tls is not None:
            client.tls_set(
                ca_certs=cfg.tls.ca_file,
                certfile=cfg.tls.cert_file,
                keyfile=cfg.tls.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(cfg.tls.insecure)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        return client

    def _on_connect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if getattr(reason, "is_failure", False):
            logger.warning("mqtt endpoint %s refused the connection: %s", self.endpoint_id, reason)
            return
        logger.info(
            "mqtt endpoint %s connected to %s:%s", self.endpoint_id, self.config.host, self.config.port
        )
        self._connected.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._connected.clear()
        logger.warning("mqtt endpoint %s disconnected: %s", self.endpoint_id, reason)

    def _ensure_connected(self) -> mqtt.Client:
        with self._lock:
            if self._client is not None and self._connected.is_set():
                return self._client
            if time.monotonic() < self._down_until:
                raise ConnectionError(f"broker {self.config.host}:{self.config.port} unreachable (recently)")
            if self._client is None:
                client = self._new_client()
                client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
                client.loop_start()
                self._client = client
            if not self._connected.wait(self.config.timeout_s):
                self._down_until = time.monotonic() + self.config.timeout_s
                cfg = self.config
                raise ConnectionError(f"no connection to {cfg.host}:{cfg.port} within {cfg.timeout_s:g} s")
            return self._client

    def deliver(self, message: OutboxMessage) -> DeliveryResult:
        started = time.perf_counter()
        data = message.payload.get("data") or {}
        camera_id = data.get("camera_id") if isinstance(data, dict) else None
        topic = topic_for(self.config.topic_prefix, camera_id, message.type)
        try:
            client = self._ensure_connected()
            info = client.publish(topic, body_bytes(message.payload), qos=self.config.qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionError(f"publish failed: {mqtt.error_string(info.rc)}")
            info.wait_for_publish(self.config.timeout_s)
            if not info.is_published():
                raise TimeoutError(f"no PUBACK within {self.config.timeout_s:g} s")
        except (OSError, RuntimeError, ValueError) as exc:
            return DeliveryResult(
                ok=False,
                error=f"{type(exc).__name__}: {exc}"[:300],
                duration_ms=(time.perf_counter() - started) * 1000.0,
            )
        return DeliveryResult(ok=True, duration_ms=(time.perf_counter() - started) * 1000.0)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
