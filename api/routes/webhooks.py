"""Webhook endpoints: create (the secret is shown once), list, change, disable, rotate, delete, delivery log.

Scope ``webhooks:admin`` (admins). Endpoints from the config file are not managed here; these
are stored in the database and reach the running relay without a restart. Every change is
written to the audit log, never with a secret; URL passwords are masked in answers and audit.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alarms.config import EventFilter
from alarms.endpoints import (
    DEFAULT_EVENT_TYPES,
    MAX_OVERLAP,
    EndpointBusyError,
    EndpointDisabledError,
    EndpointNotFoundError,
    MessageNotFoundError,
    WebhookEndpoint,
    check_url,
)
from alarms.records import DeliveryAttempt, MessageInfo, Paging
from api.deps import AccountsDep, WebhookAdmin, WebhooksDep, actor
from streams.credentials import mask_url

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such endpoint (or message)"}}
EventTypes = list[EventFilter]
Text = Annotated[str, Field(max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
"""Free text: no control characters but tab and newlines (PostgreSQL refuses NUL)."""
MessageId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The message's id (from its delivery log).")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=2**31)]


class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="Receiver URL, http:// or https://.")
    description: Text = Field("", description="What it is for (the property system ...).")
    event_types: EventTypes = Field(
        default_factory=lambda: list(DEFAULT_EVENT_TYPES), min_length=1, max_length=50,
        description="Event types sent: `alarm.raised`, a family `alarm.*`, or `*`; default `alarm.*`.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_url(value)


class WebhookChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, min_length=1, max_length=2000, description="New receiver URL.")
    description: Text | None = None
    event_types: EventTypes | None = Field(None, min_length=1, max_length=50)
    enabled: bool | None = Field(None, description="False disables it (as `/disable`), true enables it.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @model_validator(mode="after")
    def _something(self) -> WebhookChange:
        if not self.model_fields_set:
            raise ValueError("give at least one of url, description, event_types, enabled")
        for name in ("url", "event_types", "enabled", "description"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} must not be null")
        return self


class DisableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field("", description="Why (default: who disabled it).")


class RotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_s: float = Field(86400.0, ge=0, le=MAX_OVERLAP.total_seconds(),
                             description="Seconds the old secret keeps signing next to the new one "
                                         "(receivers switch meanwhile); 0 retires it at once.")


class PublicWebhook(BaseModel):
    id: str
    url: str = Field(description="The receiver URL (a password in it is masked).")
    description: str
    event_types: list[str]
    enabled: bool
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    disabled_by: str | None = Field(description="Who disabled it; null when the relay did "
                                                "(receiver gone or failing for days).")
    secret_fingerprint: str = Field(description="First hex digits of the secret's SHA-256 (not the secret).")
    previous_secret_expires_at: dt.datetime | None = Field(
        description="While a rotation's overlap lasts: when the previous secret stops signing.")
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    failing_since: dt.datetime | None
    last_success_at: dt.datetime | None

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, now: dt.datetime | None = None) -> PublicWebhook:
        now = now or dt.datetime.now(dt.UTC)
        overlap = endpoint.previous_secret_expires_at
        return cls(
            id=endpoint.id, url=mask_url(endpoint.url), description=endpoint.description,
            event_types=endpoint.event_types, enabled=endpoint.enabled, disabled_at=endpoint.disabled_at,
            disabled_reason=endpoint.disabled_reason, disabled_by=endpoint.disabled_by,
            secret_fingerprint=endpoint.secret_fingerprint,
            previous_secret_expires_at=overlap if overlap is not None and overlap > now else None,
            created_at=endpoint.created_at, created_by=endpoint.created_by, updated_at=endpoint.updated_at,
            failing_since=endpoint.failing_since, last_success_at=endpoint.last_success_at)


class WebhookWithSecret(PublicWebhook):
    secret: str = Field(description="The `whsec_` signing secret: shown only now, never again.")


class Message(BaseModel):
    """One event for this endpoint (the outbox row) and how its delivery went."""

    id: int
    webhook_id: str = Field(description="The event id: the `webhook-id` the receiver sees, on every retry.")
    event_type: str
    status: Literal["pending", "delivered", "failed", "dead"]
    attempts: int
    next_attempt_at: dt.datetime
    last_status_code: int | None
    last_error: str | None

    @classmethod
    def of(cls, m: MessageInfo) -> Message:
        return cls(id=m.id, webhook_id=m.event_id, event_type=m.type, status=m.status, attempts=m.attempts,
                   next_attempt_at=m.next_attempt_at, last_status_code=m.last_status_code,
                   last_error=m.last_error)


class MessageList(BaseModel):
    total: int
    items: list[Message]


class Attempt(BaseModel):
    attempted_at: dt.datetime
    outcome: Literal["delivered", "retry", "failed", "dead"]
    status_code: int | None = Field(description="The receiver's HTTP status; null when none came.")
    duration_ms: float
    error: str | None

    @classmethod
    def of(cls, a: DeliveryAttempt) -> Attempt:
        return cls(attempted_at=a.attempted_at, outcome=a.outcome, status_code=a.status_code,
                   duration_ms=round(a.duration_ms, 1), error=a.error)


class AttemptList(BaseModel):
    total: int
    items: list[Attempt]


def _not_found(exc: LookupError) -> HTTPException:
    return HTTPException(404, str(exc.args[0]) if exc.args else "not found")


@router.post("", summary="Create a webhook endpoint (its secret is shown once)", status_code=201)
def create_webhook(request: Request, body: NewWebhook, caller: WebhookAdmin, webhooks: WebhooksDep,
                   accounts: AccountsDep) -> WebhookWithSecret:
    endpoint, secret = webhooks.create(body.url, caller.name, body.description, body.event_types)
    accounts.record(actor(request, caller), "create", "webhook", endpoint.id, url=mask_url(endpoint.url),
                    event_types=endpoint.event_types, secret_fingerprint=endpoint.secret_fingerprint)
    return WebhookWithSecret(secret=secret, **PublicWebhook.of(endpoint).model_dump())


@router.get("", summary="Webhook endpoints (without secrets)")
def list_webhooks(caller: WebhookAdmin, webhooks: WebhooksDep) -> list[PublicWebhook]:
    return [PublicWebhook.of(e) for e in webhooks.list()]


@router.get("/{endpoint_id}", summary="One webhook endpoint (without its secret)", responses=NOT_FOUND)
def get_webhook(endpoint_id: str, caller: WebhookAdmin, webhooks: WebhooksDep) -> PublicWebhook:
    try:
        return PublicWebhook.of(webhooks.get(endpoint_id))
    except EndpointNotFoundError as exc:
        raise _not_found(exc) from None


@router.patch("/{endpoint_id}", summary="Change the URL, description, event types, or enable/disable",
              responses=NOT_FOUND)
def change_webhook(request: Request, endpoint_id: str, body: WebhookChange, caller: WebhookAdmin,
                   webhooks: WebhooksDep, accounts: AccountsDep) -> PublicWebhook:
    try:
        endpoint = webhooks.get(endpoint_id)
        fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "enabled"}
        if fields:
            endpoint = webhooks.update(endpoint_id, **fields)
        if body.enabled is not None and body.enabled != endpoint.enabled:
            endpoint = (webhooks.enable(endpoint_id, caller.name) if body.enabled
                        else webhooks.disable(endpoint_id, caller.name))
    except EndpointNotFoundError as exc:
        raise _not_found(exc) from None
    if "url" in fields:
        fields["url"] = mask_url(fields["url"])
    accounts.record(actor(request, caller), "update", "webhook", endpoint_id,
                    **fields, **({"enabled": body.enabled} if body.enabled is not None else {}))
    return PublicWebhook.of(endpoint)


class DeletedWebhook(BaseModel):
    """The endpoint deleted, and what went with it."""

    id: str
    dropped: int = Field(description="Messages that were waiting for delivery and will never be sent "
                                     "(only with `force=true`).")
    removed_messages: int = Field(description="All its messages removed with it (delivered, failed and "
                                              "given up too), with their delivery log.")


@router.delete("/{endpoint_id}", summary="Delete a webhook endpoint, its messages and delivery log",
               responses={**NOT_FOUND, 409: {"description": "Messages are waiting for delivery (use "
                                                           "`force=true` to drop them)"}})
def delete_webhook(request: Request, endpoint_id: str, caller: WebhookAdmin, webhooks: WebhooksDep,
                   accounts: AccountsDep, force: bool = Query(
                       False, description="Delete even while messages wait for delivery: they are "
                                          "dropped (and counted).")) -> DeletedWebhook:
    """New events stop going to it at once.

    While messages still wait for delivery (`pending`) the delete is refused (409) unless
    `force=true`; messages given up (`failed`, `dead`) never stop it. Audited with the counts.
    """
    try:
        deleted = webhooks.delete(endpoint_id, caller.name, force)
    except EndpointNotFoundError as exc:
        raise _not_found(exc) from None
    except EndpointBusyError as exc:
        raise HTTPException(409, str(exc)) from None
    accounts.record(actor(request, caller), "delete", "webhook", endpoint_id,
                    url=mask_url(deleted.endpoint.url), force=force, dropped=deleted.dropped,
                    removed_messages=deleted.messages)
    return DeletedWebhook(id=endpoint_id, dropped=deleted.dropped, removed_messages=deleted.messages)


@router.post("/{endpoint_id}/disable", summary="Stop delivering to it (queued messages are given up)",
             responses=NOT_FOUND)
def disable_webhook(request: Request, endpoint_id: str, caller: WebhookAdmin, webhooks: WebhooksDep,
                    accounts: AccountsDep, body: DisableRequest | None = Body(None)) -> PublicWebhook:
    reason = body.reason if body is not None else ""
    try:
        endpoint = webhooks.disable(endpoint_id, caller.name, reason)
    except EndpointNotFoundError as exc:
        raise _not_found(exc) from None
    accounts.record(actor(request, caller), "disable", "webhook", endpoint_id,
                    reason=endpoint.disabled_reason)
    return PublicWebhook.of(endpoint)


@router.post("/{endpoint_id}/enable", summary="Deliver to it again", responses=NOT_FOUND)
def enable_webhook(request: Request, endpoint_id: str, caller: WebhookAdmin, webhooks: WebhooksDep,
                   accounts: AccountsDep) -> PublicWebhook:
    try:
        endpoint = webhooks.enable(endpoint_id, caller.name)
    except EndpointNotFoundError as exc:
        raise _not_found(exc) from None
    accounts.record(actor(request, caller), "enable", "webhook", endpoint_id)
    return PublicWebhook.of(endpoint)


@router.post("/{endpoint_id}/rotate", summary="A new secret (shown once); both sign during the overlap",
             responses=NOT_FOUND)
def rotate_secret(request: Request, endpoint_id: str, caller: WebhookAdmin, webhooks: WebhooksDep,
                  accounts: AccountsDep, body: RotateRequest | None = Body(None)) -> WebhookWithSecret:
    overlap = dt.timedelta(seconds=(body or RotateRequest()).overlap_s)
    try:
        endpoint, secret = webhooks.rotate(endpoint_id, overlap)
    except EndpointNotFoundError as exc:
        raise _not_found(exc) from None
    accounts.record(actor(request, caller), "rotate", "webhook", endpoint_id,
                    overlap_s=overlap.total_seconds(), secret_fingerprint=endpoint.secret_fingerprint)
    return WebhookWithSecret(secret=secret, **PublicWebhook.of(endpoint).model_dump())


@router.get("/{endpoint_id}/messages", summary="Its delivery log: messages, newest first",
            responses=NOT_FOUND)
def list_messages(
    endpoint_id: str, caller: WebhookAdmin, webhooks: WebhooksDep,
    status: Literal["pending", "delivered", "failed", "dead"] | None = Query(None),
    limit: Limit = 50, offset: Offset = 0,
) -> MessageList:
    try:
        page = webhooks.messages(endpoint_id, Paging(limit, offset), status)
    except EndpointNotFoundError as exc:
        raise _not_found(exc) from None
    return MessageList(total=page.total, items=[Message.of(m) for m in page.items])


@router.get("/{endpoint_id}/messages/{message_id}/attempts", summary="Each attempt to deliver a message",
            responses=NOT_FOUND)
def list_attempts(endpoint_id: str, message_id: MessageId, caller: WebhookAdmin, webhooks: WebhooksDep,
                  limit: Limit = 50, offset: Offset = 0) -> AttemptList:
    try:
        page = webhooks.attempts(endpoint_id, message_id, Paging(limit, offset))
    except (EndpointNotFoundError, MessageNotFoundError) as exc:
        raise _not_found(exc) from None
    return AttemptList(total=page.total, items=[Attempt.of(a) for a in page.items])


@router.post("/{endpoint_id}/messages/{message_id}/replay", status_code=202,
             summary="Deliver a message again (the receiver sees the same webhook-id)",
             responses={**NOT_FOUND, 409: {"description": "The endpoint is disabled"}})
def replay_message(request: Request, endpoint_id: str, message_id: MessageId, caller: WebhookAdmin,
                   webhooks: WebhooksDep, accounts: AccountsDep) -> Message:
    try:
        message = webhooks.replay(endpoint_id, message_id)
    except (EndpointNotFoundError, MessageNotFoundError) as exc:
        raise _not_found(exc) from None
    except EndpointDisabledError as exc:
        raise HTTPException(409, str(exc)) from None
    accounts.record(actor(request, caller), "replay", "webhook", endpoint_id, message_id=message_id,
                    webhook_id=message.event_id)
    return Message.of(message)
