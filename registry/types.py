"""Plain result types of the registry's public API (no ORM objects leave the package)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from registry.matching import Candidate, MatchStatus

OwnerKind = Literal["resident", "visitor", "watchlist"]


@dataclass(frozen=True, slots=True)
class Owner:
    """Whom a face template or vehicle belongs to."""

    kind: OwnerKind
    id: str


@dataclass(frozen=True, slots=True)
class ResidentInfo:
    id: str
    name: str
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    phone: str | None = None
    status: str = "active"
    tags: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """``building-unit-room`` with the parts that are known (``""`` when none)."""
        return "-".join(p for p in (self.building, self.unit, self.room) if p)


@dataclass(frozen=True, slots=True)
class VehicleInfo:
    id: str
    plate: str
    resident_id: str | None
    visitor_id: str | None
    plate_colour: str | None = None
    plate_type: str | None = None
    parking_permit: str | None = None


@dataclass(frozen=True, slots=True)
class VisitorInfo:
    id: str
    name: str
    host_resident_id: str
    valid_from: dt.datetime
    valid_until: dt.datetime


@dataclass(frozen=True, slots=True)
class WatchlistInfo:
    id: str
    label: str
    reason: str
    severity: str
    plate: str | None


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """What the registry says about one face embedding.

    Attributes:
        status: ``match`` (score at or above the threshold) or ``unknown``.
        score: best candidate's cosine similarity (``-1.0`` when the gallery is empty).
        owner: the matched person (``None`` when unknown).
        name: resident/visitor name or watchlist label of the owner.
        address: ``building-unit-room`` for residents.
        owner_status: resident ``active``/``moved_out``; visitor ``valid``/``expired``/``not_yet``;
            watchlist ``watchlist``.
        severity: the watchlist severity when the owner is on the watchlist.
        template_id: the template that matched.
        candidates: the best candidate per person, best first (also for ``unknown``).
    """

    status: MatchStatus
    score: float
    owner: Owner | None = None
    name: str | None = None
    address: str | None = None
    owner_status: str | None = None
    severity: str | None = None
    template_id: str | None = None
    candidates: tuple[Candidate, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = [asdict(c) for c in self.candidates]
        return data


@dataclass(frozen=True, slots=True)
class DeletionReport:
    """What deleting a person removed."""

    owner: Owner
    templates: int
    vehicles: int
    visitors: int


@dataclass(frozen=True, slots=True)
class AuditRecord:
    at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    details: dict[str, Any]
