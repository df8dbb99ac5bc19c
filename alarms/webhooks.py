"""Standard Webhooks v1 delivery: signing, response classification and the HTTP sink.

Pure core: :func:`sign`, :func:`signature_header`, :func:`parse_retry_after`,
:func:`classify_response`, :func:`body_bytes`. Shell: :class:`WebhookSink` (a shared keep-alive
``httpx.Client``; redirects are never followed).

Headers: ``webhook-id`` (the event id, equal across retries), ``webhook-timestamp`` (unix seconds
of this attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``,
one per active secret, space-separated, while a secret is rotated.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import httpx

from alarms.config import WebhookConfig
from alarms.outbox import DeliveryResult
from alarms.records import OutboxMessage

logger = logging.getLogger(__name__)

USER_AGENT = "estatewatch-webhooks/1"
RETRY_AFTER_STATUSES = frozenset({429, 503})


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (ValueError if malformed or empty)."""
    if not secret.startswith("whsec_"):
        raise ValueError("webhook secret must start with 'whsec_'")
    try:
        key = base64.b64decode(secret[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret after 'whsec_' is not base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>``."""
    if not msg_id or any(c in msg_id for c in ".\r\n"):
        raise ValueError(f"invalid message id {msg_id!r}")
    if timestamp < 0:
        raise ValueError(f"timestamp must be >= 0, got {timestamp}")
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signature_header(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per active key, space-separated."""
    if not keys:
        raise ValueError("at least one signing key is required")
    return " ".join(sign(k, msg_id, timestamp, body) for k in keys)


class HeaderLookup(Protocol):
    """Received headers, looked up by name (a dict, ``http.server``'s case-insensitive message)."""

    def get(self, name: str, default: str, /) -> str: ...


def verify_signature(secret: str, headers: HeaderLookup, body: bytes) -> bool:
    """Whether a received delivery carries a valid signature of ``body`` by ``secret`` (receiver side).

    ``headers`` needs ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``; one matching
    signature among those offered (key rotation sends several) is enough. The timestamp's age is
    not checked here.
    """
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    expected = sign(decode_secret(secret), msg_id, int(stamp), body)
    offered = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, signature) for signature in offered)


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact JSON, UTF-8 (Chinese text stays readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date); ``None`` if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def classify_response(
    status_code: int, headers: Mapping[str, str], now: dt.datetime, duration_ms: float = 0.0
) -> DeliveryResult:
    """What an HTTP answer means for delivery: only 2xx succeeds; 3xx is not followed (pure)."""
    if 200 <= status_code < 300:
        return DeliveryResult(ok=True, status_code=status_code, duration_ms=duration_ms)
    if status_code == 410:
        return DeliveryResult(ok=False, status_code=410, error="410 Gone", gone=True, duration_ms=duration_ms)
    retry_after = None
    if status_code in RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(headers.get("retry-after"), now)
    error = f"redirect {status_code} not followed" if 300 <= status_code < 400 else f"HTTP {status_code}"
    return DeliveryResult(
        ok=False, status_code=status_code, error=error, retry_after_s=retry_after, duration_ms=duration_ms
    )


def describe_error(exc: httpx.HTTPError, timeout_s: float) -> str:
    """A short, secret-free reason for a request that got no answer."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout after {timeout_s:g} s ({type(exc).__name__})"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLError) or "SSL" in str(exc) or "TLS" in str(exc):
        return f"TLS error: {exc}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def make_http_client(
    verify: bool = True, ca_file: str | None = None, max_connections: int = 64
) -> httpx.Client:
    """A keep-alive client for one or many sinks: no redirects, no environment proxies."""
    tls: ssl.SSLContext | bool = verify
    if verify and ca_file:
        tls = ssl.create_default_context(cafile=ca_file)
    return httpx.Client(
        verify=tls,
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    method: str = "POST",
) -> DeliveryResult:
    """Send one request and classify its answer; never raises for network errors."""
    started = time.perf_counter()
    try:
        response = client.request(method, url, content=body, headers=dict(headers), timeout=timeout_s)
        response.read()
    except httpx.HTTPError as exc:
        return DeliveryResult(
            ok=False,
            error=describe_error(exc, timeout_s),
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )
    duration_ms = (time.perf_counter() - started) * 1000.0
    return classify_response(response.status_code, response.headers, dt.datetime.now(dt.UTC), duration_ms)


class WebhookSink:
    """Delivers outbox messages to one Standard Webhooks endpoint."""

    def __init__(
        self,
        config: WebhookConfig,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        retire_at: Sequence[float | None] = (),
    ) -> None:
        """A sink for ``config``'s endpoint.

        ``retire_at[i]``: unix time from which ``config.secrets()[i]`` no longer signs (a rotation's
        overlap ending); missing or ``None``: it always signs.
        """
        self.config = config
        keys = [decode_secret(s) for s in config.secrets()]
        ends = [*retire_at, *[None] * (len(keys) - len(retire_at))]
        self._keys = list(zip(keys, ends, strict=True))
        if all(end is not None for end in ends):
            raise ValueError("at least one secret must sign without an end")
        self._own_client = client is None
        self.client = client or make_http_client(config.verify_tls, config.ca_file)
        self.clock = clock

    @property
    def endpoint_id(self) -> str:
        return self.config.endpoint_id()

    def accepts(self, event_type: str) -> bool:
        return self.config.accepts(event_type)

    def keys_at(self, timestamp: float) -> list[bytes]:
        """The keys that sign at ``timestamp``: those not retired yet."""
        return [key for key, end in self._keys if end is None or timestamp < end]

    def headers(self, message: OutboxMessage, body: bytes) -> dict[str, str]:
        timestamp = int(self.clock())
        return {
            "content-type": "application/json",
            "webhook-id": message.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(self.keys_at(timestamp), message.event_id, timestamp, body),
        }

    def deliver(self, message: OutboxMessage) -> DeliveryResult:
        body = body_bytes(message.payload)
        return post(self.client, self.config.url, body, self.headers(message, body), self.config.timeout_s)

    def close(self) -> None:
        if self._own_client:
            self.client.close()
