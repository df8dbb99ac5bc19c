"""The alarm store's tables (SQLAlchemy 2.x); every change goes through :mod:`alarms.migrations`.

They share the registry's database but have their own metadata and Alembic version table
(``alarms_alembic_version``), so both migration histories live side by side.

- ``alarms``: one row per raised alarm, with its state transitions (who, when) and its face crop
  (encrypted; removed and the row marked redacted when the registry deletes the subject).
- ``alarm_events``: every event emitted (``alarm.raised``, ``camera.offline`` ...); its id is the
  ``webhook-id`` receivers see, the same for every endpoint and every retry; its ``seq`` orders
  events as they committed (the live feed's event id), numbered from ``alarm_event_counter``.
- ``alarm_list_version``: a change counter of ``alarms``, raised by database triggers (the list's ``ETag``).
- ``alarm_comments``: guards' comments on alarms (each also an ``alarm.commented`` event).
- ``outbox_messages``: one row per (event, endpoint), written in the transaction that emits the event.
- ``delivery_attempts``: the delivery log, one row per attempt.
- ``delivery_endpoints``: per-endpoint health (failing since, disabled).
- ``camera_snoozes``: cameras whose alarms are held back for a while (:mod:`alarms.snoozes`).
- ``webhook_endpoints``: webhook endpoints managed over the API, their signing secrets encrypted
  with the registry's keyring (the previous one too, while a rotation's overlap lasts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.db import NAMING

ALARM_STATES = ("open", "acknowledged", "resolved")
MESSAGE_STATUSES = ("pending", "delivered", "failed", "dead")
SERIAL = BigInteger().with_variant(Integer, "sqlite")


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datetimes stored in the alarm store must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AlarmRow(Base):
    __tablename__ = "alarms"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    rule_id: Mapped[str] = mapped_column(String(100), nullable=False)
    camera_id: Mapped[str | None] = mapped_column(String(100))
    zone: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    subject_kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(200), nullable=False)
    similarity: Mapped[float | None] = mapped_column(Float)
    plate_text: Mapped[str | None] = mapped_column(String(32))
    snapshot_path: Mapped[str | None] = mapped_column(String(500))
    crop_path: Mapped[str | None] = mapped_column(String(500))
    """Legacy: the plain ``.crop.jpg`` file of an alarm stored before crops were encrypted."""
    crop_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The face crop (JPEG), AES-GCM encrypted with the registry's keyring; associated data: the alarm id."""
    crop_key_id: Mapped[str | None] = mapped_column(String(16))
    redacted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """When the crop was removed because the registry deleted the alarm's subject."""
    dedup_key: Mapped[str] = mapped_column(String(500), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    clip_path: Mapped[str | None] = mapped_column(String(500))
    """The alarm's MP4 clip (relative to the snapshot folder), set when the clip is written."""
    clip_known: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    """``clip_path`` is authoritative (the store writes true); false for rows stored before it
    existed and not yet settled (:meth:`alarms.store.AlarmStore.settle_clip_paths`), whose clip
    file is looked for when they are read."""

    __table_args__ = (
        CheckConstraint("state IN ('open', 'acknowledged', 'resolved')", name="state"),
        CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="severity"),
        Index("ix_alarms_occurred_at_id", "occurred_at", "id"),
        Index("ix_alarms_severity_occurred_at", "severity", "occurred_at"),
        Index("ix_alarms_state_occurred_at", "state", "occurred_at"),
        Index("ix_alarms_camera_occurred_at", "camera_id", "occurred_at"),
        Index("ix_alarms_camera_state_occurred_at", "camera_id", "state", "occurred_at"),
        Index("ix_alarms_subject", "subject_kind", "subject_id"),
    )


class AlarmEventRow(Base):
    __tablename__ = "alarm_events"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False, index=True)
    alarm_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("alarms.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    seq: Mapped[int] = mapped_column(SERIAL, nullable=False)
    """Commit order: taken from :class:`EventCounterRow` inside the event's transaction (the live
    feed's event id; a client resumes after the last one it saw)."""

    __table_args__ = (Index("uq_alarm_events_seq", "seq", unique=True),)


class EventCounterRow(Base):
    """One row: the last ``alarm_events.seq`` handed out.

    Incrementing it locks the row until the transaction ends (the whole database on SQLite), so
    events get their ``seq`` in commit order, and purging old events never reuses a number.
    """

    __tablename__ = "alarm_event_counter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(SERIAL, nullable=False)


class AlarmListVersionRow(Base):
    """One row: raised by database triggers on every statement that changes ``alarms``.

    Any change of what an alarm list could show (an alarm raised, acknowledged, resolved,
    redacted, given its clip, purged) raises it, whoever makes it and in whichever process; the
    alarm list's ``ETag`` is derived from it (:mod:`api.routes.alarms`).
    """

    __tablename__ = "alarm_list_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(SERIAL, nullable=False)
    last_txid: Mapped[int | None] = mapped_column(BigInteger)
    """PostgreSQL: the transaction that raised it last (raised once per transaction); unused on SQLite."""


class AlarmCommentRow(Base):
    __tablename__ = "alarm_comments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alarm_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("alarms.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    author: Mapped[str] = mapped_column(String(100), nullable=False)
    author_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)


class OutboxRow(Base):
    __tablename__ = "outbox_messages"
    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("alarm_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed', 'dead')", name="status"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_endpoint_status", "endpoint_id", "status"),
        Index("uq_outbox_messages_endpoint_event", "endpoint_id", "event_id", unique=True),
    )


class DeliveryAttemptRow(Base):
    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(
        SERIAL, ForeignKey("outbox_messages.id", ondelete="CASCADE"), nullable=False, index=True
    )
    endpoint_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    event_id: Mapped[str] = mapped_column(String(40), nullable=False)
    attempted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float, nullable=False)


class EndpointRow(Base):
    __tablename__ = "delivery_endpoints"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    failing_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)


ALARMS = cast(Table, AlarmRow.__table__)
EVENTS = cast(Table, AlarmEventRow.__table__)
OUTBOX = cast(Table, OutboxRow.__table__)
ATTEMPTS = cast(Table, DeliveryAttemptRow.__table__)
ENDPOINTS = cast(Table, EndpointRow.__table__)


class WebhookEndpointRow(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    event_types: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    secret_ct: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    """The ``whsec_`` secret, AES-GCM encrypted with the registry's keyring; associated data: the id."""
    secret_key_id: Mapped[str] = mapped_column(String(16), nullable=False)
    secret_fingerprint: Mapped[str] = mapped_column(String(16), nullable=False)
    """First hex digits of the secret's SHA-256: tells secrets apart without revealing them."""
    previous_secret_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_key_id: Mapped[str | None] = mapped_column(String(16))
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """Until then deliveries are signed with the previous secret too (a rotation's overlap)."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    disabled_by: Mapped[str | None] = mapped_column(String(100))
    """Who disabled it over the API (when, and why, are the endpoint's health row's)."""
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    """Raised by every change: relays rebuild an endpoint's sink when it moves."""


WEBHOOK_ENDPOINTS = cast(Table, WebhookEndpointRow.__table__)

EVENT_COUNTER = cast(Table, EventCounterRow.__table__)
LIST_VERSION = cast(Table, AlarmListVersionRow.__table__)
COMMENTS = cast(Table, AlarmCommentRow.__table__)


class CameraSnoozeRow(Base):
    """A camera's alarm snooze: its alarms are not raised until ``until`` (watchlist ones still are).

    One row per snooze; ending one early sets ``ended_at``/``ended_by``. ``suppressed`` counts the
    alarms it held back (written when the snooze ends), so nothing is lost without a trace.
    """

    __tablename__ = "camera_snoozes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(100), nullable=False)
    until: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    by: Mapped[str] = mapped_column(String(100), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, nullable=False)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(100))
    suppressed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")

    __table_args__ = (Index("ix_camera_snoozes_camera_until", "camera_id", "until"),)


SNOOZES = cast(Table, CameraSnoozeRow.__table__)
