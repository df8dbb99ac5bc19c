"""The audit log of users, keys, logins, alarm actions and registry changes (scope ``audit:read``: admins)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, JsonValue

from api.accounts.principal import Principal
from api.deps import AccountsDep, require_scope

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditEntry(BaseModel):
    """Who did what, when and from where; details name fields and ids, never a secret."""

    id: int
    at: dt.datetime
    actor: str = Field(description="User name, `key:<name>`, `api-key` (a static key) or `system`.")
    actor_kind: str
    source: str | None = Field(description="The client address.")
    action: str
    entity: str
    entity_id: str | None
    details: dict[str, JsonValue]


Filter = Annotated[str | None, Query(max_length=100)]


@router.get("", summary="Audit log, newest first, optionally filtered (each filter matches exactly)")
def audit_log(caller: Annotated[Principal, Depends(require_scope("audit:read"))], accounts: AccountsDep,
              limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=1_000_000_000),
              actor: Filter = None, action: Filter = None,
              entity: Annotated[str | None, Query(max_length=100, description=(
                  "`user`, `key`, `session`, `alarm`, `resident`, `visitor`, `watchlist`, `vehicle`, "
                  "`face_template` ..."))] = None,
              entity_id: Filter = None) -> list[AuditEntry]:
    rows = accounts.audit_log(limit, offset, actor=actor, action=action, entity=entity, entity_id=entity_id)
    return [AuditEntry.model_validate(r, from_attributes=True) for r in rows]
