"""Roles, scopes and the principal a request acts as (a user or a key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["admin", "guard", "viewer"]
Scope = Literal["alarms:read", "alarms:write", "cameras:read", "registry:read", "registry:write",
                "webhooks:admin", "users:admin", "audit:read", "faces:read"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
ROLES: tuple[Role, ...] = get_args(Role)

ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    "admin": frozenset(SCOPES),
    "guard": frozenset({"alarms:read", "alarms:write", "cameras:read", "registry:read", "faces:read"}),
    "viewer": frozenset({"alarms:read", "cameras:read", "registry:read"}),
}
"""What each role may do. ``cameras:read`` (camera state, health events, recognitions) is given
to every role: a guard watching alarms needs to know which cameras are up. ``faces:read`` (an
alarm's face crop: biometric data, each viewing audited) is for admins and guards, not viewers."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as.

    Attributes:
        kind: ``user``, ``key`` (an integrator key made by an admin) or ``static-key``
            (``ESTATEWATCH_API_KEYS`` or the generated key file: full access).
        id: the user's or key's id (``None`` for static keys).
        name: the user name or key name, as recorded in the audit log.
        role: the user's role; ``None`` for keys.
        scopes: what it may do.
        cameras: the cameras it may see; ``None`` = all.
        token_id: the session a user's bearer token belongs to (logout revokes it).
    """

    kind: Literal["user", "key", "static-key"]
    id: str | None
    name: str
    role: Role | None
    scopes: frozenset[Scope]
    cameras: frozenset[str] | None = None
    token_id: str | None = None

    def may_see(self, camera_id: str | None) -> bool:
        """Whether this principal may see objects of ``camera_id`` (camera-less ones: only if unscoped)."""
        return self.cameras is None or (camera_id is not None and camera_id in self.cameras)

    def covers(self, scopes: frozenset[Scope], cameras: frozenset[str] | None) -> bool:
        """Whether it holds every scope and camera of a user or key it would create (no escalation)."""
        in_cameras = self.cameras is None or (cameras is not None and cameras <= self.cameras)
        return scopes <= self.scopes and in_cameras


STATIC_KEY = Principal(kind="static-key", id=None, name="api-key", role=None, scopes=frozenset(SCOPES))
"""The principal of a key from ``ESTATEWATCH_API_KEYS`` or the generated key file."""


def camera_list(cameras: frozenset[str] | None) -> list[str] | None:
    """A camera set as a sorted list for JSON (``None`` = all cameras stays ``None``)."""
    return None if cameras is None else sorted(cameras)
