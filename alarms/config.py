"""Delivery configuration: webhooks, MQTT, property-management connectors and the relay.

The YAML contract is ``webhooks: [{url, secret, events}]``; ``${VAR}`` is expanded by the service's
loader before validation, so secrets reach these models from the environment only. Secret fields
are :class:`pydantic.SecretStr` and print masked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from vision.plate.vote import PlateVoteConfig

EVENT_TYPES = (
    "alarm.raised",
    "alarm.acknowledged",
    "alarm.resolved",
    "alarm.commented",
    "alarm.clip_ready",
    "camera.offline",
    "camera.online",
    "camera.tampered",
    "endpoint.disabled",
)
"""Event types the store emits. Filters may name others (forward compatibility) but not be empty."""

OPT_IN_EVENT_TYPES = frozenset({"alarm.commented"})
"""Event types an endpoint gets only when its filter names them: ``*`` means every other type, so
endpoints configured before these existed keep receiving exactly what they did."""

DEFAULT_RETRY_SCHEDULE_S = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""Delay before each attempt: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""

EventFilter = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+\.[a-z_]+$|^[a-z_]+\.\*$|^\*$")
]
"""One entry of an event filter: a type (``alarm.raised``), a family (``alarm.*``) or everything (``*``)."""


def accepts_event(filters: Collection[str], event_type: str) -> bool:
    """Whether an endpoint whose event filter is ``filters`` gets events of ``event_type`` (pure).

    Entries are exact types (``alarm.raised``), families (``alarm.*``) or ``*``; ``*`` and the
    families match every type but the :data:`OPT_IN_EVENT_TYPES`, which must be named.
    """
    if event_type in filters:
        return True
    if event_type in OPT_IN_EVENT_TYPES:
        return False
    return "*" in filters or event_type.split(".", 1)[0] + ".*" in filters


def _endpoint_id(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]
    return f"{kind}-{digest}"


def validate_whsec(secret: str) -> str:
    """Check a Standard Webhooks secret: ``whsec_`` + base64 of 24..64 bytes (ValueError if not)."""
    if not secret.startswith("whsec_"):
        raise ValueError("webhook secret must start with 'whsec_'")
    try:
        key = base64.b64decode(secret[len("whsec_") :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret after 'whsec_' must be base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"webhook secret must decode to 24..64 bytes, got {len(key)}")
    return secret


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Endpoint(_Strict):
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Stable endpoint id (outbox rows and the delivery log refer to it); "
        "default derived from the URL.",
    )
    events: list[EventFilter] = Field(
        default_factory=lambda: ["*"],
        min_length=1,
        description="Event types sent to this endpoint, e.g. [alarm.raised]; default all ('*'), "
        "which leaves out alarm.commented unless it is named too.",
    )
    timeout_s: float = Field(default=15.0, gt=0, le=120, description="Per-request timeout in seconds.")

    def accepts(self, event_type: str) -> bool:
        """Whether events of ``event_type`` go to this endpoint."""
        return accepts_event(self.events, event_type)


class WebhookConfig(_Endpoint):
    """One Standard Webhooks v1 endpoint."""

    url: str = Field(
        min_length=8, max_length=2000, pattern=r"^https?://", description="Receiver URL (http or https)."
    )
    secret: SecretStr | list[SecretStr] = Field(
        description="whsec_<base64> signing secret, or a list of them during rotation (each one signs)."
    )
    verify_tls: bool = Field(default=True, description="Verify the receiver's TLS certificate.")
    ca_file: str | None = Field(default=None, description="CA bundle (PEM) to verify the receiver with.")

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | list[SecretStr]) -> SecretStr | list[SecretStr]:
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError("at least one secret is required")
        for item in values:
            validate_whsec(item.get_secret_value())
        return value

    def secrets(self) -> list[str]:
        """The active secrets in order (plain text; never log them)."""
        values = self.secret if isinstance(self.secret, list) else [self.secret]
        return [s.get_secret_value() for s in values]

    def endpoint_id(self) -> str:
        return self.id or _endpoint_id("webhook", self.url)


class MqttTlsConfig(_Strict):
    ca_file: str | None = Field(default=None, description="CA bundle (PEM); default the system store.")
    cert_file: str | None = Field(default=None, description="Client certificate (PEM) for mutual TLS.")
    key_file: str | None = Field(default=None, description="Client key (PEM) for mutual TLS.")
    insecure: bool = Field(default=False, description="Skip hostname verification (test brokers only).")


class MqttConfig(_Strict):
    """An MQTT broker; events go to ``{topic_prefix}/{camera_id}/{event type}``."""

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Stable endpoint id; default derived from host and port.",
    )
    host: str = Field(min_length=1, max_length=255, description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 for TLS by convention).")
    topic_prefix: str = Field(
        default="estatewatch",
        min_length=1,
        max_length=200,
        pattern=r"^[^#+]+$",
        description="Topic prefix, without wildcards.",
    )
    qos: Literal[1] = Field(default=1, description="Publish QoS; 1 waits for PUBACK (at least once).")
    username: str | None = Field(default=None, max_length=200, description="Broker user name.")
    password: SecretStr | None = Field(default=None, description="Broker password (from the environment).")
    tls: MqttTlsConfig | None = Field(default=None, description="TLS settings; absent: plain TCP.")
    client_id: str = Field(default="", max_length=128, description="MQTT client id; empty: random.")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Connect and PUBACK timeout, seconds.")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive interval, seconds.")
    events: list[EventFilter] = Field(
        default_factory=lambda: ["*"], min_length=1, description="Event types published; default all."
    )

    def accepts(self, event_type: str) -> bool:
        return accepts_event(self.events, event_type)

    def endpoint_id(self) -> str:
        return self.id or _endpoint_id("mqtt", self.host, str(self.port), self.topic_prefix)


class BearerAuth(_Strict):
    kind: Literal["bearer"] = "bearer"
    token: SecretStr = Field(description="Static token sent as 'Authorization: Bearer <token>'.")


class OAuth2ClientCredentials(_Strict):
    kind: Literal["oauth2_client_credentials"] = "oauth2_client_credentials"
    token_url: str = Field(min_length=8, pattern=r"^https?://", description="The token endpoint.")
    client_id: str = Field(min_length=1, max_length=500, description="OAuth2 client id.")
    client_secret: SecretStr = Field(description="OAuth2 client secret.")
    scope: str | None = Field(default=None, max_length=1000, description="Space-separated scopes.")
    refresh_margin_s: float = Field(
        default=30.0, ge=0, le=3600, description="Refresh this long before the token expires."
    )


class HmacAuth(_Strict):
    kind: Literal["hmac"] = "hmac"
    header: str = Field(
        default="X-Signature",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header that carries the signature.",
    )
    secret: SecretStr = Field(description="Shared HMAC key (UTF-8).")
    algorithm: Literal["sha256", "sha512", "sha1"] = Field(default="sha256", description="HMAC digest.")
    signed: Literal["body", "timestamp.body"] = Field(
        default="body", description="What is signed: the body, or '<unix timestamp>.<body>'."
    )
    encoding: Literal["hex", "base64"] = Field(default="hex", description="Signature encoding.")
    prefix: str = Field(default="", max_length=32, description="Text before the signature, e.g. 'sha256='.")
    timestamp_header: str = Field(
        default="X-Timestamp",
        min_length=1,
        max_length=100,
        description="Header with the unix timestamp when 'timestamp.body' is signed.",
    )


ConnectorAuth = Annotated[BearerAuth | OAuth2ClientCredentials | HmacAuth, Field(discriminator="kind")]


class ConnectorConfig(_Endpoint):
    """A property-management system's own endpoint: its JSON shape and its auth."""

    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://", description="Their endpoint URL.")
    method: Literal["POST", "PUT"] = Field(default="POST", description="HTTP method.")
    body: Any = Field(
        default=None,
        description="JSON template: string leaves may hold placeholders like '{alarm.type}' or "
        "'{event.type}'; a leaf that is exactly one placeholder keeps the value's JSON type. "
        "Absent: the Standard Webhooks body.",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra static headers.")
    auth: ConnectorAuth | None = Field(default=None, description="bearer, oauth2_client_credentials or hmac.")
    verify_tls: bool = Field(default=True, description="Verify the receiver's TLS certificate.")
    ca_file: str | None = Field(default=None, description="CA bundle (PEM) to verify the receiver with.")

    @model_validator(mode="after")
    def _check_template(self) -> ConnectorConfig:
        from alarms.mapping import check_template

        if self.body is not None:
            check_template(self.body)
        return self

    def endpoint_id(self) -> str:
        return self.id or _endpoint_id("connector", self.url)


class RelayConfig(_Strict):
    """How the outbox relay works through its queue."""

    retry_schedule_s: list[Annotated[float, Field(ge=0, le=7 * 86400)]] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE_S),
        min_length=1,
        max_length=50,
        description="Delay before each attempt (the first is normally 0); its length is the attempt budget.",
    )
    disable_after_days: float = Field(
        default=5.0, gt=0, le=365, description="Disable an endpoint that has failed continuously this long."
    )
    max_retry_after_s: float = Field(
        default=86400.0, ge=0, le=7 * 86400, description="Cap on a receiver's Retry-After."
    )
    workers: int = Field(default=16, ge=1, le=256, description="Concurrent deliveries per relay.")
    batch_size: int = Field(default=200, ge=1, le=5000, description="Messages claimed per round.")
    poll_interval_s: float = Field(default=0.5, gt=0, le=60, description="Idle wait between rounds, seconds.")
    lease_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="A claimed message is re-sent after this long if its relay died.",
    )


def one_or_many(value: Any) -> Any:
    """Let a YAML section that is a list also be written as a single mapping."""
    return [value] if isinstance(value, dict) else value


class DeliveryConfig(_Strict):
    """Everything about getting events out of the site."""

    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://",
        description="Base URL receivers use to fetch snapshots.",
    )
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Standard Webhooks endpoints.")
    mqtt: list[MqttConfig] = Field(default_factory=list, description="MQTT brokers.")
    connectors: list[ConnectorConfig] = Field(
        default_factory=list, description="Property-management systems' own endpoints."
    )
    relay: RelayConfig = Field(default_factory=RelayConfig, description="Outbox relay tuning.")

    @field_validator("mqtt", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return one_or_many(value)

    @model_validator(mode="after")
    def _unique_ids(self) -> DeliveryConfig:
        endpoints: list[WebhookConfig | MqttConfig | ConnectorConfig] = [
            *self.webhooks,
            *self.mqtt,
            *self.connectors,
        ]
        ids = [e.endpoint_id() for e in endpoints]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate endpoint ids: {', '.join(duplicates)}")
        return self


class ClipSettings(BaseModel):
    """Alarm clips: each camera buffers its encoded video; an alarm gets pre_s before to post_s after."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Buffer each camera's video and write a clip per alarm.")
    pre_s: float = Field(5.0, ge=0, le=60, description="Seconds of video before the alarm.")
    post_s: float = Field(5.0, ge=0, le=60, description="Seconds of video after the alarm.")

    @property
    def keep_s(self) -> float:
        """How much each camera buffers: the window, and the margin for writing it."""
        return self.pre_s + self.post_s + 3.0


class AlarmSettings(BaseModel):
    """Where alarms are kept and how long."""

    model_config = ConfigDict(extra="forbid")

    retention_days: float = Field(90.0, gt=0, le=3650,
                                  description="Alarms (and their snapshots) older than this are purged.")
    public_base_url: str = Field("http://127.0.0.1:8000", pattern=r"^https?://",
                                 description="Base URL receivers use to fetch alarm snapshots.")
    relay: RelayConfig = Field(default_factory=RelayConfig, description="Outbox relay tuning.")
    live_queue: int = Field(256, ge=1, le=100_000,
                            description="Live alarm feed: events kept per WebSocket client that reads "
                                        "too slowly; past it the oldest are dropped and the client is told.")
    clips: ClipSettings = Field(default_factory=ClipSettings, description="Video clips of alarms.")
    plate_vote: PlateVoteConfig = Field(
        default_factory=PlateVoteConfig,
        description="When a vehicle track's per-frame plate readings decide its one plate per pass.")
