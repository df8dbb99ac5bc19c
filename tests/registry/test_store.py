"""The registry on a real database (SQLite file and PostgreSQL): CRUD, audit, privacy, consistency."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from registry import db
from registry.changes import RegistryError
from registry.crypto import TemplateKeyError
from registry.schema import AuditEntry, FaceTemplate, Resident, Vehicle, Visitor, WatchlistEntry
from registry.service import Registry
from registry.types import Owner
from storage.db import checkpoint, make_engine
from tests.registry.builders import unit_vectors, with_similarity
from tests.registry.conftest import RegistryFactory

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def count(registry: Registry, table: type, **where: str) -> int:
    with Session(registry.engine) as s:
        query = select(func.count()).select_from(table)
        for key, value in where.items():
            query = query.where(getattr(table, key) == value)
        return int(s.scalar(query) or 0)


def test_resident_crud_and_audit(registry: Registry) -> None:
    rid = registry.add_resident(
        "王小明", building="3", unit="2", room="501", phone="13800000000", tags=["lives_alone"]
    )
    info = registry.get_resident(rid)
    assert info is not None and info.address == "3-2-501" and info.tags == ("lives_alone",)
    registry.update_resident(rid, status="moved_out")
    assert registry.get_resident(rid).status == "moved_out"  # type: ignore[union-attr]
    actions = [(a.action, a.entity) for a in registry.audit_log(rid)]
    assert actions == [("create", "resident"), ("update", "resident")]
    assert all(a.actor == registry.actor and a.at.tzinfo is not None for a in registry.audit_log(rid))


@pytest.mark.parametrize(
    ("fields", "expected_error"),
    [
        ({"name": ""}, "name must not be empty"),
        ({"name": "x", "status": "gone"}, "status must be one of"),
        ({"name": "x", "room": "9" * 40}, "room is longer"),
        ({"name": "x", "colour": "red"}, "unexpected"),
    ],
)
def test_resident_validation(registry: Registry, fields: dict[str, str], expected_error: str) -> None:
    with pytest.raises((RegistryError, TypeError), match=expected_error):
        registry.add_resident(**fields)  # type: ignore[arg-type]
    assert registry.list_residents() == []


def test_vehicle_rules(registry: Registry) -> None:
    rid = registry.add_resident("李雷")
    registry.add_vehicle("京a·12345", resident_id=rid, plate_colour="blue")
    assert [v.plate for v in registry.list_vehicles()] == ["京A12345"]
    with pytest.raises(RegistryError, match="already registered"):
        registry.add_vehicle("京A12345", resident_id=rid)
    with pytest.raises(RegistryError, match="exactly one resident or visitor"):
        registry.add_vehicle("京A54321")
    with pytest.raises(RegistryError, match="no resident"):
        registry.add_vehicle("京A54321", resident_id="nope")


def test_one_entry_vehicle_or_visitor_by_id_is_a_key_lookup(registry: Registry) -> None:
    """``get_*`` answer what the lists hold, ``None`` for an unknown id, and never read a whole table."""
    rid = registry.add_resident("李雷")
    registry.add_watchlist_entry("tall man", reason="seen at night", severity="high", plate="粤C99999")
    entry_id = registry.add_watchlist_entry("another")
    vehicle_id = registry.add_vehicle("京A12345", resident_id=rid, plate_colour="blue")
    visitor_id = registry.add_visitor("韩梅梅", rid, T0, T0 + dt.timedelta(hours=2))
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(registry.engine, "before_cursor_execute", seen)
    try:
        entry, vehicle = registry.get_watchlist_entry(entry_id), registry.get_vehicle(vehicle_id)
        visitor = registry.get_visitor(visitor_id)
        missing = (registry.get_watchlist_entry("nope"), registry.get_vehicle("nope"),
                   registry.get_visitor("nope"))
    finally:
        event.remove(registry.engine, "before_cursor_execute", seen)
    assert missing == (None, None, None)
    assert entry == next(e for e in registry.list_watchlist() if e.id == entry_id)
    assert vehicle == next(v for v in registry.list_vehicles() if v.id == vehicle_id)
    assert visitor == next(v for v in registry.list_visitors() if v.id == visitor_id)
    assert len(statements) == 6
    for statement in statements:  # each a primary-key lookup
        assert re.search(r"WHERE (watchlist_entries|vehicles|visitors)\.id = ", statement), statement


def test_face_match_threshold_and_unknown(make_registry: RegistryFactory) -> None:
    registry = make_registry(match_threshold=0.5)
    a, b = registry.add_resident("A", building="1"), registry.add_resident("B")
    gallery = unit_vectors(3, seed=3)
    registry.add_templates(Owner("resident", a), gallery[:2])
    registry.add_templates(Owner("resident", b), gallery[2:])
    queries = np.stack(
        [with_similarity(gallery[0], 0.5), with_similarity(gallery[2], 0.49), unit_vectors(1, seed=99)[0]]
    )
    got = registry.match_faces(queries)
    assert got[0].status == "match" and got[0].owner == Owner("resident", a) and got[0].name == "A"
    assert got[0].address == "1"
    assert got[1].status == "unknown" and got[1].owner is None and got[1].candidates[0].owner_id == b
    assert got[2].status == "unknown"
    assert registry.match_faces(queries[1:2], threshold=0.48)[0].owner == Owner("resident", b)


def test_other_models_are_never_compared(make_registry: RegistryFactory) -> None:
    registry = make_registry()
    rid = registry.add_resident("A")
    vec = unit_vectors(1)
    registry.add_templates(Owner("resident", rid), vec, model_id="other_model")
    assert registry.match_faces(vec)[0].status == "unknown"  # its template is not in the index
    with pytest.raises(RegistryError, match="cannot be compared"):
        registry.match_faces(vec, model_id="other_model")
    assert registry.template_counts() == {"other_model": 1}


def test_index_consistent_across_processes(make_registry: RegistryFactory) -> None:
    writer, reader = make_registry(), make_registry()  # separate engines, as two processes
    vec = unit_vectors(1, seed=5)
    assert reader.match_faces(vec)[0].status == "unknown"
    rid = writer.add_resident("A")
    (tid,) = writer.add_templates(Owner("resident", rid), vec)
    assert reader.match_faces(vec)[0].template_id == tid  # no restart
    writer.delete_template(tid)
    assert reader.match_faces(vec)[0].status == "unknown"
    writer.add_templates(Owner("resident", rid), vec)
    writer.delete_resident(rid)
    assert reader.match_faces(vec)[0].status == "unknown" and len(reader.index) == 0


def test_concurrent_enrollments_do_not_lose_templates(make_registry: RegistryFactory) -> None:
    first = make_registry()
    owners = [first.add_resident(f"p{i}") for i in range(4)]
    writers = [make_registry() for _ in owners]
    errors: list[BaseException] = []

    def enroll(reg: Registry, owner: str, seed: int) -> None:
        try:
            for j in range(5):
                reg.add_templates(Owner("resident", owner), unit_vectors(2, seed=seed * 100 + j))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=enroll, args=(w, o, i))
        for i, (w, o) in enumerate(zip(writers, owners, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(first, FaceTemplate) == 4 * 5 * 2
    first.refresh(force=True)
    assert len(first.index) == 40 and first.index.version == first.version()


def test_embeddings_are_not_plaintext(registry: Registry, db_url: str) -> None:
    rid = registry.add_resident("A")
    vec = unit_vectors(1, seed=7)
    (tid,) = registry.add_templates(Owner("resident", rid), vec, crops=[b"\xff\xd8JPEG-CROP-BYTES" * 20])
    plain = vec[0].astype("<f4").tobytes()
    with Session(registry.engine) as s:
        row = s.get(FaceTemplate, tid)
        assert row is not None and row.key_id == registry.cipher.current_key_id
        assert plain[:64] not in row.embedding_ct and len(row.embedding_ct) == 12 + len(plain) + 16
        assert b"JPEG-CROP-BYTES" not in (row.crop_ct or b"")
    if db_url.startswith("sqlite"):
        checkpoint(registry.engine)
        raw = Path(registry.engine.url.database or "").read_bytes()
        assert plain[:64] not in raw and b"JPEG-CROP-BYTES" not in raw
    assert registry.load_crop(tid) == b"\xff\xd8JPEG-CROP-BYTES" * 20


def test_delete_resident_leaves_no_biometric_trace(
    make_registry: RegistryFactory, db_url: str, tmp_path: Path
) -> None:
    registry = make_registry()
    keep = registry.add_resident("keep")
    registry.add_templates(Owner("resident", keep), unit_vectors(1, seed=1))
    rid = registry.add_resident("gone", building="1")
    vid = registry.add_visitor("guest", rid, T0, T0 + dt.timedelta(hours=2))
    tids = registry.add_templates(Owner("resident", rid), unit_vectors(2, seed=2), crops=[b"CROP-A" * 50] * 2)
    tids += registry.add_templates(Owner("visitor", vid), unit_vectors(1, seed=3))
    registry.add_vehicle("京A11111", resident_id=rid)
    registry.add_vehicle("京A22222", visitor_id=vid)
    with Session(registry.engine) as s:
        rows = list(s.scalars(select(FaceTemplate).where(FaceTemplate.id.in_(tids))))
    blobs = [t.embedding_ct for t in rows]
    crop_blobs = [t.crop_ct for t in rows if t.crop_ct is not None]
    assert len(crop_blobs) == 2 and registry.load_crop(tids[0]) == b"CROP-A" * 50
    assert registry.match_faces(unit_vectors(2, seed=2))[0].owner == Owner("resident", rid)

    report = registry.delete_resident(rid)

    # enrollment crops live encrypted in face_templates.crop_ct: none of them may remain there
    with Session(registry.engine) as s:
        remaining = [bytes(c) for c in s.scalars(select(FaceTemplate.crop_ct)) if c is not None]
    assert not any(blob[12:60] in c for blob in crop_blobs for c in remaining)
    assert all(registry.load_crop(t) is None for t in tids)

    assert (report.templates, report.vehicles, report.visitors) == (3, 2, 1)
    assert count(registry, Resident, id=rid) == 0 and count(registry, Visitor, id=vid) == 0
    assert count(registry, FaceTemplate) == 1 and count(registry, Vehicle) == 0
    assert registry.match_faces(unit_vectors(2, seed=2))[0].status == "unknown"
    assert registry.match_plate("京A11111").status == "unknown"
    with Session(registry.engine) as s:  # the audit log keeps ids and counts, nothing biometric
        details = [a.details for a in s.scalars(select(AuditEntry))]
    assert all(
        set(map(str, d.values()))
        <= {
            "3",
            "2",
            "1",
            "0",
            "w600k_mbf",
            "True",
            "False",
            rid,
            vid,
            "['building', 'name', 'status']",
            "['name', 'status']",
        }
        for d in details
    ), details
    if db_url.startswith("sqlite"):  # on disk: neither the ciphertexts nor the crops survive
        files = list(Path(registry.engine.url.database or "").parent.glob("estatewatch.db*"))
        raw = b"".join(f.read_bytes() for f in files)
        assert all(blob[12:60] not in raw for blob in [*blobs, *crop_blobs])
        assert b"CROP-A" * 5 not in raw


def test_watchlist_and_visitor_matches(registry: Registry) -> None:
    host = registry.add_resident("host")
    vid = registry.add_visitor("guest", host, T0, T0 + dt.timedelta(hours=1))
    wid = registry.add_watchlist_entry("wanted", reason="theft", severity="high", plate="沪B12345")
    g = unit_vectors(2, seed=11)
    registry.add_templates(Owner("visitor", vid), g[:1])
    registry.add_templates(Owner("watchlist", wid), g[1:])
    visitor, wanted = registry.match_faces(g, now=T0 + dt.timedelta(hours=2))
    assert (visitor.owner_status, visitor.name) == ("expired", "guest")
    assert (wanted.owner_status, wanted.severity, wanted.owner) == (
        "watchlist",
        "high",
        Owner("watchlist", wid),
    )
    plate = registry.match_plate("沪B1Z345")
    assert (
        plate.status == "near" and plate.owners[0].kind == "watchlist" and plate.owners[0].severity == "high"
    )
    with pytest.raises(RegistryError, match="severity"):
        registry.add_watchlist_entry("x", severity="extreme")
    with pytest.raises(RegistryError, match="end before it starts"):
        registry.add_visitor("g", host, T0, T0 - dt.timedelta(seconds=1))


def test_plate_match_sees_other_process_changes(make_registry: RegistryFactory) -> None:
    writer, reader = make_registry(), make_registry()
    rid = writer.add_resident("车主")
    assert reader.match_plate("京A12345").status == "unknown"
    writer.add_vehicle("京A12345", resident_id=rid)
    exact = reader.match_plate("京A·12345")
    assert exact.status == "exact" and exact.confidence == 1.0 and exact.owners[0].owner_id == rid
    near = reader.match_plate("京AI2345")
    assert near.status == "near" and near.plate == "京A12345" and near.confidence < 1.0


def test_purge_expired_visitors(make_registry: RegistryFactory) -> None:
    registry = make_registry(visitor_retention_days=7)
    host = registry.add_resident("host")
    old = registry.add_visitor("old", host, T0 - dt.timedelta(days=10), T0 - dt.timedelta(days=8))
    recent = registry.add_visitor("recent", host, T0 - dt.timedelta(days=2), T0 - dt.timedelta(days=1))
    registry.add_templates(Owner("visitor", old), unit_vectors(1, seed=1))
    registry.add_vehicle("京A99999", visitor_id=old)
    assert registry.purge_expired_visitors(T0) == [old]
    assert count(registry, Visitor) == 1 and count(registry, Visitor, id=recent) == 1
    assert count(registry, FaceTemplate) == 0 and count(registry, Vehicle) == 0


def test_rotate_key_reencrypts_everything(make_registry: RegistryFactory) -> None:
    import base64

    old_key = base64.b64encode(b"o" * 32).decode()
    new_key = base64.b64encode(b"n" * 32).decode()
    first = make_registry(template_key=old_key)
    rid = first.add_resident("A")
    vec = unit_vectors(3, seed=4)
    first.add_templates(Owner("resident", rid), vec, crops=[b"c1", None, b"c3"])
    with pytest.raises(TemplateKeyError, match="no key with id"):
        make_registry(template_key=new_key).match_faces(vec)
    rotated = make_registry(template_key=new_key, template_keys_retired=old_key)
    assert rotated.rotate_key(batch=2) == 3
    assert rotated.key_ids_in_use() == {rotated.cipher.current_key_id}
    fresh = make_registry(template_key=new_key)  # old key gone: everything still decrypts
    assert [m.status for m in fresh.match_faces(vec)] == ["match"] * 3
    assert sorted(filter(None, (fresh.load_crop(t) for t in fresh.template_ids(Owner("resident", rid))))) == [
        b"c1",
        b"c3",
    ]


def test_migrations_upgrade_an_old_database_without_loss(db_url: str) -> None:
    engine = make_engine(db_url)
    db.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO residents (id, name, building, status, created_at, updated_at) "
                "VALUES ('r1', '张三', '5', 'active', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO face_templates (id, resident_id, model_id, dim, key_id, embedding_ct, "
                "quality, created_at) VALUES ('t1', 'r1', 'w600k_mbf', 512, 'k', :blob, 0.9, "
                "'2024-01-01 00:00:00')"
            ),
            {"blob": b"\x01\x02ciphertext"},
        )
        conn.execute(
            text(
                "INSERT INTO vehicles (id, plate, resident_id, created_at) "
                "VALUES ('v1', '京A12345', 'r1', '2024-01-01 00:00:00')"
            )
        )
    db.upgrade(engine)
    assert db.current_revision(engine) == "0002"
    with Session(engine) as s:
        resident = s.get(Resident, "r1")
        template = s.get(FaceTemplate, "t1")
        vehicle = s.get(Vehicle, "v1")
        assert resident is not None and resident.name == "张三" and resident.tags == []
        assert (
            template is not None
            and template.embedding_ct == b"\x01\x02ciphertext"
            and template.quality == 0.9
        )
        assert template.resident_id == "r1" and template.visitor_id is None
        assert vehicle is not None and vehicle.resident_id == "r1"
        assert s.scalar(select(func.count()).select_from(WatchlistEntry)) == 0
    engine.dispose()


def test_schema_matches_migrations(registry: Registry) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from registry.schema import Base

    with registry.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
