"""The watchlist: people (by enrolled photos) and plates."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import CascadeDep, RegistryChange, RegistryDep, RegistryReader
from api.registry_schemas import (
    Deletion,
    EnrollmentError,
    TemplateList,
    TemplatesDeleted,
    WatchlistIn,
    WatchlistOut,
)
from api.routes.residents import (
    REFUSED,
    audited_deletion,
    delete_all_templates,
    delete_owned_template,
    enroll,
    registry_refusals,
    template_list,
)
from api.uploads import Photos, Responses
from registry.service import Registry
from registry.types import Owner, WatchlistInfo

router = APIRouter(prefix="/api/v1/watchlist", tags=["watchlist"])
NOT_FOUND: Responses = {404: {"description": "No such watchlist entry"}}


def existing_entry(registry: Registry, entry_id: str) -> WatchlistInfo:
    entry = registry.get_watchlist_entry(entry_id)
    if entry is None:
        raise HTTPException(404, f"no watchlist entry {entry_id!r}")
    return entry


@router.get("", summary="Watchlist entries")
def list_watchlist(_caller: RegistryReader, registry: RegistryDep) -> list[WatchlistOut]:
    return [WatchlistOut.of(e) for e in registry.list_watchlist()]


@router.post("", status_code=201, summary="Add a watchlist entry (a person, a plate, or both)",
             responses=REFUSED)
def add_entry(body: WatchlistIn, audit: RegistryChange, registry: RegistryDep) -> WatchlistOut:
    with registry_refusals():
        entry_id = registry.add_watchlist_entry(body.label, reason=body.reason, severity=body.severity,
                                                plate=body.plate)
    audit.record("create", "watchlist", entry_id, severity=body.severity, plate=body.plate is not None)
    return WatchlistOut.of(existing_entry(registry, entry_id))


@router.get("/{entry_id}", summary="One watchlist entry", responses=NOT_FOUND)
def get_entry(entry_id: str, _caller: RegistryReader, registry: RegistryDep) -> WatchlistOut:
    return WatchlistOut.of(existing_entry(registry, entry_id))


@router.delete("/{entry_id}", summary="Delete a watchlist entry with its templates and crops",
               responses=NOT_FOUND)
def delete_entry(entry_id: str, audit: RegistryChange, registry: RegistryDep) -> Deletion:
    existing_entry(registry, entry_id)
    return audited_deletion(audit, registry.delete_watchlist_entry(entry_id))


@router.get("/{entry_id}/templates", summary="The entry's face templates", responses=NOT_FOUND)
def list_templates(entry_id: str, _caller: RegistryReader, registry: RegistryDep) -> TemplateList:
    existing_entry(registry, entry_id)
    return template_list(registry, Owner("watchlist", entry_id))


@router.post("/{entry_id}/templates", status_code=201, summary="Enroll photos of a watchlisted person",
             responses={**NOT_FOUND, 413: {"description": "A photo is larger than 10 MB"},
                        415: {"description": "A part is not an image"},
                        422: {"model": EnrollmentError, "description": "Which photo is refused and why"},
                        503: {"description": "The face models are not loaded"}})
async def enroll_entry(entry_id: str, audit: RegistryChange, registry: RegistryDep, cascade: CascadeDep,
                       photos: Photos) -> TemplateList:
    existing_entry(registry, entry_id)
    return await enroll(registry, cascade, Owner("watchlist", entry_id), photos, audit)


@router.delete("/{entry_id}/templates", summary="Delete all the entry's face templates and crops",
               responses=NOT_FOUND)
def delete_templates(entry_id: str, audit: RegistryChange, registry: RegistryDep) -> TemplatesDeleted:
    existing_entry(registry, entry_id)
    return delete_all_templates(registry, Owner("watchlist", entry_id), audit)


@router.delete("/{entry_id}/templates/{template_id}", status_code=204, summary="Delete one face template",
               responses={404: {"description": "No such entry or template of theirs"}})
def delete_template(entry_id: str, template_id: str, audit: RegistryChange, registry: RegistryDep) -> None:
    existing_entry(registry, entry_id)
    delete_owned_template(registry, Owner("watchlist", entry_id), template_id, audit)
