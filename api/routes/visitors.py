"""Visitors of residents, with their validity windows."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from api.deps import RegistryChange, RegistryDep, RegistryReader
from api.registry_schemas import Deletion, VisitorIn, VisitorOut
from api.routes.residents import REFUSED, audited_deletion, registry_refusals
from api.uploads import Responses
from registry.service import Registry
from registry.types import VisitorInfo

router = APIRouter(prefix="/api/v1/visitors", tags=["visitors"])
NOT_FOUND: Responses = {404: {"description": "No such visitor"}}


def existing_visitor(registry: Registry, visitor_id: str) -> VisitorInfo:
    info = registry.get_visitor(visitor_id)
    if info is None:
        raise HTTPException(404, f"no visitor {visitor_id!r}")
    return info


@router.get("", summary="Visitors, latest visit first")
def list_visitors(_caller: RegistryReader, registry: RegistryDep,
                  host_resident_id: str | None = Query(None)) -> list[VisitorOut]:
    return [VisitorOut.of(v) for v in registry.list_visitors(host_resident_id)]


@router.post("", status_code=201, summary="Add a visitor of a resident for a time window",
             responses={**REFUSED, 404: {"description": "No such host resident"}})
def add_visitor(body: VisitorIn, audit: RegistryChange, registry: RegistryDep) -> VisitorOut:
    if registry.get_resident(body.host_resident_id) is None:
        raise HTTPException(404, f"no resident {body.host_resident_id!r}")
    with registry_refusals():
        visitor_id = registry.add_visitor(body.name, body.host_resident_id, body.valid_from, body.valid_until)
    audit.record("create", "visitor", visitor_id, host_resident_id=body.host_resident_id)
    return VisitorOut.of(existing_visitor(registry, visitor_id))


@router.get("/{visitor_id}", summary="One visitor", responses=NOT_FOUND)
def get_visitor(visitor_id: str, _caller: RegistryReader, registry: RegistryDep) -> VisitorOut:
    return VisitorOut.of(existing_visitor(registry, visitor_id))


@router.delete("/{visitor_id}", summary="Delete a visitor with their templates, crops and vehicles",
               responses=NOT_FOUND)
def delete_visitor(visitor_id: str, audit: RegistryChange, registry: RegistryDep) -> Deletion:
    existing_visitor(registry, visitor_id)
    return audited_deletion(audit, registry.delete_visitor(visitor_id))
