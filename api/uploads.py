"""Uploaded files: bounded reads and declared content types, refused with a clear 413/415.

The whole request body is capped before parsing by :mod:`api.body_limit`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, HTTPException, UploadFile

MAX_PHOTO_BYTES = 10 * 1024 * 1024
"""Largest photo accepted for enrollment or recognition."""

MAX_PHOTOS = 20
"""Most photos one enrollment request may carry."""

MAX_CSV_BYTES = 5 * 1024 * 1024
"""Largest CSV file accepted for an import."""

IMAGE_TYPES_OK = ("image/", "application/octet-stream")

Responses = dict[int | str, dict[str, Any]]
"""The ``responses=`` of a route (documented error answers)."""

Photos = Annotated[list[UploadFile], File(description="1 to 20 photos (at most 10 MB each, and the whole "
                                                      "request at most ESTATEWATCH_MAX_REQUEST_BYTES, "
                                                      "16 MiB by default), exactly one face each.")]
ImageUpload = Annotated[UploadFile, File(description="A JPEG, PNG, BMP or WebP image (at most 10 MB).")]
CsvUpload = Annotated[UploadFile, File(description="A UTF-8 CSV file (at most 5 MB); columns in the "
                                                   "route's description.")]


def upload_name(upload: UploadFile, index: int) -> str:
    """The name an upload is reported by: its file name, else ``photo #n`` (1-based)."""
    return upload.filename or f"photo #{index + 1}"


async def read_limited(upload: UploadFile, limit: int, name: str) -> bytes:
    """The upload's bytes; 413 naming it when it is larger than ``limit``."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413,
                            f"{name}: larger than {limit // (1024 * 1024)} MB")
    return data


def check_image_type(upload: UploadFile, name: str) -> None:
    """415 when the part declares a content type that is not an image (none declared is fine)."""
    declared = (upload.content_type or "").lower()
    if declared and not declared.startswith(IMAGE_TYPES_OK):
        raise HTTPException(415,
                            f"{name}: content type {declared!r} is not an image (JPEG, PNG, BMP, WebP)")
