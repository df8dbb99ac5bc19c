"""The registry service: CRUD with audit, encrypted templates, and the 1:N face/plate match API.

Every change runs in one transaction that first bumps ``registry_state.version`` (serialising
writers), writes an audit row and, for templates, a ``template_events`` row. Each process keeps its
own :class:`~registry.index.FaceIndex` and applies the events newer than the version it has seen
before searching, so processes sharing one database agree without restarts.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import CursorResult, Delete, Engine, delete, func, or_, select, update
from sqlalchemy.orm import Session

from models.manifest import EMBEDDING_DIM
from registry import db
from registry.config import RegistrySettings
from registry.crypto import TemplateCipher
from registry.enrollment import FaceAnalyzerLike, decode_photo, select_faces
from registry.index import FaceIndex, IndexedTemplate
from registry.matching import decide, normalise_queries
from registry.plates import PlateBook, PlateMatch, PlateOwner, match_plate, normalise_plate
from registry.retention import visit_active, visitors_to_purge
from registry.schema import (
    RESIDENT_STATUSES,
    SEVERITIES,
    AuditEntry,
    FaceTemplate,
    RegistryState,
    Resident,
    TemplateEvent,
    Vehicle,
    Visitor,
    WatchlistEntry,
    new_id,
    utcnow,
)
from registry.search import make_backend
from registry.types import (
    AuditRecord,
    DeletionReport,
    FaceMatch,
    Owner,
    OwnerKind,
    ResidentInfo,
    VehicleInfo,
)
from storage.db import checkpoint, make_engine

logger = logging.getLogger(__name__)
RESIDENT_FIELDS = ("name", "building", "unit", "room", "phone", "status", "tags")


class RegistryError(ValueError):
    """A request the registry refuses (unknown id, bad field, duplicate plate ...)."""


def template_aad(template_id: str, model_id: str, what: str = "embedding") -> bytes:
    """Associated data binding a ciphertext to its row and purpose."""
    return f"estatewatch/{what}/{template_id}/{model_id}".encode()


class BiometricHolder(Protocol):
    """Biometric data of registry persons kept outside the registry's tables (alarm face crops).

    The registry tells every holder added with :meth:`Registry.add_holder` which persons it
    deleted (after the deletion commits) and re-encrypts through it when keys rotate, so that
    data follows every delete path and the same keys, while the registry never imports its holder.
    """

    def forget_owners(self, owners: Sequence[Owner]) -> int:
        """Remove or redact what belongs to these deleted persons; returns how many records changed."""
        ...

    def reencrypt(self, cipher: TemplateCipher) -> int:
        """Re-encrypt what is not under ``cipher``'s current key; returns how many items."""
        ...

    def key_ids_in_use(self) -> set[str]:
        """Key ids of the ciphertexts it holds."""
        ...


@dataclass
class _Change:
    session: Session
    version: int
    actor: str
    template_changes: list[tuple[str, str, str]] = field(default_factory=list)

    def audit(self, action: str, entity: str, entity_id: str | None, **details: Any) -> None:
        self.session.add(
            AuditEntry(
                actor=self.actor,
                action=action,
                entity=entity,
                entity_id=entity_id,
                details=details,
                at=utcnow(),
            )
        )

    def template_event(self, template_id: str, model_id: str, op: str) -> None:
        self.session.add(
            TemplateEvent(version=self.version, template_id=template_id, model_id=model_id, op=op)
        )


class Registry:
    """Residents, faces, vehicles, visitors and the watchlist in one database.

    Args:
        engine: a migrated database (see :meth:`open`).
        settings: thresholds, backend, model id, retention.
        cipher: keyring for templates at rest.
        actor: who is recorded in the audit log for changes made through this object.
    """

    def __init__(
        self, engine: Engine, settings: RegistrySettings, cipher: TemplateCipher, actor: str | None = None
    ) -> None:
        self.engine, self.settings, self.cipher = engine, settings, cipher
        self.actor = actor or _default_actor()
        self.index = FaceIndex(
            settings.embedding_model, make_backend(settings.search_backend, EMBEDDING_DIM), EMBEDDING_DIM
        )
        self._last_check = -float("inf")
        self._plates: PlateBook | None = None
        self._plates_version = -1
        self.holders: list[BiometricHolder] = []

    def add_holder(self, holder: BiometricHolder) -> None:
        """Have ``holder`` follow this registry's deletions and key rotations (idempotent)."""
        if not any(h is holder for h in self.holders):
            self.holders.append(holder)

    @classmethod
    def open(
        cls,
        settings: RegistrySettings | None = None,
        *,
        url: str | None = None,
        migrate: bool = True,
        actor: str | None = None,
    ) -> Registry:
        """Open (and by default migrate) the configured database."""
        settings = settings or RegistrySettings()
        engine = make_engine(url or settings.resolved_database_url())
        if migrate:
            db.upgrade(engine)
        return cls(engine, settings, TemplateCipher.from_settings(settings), actor)

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _change(self) -> Iterator[_Change]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            version = session.execute(
                update(RegistryState)
                .where(RegistryState.id == 1)
                .values(version=RegistryState.version + 1)
                .returning(RegistryState.version)
            ).scalar_one()
            yield _Change(session, version, self.actor)
        self._last_check = -float("inf")  # our own change is visible on the next search

    def version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(RegistryState.version)).scalar_one())

    # -- residents ------------------------------------------------------------------------------

    def add_resident(
        self,
        name: str,
        *,
        building: str | None = None,
        unit: str | None = None,
        room: str | None = None,
        phone: str | None = None,
        status: str = "active",
        tags: Sequence[str] = (),
    ) -> str:
        fields = _resident_fields(
            name=name, building=building, unit=unit, room=room, phone=phone, status=status, tags=list(tags)
        )
        with self._change() as change:
            return self._create_resident(change, fields)

    def _create_resident(self, change: _Change, fields: dict[str, Any]) -> str:
        resident = Resident(id=new_id(), **fields)
        change.session.add(resident)
        change.audit("create", "resident", resident.id, fields=sorted(k for k, v in fields.items() if v))
        return resident.id

    def update_resident(self, resident_id: str, **changes: Any) -> None:
        unknown = set(changes) - set(RESIDENT_FIELDS)
        if unknown:
            raise RegistryError(f"unknown resident fields: {', '.join(sorted(unknown))}")
        with self._change() as change:
            resident = change.session.get(Resident, resident_id)
            if resident is None:
                raise RegistryError(f"no resident {resident_id}")
            current = {k: getattr(resident, k) for k in RESIDENT_FIELDS}
            fields = _resident_fields(**{**current, **changes})
            for key, value in fields.items():
                setattr(resident, key, value)
            resident.updated_at = utcnow()
            change.audit("update", "resident", resident_id, fields=sorted(changes))

    def get_resident(self, resident_id: str) -> ResidentInfo | None:
        with Session(self.engine) as session:
            row = session.get(Resident, resident_id)
            return None if row is None else _resident_info(row)

    def list_residents(self) -> list[ResidentInfo]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(Resident).order_by(Resident.building, Resident.unit, Resident.room, Resident.name)
            )
            return [_resident_info(r) for r in rows]

    def find_residents(
        self, name: str, building: str | None = None, unit: str | None = None, room: str | None = None
    ) -> list[ResidentInfo]:
        """Residents with this name (and address parts, where given)."""
        query = select(Resident).where(Resident.name == name)
        for column, value in ((Resident.building, building), (Resident.unit, unit), (Resident.room, room)):
            if value:
                query = query.where(column == value)
        with Session(self.engine) as session:
            return [_resident_info(r) for r in session.scalars(query)]

    def delete_resident(self, resident_id: str) -> DeletionReport:
        """Delete a resident with every template, crop, vehicle and hosted visitor."""
        with self._change() as change:
            s = change.session
            if s.get(Resident, resident_id) is None:
                raise RegistryError(f"no resident {resident_id}")
            visitor_ids = list(s.scalars(select(Visitor.id).where(Visitor.host_resident_id == resident_id)))
            owned = or_(FaceTemplate.resident_id == resident_id, FaceTemplate.visitor_id.in_(visitor_ids))
            templates = self._drop_templates(change, owned)
            vehicles = _deleted(
                s,
                delete(Vehicle).where(
                    or_(Vehicle.resident_id == resident_id, Vehicle.visitor_id.in_(visitor_ids))
                ),
            )
            s.execute(delete(Visitor).where(Visitor.id.in_(visitor_ids)))
            s.execute(delete(Resident).where(Resident.id == resident_id))
            change.audit(
                "delete",
                "resident",
                resident_id,
                templates=templates,
                vehicles=vehicles,
                visitors=len(visitor_ids),
            )
        owner = Owner("resident", resident_id)
        self._after_biometric_delete([owner, *(Owner("visitor", v) for v in visitor_ids)])
        return DeletionReport(owner, templates, vehicles, len(visitor_ids))

    def _drop_templates(self, change: _Change, where: Any) -> int:
        rows = change.session.execute(select(FaceTemplate.id, FaceTemplate.model_id).where(where)).all()
        for template_id, model_id in rows:
            change.template_event(template_id, model_id, "remove")
        if rows:
            change.session.execute(delete(FaceTemplate).where(FaceTemplate.id.in_([r[0] for r in rows])))
        return len(rows)

    def _after_biometric_delete(self, owners: Sequence[Owner] = ()) -> None:
        """After a committed deletion: fold the WAL, then let every holder forget the deleted persons.

        A holder's failure propagates (the caller must learn that biometric data may remain).
        """
        checkpoint(self.engine)  # SQLite: no deleted page survives in the WAL
        if owners:
            for holder in self.holders:
                holder.forget_owners(owners)

    # -- visitors and watchlist ----------------------------------------------------------------

    def add_visitor(
        self, name: str, host_resident_id: str, valid_from: dt.datetime, valid_until: dt.datetime
    ) -> str:
        if valid_from.tzinfo is None or valid_until.tzinfo is None:
            raise RegistryError("visit times must be timezone-aware")
        if valid_until < valid_from:
            raise RegistryError("a visit cannot end before it starts")
        with self._change() as change:
            if change.session.get(Resident, host_resident_id) is None:
                raise RegistryError(f"no resident {host_resident_id}")
            visitor = Visitor(
                id=new_id(),
                name=_text(name, "name"),
                host_resident_id=host_resident_id,
                valid_from=valid_from.astimezone(dt.UTC),
                valid_until=valid_until.astimezone(dt.UTC),
            )
            change.session.add(visitor)
            change.audit("create", "visitor", visitor.id, host=host_resident_id)
            return visitor.id

    def delete_visitor(self, visitor_id: str) -> DeletionReport:
        with self._change() as change:
            report = self._delete_visitor(change, visitor_id)
        self._after_biometric_delete([report.owner])
        return report

    def _delete_visitor(self, change: _Change, visitor_id: str) -> DeletionReport:
        s = change.session
        if s.get(Visitor, visitor_id) is None:
            raise RegistryError(f"no visitor {visitor_id}")
        templates = self._drop_templates(change, FaceTemplate.visitor_id == visitor_id)
        vehicles = _deleted(s, delete(Vehicle).where(Vehicle.visitor_id == visitor_id))
        s.execute(delete(Visitor).where(Visitor.id == visitor_id))
        change.audit("delete", "visitor", visitor_id, templates=templates, vehicles=vehicles)
        return DeletionReport(Owner("visitor", visitor_id), templates, vehicles, 1)

    def purge_expired_visitors(self, now: dt.datetime) -> list[str]:
        """Delete the visitors whose retention period has passed at ``now``; returns their ids."""
        retention = dt.timedelta(days=self.settings.visitor_retention_days)
        with Session(self.engine) as session:
            rows = [(v, _aware(u)) for v, u in session.execute(select(Visitor.id, Visitor.valid_until))]
        expired = visitors_to_purge(rows, now, retention)
        if expired:
            with self._change() as change:
                for visitor_id in expired:
                    self._delete_visitor(change, visitor_id)
                change.audit("purge", "visitor", None, count=len(expired), retention_days=retention.days)
            self._after_biometric_delete([Owner("visitor", v) for v in expired])
            logger.info("purged %s visitors past retention", len(expired))
        return expired

    def add_watchlist_entry(
        self, label: str, *, reason: str = "", severity: str = "critical", plate: str | None = None
    ) -> str:
        if severity not in SEVERITIES:
            raise RegistryError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        normalised = _plate(plate) if plate else None
        with self._change() as change:
            return self._create_watchlist(change, label, reason, severity, normalised)

    def _create_watchlist(
        self, change: _Change, label: str, reason: str, severity: str, plate: str | None
    ) -> str:
        entry = WatchlistEntry(
            id=new_id(), label=_text(label, "label"), reason=reason, severity=severity, plate=plate
        )
        change.session.add(entry)
        change.audit("create", "watchlist", entry.id, severity=severity, plate=bool(plate))
        return entry.id

    def delete_watchlist_entry(self, entry_id: str) -> DeletionReport:
        with self._change() as change:
            if change.session.get(WatchlistEntry, entry_id) is None:
                raise RegistryError(f"no watchlist entry {entry_id}")
            templates = self._drop_templates(change, FaceTemplate.watchlist_id == entry_id)
            change.session.execute(delete(WatchlistEntry).where(WatchlistEntry.id == entry_id))
            change.audit("delete", "watchlist", entry_id, templates=templates)
        owner = Owner("watchlist", entry_id)
        self._after_biometric_delete([owner])
        return DeletionReport(owner, templates, 0, 0)

    def delete_owner(self, owner: Owner) -> DeletionReport:
        if owner.kind == "resident":
            return self.delete_resident(owner.id)
        if owner.kind == "visitor":
            return self.delete_visitor(owner.id)
        return self.delete_watchlist_entry(owner.id)

    def existing_owners(self, owners: Sequence[Owner]) -> set[Owner]:
        """Which of ``owners`` (residents, visitors, watchlist entries) exist in the registry."""
        tables: dict[OwnerKind, type[Resident | Visitor | WatchlistEntry]] = {
            "resident": Resident, "visitor": Visitor, "watchlist": WatchlistEntry}
        found: set[Owner] = set()
        with Session(self.engine) as s:
            for kind, table in tables.items():
                ids = [o.id for o in owners if o.kind == kind]
                for start in range(0, len(ids), 500):
                    query = select(table.id).where(table.id.in_(ids[start : start + 500]))
                    found.update(Owner(kind, i) for i in s.scalars(query))
        return found

    # -- vehicles -------------------------------------------------------------------------------

    def add_vehicle(
        self,
        plate: str,
        *,
        resident_id: str | None = None,
        visitor_id: str | None = None,
        plate_colour: str | None = None,
        plate_type: str | None = None,
        parking_permit: str | None = None,
    ) -> str:
        if (resident_id is None) == (visitor_id is None):
            raise RegistryError("a vehicle belongs to exactly one resident or visitor")
        normalised = _plate(plate)
        with self._change() as change:
            s = change.session
            if resident_id and s.get(Resident, resident_id) is None:
                raise RegistryError(f"no resident {resident_id}")
            if visitor_id and s.get(Visitor, visitor_id) is None:
                raise RegistryError(f"no visitor {visitor_id}")
            if s.scalar(select(Vehicle.id).where(Vehicle.plate == normalised)) is not None:
                raise RegistryError(f"plate {normalised} is already registered")
            vehicle = Vehicle(
                id=new_id(),
                plate=normalised,
                resident_id=resident_id,
                visitor_id=visitor_id,
                plate_colour=plate_colour,
                plate_type=plate_type,
                parking_permit=parking_permit,
            )
            s.add(vehicle)
            change.audit("create", "vehicle", vehicle.id, owner=resident_id or visitor_id)
            return vehicle.id

    def delete_vehicle(self, vehicle_id: str) -> None:
        with self._change() as change:
            if _deleted(change.session, delete(Vehicle).where(Vehicle.id == vehicle_id)) == 0:
                raise RegistryError(f"no vehicle {vehicle_id}")
            change.audit("delete", "vehicle", vehicle_id)

    def list_vehicles(self) -> list[VehicleInfo]:
        with Session(self.engine) as session:
            return [
                VehicleInfo(
                    v.id, v.plate, v.resident_id, v.visitor_id, v.plate_colour, v.plate_type, v.parking_permit
                )
                for v in session.scalars(select(Vehicle).order_by(Vehicle.plate))
            ]

    # -- face templates -------------------------------------------------------------------------

    def add_templates(
        self,
        owner: Owner,
        embeddings: npt.ArrayLike,
        *,
        model_id: str | None = None,
        qualities: Sequence[float | None] | None = None,
        crops: Sequence[bytes | None] | None = None,
    ) -> list[str]:
        """Store ``(N, 512)`` embeddings (normalised here) as encrypted templates of ``owner``."""
        with self._change() as change:
            return self._insert_templates(change, owner, embeddings, model_id, qualities, crops)

    def _insert_templates(
        self,
        change: _Change,
        owner: Owner,
        embeddings: npt.ArrayLike,
        model_id: str | None,
        qualities: Sequence[float | None] | None,
        crops: Sequence[bytes | None] | None,
    ) -> list[str]:
        vectors = normalise_queries(embeddings, EMBEDDING_DIM)
        model = model_id or self.settings.embedding_model
        qualities = qualities or [None] * len(vectors)
        crops = crops or [None] * len(vectors)
        if not len(qualities) == len(crops) == len(vectors):
            raise RegistryError("embeddings, qualities and crops differ in length")
        _check_owner(change.session, owner)
        ids = []
        for vector, quality, crop in zip(vectors, qualities, crops, strict=True):
            template_id = new_id()
            kid, blob = self.cipher.encrypt_embedding(vector, template_aad(template_id, model))
            crop_ct = (
                None if crop is None else self.cipher.encrypt(crop, template_aad(template_id, model, "crop"))
            )
            if crop_ct is not None and crop_ct[0] != kid:
                raise RuntimeError("key changed during encryption")
            change.session.add(
                FaceTemplate(
                    id=template_id,
                    model_id=model,
                    dim=len(vector),
                    key_id=kid,
                    embedding_ct=blob,
                    crop_ct=None if crop_ct is None else crop_ct[1],
                    quality=quality,
                    **{f"{owner.kind}_id": owner.id},
                )
            )
            change.template_event(template_id, model, "add")
            ids.append(template_id)
        change.audit("enroll", owner.kind, owner.id, templates=len(ids), model=model)
        return ids

    def enroll(
        self,
        photos: Sequence[tuple[str, bytes]],
        analyzer: FaceAnalyzerLike,
        *,
        owner: Owner | None = None,
        name: str | None = None,
        building: str | None = None,
        unit: str | None = None,
        room: str | None = None,
        watchlist: bool = False,
        reason: str = "",
        severity: str = "critical",
    ) -> tuple[Owner, list[str]]:
        """Enroll ``(name, bytes)`` photos, each with exactly one usable face.

        Adds templates to ``owner`` when given; else creates a resident called ``name`` (or, with
        ``watchlist``, a watchlist entry labelled ``name``) in the same transaction.

        Raises:
            EnrollmentRefused: a photo is unusable (nothing is stored).
            RegistryError: bad owner or fields.
        """
        if owner is None and not name:
            raise RegistryError("enrollment needs an existing owner or a name")
        if watchlist and severity not in SEVERITIES:
            raise RegistryError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        fields = (
            None
            if owner or watchlist
            else _resident_fields(
                name=name, building=building, unit=unit, room=room, phone=None, status="active", tags=[]
            )
        )
        faces = select_faces(photos, analyzer)
        with self._change() as change:
            if owner is None:
                owner = (
                    Owner("watchlist", self._create_watchlist(change, name or "", reason, severity, None))
                    if watchlist
                    else Owner("resident", self._create_resident(change, fields or {}))
                )
            ids = self._insert_templates(
                change,
                owner,
                np.stack([f.embedding for f in faces]),
                None,
                [f.quality for f in faces],
                [f.crop for f in faces],
            )
        logger.info("enrolled %s template(s) for %s %s", len(ids), owner.kind, owner.id)
        return owner, ids

    def reembed(
        self, analyzer: FaceAnalyzerLike, model_id: str, *, drop_old: bool = False
    ) -> tuple[int, int]:
        """Re-embed every template of another model from its stored crop with ``analyzer``.

        Returns ``(re-embedded, skipped)``; skipped templates have no crop or no single face in it.
        """
        with Session(self.engine) as s:
            rows = s.execute(
                select(
                    FaceTemplate.id,
                    FaceTemplate.resident_id,
                    FaceTemplate.visitor_id,
                    FaceTemplate.watchlist_id,
                ).where(FaceTemplate.model_id != model_id)
            ).all()
        done = skipped = 0
        for template_id, rid, vid, wid in rows:
            crop = self.load_crop(template_id)
            faces = None if crop is None else _single_face(analyzer, crop)
            if faces is None:
                skipped += 1
                continue
            owner = (
                Owner("resident", rid)
                if rid
                else Owner("visitor", vid)
                if vid
                else Owner("watchlist", str(wid))
            )
            with self._change() as change:
                self._insert_templates(change, owner, faces[0][None], model_id, [faces[1]], [crop])
                if drop_old:
                    self._drop_templates(change, FaceTemplate.id == template_id)
            done += 1
        if drop_old:
            self._after_biometric_delete()
        logger.info("re-embedded %s templates with %s (%s skipped)", done, model_id, skipped)
        return done, skipped

    def delete_template(self, template_id: str) -> None:
        with self._change() as change:
            if self._drop_templates(change, FaceTemplate.id == template_id) == 0:
                raise RegistryError(f"no face template {template_id}")
            change.audit("delete", "face_template", template_id)
        self._after_biometric_delete()

    def template_ids(self, owner: Owner, model_id: str | None = None) -> list[str]:
        query = select(FaceTemplate.id).where(getattr(FaceTemplate, f"{owner.kind}_id") == owner.id)
        if model_id:
            query = query.where(FaceTemplate.model_id == model_id)
        with Session(self.engine) as session:
            return list(session.scalars(query.order_by(FaceTemplate.created_at)))

    def template_counts(self) -> dict[str, int]:
        """Number of templates per embedding model."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(FaceTemplate.model_id, func.count()).group_by(FaceTemplate.model_id)
            )
            return {model: int(count) for model, count in rows}

    def load_crop(self, template_id: str) -> bytes | None:
        """The decrypted enrollment crop (JPEG bytes) of a template, if one was stored."""
        with Session(self.engine) as session:
            row = session.get(FaceTemplate, template_id)
            if row is None or row.crop_ct is None:
                return None
            return self.cipher.decrypt(row.key_id, row.crop_ct, template_aad(row.id, row.model_id, "crop"))

    # -- the index ------------------------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> None:
        """Bring the face index up to the database's version (cheap when nothing changed)."""
        now = time.monotonic()
        if not force and now - self._last_check < self.settings.index_refresh_s:
            return
        self._last_check = now
        with Session(self.engine) as session:
            version = int(session.execute(select(RegistryState.version)).scalar_one())
            if version == self.index.version:
                return
            if self.index.version < 0:
                self._load_all(session)
                self.index.version = version
            else:
                self.index.version = max(version, self._apply_events(session, self.index.version))

    def _load_all(self, session: Session) -> None:
        query = select(FaceTemplate).where(FaceTemplate.model_id == self.index.model_id)
        batch: list[FaceTemplate] = []
        for row in session.scalars(query.execution_options(yield_per=2000)):
            batch.append(row)
            if len(batch) == 2000:
                self._index_rows(batch)
                batch = []
        self._index_rows(batch)
        logger.info("face index loaded: %s templates of %s", len(self.index), self.index.model_id)

    def _apply_events(self, session: Session, since: int) -> int:
        events = session.execute(
            select(TemplateEvent.version, TemplateEvent.template_id, TemplateEvent.op)
            .where(TemplateEvent.version > since, TemplateEvent.model_id == self.index.model_id)
            .order_by(TemplateEvent.id)
        ).all()
        last_op = {template_id: op for _, template_id, op in events}
        self.index.remove([t for t, op in last_op.items() if op == "remove"])
        added = [t for t, op in last_op.items() if op == "add"]
        for start in range(0, len(added), 500):
            chunk = added[start : start + 500]
            self._index_rows(list(session.scalars(select(FaceTemplate).where(FaceTemplate.id.in_(chunk)))))
        return max((v for v, _, _ in events), default=since)

    def _index_rows(self, rows: Sequence[FaceTemplate]) -> None:
        if not rows:
            return
        vectors = np.stack(
            [
                self.cipher.decrypt_embedding(r.key_id, r.embedding_ct, template_aad(r.id, r.model_id))
                for r in rows
            ]
        )
        self.index.upsert([IndexedTemplate(r.id, *_template_owner(r)) for r in rows], vectors)

    # -- matching -------------------------------------------------------------------------------

    def match_faces(
        self,
        embeddings: npt.ArrayLike,
        *,
        model_id: str | None = None,
        threshold: float | None = None,
        now: dt.datetime | None = None,
    ) -> list[FaceMatch]:
        """Match ``(N, 512)`` float32 embeddings of ``model_id`` against the gallery.

        Embeddings of another model than the index's are refused (never compared).
        """
        model = model_id or self.settings.embedding_model
        if model != self.index.model_id:
            raise RegistryError(
                f"embeddings of {model} cannot be compared with {self.index.model_id} templates"
            )
        queries = normalise_queries(embeddings, EMBEDDING_DIM)
        self.refresh()
        limit = self.settings.match_threshold if threshold is None else threshold
        decisions = [decide(c, limit) for c in self.index.search(queries, self.settings.match_top_k)]
        owners = {d.best.owner_kind + ":" + d.best.owner_id for d in decisions if d.best is not None}
        details = self._owner_details(owners, now or utcnow())
        out = []
        for d in decisions:
            score = d.candidates[0].score if d.candidates else -1.0
            if d.best is None:
                out.append(FaceMatch("unknown", score, candidates=d.candidates))
                continue
            key = d.best.owner_kind + ":" + d.best.owner_id
            info = details.get(key, {})
            out.append(
                FaceMatch(
                    "match",
                    d.best.score,
                    Owner(d.best.owner_kind, d.best.owner_id),  # type: ignore[arg-type]
                    template_id=d.best.template_id,
                    candidates=d.candidates,
                    **info,
                )
            )
        return out

    def _owner_details(self, keys: set[str], now: dt.datetime) -> dict[str, dict[str, Any]]:
        by_kind: dict[str, list[str]] = {}
        for key in keys:
            kind, owner_id = key.split(":", 1)
            by_kind.setdefault(kind, []).append(owner_id)
        out: dict[str, dict[str, Any]] = {}
        with Session(self.engine) as s:
            for r in s.scalars(select(Resident).where(Resident.id.in_(by_kind.get("resident", [])))):
                out["resident:" + r.id] = {
                    "name": r.name,
                    "address": _resident_info(r).address,
                    "owner_status": r.status,
                }
            for v in s.scalars(select(Visitor).where(Visitor.id.in_(by_kind.get("visitor", [])))):
                status = _visit_status(_aware(v.valid_from), _aware(v.valid_until), now)
                out["visitor:" + v.id] = {"name": v.name, "owner_status": status}
            for w in s.scalars(
                select(WatchlistEntry).where(WatchlistEntry.id.in_(by_kind.get("watchlist", [])))
            ):
                out["watchlist:" + w.id] = {
                    "name": w.label,
                    "owner_status": "watchlist",
                    "severity": w.severity,
                }
        return out

    def match_plate(self, text: str) -> PlateMatch:
        """Exact, then OCR-confusion-aware near match of recognised plate text."""
        self.refresh()
        if self._plates is None or self._plates_version != self.index.version:
            self._plates, self._plates_version = self._load_plates(), self.index.version
        return match_plate(text, self._plates)

    def _load_plates(self) -> PlateBook:
        owners = []
        with Session(self.engine) as s:
            rows = s.execute(
                select(
                    Vehicle.plate,
                    Vehicle.id,
                    Vehicle.resident_id,
                    Vehicle.visitor_id,
                    Resident.name,
                    Visitor.name,
                    Visitor.valid_until,
                )
                .outerjoin(Resident, Resident.id == Vehicle.resident_id)
                .outerjoin(Visitor, Visitor.id == Vehicle.visitor_id)
            )
            for plate, vid, rid, visid, rname, vname, until in rows:
                kind: str = "resident" if rid else "visitor"
                owners.append(
                    PlateOwner(
                        plate,
                        "vehicle",
                        vid,
                        kind,
                        rid or visid,
                        label=rname or vname,
                        valid_until=None if until is None else _aware(until),
                    )
                )
            for wplate, wid, label, severity in s.execute(
                select(
                    WatchlistEntry.plate, WatchlistEntry.id, WatchlistEntry.label, WatchlistEntry.severity
                ).where(WatchlistEntry.plate.is_not(None))
            ):
                owners.append(PlateOwner(str(wplate), "watchlist", wid, "watchlist", wid, label, severity))
        return PlateBook.build(owners)

    # -- keys and audit -------------------------------------------------------------------------

    def rotate_key(self, batch: int = 500) -> int:
        """Re-encrypt every template (and crop) not under the current key; returns how many."""
        done = 0
        current = self.cipher.current_key_id
        while True:
            with self._change() as change:
                rows = list(
                    change.session.scalars(
                        select(FaceTemplate).where(FaceTemplate.key_id != current).limit(batch)
                    )
                )
                for row in rows:
                    vector = self.cipher.decrypt_embedding(
                        row.key_id, row.embedding_ct, template_aad(row.id, row.model_id)
                    )
                    crop_aad = template_aad(row.id, row.model_id, "crop")
                    crop = (
                        None
                        if row.crop_ct is None
                        else self.cipher.decrypt(row.key_id, row.crop_ct, crop_aad)
                    )
                    row.key_id, row.embedding_ct = self.cipher.encrypt_embedding(
                        vector, template_aad(row.id, row.model_id)
                    )
                    row.crop_ct = None if crop is None else self.cipher.encrypt(crop, crop_aad)[1]
                if rows:
                    change.audit("rotate_key", "face_template", None, count=len(rows), key_id=current)
            done += len(rows)
            if len(rows) < batch:
                break
        self._after_biometric_delete()
        logger.info("re-encrypted %s templates under key %s", done, current)
        for holder in self.holders:
            logger.info("re-encrypted %s item(s) of %s under key %s", holder.reencrypt(self.cipher),
                        type(holder).__name__, current)
        return done

    def key_ids_in_use(self) -> set[str]:
        """Key ids of the stored templates and of every holder's ciphertexts."""
        with Session(self.engine) as s:
            used = set(s.scalars(select(FaceTemplate.key_id).distinct()))
        for holder in self.holders:
            used |= holder.key_ids_in_use()
        return used

    def audit_log(self, entity_id: str | None = None) -> list[AuditRecord]:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if entity_id:
            query = query.where(AuditEntry.entity_id == entity_id)
        with Session(self.engine) as s:
            return [
                AuditRecord(_aware(a.at), a.actor, a.action, a.entity, a.entity_id, dict(a.details))
                for a in s.scalars(query)
            ]


def _single_face(
    analyzer: FaceAnalyzerLike, crop: bytes
) -> tuple[npt.NDArray[np.float32], float | None] | None:
    image = decode_photo(crop)
    faces = [] if image is None else analyzer.analyze([image])[0]
    if len(faces) != 1 or faces[0].embedding is None:
        return None
    return faces[0].embedding, faces[0].quality


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE and return how many rows it removed."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount)


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "system"


def _text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise RegistryError(f"{what} must not be empty")
    if len(value) > 200:
        raise RegistryError(f"{what} is longer than 200 characters")
    return value


def _plate(text: str) -> str:
    plate = normalise_plate(text)
    if not 6 <= len(plate) <= 10:
        raise RegistryError(f"plate {text!r} is not a plate (normalised {plate!r})")
    return plate


def _resident_fields(**fields: Any) -> dict[str, Any]:
    fields["name"] = _text(fields["name"], "name")
    if fields["status"] not in RESIDENT_STATUSES:
        raise RegistryError(f"status must be one of {', '.join(RESIDENT_STATUSES)}, got {fields['status']!r}")
    for key in ("building", "unit", "room", "phone"):
        value = fields.get(key)
        value = str(value).strip() if value is not None else None
        if value and len(value) > 32:
            raise RegistryError(f"{key} is longer than 32 characters")
        fields[key] = value or None
    fields["tags"] = sorted({str(t).strip() for t in fields.get("tags") or [] if str(t).strip()})
    return fields


def _resident_info(r: Resident) -> ResidentInfo:
    return ResidentInfo(r.id, r.name, r.building, r.unit, r.room, r.phone, r.status, tuple(r.tags or ()))


def _template_owner(row: FaceTemplate) -> tuple[str, str]:
    for kind in ("resident", "visitor", "watchlist"):
        owner_id = getattr(row, f"{kind}_id")
        if owner_id:
            return kind, owner_id
    raise RuntimeError(f"template {row.id} has no owner")


def _check_owner(session: Session, owner: Owner) -> None:
    table = {"resident": Resident, "visitor": Visitor, "watchlist": WatchlistEntry}.get(owner.kind)
    if table is None:
        raise RegistryError(f"unknown owner kind {owner.kind!r}")
    if session.get(table, owner.id) is None:
        raise RegistryError(f"no {owner.kind} {owner.id}")


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes for timezone columns: they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _visit_status(valid_from: dt.datetime, valid_until: dt.datetime, now: dt.datetime) -> str:
    if visit_active(valid_from, valid_until, now):
        return "valid"
    return "not_yet" if now < valid_from else "expired"
