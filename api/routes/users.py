"""Users: create, list, read, disable or enable, delete (scope ``users:admin``: admins)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.accounts.principal import ROLE_SCOPES, Principal, Role, camera_list
from api.accounts.store import AccountError, UnknownAccountError, User
from api.deps import AccountsDep, actor, require_scope

router = APIRouter(prefix="/api/v1/users", tags=["users"])

Admin = Annotated[Principal, Depends(require_scope("users:admin"))]
CameraIds = Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=1000)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such user"}}


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100, pattern=r"^[\w.@-]+$")
    password: str = Field(min_length=8, max_length=1000)
    role: Role
    cameras: CameraIds | None = Field(None, description="The cameras it may see; omitted or null = all.")


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool = Field(description="True disables the user and revokes their tokens.")


class PublicUser(BaseModel):
    id: str
    username: str
    role: Role
    cameras: list[str] | None = Field(description="The cameras the user may see; null = all.")
    disabled: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, user: User) -> PublicUser:
        return cls(id=user.id, username=user.username, role=user.role, cameras=camera_list(user.cameras),
                   disabled=user.disabled, created_at=user.created_at)


@router.post("", summary="Create a user", status_code=201,
             responses={403: {"description": "Not an admin, or more rights than the caller has"},
                        409: {"description": "The user name is taken"}})
def create_user(request: Request, body: NewUser, caller: Admin, accounts: AccountsDep) -> PublicUser:
    cameras = None if body.cameras is None else frozenset(body.cameras)
    if not caller.covers(ROLE_SCOPES[body.role], cameras):
        raise HTTPException(403, "cannot create a user with rights or cameras the caller lacks")
    try:
        return PublicUser.of(accounts.create_user(actor(request, caller), body.username, body.password,
                                                  body.role, cameras))
    except AccountError as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("", summary="Users, by name")
def list_users(caller: Admin, accounts: AccountsDep) -> list[PublicUser]:
    return [PublicUser.of(u) for u in accounts.users()]


@router.get("/{user_id}", summary="One user", responses=NOT_FOUND)
def get_user(user_id: str, caller: Admin, accounts: AccountsDep) -> PublicUser:
    try:
        return PublicUser.of(accounts.user(user_id))
    except UnknownAccountError as exc:
        raise HTTPException(404, str(exc)) from None


def _not_self(caller: Principal, user_id: str) -> None:
    if caller.kind == "user" and caller.id == user_id:
        raise HTTPException(409, "an admin cannot disable or delete themselves")


@router.patch("/{user_id}", summary="Disable or enable a user", responses=NOT_FOUND)
def change_user(request: Request, user_id: str, body: UserChange, caller: Admin,
                accounts: AccountsDep) -> PublicUser:
    _not_self(caller, user_id)
    try:
        return PublicUser.of(accounts.set_disabled(actor(request, caller), user_id, body.disabled))
    except UnknownAccountError as exc:
        raise HTTPException(404, str(exc)) from None


@router.delete("/{user_id}", summary="Delete a user (and their tokens)", status_code=204, responses=NOT_FOUND)
def delete_user(request: Request, user_id: str, caller: Admin, accounts: AccountsDep) -> Response:
    _not_self(caller, user_id)
    try:
        accounts.delete_user(actor(request, caller), user_id)
    except UnknownAccountError as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(status_code=204)
