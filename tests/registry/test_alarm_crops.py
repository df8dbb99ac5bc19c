"""Alarm face crops follow the registry: deletion (every path) redacts them, key rotation re-encrypts them.

Deleting a person leaves none of their face data anywhere: templates, enrollment crops, alarm crops.

A real photo is enrolled with the real face engine; alarms are stored with that person's face crop
(cut as the service cuts it) through the real alarm store; the person is deleted with
``estatewatch registry delete``. Then every file under the data directory, every row of every
table (PostgreSQL: read through SQL, never its files) and, on SQLite, the database files' bytes
are searched for the crop's JPEG bytes, the encrypted crop and the template ciphertexts.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from sqlalchemy import Engine, MetaData, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alarms.intake import crop_box
from alarms.schema import ALARMS
from alarms.snapshots import encode_jpeg
from alarms.store import AlarmStore
from estatewatch.cli import app
from registry.schema import FaceTemplate
from registry.types import Owner
from tests.alarms.conftest import T0, make_draft
from tests.registry.builders import unit_vectors
from tests.registry.conftest import TEST_KEY, RegistryFactory

ImageFn = Callable[[str], npt.NDArray[np.uint8]]
SLICE = 48


def _jpeg_needles(name: str, jpeg: bytes) -> dict[str, bytes]:
    """Slices of the entropy-coded data (headers are shared by every JPEG of the same quality)."""
    middle = len(jpeg) // 2
    return {f"{name} (middle)": jpeg[middle : middle + SLICE], f"{name} (end)": jpeg[-SLICE - 2 : -2]}


def _cipher_needles(name: str, blob: bytes) -> dict[str, bytes]:
    """The ciphertext past its nonce, and its tag end."""
    return {f"{name} (body)": blob[12 : 12 + SLICE], f"{name} (tail)": blob[-SLICE:]}


def _encodings(value: Any) -> Iterator[bytes]:
    """A stored value as the bytes it holds, and text values as written."""
    if value is None:
        return
    if isinstance(value, bytes | bytearray | memoryview):
        yield bytes(value)
    elif isinstance(value, dict | list):
        yield json.dumps(value, ensure_ascii=False).encode()
    else:
        yield str(value).encode()


def _rows(engine: Engine) -> Iterator[tuple[str, bytes]]:
    """Every value of every row of every table of the database (through SQL)."""
    meta = MetaData()
    meta.reflect(engine)
    assert {"alarms", "face_templates", "alarm_events", "outbox_messages"} <= set(meta.tables)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    for data in _encodings(value):
                        yield f"{table.name}.{column}", data


def _found(needles: dict[str, bytes], engine: Engine, data_dir: Path, db_files: list[Path]) -> set[str]:
    """``needle @ place`` for every needle found in a row, a data file or a database file."""
    places: list[tuple[str, bytes]] = list(_rows(engine))
    places += [(f"file {p}", p.read_bytes()) for p in sorted(data_dir.rglob("*")) if p.is_file()]
    places += [(f"database file {p.name}", p.read_bytes()) for p in db_files if p.exists()]
    hits = set()
    for name, needle in needles.items():
        forms = (needle, needle.hex().encode(), base64.b64encode(needle)[:60])
        for place, data in places:
            if any(form in data for form in forms):
                hits.add(f"{name} @ {place}")
    return hits


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, model_store: Path) -> Path:
    """``estatewatch`` configured as an operator would: this database, this key, this data folder."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ESTATEWATCH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ESTATEWATCH_MODELS_DIR", str(model_store))
    monkeypatch.setenv("ESTATEWATCH_DATABASE_URL", db_url)
    monkeypatch.setenv("ESTATEWATCH_TEMPLATE_KEY", TEST_KEY)
    for var in ("ESTATEWATCH_TEMPLATE_KEY_FILE", "ESTATEWATCH_TEMPLATE_KEYS_RETIRED"):
        monkeypatch.delenv(var, raising=False)
    return data_dir


def test_registry_delete_leaves_no_face_data_in_files_or_rows(
    env: Path, make_registry: RegistryFactory, analyzer: Any, image: ImageFn, db_url: str, tmp_path: Path
) -> None:
    registry = make_registry()
    yao = image("yaoming.jpg")
    ok, photo = cv2.imencode(".jpg", yao, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    owner, template_ids = registry.enroll([("yaoming.jpg", photo.tobytes())], analyzer, name="姚明")
    keep = Owner("resident", registry.add_resident("keep"))
    registry.add_templates(keep, unit_vectors(1, seed=4))
    with Session(registry.engine) as s:
        templates = list(s.scalars(select(FaceTemplate).where(FaceTemplate.id.in_(template_ids))))
    enrollment_crop = registry.load_crop(template_ids[0])
    assert enrollment_crop is not None and all(t.crop_ct for t in templates)

    # alarms with the person's face crop, cut from the frame as the service cuts it
    (face,) = analyzer.analyze([yao])[0]
    crop = crop_box(yao, face.box)
    assert crop is not None
    other_face = analyzer.analyze([image("players.jpg")])[0][0]
    other_crop = crop_box(image("players.jpg"), other_face.box)
    store = AlarmStore.open(db_url, data_dir=env, cipher=registry.cipher)
    theirs = [
        store.raise_alarm(make_draft(kind="resident", subject_id=owner.id, at=T0 + dt.timedelta(minutes=i)),
                          yao, crop, now=T0)
        for i in range(2)
    ]
    kept = store.raise_alarm(make_draft(kind="resident", subject_id=keep.id), None, other_crop, now=T0)
    crop_jpeg = encode_jpeg(crop)
    assert store.crop_bytes(theirs[0].id) == crop_jpeg  # what was stored is this JPEG, encrypted
    with store.engine.connect() as conn:
        sealed = [bytes(conn.execute(select(ALARMS.c.crop_ct).where(ALARMS.c.id == a.id)).scalar_one())
                  for a in theirs]

    plain = {**_jpeg_needles("alarm crop JPEG", crop_jpeg),
             **_jpeg_needles("enrollment crop JPEG", enrollment_crop)}
    ciphertexts: dict[str, bytes] = {}
    for i, blob in enumerate(sealed):
        ciphertexts |= _cipher_needles(f"encrypted alarm crop {i}", blob)
    for t in templates:
        ciphertexts |= _cipher_needles(f"template {t.id} embedding", t.embedding_ct)
        ciphertexts |= _cipher_needles(f"template {t.id} crop", t.crop_ct or b"")
    db_files = list(tmp_path.glob("estatewatch.db*")) if db_url.startswith("sqlite") else []

    # before: the scan sees every ciphertext in the rows (it can find them), never a plain crop
    before = _found({**plain, **ciphertexts}, store.engine, env, db_files)
    assert {h.split(" @ ")[0] for h in before} == set(ciphertexts), before
    assert not any(" @ file " in h for h in before)  # crops are not files; the snapshot is the scene

    result = CliRunner().invoke(app, ["registry", "delete", owner.id], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 template(s)" in result.output

    assert _found({**plain, **ciphertexts}, store.engine, env, db_files) == set()
    for alarm in theirs:  # the alarms stay, marked redacted, their scene snapshot too
        redacted = store.get(alarm.id)
        assert redacted.redacted and not redacted.has_crop and store.crop_bytes(alarm.id) is None
        assert store.snapshot_file(alarm.id) is not None
    assert not store.get(kept.id).redacted and store.crop_bytes(kept.id) == encode_jpeg(other_crop)
    assert store.list().total == 3
    store.close()


def test_visitor_retention_and_a_hosts_deletion_redact_visitors_alarm_crops(
    make_registry: RegistryFactory, db_url: str, tmp_path: Path
) -> None:
    registry = make_registry(visitor_retention_days=1)
    store = AlarmStore.for_registry(registry, data_dir=tmp_path / "data")
    host = registry.add_resident("host")
    expired = registry.add_visitor("guest", host, T0 - dt.timedelta(days=3), T0 - dt.timedelta(days=2))
    hosted = registry.add_visitor("friend", host, T0, T0 + dt.timedelta(days=30))
    crop = np.full((40, 32, 3), 99, np.uint8)
    alarms = {v: store.raise_alarm(make_draft(kind="visitor", subject_id=v), None, crop, now=T0)
              for v in (expired, hosted)}

    assert registry.purge_expired_visitors(T0) == [expired]
    assert store.get(alarms[expired].id).redacted and store.crop_bytes(alarms[expired].id) is None
    assert not store.get(alarms[hosted].id).redacted

    registry.delete_resident(host)  # takes the visitors it hosts with it, and their alarm crops
    assert store.get(alarms[hosted].id).redacted and store.crop_bytes(alarms[hosted].id) is None


def test_rotate_key_reencrypts_alarm_crops_before_retiring_the_old_key(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESTATEWATCH_TEMPLATE_KEY")  # the generated key file, as a fresh install has
    store = AlarmStore.open()
    alarm = store.raise_alarm(make_draft(), None, np.full((40, 32, 3), 7, np.uint8), now=T0)
    jpeg = store.crop_bytes(alarm.id)
    store.close()
    key_file = env / "secrets" / "template.key"
    old_key = key_file.read_text().split()

    result = CliRunner().invoke(app, ["registry", "rotate-key", "--generate"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    new_key = key_file.read_text().split()
    assert len(new_key) == 1 and new_key != old_key  # the old key is retired from the file

    reopened = AlarmStore.open()  # only the new key now
    try:
        assert reopened.key_ids_in_use() == {reopened.cipher.current_key_id}
        assert reopened.crop_bytes(alarm.id) == jpeg
    finally:
        reopened.close()


def test_a_crop_stored_after_its_persons_deletion_is_redacted_by_the_sweep(
    make_registry: RegistryFactory, tmp_path: Path
) -> None:
    registry = make_registry()
    store = AlarmStore.for_registry(registry, data_dir=tmp_path / "data")
    gone, kept = registry.add_resident("gone"), registry.add_resident("kept")
    watched = registry.add_watchlist_entry("watched")
    crop = np.full((40, 32, 3), 99, np.uint8)
    registry.delete_resident(gone)
    # the live pipeline identified the person a moment before the deletion and stores it after
    late = store.raise_alarm(make_draft(kind="resident", subject_id=gone), None, crop, now=T0)
    others = [store.raise_alarm(make_draft(kind=kind, subject_id=i), None, crop, now=T0)
              for kind, i in (("resident", kept), ("watchlist", watched))]
    assert set(store.crop_owners()) == {Owner("resident", gone), Owner("resident", kept),
                                        Owner("watchlist", watched)}

    assert store.redact_orphans(registry.existing_owners) == 1
    assert store.get(late.id).redacted and store.crop_bytes(late.id) is None
    assert all(not store.get(a.id).redacted and store.crop_bytes(a.id) for a in others)
    assert store.redact_orphans(registry.existing_owners) == 0  # nothing left to do
