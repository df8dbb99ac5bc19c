"""Build the delivery side from config: one sink per endpoint and the relay that feeds them.

The composition root calls :func:`build_relay` once, starts it, and stops it at shutdown::

    store = AlarmStore.open(delivery=config.delivery)
    relay = build_relay(store, config.delivery)
    store.add_listener(lambda _type, _event: relay.wake())
    store.webhooks.add_listener(relay.wake)
    relay.start()
    ...
    relay.stop(); store.close()
"""

from __future__ import annotations

from alarms.config import DeliveryConfig
from alarms.connector import ConnectorSink
from alarms.endpoints import WebhookSinks
from alarms.mqtt import MqttSink
from alarms.relay import Relay
from alarms.sinks import Sink
from alarms.store import AlarmStore
from alarms.webhooks import WebhookSink


def build_sinks(config: DeliveryConfig) -> list[Sink]:
    """One sink per configured webhook, MQTT broker and connector."""
    sinks: list[Sink] = [WebhookSink(w) for w in config.webhooks]
    sinks.extend(MqttSink(m) for m in config.mqtt)
    sinks.extend(ConnectorSink(c) for c in config.connectors)
    return sinks


def build_relay(store: AlarmStore, config: DeliveryConfig | None = None, name: str = "relay") -> Relay:
    """A relay for every endpoint of ``config`` (default: the store's) and of the API.

    The webhook endpoints managed over the API are re-read while it runs.
    """
    config = config or store.delivery
    return Relay(store.engine, build_sinks(config), config.relay, name=name,
                 source=WebhookSinks(store.webhooks))
