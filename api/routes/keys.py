"""Integrator API keys: create (the key is shown once), list, revoke (scope ``users:admin``: admins)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.accounts.principal import Principal, Scope, camera_list
from api.accounts.store import ApiKey, UnknownAccountError
from api.deps import AccountsDep, actor, require_scope
from api.routes.users import CameraIds

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])

Admin = Annotated[Principal, Depends(require_scope("users:admin"))]


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Who uses it (the property system ...).")
    scopes: list[Scope] = Field(min_length=1, description="What it may do.")
    cameras: CameraIds | None = Field(None, description="The cameras it may see; omitted or null = all.")


class PublicKey(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    scopes: list[Scope]
    cameras: list[str] | None
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> PublicKey:
        return cls(id=key.id, name=key.name, prefix=key.prefix, scopes=sorted(key.scopes),
                   cameras=camera_list(key.cameras), created_at=key.created_at, created_by=key.created_by,
                   revoked_at=key.revoked_at)


class CreatedKey(PublicKey):
    key: str = Field(description="The key itself: shown only now, stored hashed.")


@router.post("", summary="Create an integrator key (shown once)", status_code=201,
             responses={403: {"description": "Not an admin, or more rights than the caller has"}})
def create_key(request: Request, body: NewKey, caller: Admin, accounts: AccountsDep) -> CreatedKey:
    cameras = None if body.cameras is None else frozenset(body.cameras)
    if not caller.covers(frozenset(body.scopes), cameras):
        raise HTTPException(403, "cannot create a key with scopes or cameras the caller lacks")
    secret, key = accounts.create_key(actor(request, caller), body.name, body.scopes, cameras)
    return CreatedKey(key=secret, **PublicKey.of(key).model_dump())


@router.get("", summary="Integrator keys (without the keys themselves)")
def list_keys(caller: Admin, accounts: AccountsDep) -> list[PublicKey]:
    return [PublicKey.of(k) for k in accounts.api_keys()]


@router.delete("/{key_id}", summary="Revoke a key", status_code=204,
               responses={404: {"description": "No such key"}})
def revoke_key(request: Request, key_id: str, caller: Admin, accounts: AccountsDep) -> Response:
    try:
        accounts.revoke_key(actor(request, caller), key_id)
    except UnknownAccountError as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(status_code=204)
