"""Typed dependencies of the routes: the parts of the service each route reads, and the caller.

Each route asks for the narrowest Protocol of :mod:`api.ports` it needs; all of them are the
one service the composition root handed to :func:`api.app.create_app`.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.ports import AlarmReader, CameraStatus, Readiness, RecognitionLog, ServiceView
from registry.service import Registry
from vision.cascade import Cascade

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def get_service(request: Request) -> ServiceView:
    """The running service (set on ``app.state.service`` by :func:`api.app.create_app`)."""
    service: ServiceView = request.app.state.service
    return service


ServiceDep = Annotated[ServiceView, Depends(get_service)]


def get_alarm_reader(service: ServiceDep) -> AlarmReader:
    """The alarm store; 503 while the service is still opening it."""
    if service.store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the alarm store is not open yet")
    return service.store


def get_registry(service: ServiceDep) -> Registry:
    """The registry; 503 while the service is still opening it."""
    if service.registry is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the registry is not open yet")
    return service.registry


def get_cascade(service: ServiceDep) -> Cascade:
    """The service's loaded cascade; 503 while the models are not loaded."""
    if service.cascade is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the models are not loaded yet")
    return service.cascade


def get_public_base_url(service: ServiceDep) -> str:
    return service.public_base_url


def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> str:
    """Accept ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; 401 otherwise."""
    offered = bearer.credentials if bearer is not None else header
    if offered:
        for key in request.app.state.api_keys:
            if hmac.compare_digest(offered.encode(), key.encode()):
                return "api-key"
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid API key",
                        headers={"WWW-Authenticate": "Bearer"})


CamerasDep = Annotated[CameraStatus, Depends(get_service)]
RecognitionsDep = Annotated[RecognitionLog, Depends(get_service)]
ReadinessDep = Annotated[Readiness, Depends(get_service)]
AlarmsDep = Annotated[AlarmReader, Depends(get_alarm_reader)]
PublicBaseUrl = Annotated[str, Depends(get_public_base_url)]
CurrentCaller = Annotated[str, Depends(require_api_key)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
CascadeDep = Annotated[Cascade, Depends(get_cascade)]
