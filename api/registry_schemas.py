"""Request and response bodies of the registry routes and of recognition on demand."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.schemas import Face, Plate, Vehicle
from registry.csvio import RowResult
from registry.types import DeletionReport, ResidentInfo, VehicleInfo, VisitorInfo, WatchlistInfo

ResidentStatus = Literal["active", "moved_out"]
WatchSeverity = Literal["low", "medium", "high", "critical"]
OwnerKind = Literal["resident", "visitor", "watchlist"]
Part = Field(None, max_length=32)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, from_attributes=True)


# -- residents -------------------------------------------------------------------------------
class ResidentIn(_In):
    name: str = Field(min_length=1, max_length=200)
    building: str | None = Part
    unit: str | None = Part
    room: str | None = Part
    phone: str | None = Part
    status: ResidentStatus = "active"
    tags: list[str] = Field(default_factory=list, max_length=50)


class ResidentPatch(_In):
    """Only the fields given change; ``null`` clears an optional field."""

    name: str | None = Field(None, min_length=1, max_length=200)
    building: str | None = Part
    unit: str | None = Part
    room: str | None = Part
    phone: str | None = Part
    status: ResidentStatus | None = None
    tags: list[str] | None = Field(None, max_length=50)


class ResidentOut(_Out):
    id: str
    name: str
    building: str | None
    unit: str | None
    room: str | None
    phone: str | None
    status: str = Field(description="`active` or `moved_out`.")
    tags: list[str]

    @classmethod
    def of(cls, info: ResidentInfo) -> ResidentOut:
        return cls(id=info.id, name=info.name, building=info.building, unit=info.unit, room=info.room,
                   phone=info.phone, status=info.status, tags=list(info.tags))


class ResidentList(_Out):
    total: int = Field(description="Residents matching the search, all pages.")
    items: list[ResidentOut]


class OwnerRef(_Out):
    kind: OwnerKind
    id: str


class Deletion(_Out):
    """What deleting a person removed (templates include their crops)."""

    owner: OwnerRef
    templates: int
    vehicles: int
    visitors: int

    @classmethod
    def of(cls, report: DeletionReport) -> Deletion:
        return cls(owner=OwnerRef(kind=report.owner.kind, id=report.owner.id), templates=report.templates,
                   vehicles=report.vehicles, visitors=report.visitors)


# -- face templates --------------------------------------------------------------------------
class TemplateList(_Out):
    owner: OwnerRef
    template_ids: list[str] = Field(description="Oldest first.")


class TemplatesDeleted(_Out):
    deleted: int


class PhotoProblem(_Out):
    """Why one uploaded photo cannot be used (``photo`` is its file name, else ``photo #n``)."""

    photo: str
    reasons: list[str]


class EnrollmentRefusal(_Out):
    """Why an enrollment was refused, photo by photo: nothing was stored."""

    message: str
    refusals: list[PhotoProblem]


class EnrollmentError(_Out):
    """The 422 body of an enrollment.

    ``detail`` is the refusal photo by photo; or a message (too many photos, a bad owner); or
    FastAPI's list of invalid fields (no ``photos`` part ...).
    """

    detail: EnrollmentRefusal | str | list[dict[str, JsonValue]]


# -- vehicles, visitors, watchlist -----------------------------------------------------------
class VehicleIn(_In):
    """A vehicle of exactly one resident or visitor."""

    plate: str = Field(min_length=1, max_length=16)
    resident_id: str | None = None
    visitor_id: str | None = None
    plate_colour: str | None = Field(None, max_length=16)
    plate_type: str | None = Field(None, max_length=32)
    parking_permit: str | None = Field(None, max_length=64)


class VehicleOut(_Out):
    id: str
    plate: str = Field(description="Normalised plate text.")
    resident_id: str | None
    visitor_id: str | None
    plate_colour: str | None
    plate_type: str | None
    parking_permit: str | None

    @classmethod
    def of(cls, info: VehicleInfo) -> VehicleOut:
        return cls.model_validate(info)


class VisitorIn(_In):
    name: str = Field(min_length=1, max_length=200)
    host_resident_id: str
    valid_from: dt.datetime = Field(description="ISO 8601 with a time zone.")
    valid_until: dt.datetime


class VisitorOut(_Out):
    id: str
    name: str
    host_resident_id: str
    valid_from: dt.datetime
    valid_until: dt.datetime

    @classmethod
    def of(cls, info: VisitorInfo) -> VisitorOut:
        return cls.model_validate(info)


class WatchlistIn(_In):
    """A watchlist entry: a person (enroll their photos next) and/or a plate."""

    label: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=2000)
    severity: WatchSeverity = "critical"
    plate: str | None = Field(None, max_length=16)


class WatchlistOut(_Out):
    id: str
    label: str
    reason: str
    severity: str
    plate: str | None

    @classmethod
    def of(cls, info: WatchlistInfo) -> WatchlistOut:
        return cls.model_validate(info)


class Created(_Out):
    id: str


# -- CSV import ------------------------------------------------------------------------------
class ImportRow(_Out):
    line: int = Field(description="Line in the file (the header is line 1).")
    status: Literal["created", "updated", "error"]
    id: str | None
    message: str = Field(description="Why the row was refused (empty otherwise).")


class ImportReport(_Out):
    """One row per data line; a refused row wrote nothing, the others are stored."""

    created: int
    updated: int
    errors: int
    rows: list[ImportRow]

    @classmethod
    def of(cls, results: list[RowResult]) -> ImportReport:
        rows = [ImportRow.model_validate(r) for r in results]
        return cls(created=sum(r.status == "created" for r in rows),
                   updated=sum(r.status == "updated" for r in rows),
                   errors=sum(r.status == "error" for r in rows), rows=rows)


# -- recognition on demand -------------------------------------------------------------------
class FaceMatchOut(_Out):
    """The registry's answer for one face (see README, "Registry matches")."""

    status: Literal["match", "unknown"]
    score: float = Field(description="Best candidate's cosine similarity, -1.0 with an empty gallery.")
    owner: OwnerRef | None
    name: str | None
    address: str | None
    owner_status: str | None = Field(description="Resident `active`/`moved_out`; visitor "
                                                 "`valid`/`expired`/`not_yet`; `watchlist`.")
    severity: str | None
    template_id: str | None


class PlateOwnerOut(_Out):
    plate: str
    kind: Literal["vehicle", "watchlist"]
    entry_id: str
    owner_kind: str | None
    owner_id: str | None
    label: str | None
    severity: str | None
    valid_until: dt.datetime | None


class PlateMatchOut(_Out):
    query: str
    status: Literal["exact", "near", "unknown"]
    plate: str | None
    confidence: float
    owners: list[PlateOwnerOut]
    confused_positions: list[int]
    alternatives: list[str]


class MatchedFace(Face):
    match: FaceMatchOut | None = Field(  # type: ignore[assignment]
        None, description="null when the face has no embedding.")


class MatchedPlate(Plate):
    match: PlateMatchOut | None = Field(  # type: ignore[assignment]
        None, description="null when the text fails the plate grammar.")


class StillRecognition(BaseModel):
    """One image's ``estatewatch recognize --json`` object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field(description="The uploaded file's name.")
    faces: list[MatchedFace]
    vehicles: list[Vehicle]
    plates: list[MatchedPlate]
