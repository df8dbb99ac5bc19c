"""Typed dependencies of the routes: the running service and the authenticated caller."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def get_service(request: Request) -> Any:
    """The running service (set on ``app.state.service`` by the composition root)."""
    return request.app.state.service


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


ServiceDep = Annotated[Any, Depends(get_service)]
CurrentCaller = Annotated[str, Depends(require_api_key)]
