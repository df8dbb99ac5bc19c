"""The alarm store on SQLite and PostgreSQL: alarms, transitions, snapshots, the outbox, retention."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import insert, inspect, select, update

from alarms import db
from alarms.config import WebhookConfig
from alarms.crops import open_crop
from alarms.events import alarm_data
from alarms.records import AlarmFilter, EventActor, Paging
from alarms.schema import ALARMS
from alarms.snapshots import encode_jpeg, relative_path
from alarms.store import AlarmNotFoundError, AlarmStore, IllegalTransitionError, next_state
from registry.crypto import TemplateCipher, TemplateKeyError
from registry.types import Owner
from tests.alarms.conftest import CROP_KEY, SECRET, T0, StoreFactory, delivery_config, make_draft

HOOK = WebhookConfig(id="pms", url="http://127.0.0.1:9/hook", secret=SECRET)
OPS = WebhookConfig(id="ops", url="http://127.0.0.1:9/ops", secret=SECRET, events=["camera.offline"])


@pytest.mark.parametrize(
    ("state", "action", "expected", "expected_error"),
    [
        ("open", "acknowledge", "acknowledged", None),
        ("open", "resolve", "resolved", None),
        ("acknowledged", "resolve", "resolved", None),
        ("acknowledged", "acknowledge", None, IllegalTransitionError),
        ("resolved", "acknowledge", None, IllegalTransitionError),
        ("resolved", "resolve", None, IllegalTransitionError),
        ("open", "reopen", None, ValueError),
    ],
)
def test_next_state(
    state: Any, action: str, expected: str | None, expected_error: type[Exception] | None
) -> None:
    if expected_error:
        with pytest.raises(expected_error):
            next_state(state, action)
        return
    assert next_state(state, action) == expected


@pytest.mark.parametrize(
    ("alarm_id", "at", "suffix", "expected", "expected_error"),
    [
        ("a1", T0, ".jpg", "2025/03/01/a1.jpg", None),
        (
            "a1",
            dt.datetime(2025, 3, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))),
            ".crop.jpg",
            "2025/02/28/a1.crop.jpg",
            None,
        ),  # UTC date
        ("../x", T0, ".jpg", None, "invalid alarm id"),
        ("", T0, ".jpg", None, "invalid alarm id"),
    ],
)
def test_relative_path(
    alarm_id: str, at: dt.datetime, suffix: str, expected: str | None, expected_error: str | None
) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            relative_path(alarm_id, at, suffix)
        return
    assert relative_path(alarm_id, at, suffix) == expected


def test_migrations_use_their_own_version_table(make_store: StoreFactory) -> None:
    store = make_store()
    assert db.current_revision(store.engine) == "a0007"
    tables = set(inspect(store.engine).get_table_names())
    assert {
        "alarms",
        "alarm_events",
        "outbox_messages",
        "delivery_attempts",
        "webhook_endpoints",
        "camera_snoozes",
        "alarms_alembic_version",
    } <= tables
    assert "alembic_version" not in tables  # the registry's table stays the registry's
    db.upgrade(store.engine)  # idempotent


def test_raise_alarm_stores_snapshots_and_outbox_in_one_go(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(delivery_config(HOOK, OPS))
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[40:80, 60:100] = (0, 0, 255)
    alarm = store.raise_alarm(make_draft(), frame, frame[40:80, 60:100], now=T0)
    assert alarm.state == "open" and alarm.snapshot_path == f"2025/03/01/{alarm.id}.jpg"
    assert store.get(alarm.id) == alarm
    snapshot = store.snapshot_file(alarm.id)
    assert snapshot is not None and snapshot.is_relative_to(tmp_path / "data" / "snapshots")
    decoded = cv2.imread(str(snapshot))
    assert decoded.shape == (120, 160, 3) and decoded[60, 80, 2] > 200
    assert alarm.has_crop and not alarm.redacted
    crop = store.crop_bytes(alarm.id)
    assert crop is not None
    assert cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR).shape == (40, 40, 3)
    assert not list(snapshot.parent.glob(".*.tmp"))
    (message,) = store.messages()  # OPS does not take alarm.raised
    assert (message.endpoint_id, message.type, message.status, message.attempts) == (
        "pms",
        "alarm.raised",
        "pending",
        0,
    )
    (event_id, _, payload) = store.events()[0]
    assert event_id == message.event_id and payload["data"]["id"] == alarm.id


def test_a_failed_transaction_leaves_no_alarm_no_message_no_file(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    class Broken:
        endpoint_id = "broken"

        def accepts(self, event_type: str) -> bool:
            raise RuntimeError("boom")

    store = make_store(delivery_config(HOOK))
    store.routes.append(Broken())
    frame = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(RuntimeError, match="boom"):
        store.raise_alarm(make_draft(), frame, frame, now=T0)
    assert store.list().total == 0 and store.messages() == [] and store.events() == []
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()]


def test_transitions_record_who_and_when_and_emit_events(make_store: StoreFactory) -> None:
    store = make_store(delivery_config(HOOK))
    alarm = store.raise_alarm(make_draft(), now=T0)
    acked = store.acknowledge(alarm.id, "guard-1", now=T0 + dt.timedelta(minutes=1))
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        "acknowledged",
        "guard-1",
        T0 + dt.timedelta(minutes=1),
    )
    with pytest.raises(IllegalTransitionError, match="cannot acknowledge an alarm that is acknowledged"):
        store.acknowledge(alarm.id, "guard-2", now=T0)
    done = store.resolve(
        alarm.id, "guard-2", "false alarm: a delivery rider", now=T0 + dt.timedelta(minutes=2)
    )
    assert (done.state, done.resolved_by, done.resolution_note) == (
        "resolved",
        "guard-2",
        "false alarm: a delivery rider",
    )
    assert done.acknowledged_by == "guard-1"
    with pytest.raises(IllegalTransitionError, match="resolved"):
        store.resolve(alarm.id, "guard-2", now=T0)
    with pytest.raises(AlarmNotFoundError):
        store.acknowledge("no-such-id", "guard-1", now=T0)
    with pytest.raises(ValueError, match="who"):
        store.acknowledge(alarm.id, " ", now=T0)
    assert [m.type for m in store.messages()] == ["alarm.raised", "alarm.acknowledged", "alarm.resolved"]
    assert len({m.event_id for m in store.messages()}) == 3


def test_list_filters_and_pages_newest_first(make_store: StoreFactory) -> None:
    store = make_store()
    for i in range(7):
        store.raise_alarm(
            make_draft(
                camera_id="gate" if i % 2 else "lobby",
                subject_id=f"wl-{i}",
                at=T0 + dt.timedelta(minutes=i),
                severity="high" if i < 3 else "critical",
            ),
            now=T0,
        )
    store.acknowledge(store.list().items[0].id, "guard-1", now=T0)
    page = store.list(paging=Paging(limit=3, offset=0))
    assert page.total == 7 and [a.subject.id for a in page.items] == ["wl-6", "wl-5", "wl-4"]
    assert [a.subject.id for a in store.list(paging=Paging(limit=3, offset=6)).items] == ["wl-0"]
    assert store.list(AlarmFilter(camera_id="gate")).total == 3
    assert store.list(AlarmFilter(states=("open",))).total == 6
    assert store.list(AlarmFilter(severities=("high",), camera_id="lobby")).total == 2
    window = AlarmFilter(since=T0 + dt.timedelta(minutes=2), until=T0 + dt.timedelta(minutes=4))
    assert [a.subject.id for a in store.list(window).items] == ["wl-3", "wl-2"]
    assert store.list(AlarmFilter(types=("unknown_person",))).total == 0
    with pytest.raises(ValueError, match="limit"):
        Paging(limit=0)


def test_list_pages_ties_by_id_descending_and_lists_written_clips(make_store: StoreFactory) -> None:
    store = make_store()
    ids = [store.raise_alarm(make_draft(subject_id=f"tie-{i}", at=T0), now=T0).id for i in range(5)]
    pages = [store.list(paging=Paging(limit=2, offset=offset)).items for offset in (0, 2, 4)]
    assert [a.id for page in pages for a in page] == sorted(ids, reverse=True)  # no gap, no repeat
    clip = store.clip_target(ids[1], T0)
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(b"not really an mp4")
    assert all(a.clip_path is None for a in store.list().items)  # listed from the row: no stat per row
    store.clip_ready(ids[1], now=T0)
    listed = {a.id: a.clip_path for a in store.list().items}
    assert listed[ids[1]] == relative_path(ids[1], T0, ".mp4")
    assert [i for i, path in listed.items() if path is not None] == [ids[1]]


def test_record_event_goes_to_interested_endpoints(make_store: StoreFactory) -> None:
    store = make_store(delivery_config(HOOK, OPS))
    seen: list[str] = []
    store.add_listener(lambda event_type, _event: seen.append(event_type))
    event_id = store.record_event("camera.offline", {"camera_id": "gate-north", "since": "08:00"}, now=T0)
    assert {m.endpoint_id for m in store.messages(event_id=event_id)} == {"pms", "ops"}
    store.record_event("camera.online", {"camera_id": "gate-north"}, now=T0)
    assert [m.endpoint_id for m in store.messages() if m.type == "camera.online"] == ["pms"]
    assert seen == ["camera.offline", "camera.online"]
    with pytest.raises(ValueError, match="event type"):
        store.record_event("offline", {}, now=T0)


def test_purge_deletes_old_rows_and_files(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(delivery_config(HOOK))
    frame = np.zeros((16, 16, 3), np.uint8)
    old = store.raise_alarm(make_draft(at=T0 - dt.timedelta(days=40)), frame, frame, now=T0)
    new = store.raise_alarm(make_draft(subject_id="wl-2", at=T0 - dt.timedelta(days=1)), frame, frame, now=T0)
    store.record_event("camera.offline", {"camera_id": "gate"}, now=T0 - dt.timedelta(days=40))
    old_file = store.snapshot_file(old.id)
    assert old_file is not None and old_file.exists()
    assert store.purge(dt.timedelta(days=30), now=T0) == 1
    if db.is_sqlite(store.engine):  # the planner's statistics were refreshed
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'alarms'").scalar()
    with pytest.raises(AlarmNotFoundError):
        store.get(old.id)
    assert store.get(new.id).id == new.id
    assert not old_file.exists() and not old_file.parent.exists()  # empty day folders go too
    assert [m.type for m in store.messages()] == ["alarm.raised"]
    assert [e[1] for e in store.events()] == ["alarm.raised"]
    files = sorted(p.name for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert files == [f"{new.id}.jpg"]  # the crops live encrypted in the rows, and went with them


def test_naive_times_are_refused(make_store: StoreFactory) -> None:
    store = make_store()
    with pytest.raises(ValueError, match="timezone-aware"):
        store.raise_alarm(make_draft(), now=dt.datetime(2025, 1, 1))


def _face_like(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)


def test_crops_are_encrypted_at_rest_and_bound_to_their_alarm(
    make_store: StoreFactory, db_url: str, tmp_path: Path
) -> None:
    store = make_store()
    crop = _face_like()
    jpeg = encode_jpeg(crop)
    alarm = store.raise_alarm(make_draft(), np.zeros((64, 64, 3), np.uint8), crop, now=T0)
    other = store.raise_alarm(make_draft(subject_id="wl-2"), None, _face_like(2), now=T0)
    with store.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(ALARMS.c.id, ALARMS.c.crop_ct, ALARMS.c.crop_key_id))}
    blob = bytes(rows[alarm.id].crop_ct)
    assert rows[alarm.id].crop_key_id == store.cipher.current_key_id
    assert not blob.startswith(b"\xff\xd8") and jpeg[200:264] not in blob and len(blob) == 12 + len(jpeg) + 16
    assert store.crop_bytes(alarm.id) == jpeg  # decrypts back to the JPEG of the crop
    with pytest.raises(TemplateKeyError):  # bound to its alarm: another alarm's row does not open it
        open_crop(store.cipher, other.id, rows[alarm.id].crop_key_id, blob)
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"{alarm.id}.jpg"]  # only the whole-scene snapshot is a file
    if db_url.startswith("sqlite"):
        db.checkpoint(store.engine)
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("estatewatch.db*"))
        assert blob[12:76] in raw and jpeg[200:264] not in raw


def test_legacy_plain_crop_files_are_encrypted_when_the_store_opens(db_url: str, tmp_path: Path) -> None:
    engine = db.make_engine(db_url)
    db.upgrade(engine, "a0001")  # an alarm stored by the version that wrote plain crop files
    crop = encode_jpeg(_face_like(3))
    legacy = tmp_path / "data" / "snapshots" / "2025" / "03" / "01" / "old.crop.jpg"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(crop)
    draft = make_draft()
    with engine.begin() as conn:
        conn.execute(insert(ALARMS).values(
            id="old", type=draft.type, severity=draft.severity, state="open", rule_id=draft.rule_id,
            camera_id=draft.camera_id, occurred_at=T0, created_at=T0, subject_kind="watchlist",
            subject_id="wl-1", crop_path="2025/03/01/old.crop.jpg", dedup_key=draft.dedup_key, details={}))
    engine.dispose()

    store = AlarmStore.open(db_url, data_dir=tmp_path / "data", cipher=TemplateCipher(CROP_KEY))
    try:
        assert not legacy.exists() and not legacy.parent.exists()
        assert store.crop_bytes("old") == crop and store.get("old").has_crop
        assert store.encrypt_legacy_crops() == 0  # done once
    finally:
        store.close()


def test_forgetting_a_person_redacts_only_their_alarms(make_store: StoreFactory) -> None:
    store = make_store(delivery_config(HOOK))
    frame = np.zeros((64, 64, 3), np.uint8)
    gone = [store.raise_alarm(make_draft(kind="resident", subject_id="r1", at=T0 + dt.timedelta(minutes=i)),
                              frame, _face_like(i), now=T0) for i in range(2)]
    kept = store.raise_alarm(make_draft(kind="resident", subject_id="r2"), frame, _face_like(9), now=T0)
    track = store.raise_alarm(make_draft(kind="unknown_track", subject_id="r1"), frame, _face_like(8), now=T0)

    assert store.forget_owners([Owner("resident", "r1")], now=T0 + dt.timedelta(days=1)) == 2
    for alarm in gone:
        redacted = store.get(alarm.id)
        assert redacted.redacted and redacted.redacted_at == T0 + dt.timedelta(days=1)
        assert not redacted.has_crop and store.crop_bytes(alarm.id) is None
        assert store.snapshot_file(alarm.id) is not None  # the whole scene stays (README)
        data = alarm_data(redacted, "http://x")
        assert data["redacted"] is True and data["redacted_at"] == "2025-03-02T08:00:00.000Z"
    for alarm in (kept, track):  # another person, and a track that only shares the id text
        assert not store.get(alarm.id).redacted and store.crop_bytes(alarm.id) is not None
    assert store.forget_owners([Owner("resident", "r1")]) == 0  # idempotent
    assert store.list().total == 4


def test_key_rotation_reencrypts_crops(make_store: StoreFactory) -> None:
    old = TemplateCipher(CROP_KEY)
    store = make_store(cipher=old)
    alarm = store.raise_alarm(make_draft(), None, _face_like(), now=T0)
    jpeg = store.crop_bytes(alarm.id)
    new = TemplateCipher(b"n" * 32, retired=[CROP_KEY])
    assert store.key_ids_in_use() == {old.current_key_id}
    assert store.reencrypt(new) == 1 and store.reencrypt(new) == 0
    assert store.key_ids_in_use() == {new.current_key_id}
    with store.engine.connect() as conn:
        kid, blob = conn.execute(select(ALARMS.c.crop_key_id, ALARMS.c.crop_ct)).one()
    assert open_crop(TemplateCipher(b"n" * 32), alarm.id, kid, bytes(blob)) == jpeg  # old key not needed


def test_schema_matches_migrations(make_store: StoreFactory) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from alarms.schema import Base

    store = make_store()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": db.VERSION_TABLE}
        )
        diff = [d for d in compare_metadata(context, Base.metadata) if d[0] != "remove_table"]
    assert diff == []


def test_list_version_rises_with_every_change_of_alarms_by_any_writer(make_store: StoreFactory,
                                                                       db_url: str) -> None:
    store = make_store()
    seen = [store.list_version()]

    def rose() -> bool:
        seen.append(store.list_version())
        return seen[-1] > seen[-2]

    alarm = store.raise_alarm(make_draft(at=T0), now=T0)
    assert rose() and store.list().version == seen[-1]
    store.acknowledge(alarm.id, "guard", now=T0)
    assert rose()
    store.add_comment(alarm.id, "seen", EventActor("guard", "user"), now=T0)
    assert not rose()  # a comment is no part of any list
    clip = store.clip_target(alarm.id, T0)
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(b"mp4")
    store.clip_ready(alarm.id, now=T0)
    assert rose()
    other = db.make_engine(db_url)  # another process's writes count too (database triggers)
    with other.begin() as conn:
        conn.execute(update(ALARMS).where(ALARMS.c.id == alarm.id).values(zone="lobby"))
    other.dispose()
    assert rose()
    assert store.purge(dt.timedelta(days=1), now=T0 + dt.timedelta(days=2)) == 1
    assert rose()


def test_a0007_settles_the_clip_paths_of_older_alarms_once(db_url: str, tmp_path: Path) -> None:
    engine = db.make_engine(db_url)
    db.upgrade(engine, "a0006")  # alarms stored before clip paths were recorded
    draft = make_draft()
    with engine.begin() as conn:
        for alarm_id in ("with-clip", "without"):
            conn.execute(insert(ALARMS).values(
                id=alarm_id, type=draft.type, severity=draft.severity, state="open", rule_id=draft.rule_id,
                camera_id=draft.camera_id, occurred_at=T0, created_at=T0, subject_kind="watchlist",
                subject_id="wl-1", dedup_key=draft.dedup_key, details={}))
    clip = tmp_path / "data" / "snapshots" / relative_path("with-clip", T0, ".mp4")
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"mp4")
    db.upgrade(engine)
    unsettled = AlarmStore(engine, tmp_path / "data" / "snapshots", cipher=TemplateCipher(CROP_KEY))
    # Not settled yet (an older process still runs): read the old way, looking for the file.
    assert {a.id: a.clip_path for a in unsettled.list().items} == {
        "with-clip": relative_path("with-clip", T0, ".mp4"), "without": None}
    engine.dispose()

    store = AlarmStore.open(db_url, data_dir=tmp_path / "data", cipher=TemplateCipher(CROP_KEY))
    try:
        with store.engine.connect() as conn:
            rows = {r.id: (r.clip_path, r.clip_known) for r in conn.execute(select(ALARMS))}
        assert rows == {"with-clip": (relative_path("with-clip", T0, ".mp4"), True), "without": (None, True)}
        assert store.settle_clip_paths() == 0  # done once
        clip.unlink()  # from now on the row is believed, not the file system
        assert store.get("with-clip").clip_path == relative_path("with-clip", T0, ".mp4")
    finally:
        store.close()
