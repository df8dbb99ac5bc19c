"""The alarm store: alarms and their state, snapshots, and the events they emit (transactional outbox).

Every change writes its event (``alarm.raised``, ``alarm.acknowledged``, ``alarm.resolved``,
``alarm.clip_ready``, operational events such as ``camera.offline``) and one outbox message per
interested endpoint in the same transaction, so an alarm is never stored without its notifications
or the other way round.

Its parts: :class:`~alarms.emitter.EventEmitter` records the events and tells listeners;
:class:`~alarms.crops.AlarmCrops` keeps the encrypted face crops and redacts them with their person;
:class:`~alarms.endpoints.WebhookEndpoints` holds the webhook endpoints managed over the API;
:class:`~alarms.snoozes.Snoozes` the cameras' snoozes.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, update

from alarms import db, outbox
from alarms.config import DeliveryConfig
from alarms.crops import AlarmCrops
from alarms.emitter import EventEmitter, EventListener, routes_from_config
from alarms.endpoints import WebhookEndpoints
from alarms.events import alarm_data, comment_data
from alarms.outbox import Route
from alarms.records import (
    Alarm,
    AlarmComment,
    AlarmFilter,
    AlarmPage,
    AlarmState,
    DeliveryAttempt,
    EventActor,
    MessageInfo,
    Paging,
    StoredEvent,
)
from alarms.schema import ALARMS, COMMENTS, EVENT_COUNTER, EVENTS, LIST_VERSION
from alarms.snapshots import CLIP_SUFFIX, SnapshotStore, relative_path
from alarms.snoozes import Snoozes
from alarms.types import AlarmDraft, Subject, aware_now
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


ALARM_COLUMNS = [
    *(c for c in ALARMS.c if c.name not in ("crop_ct", "crop_key_id")),
    ALARMS.c.crop_ct.is_not(None).label("has_crop"),
]
"""What an :class:`Alarm` is read from: every column but the crop ciphertext, and whether it has one."""


class AlarmStore:
    """Alarms, snapshots and outgoing events in one database (SQLite or PostgreSQL).

    Face crops are encrypted with ``cipher`` (the registry's keyring; by default the one the
    ``ESTATEWATCH_TEMPLATE_KEY*`` settings give, made when first needed). The store is the
    registry's :class:`registry.templates.BiometricHolder` of alarm crops (forwarding to
    :attr:`crops`): deleting a person redacts the crops of that person's alarms, and rotating the
    key re-encrypts them.
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
        self.delivery = delivery or DeliveryConfig()
        self.snapshots = SnapshotStore(snapshots_root)
        self.crops = AlarmCrops(engine, self.snapshots, cipher)
        self.webhooks = WebhookEndpoints(engine, lambda: self.crops.cipher)
        self.emitter = EventEmitter(
            list(routes) if routes is not None else list(routes_from_config(self.delivery)),
            self.delivery.relay.retry_schedule_s[0],
            self.webhooks.routes,
        )
        self.snoozes = Snoozes(engine, self.emitter)

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
            store.settle_clip_paths()
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
        store.settle_clip_paths()
        registry.add_holder(store)
        return store

    def close(self) -> None:
        self.engine.dispose()

    @property
    def routes(self) -> list[Route]:
        """The endpoints events are queued for (a list that may be changed in place)."""
        return self.emitter.routes

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(type, envelope)`` after each committed event (must not block)."""
        self.emitter.add_listener(listener)

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
        now = aware_now(now)
        alarm_id = str(uuid.uuid4())
        written: list[str] = []
        try:
            snapshot_path = self._save(alarm_id, draft.occurred_at, snapshot, ".jpg", written)
            crop_key_id, crop_ct = (None, None) if crop is None else self.crops.seal(alarm_id, crop)
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
                event = self.emitter.emit(
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
        self.emitter.notify([event])
        return alarm

    def _save(
        self, alarm_id: str, occurred_at: dt.datetime, image: Image | None, suffix: str, written: list[str]
    ) -> str | None:
        if image is None:
            return None
        relative = self.snapshots.save(alarm_id, occurred_at, image, suffix)
        written.append(relative)
        return relative

    def acknowledge(
        self,
        alarm_id: str,
        who: str,
        now: dt.datetime | None = None,
        *,
        note: str = "",
        actor: EventActor | None = None,
    ) -> Alarm:
        """Open -> acknowledged, by ``who``; emits ``alarm.acknowledged``.

        The event's data is the alarm plus, when given, ``actor`` (who was authenticated) and
        ``note`` (the guard's note, kept only in the event).
        """
        extra = {"note": note} if note else {}
        return self._transition(
            alarm_id, "acknowledge", {"acknowledged_by": who}, "acknowledged_at", now, actor, extra
        )

    def resolve(
        self,
        alarm_id: str,
        who: str,
        note: str = "",
        now: dt.datetime | None = None,
        *,
        actor: EventActor | None = None,
    ) -> Alarm:
        """open/acknowledged -> resolved, by ``who`` with an optional ``note``; emits ``alarm.resolved``."""
        return self._transition(
            alarm_id,
            "resolve",
            {"resolved_by": who, "resolution_note": note or None},
            "resolved_at",
            now,
            actor,
            {},
        )

    def _transition(
        self,
        alarm_id: str,
        action: str,
        values: dict[str, Any],
        at_column: str,
        now: dt.datetime | None,
        actor: EventActor | None,
        extra: dict[str, Any],
    ) -> Alarm:
        now = aware_now(now)
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
            data = {**alarm_data(alarm, self.delivery.public_base_url), **_acted(actor), **extra}
            event = self.emitter.emit(conn, f"alarm.{target}", data, now, now, alarm_id)
        logger.info("alarm %s %s by %s", alarm_id, target, next(iter(values.values())))
        self.emitter.notify([event])
        return alarm

    # -- comments and history ----------------------------------------------------------------------
    def add_comment(
        self, alarm_id: str, text: str, author: EventActor, now: dt.datetime | None = None
    ) -> AlarmComment:
        """Add ``author``'s comment to an alarm (any state); emits ``alarm.commented``.

        Endpoints get ``alarm.commented`` only when their event filter names it.
        """
        now = aware_now(now)
        text = text.strip()
        if not text:
            raise ValueError("a comment needs text")
        comment = AlarmComment(str(uuid.uuid4()), alarm_id, now, author, text)
        with self.engine.begin() as conn:
            alarm = self._get(conn, alarm_id)
            conn.execute(
                insert(COMMENTS).values(
                    id=comment.id,
                    alarm_id=alarm_id,
                    created_at=now,
                    author=author.name,
                    author_kind=author.kind,
                    text=text,
                )
            )
            data = {
                **alarm_data(alarm, self.delivery.public_base_url),
                **_acted(author),
                "comment": comment_data(comment),
            }
            event = self.emitter.emit(conn, "alarm.commented", data, now, now, alarm_id)
        logger.info("alarm %s commented by %s %s", alarm_id, author.kind, author.name)
        self.emitter.notify([event])
        return comment

    def comments(self, alarm_id: str) -> builtins.list[AlarmComment]:
        """The alarm's comments, oldest first (:class:`AlarmNotFoundError` if no such alarm)."""
        with self.engine.connect() as conn:
            self._get(conn, alarm_id)
            query = select(COMMENTS).where(COMMENTS.c.alarm_id == alarm_id)
            rows = conn.execute(query.order_by(COMMENTS.c.created_at, COMMENTS.c.id)).all()
        return [
            AlarmComment(
                id=r.id,
                alarm_id=r.alarm_id,
                created_at=r.created_at,
                author=EventActor(r.author, r.author_kind),
                text=r.text,
            )
            for r in rows
        ]

    def alarm_events(self, alarm_id: str) -> builtins.list[StoredEvent]:
        """The alarm's history (raised, acknowledged, commented, resolved ...) in commit order."""
        with self.engine.connect() as conn:
            self._get(conn, alarm_id)
            query = select(EVENTS).where(EVENTS.c.alarm_id == alarm_id).order_by(EVENTS.c.seq)
            rows = conn.execute(query).all()
        return [_stored_event(r) for r in rows]

    def events_after(self, seq: int, limit: int = 500) -> builtins.list[StoredEvent]:
        """Up to ``limit`` events with a sequence number above ``seq``, in commit order."""
        query = select(EVENTS).where(EVENTS.c.seq > seq).order_by(EVENTS.c.seq).limit(limit)
        with self.engine.connect() as conn:
            return [_stored_event(r) for r in conn.execute(query).all()]

    def last_event_seq(self) -> int:
        """The sequence number of the newest committed event (0 before the first)."""
        with self.engine.connect() as conn:
            seq = conn.execute(select(EVENT_COUNTER.c.last_seq).where(EVENT_COUNTER.c.id == 1)).scalar()
        return int(seq or 0)

    def _get(self, conn: Connection, alarm_id: str) -> Alarm:
        row = conn.execute(select(*ALARM_COLUMNS).where(ALARMS.c.id == alarm_id)).first()
        if row is None:
            raise AlarmNotFoundError(f"no alarm {alarm_id}")
        return self._read(row._mapping)

    def _read(self, m: Any) -> Alarm:
        """An alarm from its row; a row stored before ``clip_path`` existed looks for its clip file."""
        alarm = _alarm(m)
        if m["clip_known"]:
            return alarm
        relative = clip_relative_path(alarm)
        return dataclasses.replace(alarm, clip_path=relative) if self.snapshots.exists(relative) else alarm

    def get(self, alarm_id: str) -> Alarm:
        """The alarm with this id (:class:`AlarmNotFoundError` if none)."""
        with self.engine.connect() as conn:
            return self._get(conn, alarm_id)

    def list(self, filters: AlarmFilter | None = None, paging: Paging | None = None) -> AlarmPage:
        """Alarms matching ``filters``, newest first, one page of them, the total count and the version.

        Ties in ``occurred_at`` go by id, descending: the order of the ``(occurred_at, id)``
        index read backwards, so no page (however deep) is sorted. The version
        (:meth:`list_version`) is read first, in the same transaction: the page is never older
        than it (a newer page only makes a client's next conditional request miss).
        """
        filters = filters or AlarmFilter()
        paging = paging or Paging()
        conditions = _conditions(filters)
        with self.engine.connect() as conn:
            version = _list_version(conn)
            total = conn.execute(select(func.count()).select_from(ALARMS).where(*conditions)).scalar_one()
            rows = conn.execute(
                select(*ALARM_COLUMNS)
                .where(*conditions)
                .order_by(ALARMS.c.occurred_at.desc(), ALARMS.c.id.desc())
                .limit(paging.limit)
                .offset(paging.offset)
            ).all()
        return AlarmPage(items=[self._read(r._mapping) for r in rows], total=int(total), version=version)

    def list_version(self) -> int:
        """The alarm list's change counter: raised (by database triggers) by every change of ``alarms``.

        Equal numbers mean no alarm was raised, changed or deleted in between, by any process.
        """
        with self.engine.connect() as conn:
            return _list_version(conn)

    def snapshot_file(self, alarm_id: str) -> Path | None:
        """The snapshot file (plain JPEG of the whole scene) of an alarm, if it has one."""
        alarm = self.get(alarm_id)
        return self.snapshots.path(alarm.snapshot_path) if alarm.snapshot_path else None

    def clip_file(self, alarm_id: str) -> Path | None:
        """The alarm's video clip (MP4), once it is written; ``None`` before or without one."""
        alarm = self.get(alarm_id)
        return self.snapshots.path(alarm.clip_path) if alarm.clip_path else None

    def clip_target(self, alarm_id: str, occurred_at: dt.datetime) -> Path:
        """Where the clip of this alarm goes (next to its snapshot)."""
        return self.snapshots.path(relative_path(alarm_id, occurred_at, CLIP_SUFFIX))

    def clip_ready(self, alarm_id: str, now: dt.datetime | None = None) -> Alarm:
        """The clip is written (at :meth:`clip_target`): stores its path, emits ``alarm.clip_ready``."""
        now = aware_now(now)
        with self.engine.begin() as conn:
            alarm = self._get(conn, alarm_id)
            relative = clip_relative_path(alarm)
            if not self.snapshots.exists(relative):
                raise FileNotFoundError(f"alarm {alarm_id} has no clip file")
            conn.execute(update(ALARMS).where(ALARMS.c.id == alarm_id)
                         .values(clip_path=relative, clip_known=True))
            alarm = dataclasses.replace(alarm, clip_path=relative)
            data = alarm_data(alarm, self.delivery.public_base_url)
            event = self.emitter.emit(conn, "alarm.clip_ready", data, now, now, alarm_id)
        self.emitter.notify([event])
        return alarm

    def settle_clip_paths(self, batch: int = 1000) -> int:
        """Rows stored before ``clip_path`` existed: look for each one's clip file once, and store it.

        Returns how many rows were settled (0 once all are). Run when the store opens.
        """
        settled = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(select(ALARMS.c.id, ALARMS.c.occurred_at)
                                    .where(ALARMS.c.clip_known.is_(False)).limit(batch)).all()
                clips = {str(r.id): relative_path(str(r.id), r.occurred_at, CLIP_SUFFIX) for r in rows}
                found = {alarm_id: path for alarm_id, path in clips.items() if self.snapshots.exists(path)}
                for alarm_id, path in found.items():
                    conn.execute(update(ALARMS).where(ALARMS.c.id == alarm_id)
                                 .values(clip_path=path, clip_known=True))
                conn.execute(update(ALARMS).where(ALARMS.c.id.in_([i for i in clips if i not in found]))
                             .values(clip_known=True))
            settled += len(rows)
            if len(rows) < batch:
                break
        if settled:
            logger.info("settled the clip paths of %d alarms stored before they were recorded", settled)
        return settled

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
        return self.crops.open(alarm_id, row.crop_key_id, bytes(row.crop_ct))

    # The registry's biometric holder of alarm crops is :attr:`crops`; these forward to it.
    @property
    def cipher(self) -> TemplateCipher:
        return self.crops.cipher

    def forget_owners(self, owners: Sequence[Owner], now: dt.datetime | None = None) -> int:
        return self.crops.forget_owners(owners, now)

    def crop_owners(self) -> builtins.list[Owner]:
        return self.crops.crop_owners()

    def redact_orphans(self, existing: Callable[[Sequence[Owner]], set[Owner]],
                       now: dt.datetime | None = None) -> int:
        return self.crops.redact_orphans(existing, now)

    def reencrypt(self, cipher: TemplateCipher) -> int:
        return self.crops.reencrypt(cipher) + self.webhooks.reencrypt(cipher)

    def key_ids_in_use(self) -> set[str]:
        return self.crops.key_ids_in_use() | self.webhooks.key_ids_in_use()

    def encrypt_legacy_crops(self) -> int:
        return self.crops.encrypt_legacy_crops()

    # -- operational events ------------------------------------------------------------------------
    def record_event(self, event_type: str, data: dict[str, Any], now: dt.datetime | None = None) -> str:
        """Record an operational event (``camera.offline``, ``camera.online`` ...) and queue its delivery."""
        now = aware_now(now)
        if "." not in event_type:
            raise ValueError(f"event type must look like 'camera.offline', got {event_type!r}")
        with self.engine.begin() as conn:
            event = self.emitter.emit(conn, event_type, data, now, now)
        logger.info("event %s %s recorded", event[1]["id"], event_type)
        self.emitter.notify([event])
        return str(event[1]["id"])

    # -- retention ---------------------------------------------------------------------------------
    def purge(self, older_than: dt.timedelta, now: dt.datetime | None = None, batch: int = 500) -> int:
        """Retention: delete what occurred before ``now - older_than``; returns the number of alarms deleted.

        Then refreshes the alarm table's planner statistics (:func:`alarms.db.analyze`).

        Alarms go with their events, outbox rows, delivery log, snapshot and clip files; operational
        events as old go too.
        """
        now = aware_now(now)
        cutoff = now - older_than
        deleted = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(ALARMS.c.id, ALARMS.c.occurred_at, ALARMS.c.snapshot_path, ALARMS.c.crop_path)
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
                conn.execute(delete(COMMENTS).where(COMMENTS.c.alarm_id.in_(ids)))
                conn.execute(delete(ALARMS).where(ALARMS.c.id.in_(ids)))
            for r in rows:
                clip = relative_path(str(r.id), r.occurred_at, CLIP_SUFFIX)
                for relative in (r.snapshot_path, r.crop_path, clip):
                    if relative:
                        self.snapshots.delete(relative)
            deleted += len(rows)
        if deleted:
            db.checkpoint(self.engine)  # SQLite: the deleted crops leave the WAL too
        db.analyze(self.engine)  # hourly (upkeep): the list's plans follow what the table holds
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

    def outbox_pending(self) -> dict[str, int]:
        """Messages waiting for delivery by endpoint id (endpoints with none are left out)."""
        with self.engine.connect() as conn:
            return outbox.pending_by_endpoint(conn)

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
    if f.camera_ids is not None:
        conditions.append(c.camera_id.in_(f.camera_ids))
    if f.zone is not None:
        conditions.append(c.zone == f.zone)
    if f.since is not None:
        conditions.append(c.occurred_at >= f.since)
    if f.until is not None:
        conditions.append(c.occurred_at < f.until)
    return conditions


def _list_version(conn: Connection) -> int:
    return int(conn.execute(select(LIST_VERSION.c.version).where(LIST_VERSION.c.id == 1)).scalar() or 0)


def _acted(actor: EventActor | None) -> dict[str, Any]:
    return {} if actor is None else {"actor": actor.to_dict()}


def _stored_event(row: Any) -> StoredEvent:
    return StoredEvent(seq=int(row.seq), id=row.id, type=row.type, alarm_id=row.alarm_id, payload=row.payload)


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
        "clip_path": alarm.clip_path,
        "clip_known": True,
    }


def clip_relative_path(alarm: Alarm) -> str:
    """Where an alarm's clip is (or will be), relative to the snapshot folder."""
    return relative_path(alarm.id, alarm.occurred_at, CLIP_SUFFIX)


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
        clip_path=m["clip_path"],
    )
