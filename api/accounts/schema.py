"""The account tables (SQLAlchemy Core); every change to them goes through an Alembic migration.

Passwords, session tokens and keys are stored as hashes only; the audit log holds names, ids
and field names, never a password, token or key.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
)

from storage.db import NAMING

metadata = MetaData(naming_convention=NAMING)
TS = DateTime(timezone=True)
SERIAL = BigInteger().with_variant(Integer, "sqlite")

USERS = Table(
    "api_users", metadata,
    Column("id", String(36), primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("cameras", JSON),  # list of camera ids; null = all
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", TS, nullable=False),
)

SESSIONS = Table(
    "api_sessions", metadata,
    Column("id", String(36), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", String(36), ForeignKey("api_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("revoked_at", TS),
)

KEYS = Table(
    "api_keys", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("cameras", JSON),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("revoked_at", TS),
)

AUDIT = Table(
    "api_audit_log", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("at", TS, nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("source", String(100)),
    Column("action", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_id", String(100)),
    Column("details", JSON, nullable=False),
)
