"""People of the registry: residents, their visitors, and the watchlist.

Deleting a person deletes their face templates, vehicles and (for a resident) hosted visitors in
the same transaction, then has every biometric holder forget them (:mod:`registry.templates`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from registry.changes import Change, Changes, RegistryError, aware, checked_plate, checked_text, deleted
from registry.config import RegistrySettings
from registry.enrollment import FaceAnalyzerLike, select_faces
from registry.retention import visit_active, visitors_to_purge
from registry.schema import (
    RESIDENT_STATUSES,
    SEVERITIES,
    FaceTemplate,
    Resident,
    Vehicle,
    Visitor,
    WatchlistEntry,
    new_id,
    utcnow,
)
from registry.templates import Templates
from registry.types import DeletionReport, Owner, OwnerKind, ResidentInfo, VisitorInfo, WatchlistInfo

logger = logging.getLogger(__name__)

RESIDENT_FIELDS = ("name", "building", "unit", "room", "phone", "status", "tags")


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """What a face match reports about its owner, as stored.

    A visitor's status depends on the time of the match, so the record keeps the visit window and
    :meth:`owner_status` computes the status for each match (a cached record stays right).
    """

    name: str
    address: str | None = None
    status: str | None = None
    severity: str | None = None
    visit: tuple[dt.datetime, dt.datetime] | None = None

    def owner_status(self, now: dt.datetime) -> str | None:
        """The owner's status at ``now``.

        Resident ``active``/``moved_out``; visitor ``valid``/``expired``/``not_yet``; watchlist
        ``watchlist``.
        """
        return self.status if self.visit is None else visit_status(*self.visit, now)


class People:
    """Residents, visitors and watchlist entries, with enrollment of their faces.

    Args:
        changes: the registry's transactions.
        templates: the face templates that are deleted with their person.
        settings: visitor retention.
    """

    def __init__(self, changes: Changes, templates: Templates, settings: RegistrySettings) -> None:
        self.changes, self.engine = changes, changes.engine
        self.templates, self.settings = templates, settings

    # -- residents ------------------------------------------------------------------------------

    def add_resident(
        self,
        name: str,
        *,
        building: str | None = None,
        unit: str | None = None,
        room: str | None = None,
        phone: str | None = None,
        status: str = "active",
        tags: Sequence[str] = (),
    ) -> str:
        fields = resident_fields(
            name=name, building=building, unit=unit, room=room, phone=phone, status=status, tags=list(tags)
        )
        with self.changes.begin() as change:
            return self._create_resident(change, fields)

    def _create_resident(self, change: Change, fields: dict[str, Any]) -> str:
        resident = Resident(id=new_id(), **fields)
        change.session.add(resident)
        change.audit("create", "resident", resident.id, fields=sorted(k for k, v in fields.items() if v))
        return resident.id

    def update_resident(self, resident_id: str, **changes: Any) -> None:
        unknown = set(changes) - set(RESIDENT_FIELDS)
        if unknown:
            raise RegistryError(f"unknown resident fields: {', '.join(sorted(unknown))}")
        with self.changes.begin() as change:
            resident = change.session.get(Resident, resident_id)
            if resident is None:
                raise RegistryError(f"no resident {resident_id}")
            current = {k: getattr(resident, k) for k in RESIDENT_FIELDS}
            fields = resident_fields(**{**current, **changes})
            for key, value in fields.items():
                setattr(resident, key, value)
            resident.updated_at = utcnow()
            change.audit("update", "resident", resident_id, fields=sorted(changes))

    def get_resident(self, resident_id: str) -> ResidentInfo | None:
        with Session(self.engine) as session:
            row = session.get(Resident, resident_id)
            return None if row is None else resident_info(row)

    def list_residents(self) -> list[ResidentInfo]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(Resident).order_by(Resident.building, Resident.unit, Resident.room, Resident.name)
            )
            return [resident_info(r) for r in rows]

    def find_residents(
        self, name: str, building: str | None = None, unit: str | None = None, room: str | None = None
    ) -> list[ResidentInfo]:
        """Residents with this name (and address parts, where given)."""
        query = select(Resident).where(Resident.name == name)
        for column, value in ((Resident.building, building), (Resident.unit, unit), (Resident.room, room)):
            if value:
                query = query.where(column == value)
        with Session(self.engine) as session:
            return [resident_info(r) for r in session.scalars(query)]

    def delete_resident(self, resident_id: str) -> DeletionReport:
        """Delete a resident with every template, crop, vehicle and hosted visitor."""
        with self.changes.begin() as change:
            s = change.session
            if s.get(Resident, resident_id) is None:
                raise RegistryError(f"no resident {resident_id}")
            visitor_ids = list(s.scalars(select(Visitor.id).where(Visitor.host_resident_id == resident_id)))
            owned = or_(FaceTemplate.resident_id == resident_id, FaceTemplate.visitor_id.in_(visitor_ids))
            templates = self.templates.drop(change, owned)
            vehicles = deleted(
                s,
                delete(Vehicle).where(
                    or_(Vehicle.resident_id == resident_id, Vehicle.visitor_id.in_(visitor_ids))
                ),
            )
            s.execute(delete(Visitor).where(Visitor.id.in_(visitor_ids)))
            s.execute(delete(Resident).where(Resident.id == resident_id))
            change.audit(
                "delete",
                "resident",
                resident_id,
                templates=templates,
                vehicles=vehicles,
                visitors=len(visitor_ids),
            )
        owner = Owner("resident", resident_id)
        self.templates.after_biometric_delete([owner, *(Owner("visitor", v) for v in visitor_ids)])
        return DeletionReport(owner, templates, vehicles, len(visitor_ids))

    # -- visitors and watchlist ----------------------------------------------------------------

    def add_visitor(
        self, name: str, host_resident_id: str, valid_from: dt.datetime, valid_until: dt.datetime
    ) -> str:
        if valid_from.tzinfo is None or valid_until.tzinfo is None:
            raise RegistryError("visit times must be timezone-aware")
        if valid_until < valid_from:
            raise RegistryError("a visit cannot end before it starts")
        with self.changes.begin() as change:
            if change.session.get(Resident, host_resident_id) is None:
                raise RegistryError(f"no resident {host_resident_id}")
            visitor = Visitor(
                id=new_id(),
                name=checked_text(name, "name"),
                host_resident_id=host_resident_id,
                valid_from=valid_from.astimezone(dt.UTC),
                valid_until=valid_until.astimezone(dt.UTC),
            )
            change.session.add(visitor)
            change.audit("create", "visitor", visitor.id, host=host_resident_id)
            return visitor.id

    def delete_visitor(self, visitor_id: str) -> DeletionReport:
        with self.changes.begin() as change:
            report = self._delete_visitor(change, visitor_id)
        self.templates.after_biometric_delete([report.owner])
        return report

    def _delete_visitor(self, change: Change, visitor_id: str) -> DeletionReport:
        s = change.session
        if s.get(Visitor, visitor_id) is None:
            raise RegistryError(f"no visitor {visitor_id}")
        templates = self.templates.drop(change, FaceTemplate.visitor_id == visitor_id)
        vehicles = deleted(s, delete(Vehicle).where(Vehicle.visitor_id == visitor_id))
        s.execute(delete(Visitor).where(Visitor.id == visitor_id))
        change.audit("delete", "visitor", visitor_id, templates=templates, vehicles=vehicles)
        return DeletionReport(Owner("visitor", visitor_id), templates, vehicles, 1)

    def list_visitors(self, host_resident_id: str | None = None) -> list[VisitorInfo]:
        """Visitors (of one host, where given), latest visit first."""
        query = select(Visitor).order_by(Visitor.valid_until.desc(), Visitor.id)
        if host_resident_id:
            query = query.where(Visitor.host_resident_id == host_resident_id)
        with Session(self.engine) as session:
            return [visitor_info(v) for v in session.scalars(query)]

    def get_visitor(self, visitor_id: str) -> VisitorInfo | None:
        with Session(self.engine) as session:
            row = session.get(Visitor, visitor_id)
            return None if row is None else visitor_info(row)

    def purge_expired_visitors(self, now: dt.datetime) -> list[str]:
        """Delete the visitors whose retention period has passed at ``now``; returns their ids."""
        retention = dt.timedelta(days=self.settings.visitor_retention_days)
        with Session(self.engine) as session:
            rows = [(v, aware(u)) for v, u in session.execute(select(Visitor.id, Visitor.valid_until))]
        expired = visitors_to_purge(rows, now, retention)
        if expired:
            with self.changes.begin() as change:
                for visitor_id in expired:
                    self._delete_visitor(change, visitor_id)
                change.audit("purge", "visitor", None, count=len(expired), retention_days=retention.days)
            self.templates.after_biometric_delete([Owner("visitor", v) for v in expired])
            logger.info("purged %s visitors past retention", len(expired))
        return expired

    def add_watchlist_entry(
        self, label: str, *, reason: str = "", severity: str = "critical", plate: str | None = None
    ) -> str:
        if severity not in SEVERITIES:
            raise RegistryError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        normalised = checked_plate(plate) if plate else None
        with self.changes.begin() as change:
            return self._create_watchlist(change, label, reason, severity, normalised)

    def _create_watchlist(
        self, change: Change, label: str, reason: str, severity: str, plate: str | None
    ) -> str:
        entry = WatchlistEntry(
            id=new_id(), label=checked_text(label, "label"), reason=reason, severity=severity, plate=plate
        )
        change.session.add(entry)
        change.audit("create", "watchlist", entry.id, severity=severity, plate=bool(plate))
        return entry.id

    def list_watchlist(self) -> list[WatchlistInfo]:
        with Session(self.engine) as session:
            rows = session.scalars(select(WatchlistEntry).order_by(WatchlistEntry.label, WatchlistEntry.id))
            return [watchlist_info(w) for w in rows]

    def get_watchlist_entry(self, entry_id: str) -> WatchlistInfo | None:
        """One entry by its id (a primary-key lookup), ``None`` if there is none."""
        with Session(self.engine) as session:
            row = session.get(WatchlistEntry, entry_id)
            return None if row is None else watchlist_info(row)

    def delete_watchlist_entry(self, entry_id: str) -> DeletionReport:
        with self.changes.begin() as change:
            if change.session.get(WatchlistEntry, entry_id) is None:
                raise RegistryError(f"no watchlist entry {entry_id}")
            templates = self.templates.drop(change, FaceTemplate.watchlist_id == entry_id)
            change.session.execute(delete(WatchlistEntry).where(WatchlistEntry.id == entry_id))
            change.audit("delete", "watchlist", entry_id, templates=templates)
        owner = Owner("watchlist", entry_id)
        self.templates.after_biometric_delete([owner])
        return DeletionReport(owner, templates, 0, 0)

    def delete_owner(self, owner: Owner) -> DeletionReport:
        if owner.kind == "resident":
            return self.delete_resident(owner.id)
        if owner.kind == "visitor":
            return self.delete_visitor(owner.id)
        return self.delete_watchlist_entry(owner.id)

    def existing_owners(self, owners: Sequence[Owner]) -> set[Owner]:
        """Which of ``owners`` (residents, visitors, watchlist entries) exist in the registry."""
        tables: dict[OwnerKind, type[Resident | Visitor | WatchlistEntry]] = {
            "resident": Resident, "visitor": Visitor, "watchlist": WatchlistEntry}
        found: set[Owner] = set()
        with Session(self.engine) as s:
            for kind, table in tables.items():
                ids = [o.id for o in owners if o.kind == kind]
                for start in range(0, len(ids), 500):
                    query = select(table.id).where(table.id.in_(ids[start : start + 500]))
                    found.update(Owner(kind, i) for i in s.scalars(query))
        return found

    def describe(self, owners: Collection[Owner]) -> dict[Owner, OwnerRecord]:
        """The records of those of ``owners`` that exist (one query per kind asked for)."""
        ids: dict[str, list[str]] = {}
        for owner in owners:
            ids.setdefault(owner.kind, []).append(owner.id)
        out: dict[Owner, OwnerRecord] = {}
        with Session(self.engine) as s:
            if "resident" in ids:
                for r in s.scalars(select(Resident).where(Resident.id.in_(ids["resident"]))):
                    out[Owner("resident", r.id)] = OwnerRecord(r.name, resident_info(r).address, r.status)
            if "visitor" in ids:
                for v in s.scalars(select(Visitor).where(Visitor.id.in_(ids["visitor"]))):
                    out[Owner("visitor", v.id)] = OwnerRecord(
                        v.name, visit=(aware(v.valid_from), aware(v.valid_until))
                    )
            if "watchlist" in ids:
                for w in s.scalars(select(WatchlistEntry).where(WatchlistEntry.id.in_(ids["watchlist"]))):
                    out[Owner("watchlist", w.id)] = OwnerRecord(w.label, None, "watchlist", w.severity)
        return out

    # -- enrollment -----------------------------------------------------------------------------

    def enroll(
        self,
        photos: Sequence[tuple[str, bytes]],
        analyzer: FaceAnalyzerLike,
        *,
        owner: Owner | None = None,
        name: str | None = None,
        building: str | None = None,
        unit: str | None = None,
        room: str | None = None,
        watchlist: bool = False,
        reason: str = "",
        severity: str = "critical",
    ) -> tuple[Owner, list[str]]:
        """Enroll ``(name, bytes)`` photos, each with exactly one usable face.

        Adds templates to ``owner`` when given; else creates a resident called ``name`` (or, with
        ``watchlist``, a watchlist entry labelled ``name``) in the same transaction.

        Raises:
            EnrollmentRefused: a photo is unusable (nothing is stored).
            RegistryError: bad owner or fields.
        """
        if owner is None and not name:
            raise RegistryError("enrollment needs an existing owner or a name")
        if watchlist and severity not in SEVERITIES:
            raise RegistryError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        fields = (
            None
            if owner or watchlist
            else resident_fields(
                name=name, building=building, unit=unit, room=room, phone=None, status="active", tags=[]
            )
        )
        faces = select_faces(photos, analyzer)
        with self.changes.begin() as change:
            if owner is None:
                owner = (
                    Owner("watchlist", self._create_watchlist(change, name or "", reason, severity, None))
                    if watchlist
                    else Owner("resident", self._create_resident(change, fields or {}))
                )
            ids = self.templates.insert(
                change,
                owner,
                np.stack([f.embedding for f in faces]),
                None,
                [f.quality for f in faces],
                [f.crop for f in faces],
            )
        logger.info("enrolled %s template(s) for %s %s", len(ids), owner.kind, owner.id)
        return owner, ids


def resident_fields(**fields: Any) -> dict[str, Any]:
    """The resident fields checked and normalised (raises :class:`RegistryError`)."""
    fields["name"] = checked_text(fields["name"], "name")
    if fields["status"] not in RESIDENT_STATUSES:
        raise RegistryError(f"status must be one of {', '.join(RESIDENT_STATUSES)}, got {fields['status']!r}")
    for key in ("building", "unit", "room", "phone"):
        value = fields.get(key)
        value = str(value).strip() if value is not None else None
        if value and len(value) > 32:
            raise RegistryError(f"{key} is longer than 32 characters")
        fields[key] = value or None
    fields["tags"] = sorted({str(t).strip() for t in fields.get("tags") or [] if str(t).strip()})
    return fields


def resident_info(r: Resident) -> ResidentInfo:
    return ResidentInfo(r.id, r.name, r.building, r.unit, r.room, r.phone, r.status, tuple(r.tags or ()))


def watchlist_info(w: WatchlistEntry) -> WatchlistInfo:
    return WatchlistInfo(w.id, w.label, w.reason, w.severity, w.plate)


def visitor_info(v: Visitor) -> VisitorInfo:
    return VisitorInfo(v.id, v.name, v.host_resident_id, aware(v.valid_from), aware(v.valid_until))


def visit_status(valid_from: dt.datetime, valid_until: dt.datetime, now: dt.datetime) -> str:
    """``valid``, ``not_yet`` or ``expired`` at ``now``."""
    if visit_active(valid_from, valid_until, now):
        return "valid"
    return "not_yet" if now < valid_from else "expired"
