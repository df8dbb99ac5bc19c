"""The still-image cascade: faces (detect, align, embed), vehicles, and plates on vehicles.

Given a batch of images, every stage runs as one batch across all of them:

1. faces: one detector batch, one embedder batch over all faces of all images;
2. vehicles: one YOLO batch (people are kept by the detector for later rules, not reported
   as vehicles);
3. plates: searched inside the vehicles found (with a margin), or in the whole image when
   no vehicle was found, then read in one batch; each plate names the vehicle it lies in.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from models.manifest import Task
from vision.config import VisionSettings
from vision.engine import VisionEngine
from vision.face.arcface import ArcFaceEmbedder
from vision.face.pipeline import FaceAnalyzer, FaceDetector
from vision.plate.detector import PlateDetector
from vision.plate.pipeline import PlatePipeline
from vision.plate.reader import PlateReader
from vision.types import F32, Detections, Face, Image, PlateReading
from vision.vehicle.yolo import VEHICLE_CLASSES, YoloDetector

Analysis = Literal["faces", "vehicles", "plates"]
ALL_ANALYSES: tuple[Analysis, ...] = ("faces", "vehicles", "plates")
STAGE_TASKS: dict[Analysis, tuple[Task, ...]] = {
    "faces": ("face_detect", "face_embed"),
    "vehicles": ("vehicle_detect",),
    "plates": ("vehicle_detect", "plate_detect", "plate_read"),
}
"""The models each analysis needs (plates are searched on vehicles)."""


def tasks_for(stages: Collection[Analysis]) -> tuple[Task, ...]:
    """The model tasks needed to run ``stages``, without duplicates, in a stable order."""
    return tuple(dict.fromkeys(t for stage in ALL_ANALYSES if stage in stages for t in STAGE_TASKS[stage]))


@dataclass(frozen=True, slots=True)
class PlateFinding:
    """A plate read in an image and the index of the vehicle (in ``vehicles``) it belongs to."""

    reading: PlateReading
    vehicle: int | None


@dataclass(frozen=True, slots=True)
class ImageRecognition:
    """Everything the cascade found in one image."""

    faces: list[Face] = field(default_factory=list)
    vehicles: Detections = field(default_factory=Detections.empty)
    plates: list[PlateFinding] = field(default_factory=list)


def owning_vehicle(plate_box: F32, vehicles: F32) -> int | None:
    """Index of the smallest vehicle box containing the plate's centre (``None`` if none does)."""
    if vehicles.shape[0] == 0:
        return None
    cx, cy = (plate_box[0] + plate_box[2]) / 2, (plate_box[1] + plate_box[3]) / 2
    inside = (vehicles[:, 0] <= cx) & (cx <= vehicles[:, 2]) & (vehicles[:, 1] <= cy) & (cy <= vehicles[:, 3])
    if not inside.any():
        return None
    areas = (vehicles[:, 2] - vehicles[:, 0]) * (vehicles[:, 3] - vehicles[:, 1])
    candidates = np.flatnonzero(inside)
    return int(candidates[np.argmin(areas[candidates])])


class Cascade:
    """Faces, vehicles and plates of still images (or sampled frames)."""

    def __init__(self, faces: FaceAnalyzer | None, vehicles: YoloDetector | None,
                 plates: PlatePipeline | None) -> None:
        self.faces = faces
        self.vehicles = vehicles
        self.plates = plates

    @classmethod
    def from_store(cls, settings: VisionSettings | None = None, store: Path | None = None,
                   run: Collection[Analysis] = ALL_ANALYSES) -> Cascade:
        """Load (and warm up) the models ``run`` needs, from the verified model store."""
        from models.fetch import require
        from models.manifest import profile_models
        from vision.model import create

        settings = settings or VisionSettings()
        config = settings.session_config()
        faces = plates = None
        vehicles: YoloDetector | None = None
        if "faces" in run:
            faces = FaceAnalyzer.from_store(settings.profile, config, store=store)
            faces.load()
        if "vehicles" in run or "plates" in run:
            spec = profile_models(settings.profile)["vehicle_detect"]
            model = create(spec.family, require(spec, store), config, name=spec.name)
            if not isinstance(model, YoloDetector):
                raise TypeError(f"vehicle model family {spec.family!r} is not YOLO")
            model.load()
            vehicles = model
        if "plates" in run:
            plates = PlatePipeline.from_store(settings.profile, config, store)
        return cls(faces, vehicles, plates)

    @classmethod
    def from_engine(cls, engine: VisionEngine) -> Cascade:
        """A cascade whose every model call goes through the engine's batchers.

        Concurrent callers (one per camera) then share ONNX calls: a batch may hold frames of
        many cameras. Stages whose models the engine did not load are skipped.
        """
        loaded = engine.models

        def batched(task: Task) -> Any:
            return engine.batched(task) if task in loaded else None

        faces = None
        if "face_detect" in loaded and "face_embed" in loaded:
            faces = FaceAnalyzer(cast(FaceDetector, batched("face_detect")),
                                 cast(ArcFaceEmbedder, batched("face_embed")))
        plates = None
        if "plate_detect" in loaded and "plate_read" in loaded:
            plates = PlatePipeline(cast(PlateDetector, batched("plate_detect")),
                                   cast(PlateReader, batched("plate_read")))
        return cls(faces, cast(YoloDetector | None, batched("vehicle_detect")), plates)

    def recognize(self, images: Sequence[Image],
                  run: Collection[Analysis] = ALL_ANALYSES) -> list[ImageRecognition]:
        """Run the loaded stages named in ``run`` over ``images`` (BGR uint8), one batch per stage."""
        if not images:
            return []
        faces = self.faces.analyze(images) if self.faces and "faces" in run else [[] for _ in images]
        want_vehicles = self.vehicles is not None and ("vehicles" in run or "plates" in run)
        vehicles = self._vehicles(images) if want_vehicles else [Detections.empty() for _ in images]
        plates = (self._plates(images, vehicles) if self.plates and "plates" in run
                  else [[] for _ in images])
        return [ImageRecognition(f, v, p) for f, v, p in zip(faces, vehicles, plates, strict=True)]

    def _vehicles(self, images: Sequence[Image]) -> list[Detections]:
        assert self.vehicles is not None
        return [d[np.isin(d.class_ids, VEHICLE_CLASSES)] for d in self.vehicles.infer(images)]

    def _plates(self, images: Sequence[Image], vehicles: list[Detections]) -> list[list[PlateFinding]]:
        assert self.plates is not None
        with_vehicles = [i for i, v in enumerate(vehicles) if len(v)]
        without = [i for i, v in enumerate(vehicles) if not len(v)]
        readings: dict[int, list[PlateReading]] = {}
        if with_vehicles:
            found = self.plates.read([images[i] for i in with_vehicles],
                                     [vehicles[i].xyxy for i in with_vehicles])
            readings.update(zip(with_vehicles, found, strict=True))
        if without:
            readings.update(zip(without, self.plates.read([images[i] for i in without]), strict=True))
        return [[PlateFinding(r, owning_vehicle(r.box, vehicles[i].xyxy) if r.box is not None else None)
                 for r in readings[i]] for i in range(len(images))]


def _round(values: Any, digits: int = 1) -> Any:
    return np.round(np.asarray(values, np.float64), digits).tolist()


def to_json(result: ImageRecognition, match_faces: list[Any] | None = None,
            match_plates: list[Any] | None = None) -> dict[str, Any]:
    """The documented JSON shape of one image's recognition (without the ``image`` key)."""
    return {
        "faces": [{"box": _round(f.box), "score": round(f.score, 4), "landmarks": _round(f.landmarks),
                   "quality": None if f.quality is None else round(f.quality, 3),
                   "match": None if match_faces is None else match_faces[i]}
                  for i, f in enumerate(result.faces)],
        "vehicles": [{"box": _round(result.vehicles.xyxy[i]),
                      "label": str(result.vehicles.data["label"][i]) if "label" in result.vehicles.data
                      else int(result.vehicles.class_ids[i]),
                      "score": round(float(result.vehicles.scores[i]), 4)}
                     for i in range(len(result.vehicles))],
        "plates": [{"text": p.reading.text, "valid": p.reading.valid, "kind": p.reading.kind,
                    "score": round(p.reading.score, 4),
                    "box": None if p.reading.box is None else _round(p.reading.box),
                    "corners": None if p.reading.corners is None else _round(p.reading.corners),
                    "vehicle": p.vehicle,
                    "match": None if match_plates is None else match_plates[i]}
                   for i, p in enumerate(result.plates)],
    }
