"""Login, logout and who am I. Login is public (and rate-limited); the others need a token or key."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.accounts.limiter import LoginLimits
from api.accounts.principal import Role, Scope, camera_list
from api.deps import AccountsDep, CurrentCaller, actor

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class Token(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class Me(BaseModel):
    kind: Literal["user", "key", "static-key"]
    id: str | None
    name: str
    role: Role | None
    scopes: list[Scope]
    cameras: list[str] | None = Field(description="The cameras it may see; null = all.")


async def get_login_limits(request: Request) -> LoginLimits:
    limits: LoginLimits = request.app.state.login_limits
    return limits


@router.post("/login", summary="Log in: a bearer token for a user name and password",
             responses={401: {"description": "Wrong user name or password"},
                        429: {"description": "Too many failed attempts; see Retry-After"}})
def login(request: Request, credentials: Credentials, accounts: AccountsDep,
          limits: Annotated[LoginLimits, Depends(get_login_limits)]) -> Token:
    address = request.client.host if request.client else None
    now = accounts.clock().timestamp()
    wait = limits.retry_after(credentials.username, address, now)
    if wait is not None:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many failed logins; try again later",
                            headers={"Retry-After": str(math.ceil(wait))})
    granted = accounts.login(credentials.username, credentials.password, address)
    if granted is None:
        limits.failed(credentials.username, address, now)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password",
                            headers={"WWW-Authenticate": "Bearer"})
    limits.succeeded(credentials.username)
    return Token(access_token=granted[0], expires_in=int(accounts.token_ttl.total_seconds()))


@router.post("/logout", summary="Revoke the bearer token of this request", status_code=204)
def logout(request: Request, caller: CurrentCaller, accounts: AccountsDep) -> Response:
    accounts.logout(actor(request, caller))
    return Response(status_code=204)


@router.get("/me", summary="Who the credentials of this request belong to")
def me(caller: CurrentCaller) -> Me:
    return Me(kind=caller.kind, id=caller.id, name=caller.name, role=caller.role,
              scopes=sorted(caller.scopes), cameras=camera_list(caller.cameras))
