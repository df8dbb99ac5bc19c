"""The live alarm feed: events from the alarm store to WebSocket clients, resumable, camera-scoped.

The store calls :meth:`LiveHub.listener` after each commit, on whatever thread committed. It only
hands the event to each serving event loop (``call_soon_threadsafe``) and returns: the pipeline
never waits for a client. On the loop the event is turned into its JSON message once and put on
each subscriber's bounded queue (a ``deque`` with ``maxlen``); a full queue drops its oldest
event and counts it, and the client is sent ``{"kind": "lost", "count": N}`` where the gap is. A
slow client therefore costs its own queue and nothing else.

Event ids are the store's ``alarm_events.seq``: numbers handed out in commit order (see
:func:`alarms.outbox.next_seq`). A client that reconnects with ``last_event_id`` is first sent
every later event from the store, then the live ones: it subscribes before it reads the backlog
and skips live events at or below the last id it was sent, so nothing is missed or sent twice.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from alarms.emitter import EventListener
from alarms.records import StoredEvent
from api.accounts.principal import Principal
from api.schemas import PublicAlarm

logger = logging.getLogger(__name__)

ALARM_FIELDS = frozenset(PublicAlarm.model_fields)
ACTION_FIELDS = ("actor", "note", "comment")
"""What an ``alarm.*`` event carries beside the alarm: who acted, the note, the comment."""


class EventSource(Protocol):
    """The alarm store as the feed reads it."""

    def add_listener(self, listener: EventListener) -> None: ...

    def events_after(self, seq: int, limit: int = 500) -> list[StoredEvent]: ...

    def last_event_seq(self) -> int: ...


def feed_message(event: StoredEvent) -> dict[str, Any]:
    """The feed's JSON message for an event (pure).

    ``alarm.*`` events carry ``alarm`` (the public alarm, as ``GET /api/v1/alarms/{id}`` answers
    it) and, where present, ``actor``, ``note`` and ``comment``; other events carry ``data``.
    """
    message: dict[str, Any] = {
        "kind": "event",
        "id": str(event.seq),
        "type": event.type,
        "timestamp": event.payload.get("timestamp"),
    }
    data = event.data
    if event.alarm_id is not None:
        message["alarm"] = {k: v for k, v in data.items() if k in ALARM_FIELDS}
        message.update({k: data[k] for k in ACTION_FIELDS if k in data})
    else:
        message["data"] = data
    return message


def stored_event(envelope: dict[str, Any]) -> StoredEvent:
    """A listener's envelope (``{id, seq, type, timestamp, data}``) as the store would read it back."""
    payload = {k: envelope[k] for k in ("type", "timestamp", "data")}
    data = envelope["data"]
    is_alarm = str(envelope["type"]).startswith("alarm.") and isinstance(data, dict) and "id" in data
    return StoredEvent(
        seq=int(envelope["seq"]),
        id=str(envelope["id"]),
        type=str(envelope["type"]),
        alarm_id=str(data["id"]) if is_alarm else None,
        payload=payload,
    )


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """An event ready to send: its id, what decides who may see it, and its JSON text."""

    seq: int
    camera_id: str | None
    is_alarm: bool
    text: str

    @classmethod
    def of(cls, event: StoredEvent) -> FeedEvent:
        text = json.dumps(feed_message(event), ensure_ascii=False, separators=(",", ":"))
        return cls(event.seq, event.camera_id, event.alarm_id is not None, text)


def may_receive(principal: Principal, event: FeedEvent) -> bool:
    """Alarm events of the caller's cameras; other events too if it may read camera state."""
    if not event.is_alarm and "cameras:read" not in principal.scopes:
        return False
    return principal.may_see(event.camera_id)


def lost_message(count: int) -> str:
    return json.dumps({"kind": "lost", "count": count})


def ready_message(last_event_id: int) -> str:
    return json.dumps({"kind": "ready", "last_event_id": str(last_event_id) if last_event_id else None})


PING = json.dumps({"kind": "ping"})


class Subscription:
    """One client's bounded queue of events, used on its event loop's thread only.

    Args:
        principal: the client, whose cameras and scopes decide what it receives.
        queue_size: events kept while the client is slow; past it the oldest are dropped and counted.
    """

    def __init__(self, principal: Principal, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.principal = principal
        self.sent_through = 0
        """The id of the last event sent: events at or below it are never sent (again)."""
        self.lost = 0
        """Events dropped from the full queue that the client has not been told about."""
        self._queue: collections.deque[FeedEvent] = collections.deque(maxlen=queue_size)
        self._waiting = asyncio.Event()

    def push(self, event: FeedEvent) -> None:
        """Queue an event the client may see; a full queue drops (and counts) its oldest."""
        if not may_receive(self.principal, event):
            return
        if len(self._queue) == self._queue.maxlen and self._queue[0].seq > self.sent_through:
            self.lost += 1
        self._queue.append(event)
        self._waiting.set()

    def next(self) -> str | None:
        """The next message to send (``lost`` first where events were dropped), ``None`` if none is due."""
        if self.lost:
            count, self.lost = self.lost, 0
            return lost_message(count)
        while self._queue:
            event = self._queue.popleft()
            if event.seq > self.sent_through:
                self.sent_through = event.seq
                return event.text
        self._waiting.clear()
        return None

    async def wait(self, timeout_s: float) -> bool:
        """Wait until something is queued; ``False`` after ``timeout_s`` without anything."""
        try:
            await asyncio.wait_for(self._waiting.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


class LiveHub:
    """Fans the store's committed events out to the WebSocket clients of every serving event loop.

    Args:
        queue_size: per client (default 256 events).
        ping_s: a ``{"kind": "ping"}`` after this long without a message.
        replay_page: events read from the store per query while replaying a backlog.
    """

    def __init__(self, queue_size: int = 256, ping_s: float = 20.0, replay_page: int = 500) -> None:
        if queue_size < 1 or ping_s <= 0 or replay_page < 1:
            raise ValueError("queue_size and replay_page must be >= 1 and ping_s > 0")
        self.queue_size, self.ping_s, self.replay_page = queue_size, ping_s, replay_page
        self._lock = threading.Lock()
        self._subscribers: dict[asyncio.AbstractEventLoop, set[Subscription]] = {}
        self._loops: tuple[asyncio.AbstractEventLoop, ...] = ()
        self._sources: list[EventSource] = []

    # -- the store's side (any thread; never blocks) -------------------------------------------
    def attach(self, source: EventSource) -> None:
        """Listen to ``source`` (once per store object, however many clients connect)."""
        with self._lock:
            if any(s is source for s in self._sources):
                return
            self._sources.append(source)
        source.add_listener(self.listener)

    def listener(self, event_type: str, envelope: dict[str, Any]) -> None:
        """The store's listener: hands the event to each loop that serves clients, and returns."""
        for loop in self._loops:  # a tuple replaced on (un)subscribe: safe to read from any thread
            try:
                loop.call_soon_threadsafe(self._fan_out, loop, envelope)
            except RuntimeError:  # that loop closed (its app shut down)
                logger.debug("live feed: a closed loop missed event %s", envelope.get("id"))

    def _fan_out(self, loop: asyncio.AbstractEventLoop, envelope: dict[str, Any]) -> None:
        subscribers = self._subscribers.get(loop)
        if not subscribers:
            return
        event = FeedEvent.of(stored_event(envelope))
        for subscription in tuple(subscribers):
            subscription.push(event)

    # -- the clients' side (on their event loop) -----------------------------------------------
    def subscribe(self, principal: Principal) -> Subscription:
        """A new client on the running loop: it hears every event committed from now on."""
        loop = asyncio.get_running_loop()
        subscription = Subscription(principal, self.queue_size)
        with self._lock:
            self._subscribers.setdefault(loop, set()).add(subscription)
            self._loops = tuple(self._subscribers)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            subscribers = self._subscribers.get(loop, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscribers.pop(loop, None)
            self._loops = tuple(self._subscribers)

    def subscribers(self) -> int:
        """Clients connected now."""
        return sum(len(s) for s in tuple(self._subscribers.values()))

    async def serve(
        self, websocket: WebSocket, principal: Principal, source: EventSource, after: int | None
    ) -> None:
        """Feed an accepted WebSocket until the client leaves: backlog after ``after``, ``ready``, live."""
        self.attach(source)
        subscription = self.subscribe(principal)
        try:
            async with anyio.create_task_group() as tasks:

                async def send() -> None:
                    try:
                        await self._send(websocket, subscription, source, after)
                    except (WebSocketDisconnect, OSError, RuntimeError) as exc:  # the client went away
                        logger.debug("live feed of %s %s ended: %r", principal.kind, principal.name, exc)
                    tasks.cancel_scope.cancel()

                async def receive() -> None:
                    await _until_disconnect(websocket)
                    tasks.cancel_scope.cancel()

                tasks.start_soon(send)
                tasks.start_soon(receive)
        finally:
            self.unsubscribe(subscription)

    async def _send(
        self, websocket: WebSocket, subscription: Subscription, source: EventSource, after: int | None
    ) -> None:
        head = await asyncio.to_thread(source.last_event_seq)
        if after is None or after > head:
            subscription.sent_through = head  # live from now (an id from another database: the same)
        else:
            await self._replay(websocket, subscription, source, after)
        await websocket.send_text(ready_message(subscription.sent_through))
        while True:
            message = subscription.next()
            if message is None:
                if not await subscription.wait(self.ping_s):
                    await websocket.send_text(PING)
                continue
            await websocket.send_text(message)

    async def _replay(
        self, websocket: WebSocket, subscription: Subscription, source: EventSource, after: int
    ) -> None:
        """Every visible event after ``after`` from the store, until the store has no later one.

        Live events dropped from the queue meanwhile were committed, so the next pass reads
        them from the store: the client is told of losses only once it is live.
        """
        subscription.sent_through = after
        while True:
            subscription.lost = 0
            while True:
                cursor = subscription.sent_through
                events = await asyncio.to_thread(source.events_after, cursor, self.replay_page)
                for text, seq in _visible(events, subscription.principal):
                    if text is not None:
                        await websocket.send_text(text)
                    subscription.sent_through = seq
                if len(events) < self.replay_page:
                    break
            if not subscription.lost:
                return


def _visible(events: Sequence[StoredEvent], principal: Principal) -> list[tuple[str | None, int]]:
    """Each event's message if the principal may receive it (``None`` if not), with its id."""
    out: list[tuple[str | None, int]] = []
    for stored in events:
        event = FeedEvent.of(stored)
        out.append((event.text if may_receive(principal, event) else None, event.seq))
    return out


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it goes away."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return

