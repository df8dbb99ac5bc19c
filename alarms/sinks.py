"""The sink interface every delivery channel implements (webhooks, MQTT, connectors)."""

from __future__ import annotations

from typing import Protocol

from alarms.outbox import DeliveryResult
from alarms.records import OutboxMessage


class Sink(Protocol):
    """One endpoint: an id, an event filter, and a blocking ``deliver`` that never raises for I/O errors.

    ``deliver`` is called from several relay threads at once and must be thread-safe.
    """

    @property
    def endpoint_id(self) -> str: ...

    def accepts(self, event_type: str) -> bool: ...

    def deliver(self, message: OutboxMessage) -> DeliveryResult: ...

    def close(self) -> None: ...
