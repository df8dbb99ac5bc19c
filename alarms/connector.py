"""Property-management connectors: their endpoint, their JSON shape, their auth; our outbox guarantees.

The body comes from the endpoint's template (:mod:`alarms.mapping`); auth is a static bearer token,
OAuth2 client credentials (token cached until shortly before expiry, fetched again on expiry and,
once per delivery, after a 401) or an HMAC header. Every request carries ``webhook-id`` (equal across
retries) so the receiver can drop duplicates.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from alarms.config import BearerAuth, ConnectorConfig, HmacAuth, OAuth2ClientCredentials
from alarms.mapping import event_context, render
from alarms.outbox import DeliveryResult
from alarms.records import OutboxMessage
from alarms.webhooks import describe_error, make_http_client, post

logger = logging.getLogger(__name__)


def hmac_headers(auth: HmacAuth, body: bytes, timestamp: int) -> dict[str, str]:
    """The signature header(s) of an HMAC-authenticated request (pure)."""
    key = auth.secret.get_secret_value().encode()
    signed = body if auth.signed == "body" else f"{timestamp}.".encode() + body
    digest = hmac.new(key, signed, getattr(hashlib, auth.algorithm)).digest()
    text = digest.hex() if auth.encoding == "hex" else base64.b64encode(digest).decode("ascii")
    headers = {auth.header: auth.prefix + text}
    if auth.signed == "timestamp.body":
        headers[auth.timestamp_header] = str(timestamp)
    return headers


def token_fresh(expires_at: float | None, now: float, margin_s: float) -> bool:
    """Whether a token expiring at ``expires_at`` (seconds, same clock as ``now``) is still usable (pure)."""
    return expires_at is not None and now < expires_at - margin_s


def parse_token_response(status_code: int, body: bytes, now: float) -> tuple[str, float]:
    """``(access token, expires at)`` from a token endpoint's answer; ValueError with the reason if unusable.

    A missing ``expires_in`` means one hour.
    """
    if status_code != 200:
        raise ValueError(f"token endpoint answered {status_code}")
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise ValueError("token endpoint answered with invalid JSON") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("access_token"), str)
        or not data["access_token"]
    ):
        raise ValueError("token endpoint answer has no access_token")
    expires_in = data.get("expires_in", 3600)
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        raise ValueError(f"bad expires_in {expires_in!r}")
    return data["access_token"], now + float(expires_in)


@dataclass
class _Token:
    value: str
    expires_at: float


class OAuth2TokenSource:
    """Client-credentials tokens, cached and shared by the relay's threads."""

    def __init__(
        self,
        auth: OAuth2ClientCredentials,
        client: httpx.Client,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.auth = auth
        self.client = client
        self.timeout_s = timeout_s
        self.clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self.fetches = 0

    def get(self, stale: str | None = None) -> str:
        """A usable token; ``stale`` (a token the receiver refused) is never returned again."""
        with self._lock:
            token = self._token
            if (
                token is not None
                and token.value != stale
                and token_fresh(token.expires_at, self.clock(), self.auth.refresh_margin_s)
            ):
                return token.value
            self._token = self._fetch()
            return self._token.value

    def _fetch(self) -> _Token:
        form = {"grant_type": "client_credentials"}
        if self.auth.scope:
            form["scope"] = self.auth.scope
        try:
            response = self.client.post(
                self.auth.token_url,
                data=form,
                timeout=self.timeout_s,
                auth=(self.auth.client_id, self.auth.client_secret.get_secret_value()),
            )
        except httpx.HTTPError as exc:
            raise ValueError(f"token request failed: {describe_error(exc, self.timeout_s)}") from None
        value, expires_at = parse_token_response(response.status_code, response.content, self.clock())
        self.fetches += 1
        logger.info(
            "fetched OAuth2 token for client %s (valid %.0f s)",
            self.auth.client_id,
            expires_at - self.clock(),
        )
        return _Token(value, expires_at)


class ConnectorSink:
    """Delivers outbox messages to a property-management system in its own shape."""

    def __init__(
        self,
        config: ConnectorConfig,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        token_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._own_client = client is None
        self.client = client or make_http_client(config.verify_tls, config.ca_file)
        self.clock = clock
        self.tokens: OAuth2TokenSource | None = None
        if isinstance(config.auth, OAuth2ClientCredentials):
            self.tokens = OAuth2TokenSource(config.auth, self.client, config.timeout_s, token_clock)

    @property
    def endpoint_id(self) -> str:
        return self.config.endpoint_id()

    def accepts(self, event_type: str) -> bool:
        return self.config.accepts(event_type)

    def body(self, message: OutboxMessage) -> bytes:
        """The request body: the rendered template, or the Standard Webhooks body without one."""
        document: Any = message.payload
        if self.config.body is not None:
            document = render(self.config.body, event_context(message.event_id, message.payload))
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _headers(self, message: OutboxMessage, body: bytes, token: str | None) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.config.headers, "webhook-id": message.event_id}
        auth = self.config.auth
        if isinstance(auth, BearerAuth):
            headers["authorization"] = f"Bearer {auth.token.get_secret_value()}"
        elif isinstance(auth, HmacAuth):
            headers.update(hmac_headers(auth, body, int(self.clock())))
        elif token is not None:
            headers["authorization"] = f"Bearer {token}"
        return headers

    def deliver(self, message: OutboxMessage) -> DeliveryResult:
        started = time.perf_counter()
        body = self.body(message)
        token: str | None = None
        for attempt in range(2):
            if self.tokens is not None:
                try:
                    token = self.tokens.get(stale=token if attempt else None)
                except ValueError as exc:
                    return DeliveryResult(
                        ok=False, error=str(exc)[:300], duration_ms=(time.perf_counter() - started) * 1000.0
                    )
            result = post(
                self.client,
                self.config.url,
                body,
                self._headers(message, body, token),
                self.config.timeout_s,
                self.config.method,
            )
            if result.status_code != 401 or self.tokens is None or attempt:
                break
            logger.info("connector %s refused the token (401); fetching a new one", self.endpoint_id)
        return dataclasses.replace(result, duration_ms=(time.perf_counter() - started) * 1000.0)

    def close(self) -> None:
        if self._own_client:
            self.client.close()
