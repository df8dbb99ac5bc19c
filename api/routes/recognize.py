"""Recognition on demand: one uploaded image through the service's loaded cascade, with registry matches."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from alarms.intake import registry_match_json
from api.deps import CascadeDep, RegistryDep, RegistryReader
from api.registry_schemas import StillRecognition
from api.uploads import MAX_PHOTO_BYTES, ImageUpload, check_image_type, read_limited, upload_name
from registry.enrollment import decode_photo
from registry.service import Registry
from streams.config import ALL_ANALYSES, Analysis
from vision.cascade import Cascade, to_json
from vision.types import Image

router = APIRouter(prefix="/api/v1", tags=["recognition"])


def available_stages(cascade: Cascade) -> list[Analysis]:
    """The analyses the service's loaded models can run."""
    loaded: dict[Analysis, object] = {"faces": cascade.faces, "vehicles": cascade.vehicles,
                                      "plates": cascade.plates}
    return [stage for stage in ALL_ANALYSES if loaded[stage] is not None]


def chosen_stages(cascade: Cascade, run: list[Analysis] | None) -> list[Analysis]:
    """``run`` (default: every loaded stage); 422 for a stage whose models the service did not load."""
    loaded = available_stages(cascade)
    if not loaded:
        raise HTTPException(503, "the service has no recognition models loaded")
    if run is None:
        return loaded
    missing = [s for s in run if s not in loaded]
    if missing:
        raise HTTPException(422, f"the service runs no {', '.join(missing)} models "
                                 f"(loaded: {', '.join(loaded)})")
    return list(dict.fromkeys(run))


def recognize_one(cascade: Cascade, registry: Registry, image: Image, run: list[Analysis],
                  name: str) -> StillRecognition:
    result = cascade.recognize([image], run)[0]
    faces, plates = registry_match_json(registry, result)
    return StillRecognition.model_validate({"image": name, **to_json(result, faces, plates)})


@router.post("/recognize", summary="Faces, vehicles and plates of one image, matched against the registry",
             description="The same JSON object as one line of `estatewatch recognize --json` (see README).",
             responses={413: {"description": "The image is larger than 10 MB"},
                        415: {"description": "The part is not an image"},
                        422: {"description": "Not a decodable image, or a stage the service does not run"},
                        503: {"description": "The models or the registry are not loaded"}})
async def recognize(_caller: RegistryReader, cascade: CascadeDep, registry: RegistryDep,
                    image: ImageUpload,
                    run: list[Analysis] | None = Query(None, description="Stages (default: all the service "
                                                                         "runs).")) -> StillRecognition:
    stages = chosen_stages(cascade, run)
    name = upload_name(image, 0)
    check_image_type(image, name)
    decoded = decode_photo(await read_limited(image, MAX_PHOTO_BYTES, name))
    if decoded is None:
        raise HTTPException(422, f"{name}: not a decodable image (JPEG, PNG, BMP, WebP work)")
    return await run_in_threadpool(recognize_one, cascade, registry, decoded, stages, name)
