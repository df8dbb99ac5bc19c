"""Webhook endpoints managed over the API: stored in the alarm store's database, secrets sealed.

Endpoints from the config file stay as they are; these live in ``webhook_endpoints`` next to them
and reach the same outbox, relay and delivery log. Their ``whsec_`` secrets are needed to sign,
so they cannot be hashed: each is AES-256-GCM encrypted with the registry's keyring
(:class:`registry.crypto.TemplateCipher`, like alarm crops), bound to its endpoint by the
associated data, and shown once, when created or rotated. Lists show a fingerprint only.

Enabled or not is the endpoint's health row (``delivery_endpoints``), which the relay already
honours and sets itself when a receiver is gone or keeps failing; this table adds who disabled it.

Pure core: :func:`check_url`, :func:`new_secret`, :func:`fingerprint`. Shell:
:class:`WebhookEndpoints` (the table) and :class:`WebhookSinks` (what a running relay re-reads
each round, so a created, rotated or disabled endpoint needs no restart).
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import datetime as dt
import hashlib
import logging
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from alarms import outbox
from alarms.config import WebhookConfig, validate_whsec
from alarms.emitter import EndpointRoute
from alarms.records import DeliveryAttempt, MessageInfo, Paging
from alarms.schema import ATTEMPTS, ENDPOINTS, OUTBOX, WEBHOOK_ENDPOINTS
from alarms.types import aware_now
from alarms.webhooks import WebhookSink, make_http_client
from registry.crypto import TemplateCipher

logger = logging.getLogger(__name__)

ID_PREFIX = "ep_"
DEFAULT_EVENT_TYPES = ("alarm.*",)
EVENT_TYPE = re.compile(r"^[a-z_]+\.[a-z_]+$|^[a-z_]+\.\*$|^\*$")
MAX_URL_CHARS = 2000
DEFAULT_OVERLAP = dt.timedelta(days=1)
MAX_OVERLAP = dt.timedelta(days=30)

CipherSource = Callable[[], TemplateCipher]
ChangeListener = Callable[[], None]


class EndpointNotFoundError(LookupError):
    """No API-managed webhook endpoint has this id."""


class MessageNotFoundError(LookupError):
    """The endpoint has no message with this id."""


class EndpointBusyError(ValueError):
    """The endpoint still has messages waiting for delivery (delete it with ``force`` to drop them)."""

    def __init__(self, endpoint_id: str, pending: int) -> None:
        super().__init__(f"webhook endpoint {endpoint_id!r} has {pending} message(s) waiting for delivery: "
                         "delete with force=true to drop them, or disable it first")
        self.pending = pending


class EndpointDisabledError(ValueError):
    """The endpoint is disabled: enable it before replaying to it."""


# -- pure core ------------------------------------------------------------------------------------
def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host (ValueError saying what is wrong)."""
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"the URL is longer than {MAX_URL_CHARS} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("the URL must not contain whitespace or control characters")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"the URL must start with http:// or https://, got {parts.scheme or 'no'} scheme")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("the URL's port is not a number in 0..65535") from None
    return url


def check_event_types(event_types: Sequence[str]) -> list[str]:
    """The filter as stored: ``alarm.raised``, ``alarm.*`` or ``*`` entries, at least one, no repeats."""
    if not event_types:
        raise ValueError("at least one event type is required ('*' for all)")
    bad = [t for t in event_types if not EVENT_TYPE.match(t)]
    if bad:
        raise ValueError(f"event types must look like 'alarm.raised', 'alarm.*' or '*', got {bad}")
    return list(dict.fromkeys(event_types))


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def fingerprint(secret: str) -> str:
    """The first 12 hex digits of the secret's SHA-256: tells secrets apart, reveals nothing usable."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def secret_aad(endpoint_id: str) -> bytes:
    """Associated data binding a sealed secret to its endpoint (no swapping secrets between rows)."""
    return f"estatewatch/webhook-secret/{endpoint_id}".encode()


# -- records ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """An API-managed endpoint as operators see it (never its secret)."""

    id: str
    url: str
    description: str
    event_types: list[str]
    secret_fingerprint: str
    previous_secret_expires_at: dt.datetime | None
    """While in the future, deliveries are signed with the previous secret too."""
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    disabled_by: str | None
    failing_since: dt.datetime | None
    last_success_at: dt.datetime | None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[MessageInfo]
    total: int


@dataclass(frozen=True, slots=True)
class AttemptPage:
    items: list[DeliveryAttempt]
    total: int


@dataclass(frozen=True, slots=True)
class DeletedEndpoint:
    """What deleting an endpoint removed: the endpoint as it was, and its delivery log.

    ``dropped``: messages that were still waiting for delivery (``pending``), never to be sent;
    ``messages``: every outbox message of the endpoint removed (delivered, failed, dead too).
    """

    endpoint: WebhookEndpoint
    dropped: int
    messages: int


@dataclass(frozen=True, slots=True)
class SigningSecrets:
    """What signs an endpoint's deliveries: the current secret, and the previous one until it retires."""

    current: str
    previous: str | None = None
    previous_expires_at: dt.datetime | None = None


_PUBLIC = [
    *(WEBHOOK_ENDPOINTS.c[name] for name in (
        "id", "url", "description", "event_types", "secret_fingerprint", "previous_secret_expires_at",
        "created_at", "created_by", "updated_at", "disabled_by")),
    ENDPOINTS.c.disabled_at, ENDPOINTS.c.disabled_reason, ENDPOINTS.c.failing_since,
    ENDPOINTS.c.last_success_at,
]


def _endpoint(m: Any) -> WebhookEndpoint:
    values = dict(m)
    if values["disabled_at"] is None:
        values["disabled_by"] = None
    return WebhookEndpoint(**values)


# -- the table --------------------------------------------------------------------------------------
class WebhookEndpoints:
    """The API-managed webhook endpoints of one alarm store.

    Args:
        engine: the alarm store's database (migrated).
        cipher: the registry's keyring, asked for when a secret is sealed or opened.
    """

    def __init__(self, engine: Engine, cipher: CipherSource) -> None:
        self.engine, self._cipher = engine, cipher
        self._listeners: list[ChangeListener] = []

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener()`` after each committed change (a running relay's wake-up; must not block)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                logger.exception("webhook endpoint change listener failed")

    # -- secrets -------------------------------------------------------------------------------
    def _seal(self, endpoint_id: str, secret: str) -> tuple[str, bytes]:
        return self._cipher().encrypt(secret.encode(), secret_aad(endpoint_id))

    def _open(self, endpoint_id: str, kid: str, blob: bytes) -> str:
        return self._cipher().decrypt(kid, bytes(blob), secret_aad(endpoint_id)).decode()

    # -- reading -------------------------------------------------------------------------------
    def _select(self) -> Any:
        return select(*_PUBLIC).select_from(
            WEBHOOK_ENDPOINTS.join(ENDPOINTS, ENDPOINTS.c.id == WEBHOOK_ENDPOINTS.c.id, isouter=True))

    def get(self, endpoint_id: str, conn: Connection | None = None) -> WebhookEndpoint:
        """The endpoint (:class:`EndpointNotFoundError` if none)."""
        if conn is None:
            with self.engine.connect() as own:
                return self.get(endpoint_id, own)
        row = conn.execute(self._select().where(WEBHOOK_ENDPOINTS.c.id == endpoint_id)).first()
        if row is None:
            raise EndpointNotFoundError(f"no webhook endpoint {endpoint_id!r}")
        return _endpoint(row._mapping)

    def list(self) -> list[WebhookEndpoint]:
        """Every endpoint, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(self._select().order_by(WEBHOOK_ENDPOINTS.c.created_at,
                                                        WEBHOOK_ENDPOINTS.c.id)).all()
        return [_endpoint(r._mapping) for r in rows]

    # -- changes -------------------------------------------------------------------------------
    def create(self, url: str, by: str, description: str = "",
               event_types: Sequence[str] = DEFAULT_EVENT_TYPES,
               now: dt.datetime | None = None) -> tuple[WebhookEndpoint, str]:
        """A new enabled endpoint and its secret (shown to the caller once; stored sealed)."""
        now = aware_now(now)
        url, types = check_url(url), check_event_types(event_types)
        endpoint_id = ID_PREFIX + secrets.token_hex(8)
        secret = new_secret()
        kid, blob = self._seal(endpoint_id, secret)
        with self.engine.begin() as conn:
            conn.execute(insert(WEBHOOK_ENDPOINTS).values(
                id=endpoint_id, url=url, description=description, event_types=types, secret_ct=blob,
                secret_key_id=kid, secret_fingerprint=fingerprint(secret), created_at=now, created_by=by,
                updated_at=now, version=1))
            outbox.ensure_endpoints(conn, [endpoint_id])
            endpoint = self.get(endpoint_id, conn)
        logger.info("webhook endpoint %s created by %s (events %s)", endpoint_id, by, types)
        self._changed()
        return endpoint, secret

    def _bump(self, conn: Connection, endpoint_id: str, now: dt.datetime, **values: Any) -> None:
        changed = conn.execute(
            update(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.id == endpoint_id)
            .values(updated_at=now, version=WEBHOOK_ENDPOINTS.c.version + 1, **values)
        ).rowcount
        if not changed:
            raise EndpointNotFoundError(f"no webhook endpoint {endpoint_id!r}")

    def update(self, endpoint_id: str, *, url: str | None = None, description: str | None = None,
               event_types: Sequence[str] | None = None, now: dt.datetime | None = None) -> WebhookEndpoint:
        """Change the URL, description or event filter (``None``: unchanged)."""
        values: dict[str, Any] = {}
        if url is not None:
            values["url"] = check_url(url)
        if description is not None:
            values["description"] = description
        if event_types is not None:
            values["event_types"] = check_event_types(event_types)
        with self.engine.begin() as conn:
            self._bump(conn, endpoint_id, aware_now(now), **values)
            endpoint = self.get(endpoint_id, conn)
        logger.info("webhook endpoint %s changed: %s", endpoint_id, sorted(values))
        self._changed()
        return endpoint

    def disable(self, endpoint_id: str, by: str, reason: str = "",
                now: dt.datetime | None = None) -> WebhookEndpoint:
        """Stop delivering to it: its queued messages are given up (``dead``; replay brings them back)."""
        now = aware_now(now)
        reason = reason or f"disabled by {by}"
        with self.engine.begin() as conn:
            self.get(endpoint_id, conn)
            if outbox.disable_endpoint(conn, endpoint_id, reason, now):
                self._bump(conn, endpoint_id, now, disabled_by=by)
            endpoint = self.get(endpoint_id, conn)
        logger.info("webhook endpoint %s disabled by %s: %s", endpoint_id, by, reason)
        self._changed()
        return endpoint

    def enable(self, endpoint_id: str, by: str, now: dt.datetime | None = None) -> WebhookEndpoint:
        """Deliver to it again (new events; replay the ones given up while it was disabled)."""
        with self.engine.begin() as conn:
            self.get(endpoint_id, conn)
            outbox.enable_endpoint(conn, endpoint_id)
            self._bump(conn, endpoint_id, aware_now(now), disabled_by=None)
            endpoint = self.get(endpoint_id, conn)
        logger.info("webhook endpoint %s enabled by %s", endpoint_id, by)
        self._changed()
        return endpoint

    def rotate(self, endpoint_id: str, overlap: dt.timedelta = DEFAULT_OVERLAP,
               now: dt.datetime | None = None) -> tuple[WebhookEndpoint, str]:
        """A new secret (returned once); the current one keeps signing too for ``overlap``.

        A rotation within another's overlap retires the oldest secret at once: two at most sign.
        """
        if not dt.timedelta(0) <= overlap <= MAX_OVERLAP:
            raise ValueError(f"the overlap must be between 0 and {MAX_OVERLAP.days} days")
        now = aware_now(now)
        secret = new_secret()
        kid, blob = self._seal(endpoint_id, secret)
        with self.engine.begin() as conn:
            row = conn.execute(select(WEBHOOK_ENDPOINTS.c.secret_ct, WEBHOOK_ENDPOINTS.c.secret_key_id)
                               .where(WEBHOOK_ENDPOINTS.c.id == endpoint_id)).first()
            if row is None:
                raise EndpointNotFoundError(f"no webhook endpoint {endpoint_id!r}")
            keep = overlap > dt.timedelta(0)
            self._bump(conn, endpoint_id, now, secret_ct=blob, secret_key_id=kid,
                       secret_fingerprint=fingerprint(secret),
                       previous_secret_ct=row.secret_ct if keep else None,
                       previous_secret_key_id=row.secret_key_id if keep else None,
                       previous_secret_expires_at=now + overlap if keep else None)
            endpoint = self.get(endpoint_id, conn)
        logger.info("webhook endpoint %s: secret rotated, the previous one signs until %s", endpoint_id,
                    endpoint.previous_secret_expires_at)
        self._changed()
        return endpoint, secret

    def delete(self, endpoint_id: str, by: str, force: bool = False) -> DeletedEndpoint:
        """Remove the endpoint, its messages and its delivery log; new events no longer go to it.

        Refused (:class:`EndpointBusyError`) while messages wait for delivery, unless ``force``:
        then they are dropped (and counted). Messages given up (``failed``, ``dead``) never stop it.
        A relay delivering one of its messages at this moment finishes without logging the attempt.
        """
        with self.engine.begin() as conn:
            endpoint = self.get(endpoint_id, conn)
            pending = int(conn.execute(select(func.count()).select_from(OUTBOX).where(
                OUTBOX.c.endpoint_id == endpoint_id, OUTBOX.c.status == "pending")).scalar_one())
            if pending and not force:
                raise EndpointBusyError(endpoint_id, pending)
            messages = select(OUTBOX.c.id).where(OUTBOX.c.endpoint_id == endpoint_id)
            conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.message_id.in_(messages)))
            removed = conn.execute(delete(OUTBOX).where(OUTBOX.c.endpoint_id == endpoint_id)).rowcount
            conn.execute(delete(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id))
            conn.execute(delete(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.id == endpoint_id))
        logger.info("webhook endpoint %s deleted by %s: %d message(s) removed, %d of them undelivered",
                    endpoint_id, by, removed, pending)
        self._changed()
        return DeletedEndpoint(endpoint, pending, int(removed))

    # -- what delivery reads ---------------------------------------------------------------------
    def routes(self, conn: Connection) -> builtins.list[EndpointRoute]:
        """The endpoints and their filters, read in the emitting transaction.

        Disabled ones are included: the outbox leaves them out.
        """
        rows = conn.execute(select(WEBHOOK_ENDPOINTS.c.id, WEBHOOK_ENDPOINTS.c.event_types)).all()
        return [EndpointRoute(r.id, tuple(r.event_types)) for r in rows]

    def versions(self, conn: Connection) -> dict[str, int]:
        """Each endpoint's version: a relay rebuilds the sinks whose version moved."""
        return {r.id: r.version for r in conn.execute(
            select(WEBHOOK_ENDPOINTS.c.id, WEBHOOK_ENDPOINTS.c.version))}

    def configs(self, conn: Connection, endpoint_ids: Collection[str]
                ) -> builtins.list[tuple[WebhookConfig, SigningSecrets]]:
        """Delivery settings of these endpoints with their secrets opened (never log them)."""
        rows = conn.execute(select(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.id.in_(list(endpoint_ids))))
        out = []
        for r in rows:
            keys = SigningSecrets(self._open(r.id, r.secret_key_id, r.secret_ct))
            if r.previous_secret_ct is not None:
                keys = dataclasses.replace(
                    keys, previous=self._open(r.id, r.previous_secret_key_id, r.previous_secret_ct),
                    previous_expires_at=r.previous_secret_expires_at)
            active = [keys.current, *([keys.previous] if keys.previous else [])]
            config = WebhookConfig(id=r.id, url=r.url, events=list(r.event_types),
                                   secret=[SecretStr(validate_whsec(s)) for s in active])
            out.append((config, keys))
        return out

    # -- the delivery log ------------------------------------------------------------------------
    def messages(self, endpoint_id: str, paging: Paging | None = None,
                 status: str | None = None) -> MessagePage:
        """The endpoint's outbox messages, newest first, one page and the total."""
        paging = paging or Paging()
        fields = [OUTBOX.c[f.name] for f in dataclasses.fields(MessageInfo)]
        conditions = [OUTBOX.c.endpoint_id == endpoint_id]
        if status is not None:
            conditions.append(OUTBOX.c.status == status)
        with self.engine.connect() as conn:
            self.get(endpoint_id, conn)
            total = conn.execute(select(func.count()).select_from(OUTBOX).where(*conditions)).scalar_one()
            rows = conn.execute(select(*fields).where(*conditions).order_by(OUTBOX.c.id.desc())
                                .limit(paging.limit).offset(paging.offset)).all()
        return MessagePage([MessageInfo(**r._asdict()) for r in rows], int(total))

    def message(self, endpoint_id: str, message_id: int, conn: Connection | None = None) -> MessageInfo:
        """One message of the endpoint (:class:`MessageNotFoundError` if it has none with this id)."""
        if conn is None:
            with self.engine.connect() as own:
                return self.message(endpoint_id, message_id, own)
        self.get(endpoint_id, conn)
        fields = [OUTBOX.c[f.name] for f in dataclasses.fields(MessageInfo)]
        row = conn.execute(select(*fields).where(OUTBOX.c.id == message_id,
                                                 OUTBOX.c.endpoint_id == endpoint_id)).first()
        if row is None:
            raise MessageNotFoundError(f"endpoint {endpoint_id!r} has no message {message_id}")
        return MessageInfo(**row._asdict())

    def attempts(self, endpoint_id: str, message_id: int, paging: Paging | None = None) -> AttemptPage:
        """The attempts to deliver one message, newest first."""
        paging = paging or Paging()
        fields = [ATTEMPTS.c[f.name] for f in dataclasses.fields(DeliveryAttempt)]
        condition = ATTEMPTS.c.message_id == message_id
        with self.engine.connect() as conn:
            self.message(endpoint_id, message_id, conn)
            total = conn.execute(select(func.count()).select_from(ATTEMPTS).where(condition)).scalar_one()
            rows = conn.execute(select(*fields).where(condition).order_by(ATTEMPTS.c.id.desc())
                                .limit(paging.limit).offset(paging.offset)).all()
        return AttemptPage([DeliveryAttempt(**r._asdict()) for r in rows], int(total))

    def replay(self, endpoint_id: str, message_id: int, now: dt.datetime | None = None) -> MessageInfo:
        """Queue a message again with a fresh attempt budget; receivers see the same ``webhook-id``."""
        with self.engine.begin() as conn:
            if self.get(endpoint_id, conn).disabled_at is not None:
                raise EndpointDisabledError(f"webhook endpoint {endpoint_id!r} is disabled: enable it first")
            self.message(endpoint_id, message_id, conn)
            outbox.replay(conn, aware_now(now), message_id=message_id)
            message = self.message(endpoint_id, message_id, conn)
        logger.info("webhook endpoint %s: message %s (event %s) replayed", endpoint_id, message_id,
                    message.event_id)
        self._changed()
        return message

    # -- the registry's key rotation ---------------------------------------------------------------
    def reencrypt(self, cipher: TemplateCipher) -> int:
        """Re-seal every secret not under ``cipher``'s current key; returns how many endpoints changed."""
        current, done = cipher.current_key_id, 0
        t = WEBHOOK_ENDPOINTS.c
        with self.engine.begin() as conn:
            rows = conn.execute(select(WEBHOOK_ENDPOINTS).where(
                (t.secret_key_id != current) | (t.previous_secret_key_id != current))).all()
            for r in rows:
                aad = secret_aad(r.id)
                values: dict[str, Any] = {}
                for column in ("secret", "previous_secret"):
                    blob, kid = r._mapping[f"{column}_ct"], r._mapping[f"{column}_key_id"]
                    if blob is not None and kid != current:
                        new_kid, new_blob = cipher.encrypt(cipher.decrypt(kid, bytes(blob), aad), aad)
                        values.update({f"{column}_ct": new_blob, f"{column}_key_id": new_kid})
                conn.execute(update(WEBHOOK_ENDPOINTS).where(t.id == r.id).values(**values))
                done += 1
        return done

    def key_ids_in_use(self) -> set[str]:
        """Key ids of the sealed secrets."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(WEBHOOK_ENDPOINTS.c.secret_key_id,
                                       WEBHOOK_ENDPOINTS.c.previous_secret_key_id)).all()
        return {k for r in rows for k in r if k is not None}


class WebhookSinks:
    """The relay's view of the API-managed endpoints: one :class:`WebhookSink` each, rebuilt on change.

    The sinks share one keep-alive HTTP client, closed with this object.

    Args:
        endpoints: the table.
        clock: unix seconds, for the signature timestamp and a rotation's overlap (tests pass theirs).
    """

    def __init__(self, endpoints: WebhookEndpoints, clock: Callable[[], float] = time.time,
                 client: httpx.Client | None = None) -> None:
        self.endpoints, self.clock = endpoints, clock
        self._own_client = client is None
        self._client = client or make_http_client()
        self._lock = threading.Lock()

    def versions(self, conn: Connection) -> dict[str, int]:
        return self.endpoints.versions(conn)

    def sinks(self, conn: Connection, endpoint_ids: Collection[str]) -> list[WebhookSink]:
        """Sinks of these endpoints as they are stored now."""
        out = []
        for config, keys in self.endpoints.configs(conn, endpoint_ids):
            retire = [None, keys.previous_expires_at.timestamp()] if keys.previous_expires_at else []
            out.append(WebhookSink(config, self._client, self.clock, retire_at=retire))
        return out

    def close(self) -> None:
        with self._lock:
            if self._own_client:
                self._client.close()
