"""Typed dependencies of the routes: the parts of the service each route reads, and the caller.

Each route asks for the narrowest Protocol of :mod:`api.ports` it needs; all of them are the
one service the composition root handed to :func:`api.app.create_app`.

The dependencies that only read the app's state are ``async def``: FastAPI runs a plain ``def``
dependency in its thread pool, one hand-off per dependency per request (about a third of the
server's CPU per alarm list request, measured with py-spy under 50 clients). Anything that may
touch the database (a credential not checked a moment ago) still goes to the thread pool.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from alarms.endpoints import WebhookEndpoints
from alarms.records import EventActor
from api.accounts.principal import STATIC_KEY, Principal, Scope
from api.accounts.store import Accounts, Actor, CredentialError
from api.ports import AlarmReader, CameraStatus, LiveVideo, Readiness, RecognitionLog, ServiceView
from api.video import VideoHub
from registry.service import Registry
from vision.cascade import Cascade

bearer_scheme = HTTPBearer(auto_error=False, description="Login token or API key as a bearer token")
key_header_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def get_service(request: Request) -> ServiceView:
    """The running service (set on ``app.state.service`` by :func:`api.app.create_app`)."""
    service: ServiceView = request.app.state.service
    return service


ServiceDep = Annotated[ServiceView, Depends(get_service)]


async def get_alarm_reader(service: ServiceDep) -> AlarmReader:
    """The alarm store; 503 while the service is still opening it."""
    if service.store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the alarm store is not open yet")
    return service.store


async def get_webhooks(service: ServiceDep) -> WebhookEndpoints:
    """The webhook endpoints managed over the API; 503 while the service is still opening the store."""
    if service.webhooks is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the alarm store is not open yet")
    return service.webhooks


async def get_registry(service: ServiceDep) -> Registry:
    """The registry; 503 while the service is still opening it."""
    if service.registry is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the registry is not open yet")
    return service.registry


async def get_cascade(service: ServiceDep) -> Cascade:
    """The service's loaded cascade; 503 while the models are not loaded."""
    if service.cascade is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the models are not loaded yet")
    return service.cascade


async def get_public_base_url(service: ServiceDep) -> str:
    return service.public_base_url


async def get_accounts(request: Request) -> Accounts:
    """Users, keys and sessions (set on ``app.state.accounts`` by :func:`api.app.create_app`)."""
    accounts: Accounts = request.app.state.accounts
    return accounts


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header: Annotated[str | None, Depends(key_header_scheme)],
) -> Principal:
    """Who calls: ``Authorization: Bearer <token or key>`` or ``X-API-Key: <key>``; 401 otherwise.

    A login token or integrator key acts with its user's or key's scopes and cameras; a key
    from ``ESTATEWATCH_API_KEYS`` (or the generated key file) has full access. A full-access key
    or a credential checked a moment ago is answered on the event loop; any other goes to the
    thread pool, as it reads the database.
    """
    offered = bearer.credentials if bearer is not None else header
    known = known_principal(request, offered)
    if known is not None:
        return known
    return await run_in_threadpool(principal_for, request, offered)


def known_principal(connection: HTTPConnection, offered: str | None) -> Principal | None:
    """The principal of a full-access key or of a credential vouched for a moment ago; no I/O."""
    if not offered:
        return None
    if _static_key(connection, offered):
        return STATIC_KEY
    accounts: Accounts = connection.app.state.accounts
    return accounts.vouched_principal(offered)


def _static_key(connection: HTTPConnection, offered: str) -> bool:
    """Whether ``offered`` is one of the full-access keys (compared in constant time, each of them)."""
    return any([hmac.compare_digest(offered.encode(), key.encode()) for key in connection.app.state.api_keys])


def principal_for(connection: HTTPConnection, offered: str | None) -> Principal:
    """The principal of a credential offered on ``connection`` (a request or a WebSocket); 401 otherwise.

    The one place credentials are checked: HTTP routes through :func:`authenticate`, the live
    feed with the token it found in the query, the subprotocol or the headers.
    """
    if not offered:
        raise _unauthorized("credentials required: 'Authorization: Bearer <token or key>' or 'X-API-Key'")
    if _static_key(connection, offered):
        return STATIC_KEY
    accounts: Accounts = connection.app.state.accounts
    try:
        return accounts.authenticate(offered)
    except CredentialError as exc:
        raise _unauthorized(str(exc)) from None


def _unauthorized(why: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, why, headers={"WWW-Authenticate": "Bearer"})


CurrentCaller = Annotated[Principal, Depends(authenticate)]
"""Any authenticated caller; routes that change or read something narrower use :func:`require_scope`."""


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, who must hold ``scope`` (403 otherwise)."""
    async def check(principal: CurrentCaller) -> Principal:
        if scope not in principal.scopes:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the scope {scope!r}")
        return principal

    return check


def actor(request: Request, principal: Principal) -> Actor:
    """Who acts and from which client address, for the audit log."""
    return Actor(principal, request.client.host if request.client else None)


def event_actor(principal: Principal) -> EventActor:
    """Who acts, as alarm events name them: a user name, or a key as the audit log does.

    Integrator keys are ``key:<name>``, full-access keys ``api-key``.
    """
    return EventActor(principal.name, "user" if principal.kind == "user" else "key")


async def get_video_hub(request: Request) -> VideoHub:
    """The app's WebRTC viewers (set on ``app.state.video`` by :func:`api.app.create_app`)."""
    hub: VideoHub = request.app.state.video
    return hub


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """The caller of a change, and the audit log its changes are written to.

    Routes that change something record each change after it is stored: action, entity, the
    target's id and details naming fields and ids, never a template, photo or secret.
    """

    accounts: Accounts
    actor: Actor

    @property
    def principal(self) -> Principal:
        return self.actor.principal

    def record(self, action: str, entity: str, entity_id: str | None, **details: Any) -> None:
        self.accounts.record(self.actor, action, entity, entity_id, **details)

    def record_each(self, action: str, entity: str,
                    changes: Iterable[tuple[str | None, dict[str, Any]]]) -> None:
        """One entry per ``(entity_id, details)`` (a CSV import's rows), in one transaction."""
        self.accounts.record_each(self.actor, action, entity, changes)


async def registry_change(request: Request, accounts: AccountsDep,
                    principal: Annotated[Principal, Depends(require_scope("registry:write"))]) -> AuditTrail:
    """A caller holding ``registry:write``, with the audit trail its registry changes go to."""
    return AuditTrail(accounts, actor(request, principal))


CamerasDep = Annotated[CameraStatus, Depends(get_service)]
LiveVideoDep = Annotated[LiveVideo, Depends(get_service)]
VideoHubDep = Annotated[VideoHub, Depends(get_video_hub)]
RecognitionsDep = Annotated[RecognitionLog, Depends(get_service)]
ReadinessDep = Annotated[Readiness, Depends(get_service)]
AlarmsDep = Annotated[AlarmReader, Depends(get_alarm_reader)]
PublicBaseUrl = Annotated[str, Depends(get_public_base_url)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
CascadeDep = Annotated[Cascade, Depends(get_cascade)]
RegistryReader = Annotated[Principal, Depends(require_scope("registry:read"))]
RegistryWriter = Annotated[Principal, Depends(require_scope("registry:write"))]
WebhooksDep = Annotated[WebhookEndpoints, Depends(get_webhooks)]
WebhookAdmin = Annotated[Principal, Depends(require_scope("webhooks:admin"))]
RegistryChange = Annotated[AuditTrail, Depends(registry_change)]
"""A registry writer: the routes that change the registry record each change under the caller."""
