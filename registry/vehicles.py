"""Vehicles of residents and visitors, by normalised plate, and the plate book matching reads."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registry.changes import Changes, RegistryError, aware, checked_plate, deleted
from registry.plates import PlateBook, PlateOwner
from registry.schema import Resident, Vehicle, Visitor, WatchlistEntry, new_id
from registry.types import VehicleInfo


class Vehicles:
    """Registered vehicles; each belongs to exactly one resident or visitor."""

    def __init__(self, changes: Changes) -> None:
        self.changes, self.engine = changes, changes.engine

    def add_vehicle(
        self,
        plate: str,
        *,
        resident_id: str | None = None,
        visitor_id: str | None = None,
        plate_colour: str | None = None,
        plate_type: str | None = None,
        parking_permit: str | None = None,
    ) -> str:
        if (resident_id is None) == (visitor_id is None):
            raise RegistryError("a vehicle belongs to exactly one resident or visitor")
        normalised = checked_plate(plate)
        with self.changes.begin() as change:
            s = change.session
            if resident_id and s.get(Resident, resident_id) is None:
                raise RegistryError(f"no resident {resident_id}")
            if visitor_id and s.get(Visitor, visitor_id) is None:
                raise RegistryError(f"no visitor {visitor_id}")
            if s.scalar(select(Vehicle.id).where(Vehicle.plate == normalised)) is not None:
                raise RegistryError(f"plate {normalised} is already registered")
            vehicle = Vehicle(
                id=new_id(),
                plate=normalised,
                resident_id=resident_id,
                visitor_id=visitor_id,
                plate_colour=plate_colour,
                plate_type=plate_type,
                parking_permit=parking_permit,
            )
            s.add(vehicle)
            change.audit("create", "vehicle", vehicle.id, owner=resident_id or visitor_id)
            return vehicle.id

    def delete_vehicle(self, vehicle_id: str) -> None:
        with self.changes.begin() as change:
            if deleted(change.session, delete(Vehicle).where(Vehicle.id == vehicle_id)) == 0:
                raise RegistryError(f"no vehicle {vehicle_id}")
            change.audit("delete", "vehicle", vehicle_id)

    def list_vehicles(self) -> list[VehicleInfo]:
        with Session(self.engine) as session:
            return [vehicle_info(v) for v in session.scalars(select(Vehicle).order_by(Vehicle.plate))]

    def get_vehicle(self, vehicle_id: str) -> VehicleInfo | None:
        """One vehicle by its id (a primary-key lookup), ``None`` if there is none."""
        with Session(self.engine) as session:
            row = session.get(Vehicle, vehicle_id)
            return None if row is None else vehicle_info(row)

    def plate_book(self) -> PlateBook:
        """Every registered plate with its owner: vehicles of residents and visitors, watchlist plates."""
        owners = []
        with Session(self.engine) as s:
            rows = s.execute(
                select(
                    Vehicle.plate,
                    Vehicle.id,
                    Vehicle.resident_id,
                    Vehicle.visitor_id,
                    Resident.name,
                    Visitor.name,
                    Visitor.valid_until,
                )
                .outerjoin(Resident, Resident.id == Vehicle.resident_id)
                .outerjoin(Visitor, Visitor.id == Vehicle.visitor_id)
            )
            for plate, vid, rid, visid, rname, vname, until in rows:
                kind: str = "resident" if rid else "visitor"
                owners.append(
                    PlateOwner(
                        plate,
                        "vehicle",
                        vid,
                        kind,
                        rid or visid,
                        label=rname or vname,
                        valid_until=None if until is None else aware(until),
                    )
                )
            for wplate, wid, label, severity in s.execute(
                select(
                    WatchlistEntry.plate, WatchlistEntry.id, WatchlistEntry.label, WatchlistEntry.severity
                ).where(WatchlistEntry.plate.is_not(None))
            ):
                owners.append(PlateOwner(str(wplate), "watchlist", wid, "watchlist", wid, label, severity))
        return PlateBook.build(owners)


def vehicle_info(v: Vehicle) -> VehicleInfo:
    return VehicleInfo(
        v.id, v.plate, v.resident_id, v.visitor_id, v.plate_colour, v.plate_type, v.parking_permit
    )
