"""The recognition cascade: faces (detect, align, embed), vehicles, and plates on vehicles.

One orchestration, :meth:`Cascade.analyse`, serves still images (``estatewatch recognize``,
:meth:`Cascade.recognize`) and live frames (the frame pipeline); what differs between them is a
:class:`~vision.policy.RecognitionPolicy` value. Given a batch of frames, every stage's requests
of all frames go out together, so they share model calls:

1. objects: YOLO (people and vehicles) on each frame's crops (its motion regions, or the whole
   frame) whenever the frame's camera runs vehicles or plates;
2. faces: on the heads of the people YOLO found (live, where YOLO ran), else the face detector
   on the crops; faces too small to embed are reported without an embedding;
3. plates: searched inside the vehicles found (with a margin), or in the whole image when no
   vehicle was found (still images), then read in one batch; each plate names the vehicle it
   lies in.

Every detector runs through a :class:`~vision.sized.SizedDetector`: at the input size the policy
gives each crop (the model's own for still images), on variants sharing one session.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.manifest import Task
from streams.config import ALL_ANALYSES, Analysis
from vision.batcher import DynamicBatcher
from vision.config import VisionSettings
from vision.detector import Detector
from vision.engine import BatchedModel, VisionEngine
from vision.face.align import align_faces
from vision.face.arcface import ArcFaceEmbedder, embed_crops
from vision.face.pipeline import FaceAnalyzer
from vision.levers import Settled, settled_rows
from vision.model import Model, OnnxModel
from vision.ops import batched_nms, clip_boxes, nms
from vision.plate.detector import PlateDetector
from vision.plate.pipeline import PlatePipeline
from vision.plate.reader import PlateReader
from vision.policy import Box, RecognitionPolicy, Size, crop_plan, head_box, head_input, plate_input
from vision.sized import AtSize, SizedDetector, SizedImage
from vision.types import F32, Detections, Face, Image, PlateReading
from vision.vehicle.yolo import PERSON, VEHICLE_CLASSES, YoloDetector

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
    objects: Detections = field(default_factory=Detections.empty)
    """The people and vehicles faces and plates were searched on (YOLO's, or the carried boxes)."""


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



@dataclass(frozen=True, slots=True)
class FrameTask:
    """One live frame for :meth:`Cascade.analyse`.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR.
        run: the analyses this frame's camera runs.
        regions: ``(N, 4)`` float32 xyxy motion regions in frame pixels (see
            :mod:`vision.gating`): detectors look only there; ``None``: the whole frame.
        objects: people and vehicles carried from an earlier frame (:class:`vision.levers.Carrier`):
            YOLO does not run, faces and plates are searched on these; ``None``: YOLO runs.
        settled: boxes of decided tracks (:class:`vision.levers.Settled`): faces there are not
            embedded, vehicles there not searched for plates; ``None``: everything is.
    """

    image: Image
    run: Collection[Analysis] = ALL_ANALYSES
    regions: F32 | None = None
    objects: Detections | None = None
    settled: Settled | None = None


DetectorKind = Literal["yolo", "face", "plate"]
_KIND_TASK: dict[DetectorKind, Task] = {"yolo": "vehicle_detect", "face": "face_detect",
                                         "plate": "plate_detect"}
SizedModel = SizedDetector | BatchedModel[SizedImage, Detections]
Faces = FaceAnalyzer[Detector, Model[Image, F32]]
"""The face analyzer the cascade starts from: a raw detector (it resizes it), any embedder."""


class Cascade:
    """Faces, vehicles and plates of still images and live frames, on one path.

    Args:
        faces: the face analyzer over the raw face detector (the cascade resizes it).
        vehicles: the raw YOLO detector.
        plates: the plate pipeline over the raw plate detector.
        engine: when given, every detector's requests go through a batcher sized like the
            engine's batcher of that model, so concurrent callers (one per camera) share calls.
    """

    def __init__(self, faces: Faces | None, vehicles: Detector | None,
                 plates: PlatePipeline[Detector] | None, *, engine: VisionEngine | None = None) -> None:
        self.faces = faces
        self.vehicles = vehicles
        self.plates = plates
        self.engine = engine
        self._sized: dict[DetectorKind, SizedModel] = {}
        self._plate_pipelines: dict[Size, PlatePipeline[AtSize]] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_store(cls, settings: VisionSettings | None = None, store: Path | None = None,
                   run: Collection[Analysis] = ALL_ANALYSES) -> Cascade:
        """Load (and warm up) the models ``run`` needs, from the verified model store."""
        from models.manifest import profile_models
        from vision.model import create_as

        settings = settings or VisionSettings()
        config = settings.session_config()
        faces = plates = vehicles = None
        if "faces" in run:
            faces = FaceAnalyzer.from_store(settings.profile, config, store=store,
                                            variants=settings.variants())
            faces.load()
        if "vehicles" in run or "plates" in run:
            spec = profile_models(settings.profile)["vehicle_detect"]
            vehicles = create_as(YoloDetector, spec.family, settings.model_path(spec, store), config,
                                 name=spec.name)
            vehicles.load()
        if "plates" in run:
            plates = PlatePipeline.from_store(settings.profile, config, store, variants=settings.variants())
        return cls(faces, vehicles, plates)

    @classmethod
    def from_engine(cls, engine: VisionEngine) -> Cascade:
        """A cascade whose every model call goes through batchers like the engine's.

        Concurrent callers (one per camera) then share ONNX calls: a batch may hold frames of
        many cameras. Stages whose models the engine did not load are skipped.
        """
        loaded = engine.models
        faces = plates = vehicles = None
        if "face_detect" in loaded and "face_embed" in loaded:
            faces = Faces(engine.detector("face_detect"), engine.batched("face_embed", ArcFaceEmbedder))
        if "plate_detect" in loaded and "plate_read" in loaded:
            plates = PlatePipeline.build(engine.model("plate_detect", PlateDetector),
                                         engine.batched("plate_read", PlateReader),
                                         engine.model("plate_read", PlateReader))
        if "vehicle_detect" in loaded:
            vehicles = engine.model("vehicle_detect", YoloDetector)
        return cls(faces, vehicles, plates, engine=engine)

    def recognize(self, images: Sequence[Image],
                  run: Collection[Analysis] = ALL_ANALYSES) -> list[ImageRecognition]:
        """Still images (BGR uint8): :meth:`analyse` with :meth:`RecognitionPolicy.still`."""
        return self.analyse([FrameTask(image, run) for image in images], RecognitionPolicy.still())

    def analyse(self, tasks: Sequence[FrameTask], policy: RecognitionPolicy) -> list[ImageRecognition]:
        """What each frame shows: YOLO objects, then faces and plates, all frames' requests together.

        Per frame: YOLO on its crops whenever vehicles or plates are run; faces (see
        ``policy.faces_on_people``); plates on its vehicles, or on the whole image when it has
        none and ``policy.whole_image_plates``. See :class:`~vision.policy.RecognitionPolicy`.
        """
        ran = [self.vehicles is not None and bool({"vehicles", "plates"} & set(t.run)) for t in tasks]
        objects = self._objects(tasks, ran, policy)
        vehicles = [d[np.isin(d.class_ids, VEHICLE_CLASSES)] for d in objects]
        faces = self._faces(tasks, objects, ran, policy)
        plates = self._plates(tasks, vehicles, policy)
        shown = [("vehicles" in t.run or policy.vehicles_for_plates) for t in tasks]
        return [ImageRecognition(f, v if show else Detections.empty(), p, o)
                for f, v, p, show, o in zip(faces, vehicles, plates, shown, objects, strict=True)]

    def _models(self) -> list[Model[Any, Any]]:
        models: list[Model[Any, Any]] = []
        if self.faces is not None:
            models += [self.faces.detector, self.faces.embedder]
        if self.vehicles is not None:
            models.append(self.vehicles)
        if self.plates is not None:
            models += [self.plates.detector, self.plates.reader]
        return models

    def model_names(self) -> list[str]:
        """The names of the models the cascade runs, in stage order."""
        return list(dict.fromkeys(m.name for m in self._models()))

    def model_providers(self) -> dict[str, str]:
        """Model name -> the execution provider its open session runs on ("?" before it opens)."""
        out: dict[str, str] = {}
        for m in self._models():
            inner = m.model if isinstance(m, BatchedModel) else m
            opened = isinstance(inner, OnnxModel) and inner.loaded
            out.setdefault(m.name, inner.session.provider if isinstance(inner, OnnxModel) and opened else "?")
        return out

    def batchers(self) -> dict[str, DynamicBatcher[Any, Any]]:
        """The batchers of the cascade's detectors, by kind (for their stats)."""
        with self._lock:
            return {kind: m.batcher for kind, m in self._sized.items() if isinstance(m, BatchedModel)}

    def close(self) -> None:
        """Stop the cascade's own batchers (the engine's belong to the engine)."""
        with self._lock:
            for batcher in self.batchers().values():
                batcher.stop()
            self._sized.clear()
            self._plate_pipelines.clear()

    def _base(self, kind: DetectorKind) -> Detector:
        base = {"yolo": self.vehicles, "face": self.faces.detector if self.faces else None,
                "plate": self.plates.detector if self.plates else None}[kind]
        if base is None:
            raise RuntimeError(f"the cascade has no {kind} detector")
        return base

    def _sized_model(self, kind: DetectorKind) -> SizedModel:
        """The multi-size detector of ``kind``, batched like the engine's model when there is one."""
        with self._lock:
            if kind not in self._sized:
                sized = SizedDetector(self._base(kind))
                model: SizedModel = sized
                if self.engine is not None:
                    like = self.engine.batcher(_KIND_TASK[kind])
                    batcher = DynamicBatcher[SizedImage, Detections](
                        sized.infer, max_batch=like.max_batch, max_wait_ms=like.max_wait * 1000,
                        name=f"{like.name}-sized", lanes=like.lanes).start()
                    model = BatchedModel(sized, batcher)
                self._sized[kind] = model
            return self._sized[kind]

    def _objects(self, tasks: Sequence[FrameTask], ran: Sequence[bool],
                 policy: RecognitionPolicy) -> list[Detections]:
        """YOLO people and vehicles of each frame that runs it, from its crops, in frame pixels."""
        objects = [Detections.empty() for _ in tasks]
        carried = [i for i, r in enumerate(ran) if r and tasks[i].objects is not None]
        for i in carried:
            objects[i] = tasks[i].objects or Detections.empty()
        todo = [i for i, r in enumerate(ran) if r and tasks[i].objects is None]
        if not todo:
            return objects
        base_input = self._base("yolo").params.input_size
        items: list[SizedImage] = []
        owners: list[tuple[int, Box]] = []
        for i in todo:
            image = tasks[i].image
            for box, size in crop_plan(_frame_size(image), tasks[i].regions, base_input, policy):
                items.append((size, image[box[1]:box[3], box[0]:box[2]]))
                owners.append((i, box))
        parts: dict[int, list[Detections]] = {i: [] for i in todo}
        for (i, box), det in zip(owners, self._sized_model("yolo").infer(items), strict=True):
            parts[i].append(_shifted(det, box[0], box[1]))
        for i in todo:
            objects[i] = _merged(parts[i], tasks[i].image.shape)
        return objects

    def _faces(self, tasks: Sequence[FrameTask], objects: Sequence[Detections], ran: Sequence[bool],
               policy: RecognitionPolicy) -> list[list[Face]]:
        """Faces of each frame that runs them: on people's heads or on the crops (see the policy)."""
        faces: list[list[Face]] = [[] for _ in tasks]
        if self.faces is None:
            return faces
        want = [i for i, t in enumerate(tasks) if "faces" in t.run]
        on_heads = [i for i in want if policy.faces_on_people and ran[i]]
        on_crops = [i for i in want if not (policy.faces_on_people and ran[i])]
        crops: list[tuple[int, Box, Size]] = []
        for i in on_heads:
            heads = _heads(tasks[i].image, objects[i], policy)
            if tasks[i].objects is not None and tasks[i].settled:
                heads = [b for b in heads if not _holds_settled_face(b, tasks[i].settled)]
            crops += [(i, box, head_input(box, policy)) for box in heads]
        base_input = self._base("face").params.input_size
        for i in on_crops:
            image = tasks[i].image
            crops += [(i, box, size) for box, size
                      in crop_plan(_frame_size(image), tasks[i].regions, base_input, policy)]
        for i, found in self._faces_in(tasks, crops, policy).items():
            faces[i] = found
        return faces

    def _faces_in(self, tasks: Sequence[FrameTask], crops: list[tuple[int, Box, Size]],
                  policy: RecognitionPolicy) -> dict[int, list[Face]]:
        """Faces of the crops, one analyzer call per input size, in frame pixels, per frame."""
        assert self.faces is not None
        parts: dict[int, list[list[Face]]] = {}
        images = [tasks[i].image[box[1]:box[3], box[0]:box[2]] for i, box, _ in crops]
        sized = self._sized_model("face")
        for size in dict.fromkeys(size for *_, size in crops):
            members = [k for k, c in enumerate(crops) if c[2] == size]
            analyzer = FaceAnalyzer(AtSize(sized, size), self.faces.embedder)
            found = analyzer.analyze([images[k] for k in members], embed=False)
            settled = [_settled_in(tasks[crops[k][0]].settled, crops[k][1]) for k in members]
            found = self._embed_large([images[k] for k in members], found, policy.min_embed_face, settled)
            for k, in_crop in zip(members, found, strict=True):
                i, box, _ = crops[k]
                parts.setdefault(i, []).append(_shifted_faces(in_crop, box))
        return {i: _dedup_faces(p) for i, p in parts.items()}

    def _embed_large(self, crops: list[Image], found: list[list[Face]], min_side: float,
                     settled: list[F32 | None]) -> list[list[Face]]:
        """Embed (in one call) the faces of at least ``min_side`` pixels (shorter box side).

        A face overlapping a ``settled`` box of its crop (a decided track's, crop pixels) is not.
        """
        assert self.faces is not None
        chosen = [(k, j) for k, fs in enumerate(found) for j, f in enumerate(fs)
                  if min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= min_side]
        done = [_settled_faces(found[k], settled[k]) for k in range(len(found))]
        chosen = [(k, j) for k, j in chosen if not done[k][j]]
        if not chosen:
            return found
        aligned = np.concatenate([align_faces(crops[k], found[k][j].landmarks[None]) for k, j in chosen])
        rows = embed_crops(self.faces.embedder, aligned)
        out = [list(fs) for fs in found]
        for (k, j), row in zip(chosen, rows, strict=True):
            out[k][j] = replace(out[k][j], embedding=row)
        return out

    def _plates(self, tasks: Sequence[FrameTask], vehicles: Sequence[Detections],
                policy: RecognitionPolicy) -> list[list[PlateFinding]]:
        """Plates on each frame's vehicles (and whole images without one, if the policy says so)."""
        readings: list[list[PlateReading]] = [[] for _ in tasks]
        if self.plates is None:
            return [[] for _ in tasks]
        want = [i for i, t in enumerate(tasks) if "plates" in t.run]
        base_input = self._base("plate").params.input_size
        margin = 1 + 2 * self.plates.options.vehicle_margin
        buckets: dict[Size, dict[int, list[int]]] = {}
        for i in (i for i in want if len(vehicles[i])):
            done = settled_rows(vehicles[i].xyxy, (tasks[i].settled or Settled()).vehicles)
            for j, (x1, y1, x2, y2) in enumerate(vehicles[i].xyxy):
                if done[j]:
                    continue
                size = plate_input(max(x2 - x1, y2 - y1) * margin, base_input, policy)
                buckets.setdefault(size, {}).setdefault(i, []).append(j)
        for size, members in buckets.items():
            found = self._plate_pipeline(size).read([tasks[i].image for i in members],
                                                    [vehicles[i].xyxy[js] for i, js in members.items()])
            for i, plates in zip(members, found, strict=True):
                readings[i] += plates
        without = [i for i in want if not len(vehicles[i])] if policy.whole_image_plates else []
        if without:
            found = self._plate_pipeline(base_input).read([tasks[i].image for i in without])
            for i, plates in zip(without, found, strict=True):
                readings[i] += plates
        return [[PlateFinding(r, owning_vehicle(r.box, v.xyxy) if r.box is not None else None) for r in rs]
                for rs, v in zip(readings, vehicles, strict=True)]

    def _plate_pipeline(self, size: Size) -> PlatePipeline[AtSize]:
        assert self.plates is not None
        with self._lock:
            if size not in self._plate_pipelines:
                view = AtSize(self._sized_model("plate"), size)
                self._plate_pipelines[size] = self.plates.with_detector(view)
            return self._plate_pipelines[size]


def _frame_size(image: Image) -> Size:
    return int(image.shape[1]), int(image.shape[0])


def _heads(image: Image, objects: Detections, policy: RecognitionPolicy) -> list[Box]:
    """The head boxes of the people tall enough to search for a face (at least 8 px a side)."""
    boxes = []
    for person in objects.xyxy[objects.class_ids == PERSON]:
        if person[3] - person[1] < policy.min_person_height:
            continue
        box = head_box(person, _frame_size(image), policy.head_fraction)
        if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
            boxes.append(box)
    return boxes


def _holds_settled_face(head: Box, settled: Settled | None) -> bool:
    """Whether a head box holds the centre of a decided face (skipped on carried frames).

    On a frame whose people are carried (the detector did not run), a decided face is not
    searched again; its track is matched on the frames the detector runs on.
    """
    if settled is None or not len(settled.faces):
        return False
    cx = (settled.faces[:, 0] + settled.faces[:, 2]) / 2
    cy = (settled.faces[:, 1] + settled.faces[:, 3]) / 2
    return bool(((head[0] <= cx) & (cx <= head[2]) & (head[1] <= cy) & (cy <= head[3])).any())


def _settled_in(settled: Settled | None, box: Box) -> F32 | None:
    """The settled face boxes of a frame moved into the pixels of its crop starting at ``box``."""
    if not settled or not len(settled.faces):
        return None
    return (settled.faces - np.asarray([box[0], box[1], box[0], box[1]], np.float32)).astype(np.float32)


def _settled_faces(faces: list[Face], settled: F32 | None) -> np.ndarray:
    """``(len(faces),)`` bool: the faces of a decided track (overlapping a ``settled`` box)."""
    if settled is None or not faces:
        return np.zeros(len(faces), bool)
    return settled_rows(np.stack([f.box for f in faces]).astype(np.float32), settled)


def _shifted_faces(faces: list[Face], box: Box) -> list[Face]:
    """Faces found in a crop, moved into the pixels of the frame the crop starts at ``box``."""
    shift = np.asarray([box[0], box[1]], np.float32)
    return [replace(f, box=f.box + np.tile(shift, 2), landmarks=f.landmarks + shift) for f in faces]


def _shifted(det: Detections, dx: int, dy: int) -> Detections:
    if not len(det) or (dx == 0 and dy == 0):
        return det
    shift = np.asarray([dx, dy], np.float32)
    landmarks = None if det.landmarks is None else det.landmarks + shift
    return Detections(det.xyxy + np.tile(shift, 2), det.scores, det.class_ids, landmarks, det.data)


def _merged(parts: list[Detections], shape: tuple[int, ...]) -> Detections:
    """One frame's detections from its crops: concatenated, clipped, class-aware NMS."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Detections.empty()
    if len(parts) == 1:
        return parts[0]
    keys = [k for k in parts[0].data if all(k in p.data for p in parts)]
    det = Detections(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.scores for p in parts]),
                     np.concatenate([p.class_ids for p in parts]), None,
                     {k: np.concatenate([p.data[k] for p in parts]) for k in keys})
    det = Detections(clip_boxes(det.xyxy, int(shape[1]), int(shape[0])), det.scores, det.class_ids,
                     None, det.data)
    return det[batched_nms(det.xyxy, det.scores, det.class_ids, 0.45)]


def _dedup_faces(parts: list[list[Face]]) -> list[Face]:
    """A frame's faces from its crops; faces found twice (overlapping crops) kept once, best first.

    A frame analysed in one crop keeps its detector's result as it is.
    """
    if len(parts) == 1:
        return parts[0]
    faces = [f for part in parts for f in part]
    if len(faces) < 2:
        return sorted(faces, key=lambda f: -f.score)
    keep = nms(np.stack([f.box for f in faces]).astype(np.float32),
               np.asarray([f.score for f in faces], np.float32), 0.4)
    return [faces[int(k)] for k in keep]


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
                    "rows": p.reading.rows, "rejected": p.reading.rejected or None,
                    "colour": p.reading.colour, "score": round(p.reading.score, 4),
                    "box": None if p.reading.box is None else _round(p.reading.box),
                    "corners": None if p.reading.corners is None else _round(p.reading.corners),
                    "vehicle": p.vehicle,
                    "match": None if match_plates is None else match_plates[i]}
                   for i, p in enumerate(result.plates)],
    }
