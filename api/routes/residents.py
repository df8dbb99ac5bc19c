"""Residents: CRUD and search, their face templates (enroll by photo upload), CSV import/export."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fastapi import APIRouter, HTTPException, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import AuditTrail, CascadeDep, RegistryChange, RegistryDep, RegistryReader
from api.registry_schemas import (
    Deletion,
    EnrollmentError,
    EnrollmentRefusal,
    ImportReport,
    OwnerRef,
    PhotoProblem,
    ResidentIn,
    ResidentList,
    ResidentOut,
    ResidentPatch,
    ResidentStatus,
    TemplateList,
    TemplatesDeleted,
)
from api.uploads import (
    MAX_CSV_BYTES,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    CsvUpload,
    Photos,
    Responses,
    check_image_type,
    read_limited,
    upload_name,
)
from registry import csvio
from registry.changes import RegistryError
from registry.enrollment import EnrollmentRefused
from registry.service import Registry
from registry.types import DeletionReport, Owner, ResidentInfo
from vision.cascade import Cascade

router = APIRouter(prefix="/api/v1/residents", tags=["residents"])

NOT_FOUND: Responses = {404: {"description": "No such resident"}}
REFUSED: Responses = {422: {"description": "Invalid fields (the body says which)"}}


@contextmanager
def registry_refusals() -> Iterator[None]:
    """A :class:`RegistryError` (bad field, duplicate plate, ...) as a 422 with its message."""
    try:
        yield
    except RegistryError as exc:
        raise HTTPException(422, str(exc)) from None


def existing_resident(registry: Registry, resident_id: str) -> ResidentInfo:
    info = registry.get_resident(resident_id)
    if info is None:
        raise HTTPException(404, f"no resident {resident_id!r}")
    return info


def matches(info: ResidentInfo, name: str | None, where: dict[str, str | None],
            status_: str | None, tags: list[str]) -> bool:
    """Whether a resident fits a search: name part (any case), exact address parts, status, all tags."""
    if name and name.casefold() not in info.name.casefold():
        return False
    if any(value and getattr(info, key) != value for key, value in where.items()):
        return False
    if status_ and info.status != status_:
        return False
    return set(tags) <= set(info.tags)


@router.get("", summary="Residents, searched by name, address, status and tags")
def list_residents(
    _caller: RegistryReader, registry: RegistryDep,
    name: str | None = Query(None, description="Part of the name, any case."),
    building: str | None = Query(None), unit: str | None = Query(None), room: str | None = Query(None),
    status_: ResidentStatus | None = Query(None, alias="status"),
    tag: list[str] = Query([], description="Only residents with every one of these tags."),
    limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=1_000_000_000),
) -> ResidentList:
    where = {"building": building, "unit": unit, "room": room}
    found = [r for r in registry.list_residents() if matches(r, name, where, status_, tag)]
    return ResidentList(total=len(found), items=[ResidentOut.of(r) for r in found[offset:offset + limit]])


@router.post("", status_code=201, summary="Add a resident", responses=REFUSED)
def create_resident(body: ResidentIn, audit: RegistryChange, registry: RegistryDep) -> ResidentOut:
    fields = body.model_dump()
    with registry_refusals():
        resident_id = registry.add_resident(**fields)
    audit.record("create", "resident", resident_id, fields=sorted(k for k, v in fields.items() if v))
    return ResidentOut.of(existing_resident(registry, resident_id))


@router.get("/export", summary="Every resident as CSV",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_residents(_caller: RegistryReader, registry: RegistryDep) -> Response:
    return csv_response(registry, csvio.export_residents, "residents.csv")


@router.post("/import", summary="Create or update residents from CSV, with a per-row report",
             responses={413: {"description": "File too large"},
                        422: {"description": "Not UTF-8 or a required column is missing (nothing stored)"}})
async def import_residents(audit: RegistryChange, registry: RegistryDep, file: CsvUpload) -> ImportReport:
    """Import residents from CSV.

    Columns ``id,name,building,unit,room,phone,status,tags`` (tags separated by ``;``); a row whose
    ``id`` exists updates that resident. A refused row is reported and stores nothing.
    """
    return await import_csv(registry, file, csvio.import_residents, audit, "resident")


@router.get("/{resident_id}", summary="One resident", responses=NOT_FOUND)
def get_resident(resident_id: str, _caller: RegistryReader, registry: RegistryDep) -> ResidentOut:
    return ResidentOut.of(existing_resident(registry, resident_id))


@router.patch("/{resident_id}", summary="Change a resident's fields", responses={**NOT_FOUND, **REFUSED})
def update_resident(resident_id: str, body: ResidentPatch, audit: RegistryChange,
                    registry: RegistryDep) -> ResidentOut:
    existing_resident(registry, resident_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None or ("status" in changes and changes["status"] is None):
        raise HTTPException(422, "name and status cannot be cleared")
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []
    with registry_refusals():
        registry.update_resident(resident_id, **changes)
    audit.record("update", "resident", resident_id, fields=sorted(changes))
    return ResidentOut.of(existing_resident(registry, resident_id))


@router.delete("/{resident_id}", summary="Delete a resident with every template, crop, vehicle and "
                                        "hosted visitor; their alarm face crops are redacted",
               responses=NOT_FOUND)
def delete_resident(resident_id: str, audit: RegistryChange, registry: RegistryDep) -> Deletion:
    existing_resident(registry, resident_id)
    return audited_deletion(audit, registry.delete_resident(resident_id))


# -- face templates --------------------------------------------------------------------------
@router.get("/{resident_id}/templates", summary="The resident's face templates", responses=NOT_FOUND)
def list_templates(resident_id: str, _caller: RegistryReader, registry: RegistryDep) -> TemplateList:
    existing_resident(registry, resident_id)
    return template_list(registry, Owner("resident", resident_id))


@router.post("/{resident_id}/templates", status_code=201,
             summary="Enroll photos: exactly one usable face per photo, else nothing is stored",
             responses={**NOT_FOUND, 413: {"description": "A photo is larger than 10 MB"},
                        415: {"description": "A part is not an image"},
                        422: {"model": EnrollmentError, "description": "Which photo is refused and why"},
                        503: {"description": "The face models are not loaded"}})
async def enroll_resident(resident_id: str, audit: RegistryChange, registry: RegistryDep,
                          cascade: CascadeDep, photos: Photos) -> TemplateList:
    existing_resident(registry, resident_id)
    return await enroll(registry, cascade, Owner("resident", resident_id), photos, audit)


@router.delete("/{resident_id}/templates", summary="Delete all the resident's face templates and crops",
               responses=NOT_FOUND)
def delete_templates(resident_id: str, audit: RegistryChange, registry: RegistryDep) -> TemplatesDeleted:
    existing_resident(registry, resident_id)
    return delete_all_templates(registry, Owner("resident", resident_id), audit)


@router.delete("/{resident_id}/templates/{template_id}", status_code=204,
               summary="Delete one face template and its crop",
               responses={404: {"description": "No such resident or template of theirs"}})
def delete_template(resident_id: str, template_id: str, audit: RegistryChange,
                    registry: RegistryDep) -> None:
    existing_resident(registry, resident_id)
    delete_owned_template(registry, Owner("resident", resident_id), template_id, audit)


# -- shared with the other owners ------------------------------------------------------------
def template_list(registry: Registry, owner: Owner) -> TemplateList:
    return TemplateList(owner=OwnerRef(kind=owner.kind, id=owner.id),
                        template_ids=registry.template_ids(owner))


def delete_owned_template(registry: Registry, owner: Owner, template_id: str, audit: AuditTrail) -> None:
    if template_id not in registry.template_ids(owner):
        raise HTTPException(404, f"{owner.kind} {owner.id} has no template {template_id!r}")
    registry.delete_template(template_id)
    audit.record("delete", "face_template", template_id, owner_kind=owner.kind, owner_id=owner.id)


def delete_all_templates(registry: Registry, owner: Owner, audit: AuditTrail) -> TemplatesDeleted:
    deleted = registry.delete_templates(owner)
    audit.record("delete_templates", owner.kind, owner.id, templates=deleted)
    return TemplatesDeleted(deleted=deleted)


def audited_deletion(audit: AuditTrail, report: DeletionReport) -> Deletion:
    """A person's deletion as the route answers it, recorded with what went with them."""
    audit.record("delete", report.owner.kind, report.owner.id, templates=report.templates,
                 vehicles=report.vehicles, visitors=report.visitors)
    return Deletion.of(report)


async def enroll(registry: Registry, cascade: Cascade, owner: Owner, photos: list[UploadFile],
                 audit: AuditTrail) -> TemplateList:
    """Read every photo (bounded), then enroll them all or none; a refusal is a 422 naming each photo."""
    if cascade.faces is None:
        raise HTTPException(503, "the service runs no face models, so it cannot enroll faces")
    if len(photos) > MAX_PHOTOS:
        raise HTTPException(422, f"{len(photos)} photos sent; at most {MAX_PHOTOS} per enrollment")
    named: list[tuple[str, bytes]] = []
    for i, upload in enumerate(photos):
        name = upload_name(upload, i)
        check_image_type(upload, name)
        named.append((name, await read_limited(upload, MAX_PHOTO_BYTES, name)))
    analyzer = cascade.faces
    try:
        with registry_refusals():
            _, template_ids = await run_in_threadpool(registry.enroll, named, analyzer, owner=owner)
    except EnrollmentRefused as exc:
        body = EnrollmentRefusal(message="enrollment refused: nothing was stored",
                                 refusals=[PhotoProblem(photo=r.photo, reasons=list(r.reasons))
                                           for r in exc.refusals])
        raise HTTPException(422, body.model_dump()) from None
    await run_in_threadpool(audit.record, "enroll", owner.kind, owner.id, template_ids=template_ids)
    return template_list(registry, owner)


async def import_csv(registry: Registry, file: UploadFile,
                     apply: Callable[[Registry, io.StringIO], list[csvio.RowResult]], audit: AuditTrail,
                     entity: str) -> ImportReport:
    """Import an uploaded CSV; a file that cannot be read at all is a 422 and nothing is stored.

    Each stored row is audited (``import_create`` or ``import_update`` of ``entity``, with its line).
    """
    name = file.filename or "the file"
    data = await read_limited(file, MAX_CSV_BYTES, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, f"{name} is not UTF-8 text (byte {exc.start})") from None
    results = await run_in_threadpool(apply, registry, io.StringIO(text, newline=""))
    if len(results) == 1 and results[0].line == 1 and results[0].status == "error":
        raise HTTPException(422, f"{name}: {results[0].message}")
    for status in ("created", "updated"):
        rows = [(r.id, {"line": r.line}) for r in results if r.status == status]
        await run_in_threadpool(audit.record_each, f"import_{status.removesuffix('d')}", entity, rows)
    return ImportReport.of(results)


def csv_response(registry: Registry, export: Callable[[Registry, io.StringIO], int],
                 filename: str) -> Response:
    out = io.StringIO()
    export(registry, out)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
