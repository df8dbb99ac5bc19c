"""Events out of the alarm store: recorded with their outbox messages, then announced.

An event and its outbox messages are written in the caller's transaction; in-process listeners
(the live feed, the relay's wake-up) hear of it after that transaction commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from alarms import outbox
from alarms.config import ConnectorConfig, DeliveryConfig, MqttConfig, WebhookConfig, accepts_event
from alarms.outbox import Route

logger = logging.getLogger(__name__)

EventListener = Callable[[str, dict[str, Any]], None]
"""Called after commit with ``(event type, envelope)``: the live feed, waking the relay.

The envelope is the webhook body ``{type, timestamp, data}`` plus the event's ``id`` (its
``webhook-id``) and ``seq`` (its place in commit order, see :func:`alarms.outbox.next_seq`)."""


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    """An endpoint id and its event filter, as the store needs them to fill the outbox."""

    endpoint_id: str
    events: tuple[str, ...] = ("*",)

    def accepts(self, event_type: str) -> bool:
        return accepts_event(self.events, event_type)


def routes_from_config(config: DeliveryConfig) -> list[EndpointRoute]:
    endpoints: list[WebhookConfig | MqttConfig | ConnectorConfig] = [
        *config.webhooks,
        *config.mqtt,
        *config.connectors,
    ]
    return [EndpointRoute(e.endpoint_id(), tuple(e.events)) for e in endpoints]


class EventEmitter:
    """Records events with one outbox message per interested endpoint, and tells listeners.

    Args:
        routes: the endpoints and the events each accepts (the list is used, not copied).
        first_delay_s: delay before a message's first delivery attempt.
        more_routes: endpoints read in the emitting transaction (those managed over the API), so
            one created a moment ago gets the next event without a restart.
    """

    def __init__(self, routes: list[Route], first_delay_s: float,
                 more_routes: Callable[[Connection], Iterable[Route]] | None = None) -> None:
        self.routes, self.first_delay_s = routes, first_delay_s
        self.more_routes = more_routes
        self._listeners: list[EventListener] = []

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(type, envelope)`` after each committed event (must not block)."""
        self._listeners.append(listener)

    def emit(
        self,
        conn: Connection,
        event_type: str,
        data: dict[str, Any],
        occurred_at: dt.datetime,
        now: dt.datetime,
        alarm_id: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Record the event in ``conn``'s transaction; returns ``(type, envelope)`` for :meth:`notify`."""
        routes = self.routes if self.more_routes is None else [*self.routes, *self.more_routes(conn)]
        event = outbox.record_event(
            conn, event_type, data, occurred_at, now, routes, self.first_delay_s, alarm_id
        )
        return event_type, {"id": event.id, "seq": event.seq, **event.payload}

    def notify(self, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Tell every listener about committed events; a failing listener is logged, not raised."""
        for event_type, payload in events:
            for listener in self._listeners:
                try:
                    listener(event_type, payload)
                except Exception:
                    logger.exception("event listener failed on %s", event_type)
