"""The live alarm feed over a real WebSocket session of the app, on a real store (SQLite and PostgreSQL).

Alarms are raised into the service's store from the test's thread, as the pipeline raises them;
the store's listener hands them to the app's event loop, which serves the WebSocket clients.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from alarms.store import AlarmStore
from api.accounts.principal import STATIC_KEY
from api.live import LiveHub
from tests.api.test_auth import KEY, STATIC, Site, make_site, raise_alarm

pytestmark = pytest.mark.timeout(120)  # a message that never comes fails instead of hanging
LIVE = "/api/v1/alarms/live"


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from make_site(db_url, tmp_path)


def token(headers: dict[str, str]) -> str:
    return headers["Authorization"].split()[1]


def receive(ws: WebSocketTestSession) -> dict[str, Any]:
    message: dict[str, Any] = ws.receive_json()
    return message


def events_until_ready(ws: WebSocketTestSession) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The backlog a client is sent before ``ready``, and the ``ready`` message."""
    events = []
    while (message := receive(ws))["kind"] != "ready":
        events.append(message)
    return events, message


def closed_with(site: Site, url: str, **kwargs: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as closed, site.client.websocket_connect(url, **kwargs) as ws:
        receive(ws)
    return closed.value.code


# -- authentication ------------------------------------------------------------------------
def test_token_in_the_query_or_the_subprotocol_or_a_header(site: Site) -> None:
    guard = token(site.user("guard1", "guard"))
    with site.client.websocket_connect(f"{LIVE}?access_token={guard}") as ws:
        assert receive(ws) == {"kind": "ready", "last_event_id": None}
        alarm_id = raise_alarm(site.store, "gate", "京A11111")
        event = receive(ws)
    public = site.client.get(f"/api/v1/alarms/{alarm_id}", headers=STATIC).json()
    assert event == {"kind": "event", "id": "1", "type": "alarm.raised",
                     "timestamp": "2026-05-01T08:30:00.000Z", "alarm": public}
    with site.client.websocket_connect(LIVE, subprotocols=["estatewatch.v1", f"bearer.{guard}"]) as ws:
        assert ws.accepted_subprotocol == "estatewatch.v1"
        assert receive(ws) == {"kind": "ready", "last_event_id": "1"}
    with site.client.websocket_connect(LIVE, headers=STATIC) as ws:
        assert receive(ws)["kind"] == "ready"
    with site.client.websocket_connect(LIVE, headers={"X-API-Key": KEY}) as ws:
        assert receive(ws)["kind"] == "ready"


def test_bad_expired_or_revoked_tokens_close_4401_and_a_missing_scope_4403(site: Site) -> None:
    assert closed_with(site, LIVE) == 4401
    assert closed_with(site, f"{LIVE}?access_token=ewt_not-a-token") == 4401
    assert closed_with(site, LIVE, subprotocols=["estatewatch.v1", "bearer.ewk_nope"]) == 4401
    revoked = site.user("guard1", "guard")
    assert site.client.post("/api/v1/auth/logout", headers=revoked).status_code in (200, 204)
    assert closed_with(site, f"{LIVE}?access_token={token(revoked)}") == 4401
    expiring = token(site.user("guard2", "guard"))
    site.clock.advance(hours=13)
    assert closed_with(site, f"{LIVE}?access_token={expiring}") == 4401
    key = site.client.post("/api/v1/keys", headers=STATIC, json={"name": "crm", "scopes": ["registry:read"]})
    assert closed_with(site, f"{LIVE}?access_token={key.json()['key']}") == 4403
    assert closed_with(site, f"{LIVE}?access_token={KEY}&last_event_id=abc") == 4400


# -- camera scoping ------------------------------------------------------------------------
def test_a_guard_of_one_camera_never_receives_another_cameras_events(site: Site) -> None:
    guard = token(site.user("guard1", "guard", ["gate"]))
    with site.client.websocket_connect(f"{LIVE}?access_token={guard}") as mine, \
            site.client.websocket_connect(LIVE, headers=STATIC) as everything:
        receive(mine), receive(everything)  # ready
        lobby = raise_alarm(site.store, "lobby", "京B22222")
        site.store.record_event("camera.offline", {"camera_id": "lobby"})
        gate = raise_alarm(site.store, "gate", "京A11111")
        site.store.record_event("camera.offline", {"camera_id": "gate"})
        got = [receive(mine) for _ in range(2)]
        assert [(m["type"], (m.get("alarm") or m["data"])["camera_id"]) for m in got] == [
            ("alarm.raised", "gate"), ("camera.offline", "gate")]
        assert got[0]["alarm"]["id"] == gate and got[1]["data"] == {"camera_id": "gate"}
        assert [receive(everything)["id"] for _ in range(4)] == ["1", "2", "3", "4"]
    with site.client.websocket_connect(f"{LIVE}?access_token={guard}&last_event_id=0") as replayed:
        events, ready = events_until_ready(replayed)
    assert [e["id"] for e in events] == ["3", "4"] and ready["last_event_id"] == "4"
    assert lobby not in json.dumps(events)


# -- reconnecting -------------------------------------------------------------------------
def test_reconnect_replays_exactly_what_was_missed_then_goes_live(site: Site) -> None:
    guard_headers = site.user("guard1", "guard", ["gate"])
    guard = token(guard_headers)
    with site.client.websocket_connect(f"{LIVE}?access_token={guard}") as ws:
        receive(ws)
        first = raise_alarm(site.store, "gate", "京A11111")
        seen = receive(ws)
    # while the guard is away: actions over the API, and alarms of both cameras
    second = raise_alarm(site.store, "gate", "京A22222")
    raise_alarm(site.store, "lobby", "京B33333")
    site.client.post(f"/api/v1/alarms/{first}/acknowledge", headers=STATIC, json={"note": "on my way"})
    site.client.post(f"/api/v1/alarms/{second}/comments", headers=guard_headers, json={"text": "van"})
    with site.client.websocket_connect(f"{LIVE}?access_token={guard}&last_event_id={seen['id']}") as ws:
        missed, ready = events_until_ready(ws)
        third = raise_alarm(site.store, "gate", "京A44444")
        live = receive(ws)
    assert [(e["type"], e["alarm"]["id"]) for e in missed] == [
        ("alarm.raised", second), ("alarm.acknowledged", first), ("alarm.commented", second)]
    expected = [str(e.seq) for e in site.store.events_after(int(seen["id"])) if e.camera_id == "gate"]
    assert [e["id"] for e in missed] == expected[:3] and ready["last_event_id"] == expected[2]
    assert missed[1]["actor"] == {"name": "api-key", "kind": "key"} and missed[1]["note"] == "on my way"
    assert missed[2]["comment"]["text"] == "van" and missed[2]["actor"] == {"name": "guard1", "kind": "user"}
    assert missed[1]["alarm"] == site.client.get(f"/api/v1/alarms/{first}", headers=STATIC).json()
    assert (live["alarm"]["id"], live["id"]) == (third, expected[3])


def test_events_committed_while_the_backlog_is_read_come_once_and_in_order(site: Site) -> None:
    """Alarms keep being raised while the client reconnects: no gap, no duplicate."""
    raise_alarm(site.store, "gate", "京A00000")
    start = site.store.last_event_seq()
    done = threading.Event()

    def pipeline() -> None:
        for i in range(40):
            raise_alarm(site.store, "gate", f"京A1{i:04d}")
        done.set()

    worker = threading.Thread(target=pipeline)
    with site.client.websocket_connect(f"{LIVE}?access_token={KEY}&last_event_id={start}") as ws:
        worker.start()
        received: list[int] = []
        while not (done.is_set() and received and received[-1] == site.store.last_event_seq()):
            message = receive(ws)
            if message["kind"] == "event":
                received.append(int(message["id"]))
    worker.join(30)
    assert received == list(range(start + 1, start + 41))


# -- a slow client ------------------------------------------------------------------------
def test_a_client_that_does_not_read_loses_its_oldest_events_and_is_told_how_many(site: Site) -> None:
    """The store's listener only hands off: raising alarms never waits for a client that does not read."""
    store: AlarmStore = site.store

    async def scenario() -> list[dict[str, Any]]:
        hub = LiveHub(queue_size=8)
        hub.attach(store)
        subscription = hub.subscribe(STATIC_KEY)
        subscription.sent_through = await asyncio.to_thread(store.last_event_seq)
        # 30 alarms raised on another thread while this client reads nothing: each raise returns
        await asyncio.to_thread(lambda: [raise_alarm(store, "gate", f"京A{i:05d}") for i in range(30)])
        messages = []
        while (text := subscription.next()) is not None:
            messages.append(json.loads(text))
        hub.unsubscribe(subscription)
        return messages

    messages = asyncio.run(scenario())
    head = site.store.last_event_seq()
    assert messages[0] == {"kind": "lost", "count": 22}
    assert [m["id"] for m in messages[1:]] == [str(seq) for seq in range(head - 7, head + 1)]


class RecordingSocket:
    """The transport end of a feed: keeps what is sent, and leaves after ``ready``.

    On the first message it raises ``burst`` alarms on the loop's own thread, so they reach the
    client's queue while the backlog is still being replayed.
    """

    def __init__(self, store: AlarmStore, burst: int) -> None:
        self.store, self.burst = store, burst
        self.sent: list[dict[str, Any]] = []
        self.leave = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))
        if self.burst:
            for i in range(self.burst):
                raise_alarm(self.store, "gate", f"京C{i:05d}")
            self.burst = 0
            await asyncio.sleep(0)  # the hand-offs run: the 2-event queue overflows mid-replay
        if self.sent[-1]["kind"] == "ready":
            self.leave.set()  # what the feed sends at once after ``ready`` is still kept

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        return {"type": "websocket.disconnect", "code": 1000}


def test_events_dropped_while_replaying_are_read_from_the_store(site: Site) -> None:
    """A queue that overflows during the backlog loses nothing: the store still has those events."""
    for i in range(5):
        raise_alarm(site.store, "gate", f"京A{i:05d}")

    async def scenario() -> list[dict[str, Any]]:
        socket = RecordingSocket(site.store, burst=10)
        hub = LiveHub(queue_size=2, replay_page=2)
        await asyncio.wait_for(hub.serve(socket, STATIC_KEY, site.store, 0), 60)  # type: ignore[arg-type]
        return socket.sent

    sent = asyncio.run(scenario())
    assert [m["kind"] for m in sent] == ["event"] * 15 + ["ready"], "no 'lost': the replay caught up"
    assert [int(m["id"]) for m in sent[:-1]] == list(range(1, 16))


def test_many_subscribers_each_get_every_event(site: Site) -> None:
    clients = [site.client.websocket_connect(LIVE, headers=STATIC) for _ in range(50)]
    sessions = [c.__enter__() for c in clients]
    try:
        for ws in sessions:
            receive(ws)
        ids = [raise_alarm(site.store, "gate", f"京A{i:05d}") for i in range(5)]
        for ws in sessions:
            assert [receive(ws)["alarm"]["id"] for _ in ids] == ids
    finally:
        for c in clients:
            c.__exit__(None, None, None)
