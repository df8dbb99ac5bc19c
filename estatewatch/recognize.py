"""``estatewatch recognize IMAGE...``: the whole still-image cascade on files."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from registry.service import Registry
    from vision.cascade import ImageRecognition

logger = logging.getLogger(__name__)

Json = dict[str, Any]


class ImageReadError(ValueError):
    """A file could not be read or decoded as an image."""


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """Decode a file as BGR uint8 (non-ASCII paths work); a clear error if it is not an image."""
    import cv2

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError("file not found") from None
    except IsADirectoryError:
        raise ImageReadError("is a directory, not an image file") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read file: {exc.strerror}") from None
    if not data:
        raise ImageReadError("file is empty")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageReadError(f"not a decodable image ({len(data)} bytes; JPEG, PNG, BMP, WebP, TIFF work)")
    return np.asarray(image, np.uint8)


class RegistryMatcher:
    """Fills ``match`` for faces and valid plates from the resident registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @classmethod
    def open(cls) -> RegistryMatcher:
        """Open the configured registry (migrating a new database)."""
        from registry.service import Registry

        return cls(Registry.open())

    def close(self) -> None:
        self.registry.close()

    def match(self, result: ImageRecognition) -> tuple[list[Json | None], list[Json | None]]:
        """JSON-able matches for ``result.faces`` and ``result.plates`` (``None`` where not matchable)."""
        from alarms.intake import registry_match_json

        return registry_match_json(self.registry, result)


def chunks(items: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def human_line(path: Path, record: Json) -> str:
    """A one-image summary for the terminal."""
    if "error" in record:
        return f"{path}: error: {record['error']}"
    plates = ", ".join(p["text"] + ("" if p["valid"] else "?") for p in record["plates"]) or "-"
    vehicles = ", ".join(v["label"] for v in record["vehicles"]) or "-"
    return f"{path}: {len(record['faces'])} face(s); vehicles: {vehicles}; plates: {plates}"


def dumps(record: Json) -> str:
    """One JSON line (UTF-8 characters kept, so plates read 京A12345)."""
    return json.dumps(record, ensure_ascii=False)
