"""Bulk import/export of residents and vehicles as CSV (UTF-8, BOM accepted), with a per-row report.

Residents: ``id,name,building,unit,room,phone,status,tags`` (tags separated by ``;``); a row whose
``id`` exists updates that resident, otherwise a resident is created.
Vehicles: ``plate,plate_colour,plate_type,parking_permit,resident_id,name,building,unit,room``;
the owner is ``resident_id`` or the one resident with that name and address.
A bad row is reported and skipped; it never aborts the rest.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from registry.changes import RegistryError
from registry.service import Registry

logger = logging.getLogger(__name__)

RESIDENT_COLUMNS = ("id", "name", "building", "unit", "room", "phone", "status", "tags")
VEHICLE_COLUMNS = (
    "plate",
    "plate_colour",
    "plate_type",
    "parking_permit",
    "resident_id",
    "name",
    "building",
    "unit",
    "room",
)
RowStatus = Literal["created", "updated", "error"]


@dataclass(frozen=True, slots=True)
class RowResult:
    """The outcome of one data row (``line`` counts the header as line 1)."""

    line: int
    status: RowStatus
    id: str | None = None
    message: str = ""


def _rows(stream: TextIO, required: Iterable[str]) -> tuple[csv.DictReader[str], list[str]]:
    reader = csv.DictReader(stream)
    if reader.fieldnames:  # a BOM survives when the stream was not opened as utf-8-sig
        reader.fieldnames = [name.lstrip("\ufeff").strip() for name in reader.fieldnames]
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    return reader, missing


def _clean(row: dict[str, str | None]) -> dict[str, str | None]:
    return {(k or "").strip(): (v.strip() if isinstance(v, str) else None) or None for k, v in row.items()}


def import_residents(registry: Registry, stream: TextIO) -> list[RowResult]:
    """Create or update residents from CSV; one :class:`RowResult` per data row."""

    def resident(row: dict[str, str | None]) -> tuple[RowStatus, str]:
        fields: dict[str, Any] = {
            "name": row.get("name") or "",
            "building": row.get("building"),
            "unit": row.get("unit"),
            "room": row.get("room"),
            "phone": row.get("phone"),
            "status": row.get("status") or "active",
            "tags": [t for t in (row.get("tags") or "").split(";") if t.strip()],
        }
        rid = row.get("id")
        if rid and registry.get_resident(rid) is not None:
            registry.update_resident(rid, **fields)
            return "updated", rid
        return "created", registry.add_resident(**fields)

    return _import(stream, ("name",), "residents", resident)


def import_vehicles(registry: Registry, stream: TextIO) -> list[RowResult]:
    """Register vehicles from CSV; one :class:`RowResult` per data row."""

    def vehicle(row: dict[str, str | None]) -> tuple[RowStatus, str]:
        vid = registry.add_vehicle(
            row.get("plate") or "",
            resident_id=_vehicle_owner(registry, row),
            plate_colour=row.get("plate_colour"),
            plate_type=row.get("plate_type"),
            parking_permit=row.get("parking_permit"),
        )
        return "created", vid

    return _import(stream, ("plate",), "vehicles", vehicle)


def _import(stream: TextIO, required: Iterable[str], what: str,
            apply: Callable[[dict[str, str | None]], tuple[RowStatus, str]]) -> list[RowResult]:
    """Apply ``apply`` to every cleaned data row; a row it refuses is reported and the rest go on."""
    reader, missing = _rows(stream, required)
    if missing:
        return [RowResult(1, "error", message=f"missing column(s): {', '.join(missing)}")]
    results = []
    for line, raw in enumerate(reader, start=2):
        try:
            status, row_id = apply(_clean(raw))
            results.append(RowResult(line, status, row_id))
        except (RegistryError, ValueError) as exc:
            results.append(RowResult(line, "error", message=str(exc)))
    _log(results, what)
    return results


def _vehicle_owner(registry: Registry, row: dict[str, str | None]) -> str:
    rid = row.get("resident_id")
    if rid:
        if registry.get_resident(rid) is None:
            raise RegistryError(f"no resident {rid}")
        return rid
    name = row.get("name")
    if not name:
        raise RegistryError("a vehicle row needs resident_id or the owner's name")
    found = registry.find_residents(name, row.get("building"), row.get("unit"), row.get("room"))
    if len(found) != 1:
        where = "-".join(p for p in (row.get("building"), row.get("unit"), row.get("room")) if p)
        raise RegistryError(f"{len(found)} residents named {name} {where}".rstrip() + "; need exactly one")
    return found[0].id


def export_residents(registry: Registry, stream: TextIO) -> int:
    """Write every resident as CSV; returns the number of rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(RESIDENT_COLUMNS)
    residents = registry.list_residents()
    for r in residents:
        writer.writerow(
            [
                r.id,
                r.name,
                r.building or "",
                r.unit or "",
                r.room or "",
                r.phone or "",
                r.status,
                ";".join(r.tags),
            ]
        )
    return len(residents)


def export_vehicles(registry: Registry, stream: TextIO) -> int:
    """Write every resident's vehicle as CSV; returns the number of rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(VEHICLE_COLUMNS)
    residents = {r.id: r for r in registry.list_residents()}
    count = 0
    for v in registry.list_vehicles():
        owner = residents.get(v.resident_id or "")
        if owner is None:  # visitors' vehicles are short-lived and not exported
            continue
        writer.writerow(
            [
                v.plate,
                v.plate_colour or "",
                v.plate_type or "",
                v.parking_permit or "",
                owner.id,
                owner.name,
                owner.building or "",
                owner.unit or "",
                owner.room or "",
            ]
        )
        count += 1
    return count


def report_text(results: list[RowResult]) -> str:
    """A human-readable per-row report (one line per row, then totals)."""
    out = io.StringIO()
    for r in results:
        out.write(
            f"line {r.line}: {r.status}{' ' + r.id if r.id else ''}{': ' + r.message if r.message else ''}\n"
        )
    counts = {s: sum(r.status == s for r in results) for s in ("created", "updated", "error")}
    out.write(f"{counts['created']} created, {counts['updated']} updated, {counts['error']} errors\n")
    return out.getvalue()


def _log(results: list[RowResult], what: str) -> None:
    errors = sum(r.status == "error" for r in results)
    logger.info("imported %s: %s rows, %s errors", what, len(results), errors)
