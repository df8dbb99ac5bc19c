"""The registry's tables (SQLAlchemy 2.x); every change to them goes through an Alembic migration.

Biometric columns (``face_templates.embedding_ct``, ``face_templates.crop_ct``) hold AES-GCM
ciphertexts only (see :mod:`registry.crypto`). Deleting an owner cascades to its templates and
vehicles in the database (``ON DELETE CASCADE``) and in the ORM.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.db import NAMING

RESIDENT_STATUSES = ("active", "moved_out")
SEVERITIES = ("low", "medium", "high", "critical")


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RegistryState(Base):
    """One row: the registry version, bumped first in every change transaction.

    Bumping it takes a row lock, so change transactions commit in version order and a reader that
    has seen version V has seen every change up to V.
    """

    __tablename__ = "registry_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class Resident(Base):
    __tablename__ = "residents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    building: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(32))
    room: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    tags: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('active', 'moved_out')", name="status"),
        Index("ix_residents_address", "building", "unit", "room"),
    )


class Visitor(Base):
    __tablename__ = "visitors"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    host_resident_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True
    )
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (CheckConstraint("valid_until >= valid_from", name="validity"),)


class WatchlistEntry(Base):
    __tablename__ = "watchlist_entries"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    severity: Mapped[str] = mapped_column(String(16), nullable=False, default="critical")
    plate: Mapped[str | None] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="severity"),)


class FaceTemplate(Base):
    """One enrolled face: an encrypted embedding of one model, owned by exactly one person."""

    __tablename__ = "face_templates"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    resident_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    watchlist_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("watchlist_entries.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    embedding_ct: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    crop_ct: Mapped[bytes | None] = mapped_column(LargeBinary)
    quality: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN resident_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN visitor_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN watchlist_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_owner",
        ),
    )


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    plate: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    plate_colour: Mapped[str | None] = mapped_column(String(16))
    plate_type: Mapped[str | None] = mapped_column(String(16))
    resident_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    parking_permit: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class TemplateEvent(Base):
    """A face template added or removed at a registry version: the index's delta feed."""

    __tablename__ = "template_events"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    version: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    template_id: Mapped[str] = mapped_column(String(36), nullable=False)
    model_id: Mapped[str] = mapped_column(String(64), nullable=False)
    op: Mapped[str] = mapped_column(String(8), nullable=False)


class AuditEntry(Base):
    """Who changed what, when. Details hold field names and ids, never biometric data."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    entity: Mapped[str] = mapped_column(String(32), nullable=False)
    entity_id: Mapped[str | None] = mapped_column(String(36), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
