"""Users, sessions, integrator keys and the audit log in the service's database.

Session tokens (``ewt_...``) and keys (``ewk_...``) are 256-bit random strings; only their
SHA-256 is stored, so a leaked database yields no credential. Logout and key revocation set
``revoked_at``; tokens also expire (``expires_at``). Every change to users and keys writes an
audit row in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from alarms.store import default_database_url
from api.accounts import db
from api.accounts.passwords import hash_password, verify_password
from api.accounts.principal import ROLE_SCOPES, Principal, Role, Scope
from api.accounts.schema import AUDIT, KEYS, SESSIONS, USERS
from api.accounts.vouched import DEFAULT_TTL, VouchedCredentials
from storage.db import make_engine

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "ewt_"
KEY_PREFIX = "ewk_"
Clock = Callable[[], dt.datetime]
SESSION_KEEP = dt.timedelta(days=1)
"""How long an expired session row is kept (so its token is told "expired", not "unknown")."""


class AccountError(ValueError):
    """A request the accounts refuse (duplicate user name, unknown id ...)."""


class UnknownAccountError(AccountError, LookupError):
    """No such user or key."""


class CredentialError(ValueError):
    """Credentials that do not authenticate, with why (for the 401 body)."""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    role: Role
    cameras: frozenset[str] | None
    disabled: bool
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An integrator key as listed (the secret itself is shown once, at creation)."""

    id: str
    name: str
    prefix: str
    scopes: frozenset[Scope]
    cameras: frozenset[str] | None
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: dt.datetime
    actor: str
    actor_kind: str
    source: str | None
    action: str
    entity: str
    entity_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change and from where (the client address), for the audit log."""

    principal: Principal
    source: str | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _cameras(value: Collection[str] | None) -> list[str] | None:
    return None if value is None else sorted(set(value))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Accounts:
    """The account tables of one database.

    Args:
        engine: the database (migrated by :meth:`open`).
        token_ttl: how long a login token stays valid.
        clock: the current time (tests pass their own).
        credential_ttl: how long a checked token or key is believed without asking the database
            again (:mod:`api.accounts.vouched`); revocations through this object end it at once,
            those of another process within this time. Zero: ask every time.
    """

    def __init__(self, engine: Engine, token_ttl: dt.timedelta = dt.timedelta(hours=12),
                 clock: Clock = _utcnow, credential_ttl: dt.timedelta = DEFAULT_TTL) -> None:
        self.engine, self.token_ttl, self.clock = engine, token_ttl, clock
        self.vouched = VouchedCredentials(credential_ttl)

    @classmethod
    def open(cls, url: str | None = None, *, migrate: bool = True, **kwargs: Any) -> Accounts:
        """Open (and migrate) the accounts in ``url`` (default: the registry's and alarm store's database)."""
        engine = make_engine(url or default_database_url())
        if migrate:
            db.upgrade(engine)
        return cls(engine, **kwargs)

    @classmethod
    def ephemeral(cls) -> Accounts:
        """Accounts in a temporary SQLite file, removed with the object.

        For an app built without accounts (static API keys only, as in tests): users and keys
        made there do not outlive the process.
        """
        folder = Path(tempfile.mkdtemp(prefix="estatewatch-accounts-"))
        accounts = cls.open(f"sqlite:///{folder / 'accounts.db'}")
        weakref.finalize(accounts, shutil.rmtree, folder, ignore_errors=True)
        return accounts

    def close(self) -> None:
        self.engine.dispose()

    # -- users -----------------------------------------------------------------------------------
    def has_users(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(func.count()).select_from(USERS)).scalar_one())

    def create_user(self, actor: Actor, username: str, password: str, role: Role,
                    cameras: Collection[str] | None = None) -> User:
        """A new user; :class:`AccountError` if the name is taken."""
        now, user_id = self.clock(), str(uuid.uuid4())
        values = {"id": user_id, "username": username, "password_hash": hash_password(password),
                  "role": role, "cameras": _cameras(cameras), "disabled": False, "created_at": now}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(USERS).values(**values))
                self._audit(conn, actor, "create", "user", user_id,
                            {"username": username, "role": role, "cameras": _cameras(cameras)})
        except IntegrityError:
            raise AccountError(f"user {username!r} exists") from None
        logger.info("user %s (%s) created by %s", username, role, actor.principal.name)
        return self.user(user_id)

    def users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_user(r._mapping) for r in conn.execute(select(USERS).order_by(USERS.c.username))]

    def user(self, user_id: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(select(USERS).where(USERS.c.id == user_id)).first()
        if row is None:
            raise UnknownAccountError(f"no user {user_id!r}")
        return _user(row._mapping)

    def set_disabled(self, actor: Actor, user_id: str, disabled: bool) -> User:
        """Disable (or enable again) a user; disabling revokes their sessions."""
        with self.engine.begin() as conn:
            changed = conn.execute(update(USERS).where(USERS.c.id == user_id).values(disabled=disabled))
            if not changed.rowcount:
                raise UnknownAccountError(f"no user {user_id!r}")
            if disabled:
                self._revoke_sessions(conn, user_id)
            self._audit(conn, actor, "disable" if disabled else "enable", "user", user_id, {})
        self.vouched.clear()
        return self.user(user_id)

    def delete_user(self, actor: Actor, user_id: str) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(select(USERS.c.username).where(USERS.c.id == user_id)).first()
            if row is None:
                raise UnknownAccountError(f"no user {user_id!r}")
            conn.execute(delete(SESSIONS).where(SESSIONS.c.user_id == user_id))
            conn.execute(delete(USERS).where(USERS.c.id == user_id))
            self._audit(conn, actor, "delete", "user", user_id, {"username": row.username})
        self.vouched.clear()

    # -- sessions --------------------------------------------------------------------------------
    def login(self, username: str, password: str, source: str | None) -> tuple[str, User] | None:
        """A new bearer token and its user, or ``None`` for a wrong name or password or a disabled user.

        An unknown name costs the same hashing time as a known one.
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(USERS).where(USERS.c.username == username)).first()
        stored = None if row is None else row.password_hash
        if not verify_password(password, stored) or row is None or row.disabled:
            return None
        user = _user(row._mapping)
        token, now = TOKEN_PREFIX + secrets.token_urlsafe(32), self.clock()
        session_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            # Sessions long past their expiry go (a day later: till then a late call hears "expired").
            conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at < now - SESSION_KEEP))
            conn.execute(insert(SESSIONS).values(id=session_id, token_hash=_digest(token), user_id=user.id,
                                                 created_at=now, expires_at=now + self.token_ttl))
            principal = _user_principal(user, session_id)
            self._audit(conn, Actor(principal, source), "login", "session", session_id, {})
        return token, user

    def logout(self, actor: Actor) -> None:
        """Revoke the session of ``actor``'s token."""
        token_id = actor.principal.token_id
        if token_id is None:
            return
        with self.engine.begin() as conn:
            conn.execute(update(SESSIONS).where(SESSIONS.c.id == token_id, SESSIONS.c.revoked_at.is_(None))
                         .values(revoked_at=self.clock()))
            self._audit(conn, actor, "logout", "session", token_id, {})
        self.vouched.clear()

    def _revoke_sessions(self, conn: Connection, user_id: str) -> None:
        conn.execute(update(SESSIONS).where(SESSIONS.c.user_id == user_id, SESSIONS.c.revoked_at.is_(None))
                     .values(revoked_at=self.clock()))

    # -- keys ------------------------------------------------------------------------------------
    def create_key(self, actor: Actor, name: str, scopes: Collection[Scope],
                   cameras: Collection[str] | None = None) -> tuple[str, ApiKey]:
        """A new integrator key: the secret (shown once, stored hashed) and its record."""
        secret, key_id, now = KEY_PREFIX + secrets.token_urlsafe(32), str(uuid.uuid4()), self.clock()
        with self.engine.begin() as conn:
            conn.execute(insert(KEYS).values(
                id=key_id, name=name, key_hash=_digest(secret), prefix=secret[:10],
                scopes=sorted(set(scopes)), cameras=_cameras(cameras), created_at=now,
                created_by=actor.principal.name))
            self._audit(conn, actor, "create", "key", key_id,
                        {"name": name, "scopes": sorted(set(scopes)), "cameras": _cameras(cameras)})
        return secret, self.key(key_id)

    def api_keys(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            return [_key(r._mapping) for r in conn.execute(select(KEYS).order_by(KEYS.c.created_at))]

    def key(self, key_id: str) -> ApiKey:
        with self.engine.connect() as conn:
            row = conn.execute(select(KEYS).where(KEYS.c.id == key_id)).first()
        if row is None:
            raise UnknownAccountError(f"no key {key_id!r}")
        return _key(row._mapping)

    def revoke_key(self, actor: Actor, key_id: str) -> ApiKey:
        with self.engine.begin() as conn:
            if not conn.execute(update(KEYS).where(KEYS.c.id == key_id, KEYS.c.revoked_at.is_(None))
                                .values(revoked_at=self.clock())).rowcount:
                self.key(key_id)  # unknown: raises; known: already revoked, nothing to do
                return self.key(key_id)
            self._audit(conn, actor, "revoke", "key", key_id, {})
        self.vouched.clear()
        return self.key(key_id)

    # -- authentication --------------------------------------------------------------------------
    def authenticate(self, credential: str) -> Principal:
        """The principal of a live session token or an unrevoked key.

        Raises:
            CredentialError: saying why not (unknown, expired, revoked, user disabled).
        """
        if not credential.startswith((TOKEN_PREFIX, KEY_PREFIX)):
            raise CredentialError("invalid credentials")
        digest, now, generation = _digest(credential), self.clock(), self.vouched.generation
        if (principal := self.vouched.get(digest, now)) is not None:
            return principal
        if credential.startswith(TOKEN_PREFIX):
            principal, expires_at = self._session_principal(digest)
            self.vouched.put(digest, principal, now, generation, expires_at)
        else:
            principal = self._key_principal(digest)
            self.vouched.put(digest, principal, now, generation)
        return principal

    def vouched_principal(self, credential: str) -> Principal | None:
        """The principal of ``credential`` if it was checked a moment ago (no database read); else ``None``.

        ``None`` says nothing about validity: :meth:`authenticate` then checks it in the database.
        """
        if not credential.startswith((TOKEN_PREFIX, KEY_PREFIX)):
            return None
        return self.vouched.get(_digest(credential), self.clock())

    def _session_principal(self, token_hash: str) -> tuple[Principal, dt.datetime]:
        query = (select(USERS, SESSIONS.c.id.label("session_id"), SESSIONS.c.expires_at,
                        SESSIONS.c.revoked_at)
                 .join(SESSIONS, SESSIONS.c.user_id == USERS.c.id).where(SESSIONS.c.token_hash == token_hash))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise CredentialError("unknown token")
        if row.revoked_at is not None:
            raise CredentialError("token revoked (logged out, or the user was disabled)")
        if _utc(row.expires_at) <= self.clock():
            raise CredentialError("token expired: log in again")
        if row.disabled:
            raise CredentialError("user disabled")
        return _user_principal(_user(row._mapping), row.session_id), _utc(row.expires_at)

    def _key_principal(self, key_hash: str) -> Principal:
        with self.engine.connect() as conn:
            row = conn.execute(select(KEYS).where(KEYS.c.key_hash == key_hash)).first()
        if row is None:
            raise CredentialError("unknown key")
        key = _key(row._mapping)
        if key.revoked_at is not None:
            raise CredentialError("key revoked")
        return Principal(kind="key", id=key.id, name=f"key:{key.name}", role=None, scopes=key.scopes,
                         cameras=key.cameras)

    # -- audit -----------------------------------------------------------------------------------
    def record(self, actor: Actor, action: str, entity: str, entity_id: str | None, **details: Any) -> None:
        """Write one audit row for a change made elsewhere (an alarm acknowledged ...)."""
        with self.engine.begin() as conn:
            self._audit(conn, actor, action, entity, entity_id, details)

    def record_each(self, actor: Actor, action: str, entity: str,
                    changes: Iterable[tuple[str | None, dict[str, Any]]]) -> None:
        """Write one audit row per ``(entity_id, details)`` in one transaction (a CSV import's rows)."""
        at = self.clock()
        rows = [{"at": at, "actor": actor.principal.name, "actor_kind": actor.principal.kind,
                 "source": actor.source, "action": action, "entity": entity, "entity_id": entity_id,
                 "details": details} for entity_id, details in changes]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(AUDIT), rows)

    def _audit(self, conn: Connection, actor: Actor, action: str, entity: str, entity_id: str | None,
               details: dict[str, Any]) -> None:
        conn.execute(insert(AUDIT).values(
            at=self.clock(), actor=actor.principal.name, actor_kind=actor.principal.kind, source=actor.source,
            action=action, entity=entity, entity_id=entity_id, details=details))

    def audit_log(self, limit: int = 100, offset: int = 0, *, actor: str | None = None,
                  action: str | None = None, entity: str | None = None,
                  entity_id: str | None = None) -> list[AuditRecord]:
        """Audit rows, newest first; each given filter must match exactly."""
        query = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit).offset(offset)
        for column, value in ((AUDIT.c.actor, actor), (AUDIT.c.action, action), (AUDIT.c.entity, entity),
                              (AUDIT.c.entity_id, entity_id)):
            if value is not None:
                query = query.where(column == value)
        with self.engine.connect() as conn:
            return [AuditRecord(**{**r._mapping, "at": _utc(r.at)}) for r in conn.execute(query)]


def _user(m: Any) -> User:
    cameras = m["cameras"]
    return User(id=m["id"], username=m["username"], role=m["role"],
                cameras=None if cameras is None else frozenset(cameras), disabled=bool(m["disabled"]),
                created_at=_utc(m["created_at"]))


def _key(m: Any) -> ApiKey:
    cameras = m["cameras"]
    return ApiKey(id=m["id"], name=m["name"], prefix=m["prefix"], scopes=frozenset(m["scopes"]),
                  cameras=None if cameras is None else frozenset(cameras), created_at=_utc(m["created_at"]),
                  created_by=m["created_by"],
                  revoked_at=None if m["revoked_at"] is None else _utc(m["revoked_at"]))


def _user_principal(user: User, session_id: str | None) -> Principal:
    return Principal(kind="user", id=user.id, name=user.username, role=user.role,
                     scopes=ROLE_SCOPES[user.role], cameras=user.cameras, token_id=session_id)


SYSTEM = Principal(kind="static-key", id=None, name="system", role=None, scopes=frozenset())


def bootstrap_admin(accounts: Accounts, password: str | None) -> str | None:
    """Create the first admin (``admin``) when no user exists yet.

    With ``password`` (``ESTATEWATCH_ADMIN_PASSWORD``) it is used; without, a one-time password
    is generated, logged once at WARNING and returned; only its hash is stored. Returns the
    generated password, or ``None`` when none was generated.
    """
    if accounts.has_users():
        return None
    generated = None if password else secrets.token_urlsafe(12)
    try:
        accounts.create_user(Actor(SYSTEM, None), "admin", password or str(generated), "admin")
    except AccountError:  # another process starting on the same database was first
        return None
    if generated is not None:
        logger.warning("\n%s\n  first admin created: user 'admin', one-time password: %s\n"
                       "  (shown only now; set ESTATEWATCH_ADMIN_PASSWORD to choose it instead)\n%s",
                       "=" * 72, generated, "=" * 72)
    else:
        logger.info("first admin 'admin' created with the password from ESTATEWATCH_ADMIN_PASSWORD")
    return generated
