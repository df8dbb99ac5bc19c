"""The relay end to end: crash safety (kill -9), replay, disabling, several relays, background threads."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from alarms.config import WebhookConfig
from alarms.relay import Relay
from alarms.webhooks import WebhookSink
from tests.alarms.conftest import SECRET, T0, Received, Receiver, StoreFactory, delivery_config, make_draft

RELAY_SCRIPT = """
import sys, time
from alarms.config import WebhookConfig, RelayConfig
from alarms.relay import Relay
from alarms.store import AlarmStore
from alarms.webhooks import WebhookSink
store = AlarmStore.open(sys.argv[1], migrate=False)
hook = WebhookConfig(id="pms", url=sys.argv[2], secret=sys.argv[3])
relay = Relay(store.engine, [WebhookSink(hook)], RelayConfig(workers=4, batch_size=8, lease_s=1.0,
              poll_interval_s=0.05, retry_schedule_s=[0, 0.1, 0.1, 0.1]))
relay.start(threads=1)
print("started", flush=True)
time.sleep(600)
"""


def test_kill_9_mid_delivery_loses_nothing(
    make_store: StoreFactory, receiver: Callable[..., Receiver], db_url: str
) -> None:
    # The receiver answers 15 requests, then holds the next ones until the relay is dead: the kill
    # lands mid-run (and mid-request) however slow the machine is.
    answered, released = itertools.count(), threading.Event()

    def answer(_request: Received) -> tuple[int, dict[str, str], bytes]:
        if next(answered) >= 15:
            released.wait(120)  # until the relay has been killed
        return 204, {}, b""

    r = receiver(responder=answer)
    hook = WebhookConfig(id="pms", url=r.url, secret=SECRET)
    store = make_store(delivery_config(hook))
    now = dt.datetime.now(dt.UTC)
    alarms = [store.raise_alarm(make_draft(subject_id=f"wl-{i}", at=now), now=now) for i in range(60)]
    proc = subprocess.Popen(
        [sys.executable, "-c", RELAY_SCRIPT, db_url, r.url, SECRET],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        deadline = time.monotonic() + 120
        while len(r.requests) < 15:
            assert time.monotonic() < deadline, f"only {len(r.requests)} deliveries in 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert len(r.requests) == 15, "the relay must be killed mid-run"
    finally:
        proc.kill()
        proc.wait()
        released.set()  # held requests answer a dead relay; later ones are answered at once
    # A new relay after the dead one's lease (1 s) ran out delivers the rest.
    relay = Relay(store.engine, [WebhookSink(hook)], delivery_config(hook).relay)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    for _ in range(10):
        if not relay.run_once(later).claimed:
            break
    relay.stop()
    events = {m.event_id: m for m in store.messages()}
    assert {m.status for m in events.values()} == {"delivered"}
    received = collections.defaultdict(set)
    for request in r.requests:
        received[request.headers["webhook-id"]].add(request.body)
    assert set(received) == set(events)  # nothing lost
    assert all(len(bodies) == 1 for bodies in received.values())  # a duplicate is the same message, same id
    assert {r.json()["data"]["id"] for r in r.requests} == {a.id for a in alarms}
    assert all(r.verified for r in r.requests)


def test_failed_messages_can_be_replayed(make_store: StoreFactory, receiver: Callable[..., Receiver]) -> None:
    up = [False]
    r = receiver(responder=lambda _r: (200, {}, b"") if up[0] else (500, {}, b""))
    hook = WebhookConfig(id="pms", url=r.url, secret=SECRET)
    delivery = delivery_config(hook, schedule=[0.0, 1.0])
    store = make_store(delivery)
    relay = Relay(store.engine, [WebhookSink(hook)], delivery.relay)
    for i in range(3):
        store.raise_alarm(make_draft(subject_id=f"wl-{i}"), now=T0)
    assert store.outbox_pending() == {"pms": 3}
    relay.run_once(T0)
    assert store.outbox_pending() == {"pms": 3}  # to be retried
    report = relay.run_once(T0 + dt.timedelta(seconds=1))
    assert report.failed == 3
    assert store.outbox_pending() == {}
    assert [a.outcome for a in store.attempts(message_id=1)] == ["retry", "failed"]
    up[0] = True
    first = store.messages()[0]
    assert relay.replay_message(first.id, now=T0 + dt.timedelta(seconds=2)) == 1
    assert relay.run_once(T0 + dt.timedelta(seconds=2)).delivered == 1
    assert relay.replay_failed("pms", now=T0 + dt.timedelta(seconds=3)) == 2
    assert relay.run_once(T0 + dt.timedelta(seconds=3)).delivered == 2
    assert relay.outcomes() == {("pms", "delivered"): 3, ("pms", "retrying"): 3, ("pms", "failed"): 3,
                                ("pms", "dead"): 0}
    relay.stop()
    ids = r.ids()
    assert len(ids) == 9 and len(set(ids)) == 3  # every retry and replay kept its webhook-id


def test_endpoint_failing_for_days_is_disabled(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    r = receiver(responder=lambda _r: (503, {}, b""))
    hook = WebhookConfig(id="pms", url=r.url, secret=SECRET)
    delivery = delivery_config(hook, schedule=[0.0] + [86400.0] * 9, disable_after_days=2)
    store = make_store(delivery)
    relay = Relay(store.engine, [WebhookSink(hook)], delivery.relay)
    store.raise_alarm(make_draft(), now=T0)
    for day in range(3):
        report = relay.run_once(T0 + dt.timedelta(days=day))
        assert report.retrying == 1 and not report.disabled_endpoints
    report = relay.run_once(T0 + dt.timedelta(days=3))
    assert report.dead == 1 and report.disabled_endpoints == ["pms"]
    relay.stop()
    (_, _, event) = store.events("endpoint.disabled")[0]
    assert event["data"]["endpoint_id"] == "pms" and "2 days" in event["data"]["reason"]


def test_a_success_resets_the_failing_clock(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    answers = iter([503, 200, 503, 503])
    r = receiver(responder=lambda _r: (next(answers), {}, b""))
    hook = WebhookConfig(id="pms", url=r.url, secret=SECRET)
    delivery = delivery_config(hook, schedule=[0.0] + [86400.0] * 9, disable_after_days=2)
    store = make_store(delivery)
    relay = Relay(store.engine, [WebhookSink(hook)], delivery.relay)
    store.raise_alarm(make_draft(), now=T0)
    relay.run_once(T0)  # 503: failing since T0
    relay.run_once(T0 + dt.timedelta(days=1))  # 200
    store.raise_alarm(make_draft(subject_id="wl-2"), now=T0 + dt.timedelta(days=2))
    relay.run_once(T0 + dt.timedelta(days=2))  # 503: failing since day 2, not day 0
    report = relay.run_once(T0 + dt.timedelta(days=3))
    relay.stop()
    assert report.retrying == 1 and not report.disabled_endpoints


def test_several_background_relays_deliver_everything(
    make_store: StoreFactory, receiver: Callable[..., Receiver]
) -> None:
    r = receiver()
    hook = WebhookConfig(id="pms", url=r.url, secret=SECRET)
    delivery = delivery_config(hook, poll_interval_s=0.02)
    store = make_store(delivery)
    relays = [Relay(store.engine, [WebhookSink(hook)], delivery.relay, name=f"relay-{i}") for i in range(2)]
    for relay in relays:
        store.add_listener(lambda _type, _event, relay=relay: relay.wake())
        relay.start(threads=2)
    try:
        for i in range(200):
            store.raise_alarm(make_draft(subject_id=f"wl-{i}"))
        deadline = time.monotonic() + 180
        while len(store.messages(status="delivered")) < 200:
            assert time.monotonic() < deadline, "not all 200 delivered within 180 s"
            time.sleep(0.05)
    finally:
        for relay in relays:
            relay.stop()
    assert len(store.messages(status="delivered")) == 200
    assert len(set(r.ids())) == 200
    assert all(r.verified for r in r.requests)
