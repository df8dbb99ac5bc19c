"""Alarm snapshots on disk: ``<data dir>/snapshots/YYYY/MM/DD/<alarm id>.jpg``, plain JPEG of the scene.

Files are written atomically (temporary file, fsync, rename), so a reader never sees half a JPEG.
Face crops are not files: they are encrypted into the alarm's row (:mod:`alarms.crops`); only
alarms stored by older versions have a plain ``.crop.jpg`` here until the store next opens.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from storage.files import write_atomic

logger = logging.getLogger(__name__)

JPEG_QUALITY = 90
CLIP_SUFFIX = ".mp4"
"""An alarm's video clip sits next to its snapshot: ``YYYY/MM/DD/<alarm id>.mp4`` (:mod:`alarms.clips`)."""


def relative_path(alarm_id: str, occurred_at: dt.datetime, suffix: str = ".jpg") -> str:
    """``YYYY/MM/DD/<alarm id><suffix>`` by the UTC date of ``occurred_at`` (pure)."""
    day = occurred_at.astimezone(dt.UTC)
    if not alarm_id or "/" in alarm_id or alarm_id.startswith("."):
        raise ValueError(f"invalid alarm id {alarm_id!r}")
    return f"{day:%Y/%m/%d}/{alarm_id}{suffix}"


def encode_jpeg(image: npt.NDArray[np.uint8], quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a BGR (H, W, 3) or grey (H, W) uint8 image."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"expected a non-empty uint8 (H, W[, 3]) image, got {image.dtype} {image.shape}")
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buffer.tobytes())


class SnapshotStore:
    """Snapshot files under ``root`` (``<data dir>/snapshots``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, alarm_id: str, occurred_at: dt.datetime, image: npt.NDArray[np.uint8], suffix: str) -> str:
        """Write one JPEG; returns its path relative to :attr:`root`."""
        relative = relative_path(alarm_id, occurred_at, suffix)
        write_atomic(self.root / relative, encode_jpeg(image))
        return relative

    def path(self, relative: str) -> Path:
        """The absolute path of a stored snapshot (ValueError if it escapes the root)."""
        full = (self.root / relative).resolve()
        if not full.is_relative_to(self.root.resolve()):
            raise ValueError(f"snapshot path {relative!r} escapes the snapshot folder")
        return full

    def exists(self, relative: str) -> bool:
        """Whether a file made by :func:`relative_path` is there (one ``stat``: run once per listed alarm).

        Not for paths from elsewhere: :func:`relative_path` cannot leave the root, so there is no
        :meth:`path` resolution (two ``realpath`` walks) here; reading the file still goes through it.
        """
        try:
            return (self.root / relative).is_file()
        except OSError:
            return False

    def delete(self, relative: str) -> None:
        """Remove a snapshot and the day folders it leaves empty."""
        try:
            full = self.path(relative)
            full.unlink(missing_ok=True)
        except (OSError, ValueError) as exc:
            logger.warning("could not delete snapshot %s: %s", relative, exc)
            return
        parent = full.parent
        root = self.root.resolve()
        while parent != root and parent.is_relative_to(root):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
