"""Comments, who acted, the event sequence and its migration: the real store on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import insert, select

from alarms import db
from alarms.config import WebhookConfig, accepts_event
from alarms.records import EventActor
from alarms.schema import ALARMS, EVENT_COUNTER, EVENTS, OUTBOX
from alarms.store import AlarmNotFoundError
from tests.alarms.conftest import SECRET, T0, StoreFactory, delivery_config, make_draft

ALL = WebhookConfig(id="all", url="http://127.0.0.1:9/all", secret=SECRET)
NOTES = WebhookConfig(id="notes", url="http://127.0.0.1:9/notes", secret=SECRET,
                      events=["alarm.commented", "alarm.acknowledged"])
GUARD = EventActor("guard1", "user")
PMS = EventActor("pms", "key")


@pytest.mark.parametrize(("filters", "event_type", "expected"), [
    (["*"], "alarm.raised", True),
    (["*"], "alarm.commented", False),
    (["alarm.commented"], "alarm.commented", True),
    (["*", "alarm.commented"], "alarm.commented", True),
    (["alarm.raised"], "alarm.resolved", False),
    (["*"], "camera.offline", True),
])
def test_star_leaves_out_opt_in_events(filters: list[str], event_type: str, expected: bool) -> None:
    assert accepts_event(filters, event_type) is expected


def test_comments_and_actions_name_who_acted(make_store: StoreFactory) -> None:
    store = make_store(delivery_config(ALL, NOTES))
    seen: list[tuple[str, int]] = []
    store.add_listener(lambda event_type, event: seen.append((event_type, event["seq"])))
    alarm = store.raise_alarm(make_draft(), now=T0)
    store.acknowledge(alarm.id, "guard1", now=T0 + dt.timedelta(minutes=1), note="on my way", actor=GUARD)
    comment = store.add_comment(alarm.id, "  the van left  ", GUARD, now=T0 + dt.timedelta(minutes=2))
    store.resolve(alarm.id, "pms guard 7", "towed", now=T0 + dt.timedelta(minutes=3), actor=PMS)

    assert comment.text == "the van left" and store.comments(alarm.id) == [comment]
    history = store.alarm_events(alarm.id)
    assert [e.type for e in history] == ["alarm.raised", "alarm.acknowledged", "alarm.commented",
                                         "alarm.resolved"]
    assert [(t, s) for t, s in seen] == [(e.type, e.seq) for e in history]
    assert [e.seq for e in history] == sorted(e.seq for e in history)
    raised, acked, commented, resolved = (e.data for e in history)
    assert "actor" not in raised
    assert acked["actor"] == {"name": "guard1", "kind": "user"} and acked["note"] == "on my way"
    assert commented["comment"]["text"] == "the van left" and commented["actor"]["name"] == "guard1"
    assert resolved["actor"] == {"name": "pms", "kind": "key"} and resolved["resolved_by"] == "pms guard 7"
    # "*" gets what it got before, never comments; comments go where they are named
    routed = {e.type: {m.endpoint_id for m in store.messages(event_id=e.id)} for e in history}
    assert routed == {"alarm.raised": {"all"}, "alarm.acknowledged": {"all", "notes"},
                      "alarm.commented": {"notes"}, "alarm.resolved": {"all"}}
    with pytest.raises(ValueError, match="text"):
        store.add_comment(alarm.id, "   ", GUARD)
    with pytest.raises(AlarmNotFoundError):
        store.add_comment("no-such-alarm", "hello", GUARD)
    with pytest.raises(AlarmNotFoundError):
        store.alarm_events("no-such-alarm")
    assert store.last_event_seq() == history[-1].seq
    assert [e.seq for e in store.events_after(history[1].seq, limit=2)] == [history[2].seq, history[3].seq]


def test_purge_takes_comments_and_never_reuses_an_event_number(make_store: StoreFactory) -> None:
    store = make_store()
    alarm = store.raise_alarm(make_draft(), now=T0)
    store.add_comment(alarm.id, "seen", GUARD, now=T0)
    last = store.last_event_seq()
    assert store.purge(dt.timedelta(days=1), now=T0 + dt.timedelta(days=2)) == 1
    assert store.events() == []
    fresh = store.raise_alarm(make_draft(subject_id="wl-2"), now=T0)
    assert store.alarm_events(fresh.id)[0].seq == last + 1


def test_migration_numbers_existing_events_in_time_order(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine, "a0002")
        at = [T0 + dt.timedelta(minutes=m) for m in (5, 1, 3)]
        with engine.begin() as conn:
            conn.execute(insert(ALARMS).values(
                id="a1", type="watchlist_person", severity="critical", state="open", rule_id="r",
                camera_id="gate", occurred_at=T0, created_at=T0, subject_kind="watchlist", subject_id="w",
                dedup_key="k", details={}))
            for i, when in enumerate(at):
                conn.execute(insert(EVENTS).values(id=f"msg_{i}", type="alarm.raised", occurred_at=when,
                                                   alarm_id="a1", payload={"type": "alarm.raised"}))
            conn.execute(insert(OUTBOX).values(
                endpoint_id="pms", event_id="msg_0", type="alarm.raised", payload={}, status="pending",
                attempts=0, next_attempt_at=T0, created_at=T0, updated_at=T0))
        db.upgrade(engine)
        with engine.connect() as conn:
            numbered = conn.execute(select(EVENTS.c.id, EVENTS.c.seq).order_by(EVENTS.c.seq)).all()
            counter = conn.execute(select(EVENT_COUNTER.c.last_seq)).scalar_one()
            outbox_rows = conn.execute(select(OUTBOX.c.event_id)).scalars().all()
        assert [(r.id, r.seq) for r in numbered] == [("msg_1", 1), ("msg_2", 2), ("msg_0", 3)]
        assert counter == 3 and outbox_rows == ["msg_0"], "the outbox survives the migration"
    finally:
        engine.dispose()


def test_concurrent_writers_get_distinct_numbers_without_gaps(make_store: StoreFactory) -> None:
    store = make_store()

    def raise_some(worker: int) -> None:
        for i in range(8):
            store.raise_alarm(make_draft(subject_id=f"wl-{worker}-{i}"), now=T0)

    threads = [threading.Thread(target=raise_some, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [e.seq for e in store.events_after(0)] == list(range(1, 33))
    assert store.last_event_seq() == 32
