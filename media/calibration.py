"""Real inputs that calibrate (and then check) the INT8 model variants.

Calibration must see what inference sees, so every input here is a real picture (frames of the
sample clips, sample photos, rendered plates on real photos, faces aligned from photos) and is
turned into a tensor by the model's own ``preprocess`` (:func:`calibration_tensors`). The sets
are fixed lists in a fixed order (no randomness beyond :func:`media.plates.generate`'s seeded
one), so the same machine makes the same INT8 file every time.

The accuracy checks use other pictures where the project has them (``players.jpg``,
``yaoming.jpg``, ``astronaut.png`` for faces; held-out ``vtest.avi`` frames and the car photo
for vehicles; the rendered plate set of ``bench plates``, seed 0, for plates), so a variant is
never judged on the inputs it was calibrated on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from media.images import read_image
from media.plates import OPENCV_DATA, generate
from models.manifest import Task
from vision.face.align import align_faces
from vision.model import AnyModel
from vision.plate.rectify import rectify

logger = logging.getLogger(__name__)

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

VTEST = OPENCV_DATA / "vtest.avi"
MEGAMIND = OPENCV_DATA / "Megamind.avi"
CALIBRATION_PHOTOS = ("messi5.jpg", "building.jpg", "home.jpg", "aero3.jpg")
"""opencv-doc photos in the detectors' calibration set (people, buildings, streets)."""
CALIBRATION_SAMPLES = ("bus.jpg", "zidane.jpg")
"""Sample photos (:mod:`media.images`) in the calibration set: people, a bus, faces."""
CALIBRATION_PLATE_SEED = 20261202
"""Seed of the rendered plates that calibrate (the accuracy checks use seed 0, as ``bench plates``)."""


@dataclass(frozen=True, slots=True)
class Picture:
    """One calibration or check input: where it came from and its pixels (BGR uint8)."""

    source: str
    image: U8


def video_frames(path: Path, indices: Sequence[int]) -> list[Picture]:
    """Frames ``indices`` of a video file (decoded in order; missing file or frame: skipped)."""
    if not path.is_file():
        logger.warning("calibration clip %s unavailable (install opencv-doc)", path)
        return []
    capture = cv2.VideoCapture(str(path))
    wanted, out, index = set(indices), [], 0
    try:
        while index <= max(indices):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                out.append(Picture(f"{path.name}#{index}", np.asarray(frame, np.uint8)))
            index += 1
    finally:
        capture.release()
    return out


def photo(name: str) -> Picture | None:
    """An opencv-doc photo or a sample image by name (``None``, logged, when unavailable)."""
    local = OPENCV_DATA / name
    if local.is_file():
        image = cv2.imread(str(local))
        return None if image is None else Picture(name, np.asarray(image, np.uint8))
    try:
        return Picture(name, read_image(name))
    except (KeyError, OSError, RuntimeError) as exc:
        logger.warning("calibration photo %s unavailable: %s", name, exc)
        return None


def detector_frames(plates: int = 8) -> list[Picture]:
    """The detectors' calibration frames: street clip, cartoon face clip, photos, rendered plates."""
    pictures = video_frames(VTEST, range(0, 700, 100)) + video_frames(MEGAMIND, (40, 120, 200))
    pictures += [p for name in (*CALIBRATION_PHOTOS, *CALIBRATION_SAMPLES) if (p := photo(name))]
    pictures += [Picture(f"plate:{p.text}", p.image) for p in generate(plates, CALIBRATION_PLATE_SEED)]
    return pictures


def face_crops(detector: AnyModel, pictures: Sequence[Picture]) -> list[Picture]:
    """ArcFace-aligned ``(112, 112, 3)`` crops of every face ``detector`` (FP32 SCRFD) finds."""
    crops: list[Picture] = []
    for picture in pictures:
        found = detector.infer([picture.image])[0]
        if found.landmarks is None or not len(found):
            continue
        for j, crop in enumerate(align_faces(picture.image, found.landmarks)):
            crops.append(Picture(f"{picture.source}:face{j}", np.asarray(crop, np.uint8)))
    return crops


def plate_crops(count: int, seed: int = CALIBRATION_PLATE_SEED) -> list[Picture]:
    """Rectified 48-pixel-high crops of rendered plates (true corners), as the reader gets them."""
    out = []
    for plate in generate(count, seed):
        crop = rectify(plate.image, plate.corners)
        out.append(Picture(f"plate:{plate.text}", np.asarray(crop, np.uint8)))
    return out


def calibration_pictures(task: Task, count: int, face_detector: AnyModel | None = None) -> list[Picture]:
    """The first ``count`` calibration inputs of a task's model (fixed order).

    Args:
        task: the model's task.
        count: how many (the recipe's ``calibration``); fewer when the set is smaller.
        face_detector: for ``face_embed``, the FP32 face detector that finds the faces to align.
    """
    if task in ("face_detect", "vehicle_detect", "plate_detect"):
        pictures = detector_frames()
    elif task == "face_embed":
        if face_detector is None:
            raise ValueError("face_embed calibration needs the face detector to find faces")
        pictures = face_crops(face_detector, detector_frames(plates=0))
    else:
        pictures = plate_crops(count)
    return pictures[:count]


def calibration_tensors(model: Any, pictures: Sequence[Picture]) -> list[F32]:
    """Each picture through ``model.preprocess`` alone: ``(1, ...)`` float32 tensors, in order."""
    return [np.asarray(model.preprocess([p.image])[0], np.float32) for p in pictures]
