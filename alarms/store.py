"""The alarm store: alarms and their state, snapshots, and the events they emit (transactional outbox).

Every change writes its event (``alarm.raised``, ``alarm.acknowledged``, ``alarm.resolved``,
operational events such as ``camera.offline``) and one outbox message per interested endpoint in
the same transaction, so an alarm is never stored without its notifications or the other way round.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, Table, and_, delete, func, insert, or_, select, update

from alarms import db, outbox
from alarms.config import ConnectorConfig, DeliveryConfig, MqttConfig, WebhookConfig
from alarms.crops import PERSON_KINDS, open_crop, seal_crop, seal_jpeg
from alarms.events import alarm_data, envelope
from alarms.outbox import Route
from alarms.records import Alarm, AlarmFilter, AlarmPage, AlarmState, DeliveryAttempt, MessageInfo, Paging
from alarms.schema import ALARMS, EVENTS
from alarms.snapshots import SnapshotStore
from alarms.types import AlarmDraft, Subject
from registry.config import RegistrySettings
from registry.crypto import TemplateCipher
from registry.types import Owner
from storage import db as storage_db
from storage.files import data_dir as default_data_dir

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from registry.service import Registry

_Record = TypeVar("_Record", bound="DataclassInstance")

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
EventListener = Callable[[str, dict[str, Any]], None]
"""Called after commit with ``(event type, envelope)``: the live feed, waking the relay."""

TRANSITIONS: dict[str, tuple[AlarmState, tuple[AlarmState, ...]]] = {
    "acknowledge": ("acknowledged", ("open",)),
    "resolve": ("resolved", ("open", "acknowledged")),
}


class AlarmNotFoundError(LookupError):
    """No alarm has this id."""


class IllegalTransitionError(ValueError):
    """The alarm's state does not allow this action (e.g. acknowledging a resolved alarm)."""


def next_state(state: AlarmState, action: str) -> AlarmState:
    """The state after ``action`` (``acknowledge`` or ``resolve``) from ``state`` (pure)."""
    if action not in TRANSITIONS:
        raise ValueError(f"unknown action {action!r}")
    target, allowed = TRANSITIONS[action]
    if state not in allowed:
        raise IllegalTransitionError(f"cannot {action} an alarm that is {state}")
    return target


def default_database_url() -> str:
    """``ESTATEWATCH_DATABASE_URL``, else ``sqlite:///<data dir>/estatewatch.db`` (the registry's file)."""
    url = os.environ.get("ESTATEWATCH_DATABASE_URL")
    return url or storage_db.default_database_url()


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    """An endpoint id and its event filter, as the store needs them to fill the outbox."""

    endpoint_id: str
    events: tuple[str, ...] = ("*",)

    def accepts(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


def routes_from_config(config: DeliveryConfig) -> list[EndpointRoute]:
    endpoints: list[WebhookConfig | MqttConfig | ConnectorConfig] = [
        *config.webhooks,
        *config.mqtt,
        *config.connectors,
    ]
    return [EndpointRoute(e.endpoint_id(), tuple(e.events)) for e in endpoints]


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


ALARM_COLUMNS = [
    *(c for c in ALARMS.c if c.name not in ("crop_ct", "crop_key_id")),
    ALARMS.c.crop_ct.is_not(None).label("has_crop"),
]
"""What an :class:`Alarm` is read from: every column but the crop ciphertext, and whether it has one."""


class AlarmStore:
    """Alarms, snapshots and outgoing events in one database (SQLite or PostgreSQL).

    Face crops are encrypted with ``cipher`` (the registry's keyring; by default the one the
    ``ESTATEWATCH_TEMPLATE_KEY*`` settings give, made when first needed). The store is the
    registry's :class:`registry.templates.BiometricHolder` of alarm crops: deleting a person
    redacts the crops of that person's alarms, and rotating the key re-encrypts them.
    """

    def __init__(
        self,
        engine: Engine,
        snapshots_root: Path,
        delivery: DeliveryConfig | None = None,
        routes: Sequence[Route] | None = None,
        cipher: TemplateCipher | None = None,
    ) -> None:
        self.engine = engine
        self._cipher = cipher
        self._cipher_lock = threading.Lock()
        self.delivery = delivery or DeliveryConfig()
        self.routes: list[Route] = (
            list(routes) if routes is not None else list(routes_from_config(self.delivery))
        )
        self.snapshots = SnapshotStore(snapshots_root)
        self._first_delay_s = self.delivery.relay.retry_schedule_s[0]
        self._listeners: list[EventListener] = []

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        delivery: DeliveryConfig | None = None,
        data_dir: Path | None = None,
        migrate: bool = True,
        cipher: TemplateCipher | None = None,
    ) -> AlarmStore:
        """Open (and migrate) the store at ``url`` (default: :func:`default_database_url`).

        Snapshots go to ``<data_dir>/snapshots`` (default ``ESTATEWATCH_DATA_DIR``, ``./data``).
        Migrating also encrypts the plain crop files of alarms stored by older versions.
        """
        engine = db.make_engine(url or default_database_url())
        if migrate:
            db.upgrade(engine)
        root = (data_dir or default_data_dir()) / "snapshots"
        store = cls(engine, root, delivery, cipher=cipher)
        if migrate:
            store.encrypt_legacy_crops()
        return store

    @classmethod
    def for_registry(cls, registry: Registry, data_dir: Path | None = None) -> AlarmStore:
        """The alarm store in the registry's database with the registry's keyring, as its crop holder.

        Migrates the alarm tables and legacy crops first, then adds itself to ``registry`` as a
        holder, so the registry's deletions redact alarm crops and its key rotation re-encrypts them.
        """
        db.upgrade(registry.engine)
        store = cls(registry.engine, (data_dir or default_data_dir()) / "snapshots", cipher=registry.cipher)
        store.encrypt_legacy_crops()
        registry.add_holder(store)
        return store

    def close(self) -> None:
        self.engine.dispose()

    @property
    def cipher(self) -> TemplateCipher:
        """The keyring of face crops (made from the settings when first needed)."""
        with self._cipher_lock:
            if self._cipher is None:
                self._cipher = TemplateCipher.from_settings(RegistrySettings(), self.snapshots.root.parent)
            return self._cipher

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(type, envelope)`` after each committed event (must not block)."""
        self._listeners.append(listener)

    def _notify(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for event_type, payload in events:
            for listener in self._listeners:
                try:
                    listener(event_type, payload)
                except Exception:
                    logger.exception("event listener failed on %s", event_type)

    def _emit(
        self,
        conn: Connection,
        event_type: str,
        data: dict[str, Any],
        occurred_at: dt.datetime,
        now: dt.datetime,
        alarm_id: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        event_id = outbox.emit_event(
            conn, event_type, data, occurred_at, now, self.routes, self._first_delay_s, alarm_id
        )
        return event_type, {"id": event_id, **envelope(event_type, occurred_at, data)}

    # -- alarms ------------------------------------------------------------------------------------
    def raise_alarm(
        self,
        draft: AlarmDraft,
        snapshot: Image | None = None,
        crop: Image | None = None,
        now: dt.datetime | None = None,
    ) -> Alarm:
        """Store an admitted draft with its snapshot and crop, and queue ``alarm.raised`` for delivery.

        The snapshot is written as a plain JPEG file; the crop is encrypted into the alarm's row.
        """
        now = _now(now)
        alarm_id = str(uuid.uuid4())
        written: list[str] = []
        try:
            snapshot_path = self._save(alarm_id, draft.occurred_at, snapshot, ".jpg", written)
            crop_key_id, crop_ct = (None, None) if crop is None else seal_crop(self.cipher, alarm_id, crop)
            alarm = Alarm(
                id=alarm_id,
                type=draft.type,
                severity=draft.severity,
                state="open",
                rule_id=draft.rule_id,
                camera_id=draft.camera_id,
                zone=draft.zone,
                occurred_at=draft.occurred_at,
                created_at=now,
                subject=draft.subject,
                dedup_key=draft.dedup_key,
                similarity=draft.similarity,
                plate_text=draft.plate_text,
                snapshot_path=snapshot_path,
                has_crop=crop is not None,
                details=dict(draft.details),
            )
            with self.engine.begin() as conn:
                conn.execute(
                    insert(ALARMS).values(**_row_values(alarm), crop_ct=crop_ct, crop_key_id=crop_key_id)
                )
                event = self._emit(
                    conn,
                    "alarm.raised",
                    alarm_data(alarm, self.delivery.public_base_url),
                    alarm.occurred_at,
                    now,
                    alarm_id,
                )
        except BaseException:
            for relative in written:
                self.snapshots.delete(relative)
            raise
        logger.info(
            "alarm %s raised: %s %s camera=%s subject=%s",
            alarm_id,
            alarm.severity,
            alarm.type,
            alarm.camera_id,
            alarm.subject.key(),
        )
        self._notify([event])
        return alarm

    def _save(
        self, alarm_id: str, occurred_at: dt.datetime, image: Image | None, suffix: str, written: list[str]
    ) -> str | None:
        if image is None:
            return None
        relative = self.snapshots.save(alarm_id, occurred_at, image, suffix)
        written.append(relative)
        return relative

    def acknowledge(self, alarm_id: str, who: str, now: dt.datetime | None = None) -> Alarm:
        """Open -> acknowledged, by ``who``; emits ``alarm.acknowledged``."""
        return self._transition(alarm_id, "acknowledge", {"acknowledged_by": who}, "acknowledged_at", now)

    def resolve(self, alarm_id: str, who: str, note: str = "", now: dt.datetime | None = None) -> Alarm:
        """open/acknowledged -> resolved, by ``who`` with an optional ``note``; emits ``alarm.resolved``."""
        return self._transition(
            alarm_id, "resolve", {"resolved_by": who, "resolution_note": note or None}, "resolved_at", now
        )

    def _transition(
        self, alarm_id: str, action: str, values: dict[str, Any], at_column: str, now: dt.datetime | None
    ) -> Alarm:
        now = _now(now)
        if not str(next(iter(values.values())) or "").strip():
            raise ValueError(f"{action} needs who did it")
        target, allowed = TRANSITIONS[action]
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(ALARMS)
                .where(ALARMS.c.id == alarm_id, ALARMS.c.state.in_(allowed))
                .values(state=target, **{at_column: now}, **values)
            ).rowcount
            alarm = self._get(conn, alarm_id)
            if not changed:
                next_state(alarm.state, action)  # raises IllegalTransitionError with the reason
                raise IllegalTransitionError(f"cannot {action} alarm {alarm_id}")  # pragma: no cover
            event = self._emit(
                conn, f"alarm.{target}", alarm_data(alarm, self.delivery.public_base_url), now, now, alarm_id
            )
        logger.info("alarm %s %s by %s", alarm_id, target, next(iter(values.values())))
        self._notify([event])
        return alarm

    def _get(self, conn: Connection, alarm_id: str) -> Alarm:
        row = conn.execute(select(*ALARM_COLUMNS).where(ALARMS.c.id == alarm_id)).first()
        if row is None:
            raise AlarmNotFoundError(f"no alarm {alarm_id}")
        return _alarm(row._mapping)

    def get(self, alarm_id: str) -> Alarm:
        """The alarm with this id (:class:`AlarmNotFoundError` if none)."""
        with self.engine.connect() as conn:
            return self._get(conn, alarm_id)

    def list(self, filters: AlarmFilter | None = None, paging: Paging | None = None) -> AlarmPage:
        """Alarms matching ``filters``, newest first, one page of them and the total count."""
        filters = filters or AlarmFilter()
        paging = paging or Paging()
        conditions = _conditions(filters)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(ALARMS).where(*conditions)).scalar_one()
            rows = conn.execute(
                select(*ALARM_COLUMNS)
                .where(*conditions)
                .order_by(ALARMS.c.occurred_at.desc(), ALARMS.c.id)
                .limit(paging.limit)
                .offset(paging.offset)
            ).all()
        return AlarmPage(items=[_alarm(r._mapping) for r in rows], total=int(total))

    def snapshot_file(self, alarm_id: str) -> Path | None:
        """The snapshot file (plain JPEG of the whole scene) of an alarm, if it has one."""
        alarm = self.get(alarm_id)
        return self.snapshots.path(alarm.snapshot_path) if alarm.snapshot_path else None

    # -- face crops (biometric: encrypted, redacted with their person) -----------------------------
    def crop_bytes(self, alarm_id: str) -> bytes | None:
        """The alarm's face crop as JPEG bytes, decrypted (on-site use only); ``None`` if none or redacted."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ALARMS.c.crop_ct, ALARMS.c.crop_key_id).where(ALARMS.c.id == alarm_id)
            ).first()
        if row is None:
            raise AlarmNotFoundError(f"no alarm {alarm_id}")
        if row.crop_ct is None:
            return None
        return open_crop(self.cipher, alarm_id, row.crop_key_id, bytes(row.crop_ct))

    def forget_owners(self, owners: Sequence[Owner], now: dt.datetime | None = None) -> int:
        """Redact the alarms of deleted registry persons; returns how many alarms changed.

        Each alarm whose subject is one of ``owners`` loses its face crop (ciphertext, and any
        legacy plain file) and is marked redacted; the alarm itself, its snapshot and its events stay.
        """
        now = _now(now)
        people = [o for o in owners if o.kind in PERSON_KINDS]
        changed = 0
        for start in range(0, len(people), 200):
            chunk = people[start : start + 200]
            subject = or_(
                *(and_(ALARMS.c.subject_kind == o.kind, ALARMS.c.subject_id == o.id) for o in chunk)
            )
            pending = or_(ALARMS.c.redacted_at.is_(None), ALARMS.c.crop_ct.is_not(None),
                          ALARMS.c.crop_path.is_not(None))
            with self.engine.begin() as conn:
                rows = conn.execute(select(ALARMS.c.id, ALARMS.c.crop_path).where(subject, pending)).all()
                ids = [str(r.id) for r in rows]
                if not ids:
                    continue
                conn.execute(update(ALARMS).where(ALARMS.c.id.in_(ids))
                             .values(crop_ct=None, crop_key_id=None, crop_path=None))
                conn.execute(update(ALARMS).where(ALARMS.c.id.in_(ids), ALARMS.c.redacted_at.is_(None))
                             .values(redacted_at=now))
            for r in rows:
                if r.crop_path:
                    self.snapshots.delete(r.crop_path)
            changed += len(ids)
        db.checkpoint(self.engine)  # SQLite: no freed crop page survives in the WAL
        if changed:
            logger.info("redacted the crops of %d alarm(s) of %d deleted person(s)", changed, len(people))
        return changed

    def crop_owners(self) -> builtins.list[Owner]:
        """The registry persons that stored alarm face crops belong to (distinct)."""
        query = (select(ALARMS.c.subject_kind, ALARMS.c.subject_id).distinct()
                 .where(ALARMS.c.crop_ct.is_not(None), ALARMS.c.subject_kind.in_(PERSON_KINDS)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Owner(r.subject_kind, r.subject_id) for r in rows]

    def redact_orphans(self, existing: Callable[[Sequence[Owner]], set[Owner]],
                       now: dt.datetime | None = None) -> int:
        """Redact crops whose person no longer exists in the registry; returns how many alarms changed.

        Closes the gap a deletion leaves: an alarm the live pipeline stores just after its person
        was deleted (identified from the index a moment before) is redacted by the next sweep.
        ``existing`` answers which of the given persons still exist (``Registry.existing_owners``).
        """
        owners = self.crop_owners()
        gone = [o for o in owners if o not in existing(owners)] if owners else []
        return self.forget_owners(gone, now) if gone else 0

    def reencrypt(self, cipher: TemplateCipher, batch: int = 200) -> int:
        """Re-encrypt every crop not under ``cipher``'s current key (key rotation); returns how many."""
        current, done = cipher.current_key_id, 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(ALARMS.c.id, ALARMS.c.crop_ct, ALARMS.c.crop_key_id)
                    .where(ALARMS.c.crop_ct.is_not(None), ALARMS.c.crop_key_id != current)
                    .limit(batch)
                ).all()
                for r in rows:
                    jpeg = open_crop(cipher, r.id, r.crop_key_id, bytes(r.crop_ct))
                    kid, blob = seal_jpeg(cipher, r.id, jpeg)
                    conn.execute(
                        update(ALARMS).where(ALARMS.c.id == r.id).values(crop_ct=blob, crop_key_id=kid)
                    )
            done += len(rows)
            if len(rows) < batch:
                break
        db.checkpoint(self.engine)
        return done

    def key_ids_in_use(self) -> set[str]:
        """Key ids of the stored crop ciphertexts."""
        with self.engine.connect() as conn:
            query = select(ALARMS.c.crop_key_id).where(ALARMS.c.crop_key_id.is_not(None)).distinct()
            return {str(k) for k in conn.execute(query).scalars()}

    def encrypt_legacy_crops(self, batch: int = 100) -> int:
        """Encrypt the plain ``.crop.jpg`` files of older alarms into their rows, then delete the files.

        Runs when the store opens with migrations; a crop file that is gone is dropped with a warning.
        """
        done = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(ALARMS.c.id, ALARMS.c.crop_path)
                    .where(ALARMS.c.crop_path.is_not(None))
                    .limit(batch)
                ).all()
                for r in rows:
                    values: dict[str, Any] = {"crop_path": None}
                    try:
                        jpeg = self.snapshots.path(r.crop_path).read_bytes()
                        kid, blob = seal_jpeg(self.cipher, r.id, jpeg)
                        values.update(crop_ct=blob, crop_key_id=kid)
                    except (OSError, ValueError) as exc:
                        logger.warning("alarm %s: legacy crop %s unreadable, dropped: %s",
                                       r.id, r.crop_path, exc)
                    conn.execute(update(ALARMS).where(ALARMS.c.id == r.id).values(**values))
            for r in rows:
                self.snapshots.delete(r.crop_path)
            done += len(rows)
            if len(rows) < batch:
                break
        if done:
            logger.info("encrypted %d plain alarm crop file(s) from an older version", done)
        return done

    # -- operational events ------------------------------------------------------------------------
    def record_event(self, event_type: str, data: dict[str, Any], now: dt.datetime | None = None) -> str:
        """Record an operational event (``camera.offline``, ``camera.online`` ...) and queue its delivery."""
        now = _now(now)
        if "." not in event_type:
            raise ValueError(f"event type must look like 'camera.offline', got {event_type!r}")
        with self.engine.begin() as conn:
            event = self._emit(conn, event_type, data, now, now)
        logger.info("event %s %s recorded", event[1]["id"], event_type)
        self._notify([event])
        return str(event[1]["id"])

    # -- retention ---------------------------------------------------------------------------------
    def purge(self, older_than: dt.timedelta, now: dt.datetime | None = None, batch: int = 500) -> int:
        """Retention: delete what occurred before ``now - older_than``; returns the number of alarms deleted.

        Alarms go with their events, outbox rows, delivery log and snapshot files; operational
        events as old go too.
        """
        now = _now(now)
        cutoff = now - older_than
        deleted = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(ALARMS.c.id, ALARMS.c.snapshot_path, ALARMS.c.crop_path)
                    .where(ALARMS.c.occurred_at < cutoff)
                    .limit(batch)
                ).all()
                if not rows:
                    break
                ids = [str(r.id) for r in rows]
                conn.execute(
                    delete(outbox.OUTBOX).where(
                        outbox.OUTBOX.c.event_id.in_(select(EVENTS.c.id).where(EVENTS.c.alarm_id.in_(ids)))
                    )
                )
                conn.execute(delete(EVENTS).where(EVENTS.c.alarm_id.in_(ids)))
                conn.execute(delete(ALARMS).where(ALARMS.c.id.in_(ids)))
            for r in rows:
                for relative in (r.snapshot_path, r.crop_path):
                    if relative:
                        self.snapshots.delete(relative)
            deleted += len(rows)
        if deleted:
            db.checkpoint(self.engine)  # SQLite: the deleted crops leave the WAL too
        with self.engine.begin() as conn:
            old = select(EVENTS.c.id).where(EVENTS.c.alarm_id.is_(None), EVENTS.c.occurred_at < cutoff)
            conn.execute(delete(outbox.OUTBOX).where(outbox.OUTBOX.c.event_id.in_(old)))
            conn.execute(delete(EVENTS).where(EVENTS.c.alarm_id.is_(None), EVENTS.c.occurred_at < cutoff))
        logger.info("purged %d alarms older than %s", deleted, cutoff.isoformat())
        return deleted

    # -- delivery views ----------------------------------------------------------------------------
    def messages(
        self, endpoint_id: str | None = None, status: str | None = None, event_id: str | None = None
    ) -> builtins.list[MessageInfo]:
        """Outbox messages, oldest first, optionally of one endpoint, status or event."""
        return self._listed(MessageInfo, outbox.OUTBOX, endpoint_id=endpoint_id, status=status,
                            event_id=event_id)

    def attempts(
        self, message_id: int | None = None, endpoint_id: str | None = None
    ) -> builtins.list[DeliveryAttempt]:
        """The delivery log, oldest first."""
        return self._listed(DeliveryAttempt, outbox.ATTEMPTS, message_id=message_id, endpoint_id=endpoint_id)

    def _listed(self, record: type[_Record], table: Table, **equal: object) -> builtins.list[_Record]:
        """Rows of ``table`` as ``record`` (a dataclass whose fields are columns), oldest first.

        Each column named in ``equal`` must have that value (``None``: any).
        """
        query = select(*(table.c[f.name] for f in dataclasses.fields(record))).order_by(table.c.id)
        for column, value in equal.items():
            if value is not None:
                query = query.where(table.c[column] == value)
        with self.engine.connect() as conn:
            return [record(**row._asdict()) for row in conn.execute(query)]

    def events(self, event_type: str | None = None) -> builtins.list[tuple[str, str, dict[str, Any]]]:
        """Recorded events ``(id, type, envelope)``, oldest first."""
        query = select(EVENTS).order_by(EVENTS.c.occurred_at, EVENTS.c.id)
        if event_type is not None:
            query = query.where(EVENTS.c.type == event_type)
        with self.engine.connect() as conn:
            return [(r.id, r.type, r.payload) for r in conn.execute(query).all()]


def _conditions(f: AlarmFilter) -> builtins.list[Any]:
    c = ALARMS.c
    conditions: list[Any] = []
    if f.states:
        conditions.append(c.state.in_(f.states))
    if f.types:
        conditions.append(c.type.in_(f.types))
    if f.severities:
        conditions.append(c.severity.in_(f.severities))
    if f.camera_id is not None:
        conditions.append(c.camera_id == f.camera_id)
    if f.zone is not None:
        conditions.append(c.zone == f.zone)
    if f.since is not None:
        conditions.append(c.occurred_at >= f.since)
    if f.until is not None:
        conditions.append(c.occurred_at < f.until)
    return conditions


def _row_values(alarm: Alarm) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "type": alarm.type,
        "severity": alarm.severity,
        "state": alarm.state,
        "rule_id": alarm.rule_id,
        "camera_id": alarm.camera_id,
        "zone": alarm.zone,
        "occurred_at": alarm.occurred_at,
        "created_at": alarm.created_at,
        "subject_kind": alarm.subject.kind,
        "subject_id": alarm.subject.id,
        "similarity": alarm.similarity,
        "plate_text": alarm.plate_text,
        "snapshot_path": alarm.snapshot_path,
        "dedup_key": alarm.dedup_key,
        "details": alarm.details,
    }


def _alarm(m: Any) -> Alarm:
    return Alarm(
        id=m["id"],
        type=m["type"],
        severity=m["severity"],
        state=m["state"],
        rule_id=m["rule_id"],
        camera_id=m["camera_id"],
        zone=m["zone"],
        occurred_at=m["occurred_at"],
        created_at=m["created_at"],
        subject=Subject(kind=m["subject_kind"], id=m["subject_id"]),
        dedup_key=m["dedup_key"],
        similarity=m["similarity"],
        plate_text=m["plate_text"],
        snapshot_path=m["snapshot_path"],
        has_crop=bool(m["has_crop"]),
        details=m["details"] or {},
        acknowledged_at=m["acknowledged_at"],
        acknowledged_by=m["acknowledged_by"],
        resolved_at=m["resolved_at"],
        resolved_by=m["resolved_by"],
        resolution_note=m["resolution_note"],
        redacted_at=m["redacted_at"],
    )
