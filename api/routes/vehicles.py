"""Vehicles of residents and visitors, by plate, with CSV import/export."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Response

from api.deps import RegistryChange, RegistryDep, RegistryReader
from api.registry_schemas import ImportReport, PlateMatchOut, VehicleIn, VehicleOut
from api.routes.residents import REFUSED, csv_response, import_csv, registry_refusals
from api.uploads import CsvUpload
from registry import csvio
from registry.plates import normalise_plate
from registry.service import Registry
from registry.types import VehicleInfo

router = APIRouter(prefix="/api/v1/vehicles", tags=["vehicles"])


def existing_vehicle(registry: Registry, vehicle_id: str) -> VehicleInfo:
    info = registry.get_vehicle(vehicle_id)
    if info is None:
        raise HTTPException(404, f"no vehicle {vehicle_id!r}")
    return info


@router.get("", summary="Vehicles, optionally of one resident or visitor")
def list_vehicles(_caller: RegistryReader, registry: RegistryDep,
                  resident_id: str | None = Query(None), visitor_id: str | None = Query(None),
                  plate: str | None = Query(None, description="Part of the plate, normalised "
                                                              "(`沪b 678` finds 沪B67890).")
                  ) -> list[VehicleOut]:
    found = registry.list_vehicles()
    plate = normalise_plate(plate) if plate else None
    return [VehicleOut.of(v) for v in found
            if (resident_id is None or v.resident_id == resident_id)
            and (visitor_id is None or v.visitor_id == visitor_id)
            and (not plate or plate in v.plate)]


@router.get("/match", summary="Who a plate belongs to, exactly or by OCR look-alikes")
def match_vehicle_plate(_caller: RegistryReader, registry: RegistryDep,
                        plate: str = Query(min_length=1, max_length=32,
                                           description="Plate text as read or typed (`沪B67B90` finds "
                                                       "沪B67890 as a near match).")) -> PlateMatchOut:
    """The registry's plate match, as alarms use it.

    ``exact``, ``near`` (characters OCR confuses, such as 0/D or 8/B, with their positions and any
    equally near alternatives) or ``unknown``; the owners are the vehicles and watchlist entries of
    the plate matched.
    """
    return PlateMatchOut.model_validate(registry.matcher.match_plate(plate))


@router.post("", status_code=201, summary="Register a vehicle of one resident or visitor",
             responses={**REFUSED, 404: {"description": "No such resident or visitor"}})
def add_vehicle(body: VehicleIn, audit: RegistryChange, registry: RegistryDep) -> VehicleOut:
    if body.resident_id and registry.get_resident(body.resident_id) is None:
        raise HTTPException(404, f"no resident {body.resident_id!r}")
    if body.visitor_id and registry.get_visitor(body.visitor_id) is None:
        raise HTTPException(404, f"no visitor {body.visitor_id!r}")
    with registry_refusals():
        vehicle_id = registry.add_vehicle(**body.model_dump())
    audit.record("create", "vehicle", vehicle_id, resident_id=body.resident_id, visitor_id=body.visitor_id)
    return VehicleOut.of(existing_vehicle(registry, vehicle_id))


@router.get("/export", summary="Residents' vehicles as CSV",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_vehicles(_caller: RegistryReader, registry: RegistryDep) -> Response:
    return csv_response(registry, csvio.export_vehicles, "vehicles.csv")


@router.post("/import", summary="Register vehicles from CSV, with a per-row report",
             responses={413: {"description": "File too large"},
                        422: {"description": "Not UTF-8 or a required column is missing (nothing stored)"}})
async def import_vehicles(audit: RegistryChange, registry: RegistryDep, file: CsvUpload) -> ImportReport:
    """Import vehicles from CSV.

    Columns ``plate,plate_colour,plate_type,parking_permit,resident_id,name,building,unit,room``; the
    owner is ``resident_id`` or the one resident with that name and address. A refused row stores
    nothing.
    """
    return await import_csv(registry, file, csvio.import_vehicles, audit, "vehicle")


@router.delete("/{vehicle_id}", status_code=204, summary="Delete a vehicle",
               responses={404: {"description": "No such vehicle"}})
def delete_vehicle(vehicle_id: str, audit: RegistryChange, registry: RegistryDep) -> None:
    existing_vehicle(registry, vehicle_id)
    registry.delete_vehicle(vehicle_id)
    audit.record("delete", "vehicle", vehicle_id)
