"""The still-image cascade: faces (detect, align, embed), vehicles, and plates on vehicles.

Given a batch of images, every stage runs as one batch across all of them:

1. faces: one detector batch, one embedder batch over all faces of all images;
2. vehicles: one YOLO batch (people are kept by the detector for later rules, not reported
   as vehicles);
3. plates: searched inside the vehicles found (with a margin), or in the whole image when
   no vehicle was found, then read in one batch; each plate names the vehicle it lies in.

Live frames take a cheaper path, :meth:`Cascade.analyse` (see :class:`FrameTask`): detectors run
at the scale the full frame would get but on motion-region crops (input size following the
crop), faces are searched on the heads of the people YOLO found when YOLO ran anyway, and plates
only on vehicle crops, at a detector input no larger than the crop.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from models.manifest import Task
from streams.config import ALL_ANALYSES, Analysis
from vision.batcher import DynamicBatcher
from vision.config import VisionSettings
from vision.engine import BatchedModel, VisionEngine
from vision.face.align import align_faces
from vision.face.arcface import ArcFaceEmbedder
from vision.face.pipeline import FaceAnalyzer, FaceDetector
from vision.ops import batched_nms, clip_boxes, nms
from vision.plate.detector import PlateDetector
from vision.plate.pipeline import PlatePipeline
from vision.plate.reader import PlateReader
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
    """

    image: Image
    run: Collection[Analysis] = ALL_ANALYSES
    regions: F32 | None = None


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How :meth:`Cascade.analyse` cuts work on live frames.

    Attributes:
        crop_max_fraction: motion crops whose total area exceeds this share of the frame give
            way to one whole-frame run (one big input beats many overlapping ones).
        max_crops: more motion regions than this also give one whole-frame run.
        align: detector inputs are rounded up to multiples of this (pixels); fewer distinct
            input sizes means more requests share a batch.
        min_input: the smallest detector input side (pixels).
        head_fraction: the upper share of a person box searched for a face.
        min_person_height: people shorter than this (frame pixels) are not searched for faces.
        face_input: the face detector's square input (pixels) on head crops.
        min_embed_face: faces smaller than this (shorter box side, pixels) are reported without
            an embedding: ArcFace on them is unreliable (a match would be noise) and embedding
            costs more than detecting.
        plate_inputs: square plate-detector inputs for vehicle crops: the smallest one not below
            the crop's longer side is used, the detector's own size when none is.
    """

    crop_max_fraction: float = 0.5
    max_crops: int = 4
    align: int = 64
    min_input: int = 64
    head_fraction: float = 0.45
    min_person_height: float = 48.0
    face_input: int = 160
    min_embed_face: float = 24.0
    plate_inputs: tuple[int, ...] = (320, 480, 640)


Box = tuple[int, int, int, int]


def crop_plan(frame_size: tuple[int, int], regions: F32 | None, base_input: tuple[int, int],
              options: LiveOptions) -> list[tuple[Box, tuple[int, int]]]:
    """Crops (xyxy ints) of a frame and the detector input (width, height) for each.

    Every crop is fitted at (at least) the scale the whole frame gets in ``base_input``, so a
    detector sees objects at the size it would on the whole frame while its input, and its
    cost, follow the crop's area. A whole frame of 1280x720 into a 640x640 model thus runs at
    640x384 instead of 640x640 (no letterbox band).

    Args:
        frame_size: (width, height) of the frame.
        regions: ``(N, 4)`` float32 motion regions, or ``None`` for the whole frame.
        base_input: the detector's own (width, height).
        options: limits (see :class:`LiveOptions`).
    """
    width, height = frame_size
    scale = min(base_input[0] / width, base_input[1] / height)
    boxes: list[Box] = []
    if regions is not None and 0 < len(regions) <= options.max_crops:
        for x1, y1, x2, y2 in np.asarray(regions, np.float32).reshape(-1, 4):
            box = (max(0, math.floor(x1)), max(0, math.floor(y1)),
                   min(width, math.ceil(x2)), min(height, math.ceil(y2)))
            if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
                boxes.append(box)
        area = sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes)
        if area > options.crop_max_fraction * width * height:
            boxes = []
    if not boxes:
        boxes = [(0, 0, width, height)]

    def side(pixels: int, limit: int) -> int:
        need = math.ceil(pixels * scale / options.align) * options.align
        return int(min(max(need, options.min_input), math.ceil(limit / 32) * 32))

    return [(b, (side(b[2] - b[0], base_input[0]), side(b[3] - b[1], base_input[1]))) for b in boxes]


def head_box(person: F32, frame_size: tuple[int, int], head_fraction: float) -> Box:
    """The upper part of a person box, widened a little, clipped to the frame (xyxy ints)."""
    x1, y1, x2, y2 = (float(v) for v in person)
    w, h = x2 - x1, y2 - y1
    return (max(0, math.floor(x1 - 0.15 * w)), max(0, math.floor(y1 - 0.05 * h)),
            min(frame_size[0], math.ceil(x2 + 0.15 * w)),
            min(frame_size[1], math.ceil(y1 + head_fraction * h)))


def _unwrap(model: Any) -> Any:
    return model.model if isinstance(model, BatchedModel) else model


def _yolo_at(base: YoloDetector, size: tuple[int, int]) -> YoloDetector:
    variant = YoloDetector(base.path, base.config, name=base.name, input_size=size,
                           score_threshold=base.score_threshold, nms_threshold=base.nms_threshold,
                           keep_classes=None if base.keep_classes is None else base.keep_classes.tolist(),
                           max_detections=base.max_detections)
    variant.session, variant.names = base.session, base.names
    return variant


def _plate_at(base: PlateDetector, size: tuple[int, int]) -> PlateDetector:
    variant = PlateDetector(base.path, base.config, name=base.name, input_size=size,
                            score_threshold=base.score_threshold, nms_threshold=base.nms_threshold,
                            top_k=base.top_k, max_detections=base.max_detections)
    variant.session = base.session
    return variant


def _face_at(base: Any, size: tuple[int, int]) -> Any:
    variant = type(base)(base.path, base.config, name=base.name, input_size=size,
                         score_threshold=base.score_threshold, nms_threshold=base.nms_threshold,
                         max_batch=base.max_batch)
    variant._session = base.session  # one ONNX session (one thread pool) for every input size
    return variant


class SizedDetector:
    """One loaded detector run at many input sizes, all on its one ONNX session.

    ``infer([(size, image), ...], **options)`` groups the requests by input size (width,
    height) and runs one model call per size; variants are created on first use.
    """

    def __init__(self, base: Any, make: Callable[[Any, tuple[int, int]], Any]) -> None:
        self.base = base
        self._make = make
        self._variants: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def at(self, size: tuple[int, int]) -> Any:
        """The detector with input ``size`` (the base itself at its own size)."""
        if tuple(self.base.input_size) == size:
            return self.base
        with self._lock:
            if size not in self._variants:
                self._variants[size] = self._make(self.base, size)
            return self._variants[size]

    def infer(self, items: Sequence[tuple[tuple[int, int], Image]], **options: Any) -> list[Detections]:
        out: list[Detections | None] = [None] * len(items)
        groups: dict[tuple[int, int], list[int]] = {}
        for k, (size, _) in enumerate(items):
            groups.setdefault(size, []).append(k)
        for size, members in groups.items():
            found = self.at(size).infer([items[k][1] for k in members], **options)
            for k, det in zip(members, found, strict=True):
                out[k] = det
        return cast(list[Detections], out)


class AtSize:
    """A fixed-size view of a (batched) :class:`SizedDetector`: ``infer(images, **options)``."""

    def __init__(self, sized: Any, size: tuple[int, int], score_threshold: float) -> None:
        self.sized = sized
        self.size = size
        self.score_threshold = score_threshold

    def infer(self, images: Sequence[Image], **options: Any) -> list[Detections]:
        return cast(list[Detections], self.sized.infer([(self.size, im) for im in images], **options))


class Cascade:
    """Faces, vehicles and plates of still images (or sampled frames)."""

    def __init__(self, faces: FaceAnalyzer | None, vehicles: YoloDetector | None,
                 plates: PlatePipeline | None) -> None:
        self.faces = faces
        self.vehicles = vehicles
        self.plates = plates
        self.live = LiveOptions()
        self._sized: dict[str, Any] = {}
        self._sized_batchers: dict[str, DynamicBatcher[Any, Any]] = {}
        self._plate_pipelines: dict[int, PlatePipeline] = {}
        self._lock = threading.RLock()

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

    # -- live frames -------------------------------------------------------------------------
    def analyse(self, tasks: Sequence[FrameTask]) -> list[ImageRecognition]:
        """Recognition of live frames, cheaper than :meth:`recognize` (see :class:`LiveOptions`).

        Per frame: YOLO on the motion crops (or the whole frame) whenever vehicles or plates are
        run; faces on the heads of the people YOLO found when it ran, else the face detector on
        the crops; plates only on vehicle crops (no whole-frame plate search). All frames'
        requests of one stage go out together, so they share batches.
        """
        objects = [Detections.empty() for _ in tasks]
        ran_yolo = [self.vehicles is not None and bool({"vehicles", "plates"} & set(t.run)) for t in tasks]
        if any(ran_yolo):
            found = self._live_objects([t for t, ran in zip(tasks, ran_yolo, strict=True) if ran])
            for i, det in zip([i for i, ran in enumerate(ran_yolo) if ran], found, strict=True):
                objects[i] = det
        vehicles = [d[np.isin(d.class_ids, VEHICLE_CLASSES)] for d in objects]
        faces: list[list[Face]] = [[] for _ in tasks]
        if self.faces is not None:
            on_heads = [i for i, t in enumerate(tasks) if "faces" in t.run and ran_yolo[i]]
            on_crops = [i for i, t in enumerate(tasks) if "faces" in t.run and not ran_yolo[i]]
            for i, f in zip(on_heads, self._faces_on_people([tasks[i].image for i in on_heads],
                                                            [objects[i] for i in on_heads]), strict=True):
                faces[i] = f
            for i, f in zip(on_crops, self._faces_on_crops([tasks[i] for i in on_crops]), strict=True):
                faces[i] = f
        plates: list[list[PlateFinding]] = [[] for _ in tasks]
        if self.plates is not None:
            want = [i for i, t in enumerate(tasks) if "plates" in t.run and len(vehicles[i])]
            for i, p in zip(want, self._plates_on_vehicles([tasks[i].image for i in want],
                                                           [vehicles[i] for i in want]), strict=True):
                plates[i] = p
        out = []
        for task, f, v, p in zip(tasks, faces, vehicles, plates, strict=True):
            out.append(ImageRecognition(f, v if "vehicles" in task.run else Detections.empty(), p))
        return out

    def batchers(self) -> dict[str, DynamicBatcher[Any, Any]]:
        """The batchers of the live path's multi-size detectors, by name (for their stats)."""
        with self._lock:
            out = dict(self._sized_batchers)
            for kind, model in self._sized.items():
                if isinstance(model, BatchedModel):
                    out.update({f"{kind} {dict(key)}": b for key, b in model._variants.items()})
            return out

    def close(self) -> None:
        """Stop the live path's own batchers (the engine's belong to the engine)."""
        with self._lock:
            for model in self._sized.values():
                if isinstance(model, BatchedModel):
                    model.stop()
            for batcher in self._sized_batchers.values():
                batcher.stop()
            self._sized.clear()
            self._sized_batchers.clear()

    def _sized_model(self, kind: Literal["yolo", "face", "plate"]) -> Any:
        """The multi-size detector of ``kind``, batched like the original when that is batched."""
        with self._lock:
            if kind in self._sized:
                return self._sized[kind]
            original: Any = {"yolo": self.vehicles, "face": self.faces.detector if self.faces else None,
                             "plate": self.plates.detector if self.plates else None}[kind]
            make = {"yolo": _yolo_at, "face": _face_at, "plate": _plate_at}[kind]
            model: Any = SizedDetector(_unwrap(original), make)
            if isinstance(original, BatchedModel):
                batcher: DynamicBatcher[Any, Any] = DynamicBatcher(
                    model.infer, max_batch=original.batcher.max_batch,
                    max_wait_ms=original.batcher.max_wait * 1000, name=f"{original.batcher.name}-sized",
                ).start()
                self._sized_batchers[kind] = batcher
                model = BatchedModel(model, batcher)
            self._sized[kind] = model
            return model

    def _live_objects(self, tasks: Sequence[FrameTask]) -> list[Detections]:
        """YOLO people and vehicles of each frame, from its crops, in frame pixels."""
        yolo = self._sized_model("yolo")
        base_input = tuple(_unwrap(self.vehicles).input_size)
        items: list[tuple[tuple[int, int], Image]] = []
        owners: list[tuple[int, Box]] = []
        for i, task in enumerate(tasks):
            h, w = task.image.shape[:2]
            for box, size in crop_plan((w, h), task.regions, base_input, self.live):
                items.append((size, task.image[box[1]:box[3], box[0]:box[2]]))
                owners.append((i, box))
        found = yolo.infer(items)
        parts: list[list[Detections]] = [[] for _ in tasks]
        for (i, box), det in zip(owners, found, strict=True):
            parts[i].append(_shifted(det, box[0], box[1]))
        return [_merged(p, t.image.shape) for p, t in zip(parts, tasks, strict=True)]

    def _faces_on_people(self, images: Sequence[Image], objects: Sequence[Detections]) -> list[list[Face]]:
        """Faces searched on the heads of YOLO's people (one small detector input per head)."""
        assert self.faces is not None
        size = (self.live.face_input, self.live.face_input)
        crops: list[Image] = []
        owners: list[tuple[int, Box]] = []
        for i, (image, det) in enumerate(zip(images, objects, strict=True)):
            frame = (int(image.shape[1]), int(image.shape[0]))
            for person in det.xyxy[det.class_ids == PERSON]:
                if person[3] - person[1] < self.live.min_person_height:
                    continue
                box = head_box(person, frame, self.live.head_fraction)
                if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
                    crops.append(image[box[1]:box[3], box[0]:box[2]])
                    owners.append((i, box))
        return self._faces_in(crops, [size] * len(crops), owners, len(images))

    def _faces_on_crops(self, tasks: Sequence[FrameTask]) -> list[list[Face]]:
        """Faces on the motion crops (or whole frames) of cameras that run no YOLO."""
        assert self.faces is not None
        base_input = tuple(_unwrap(self.faces.detector).input_size)
        crops: list[Image] = []
        sizes: list[tuple[int, int]] = []
        owners: list[tuple[int, Box]] = []
        for i, task in enumerate(tasks):
            h, w = task.image.shape[:2]
            for box, size in crop_plan((w, h), task.regions, base_input, self.live):
                crops.append(task.image[box[1]:box[3], box[0]:box[2]])
                sizes.append(size)
                owners.append((i, box))
        return self._faces_in(crops, sizes, owners, len(tasks))

    def _faces_in(self, crops: list[Image], sizes: list[tuple[int, int]], owners: list[tuple[int, Box]],
                  count: int) -> list[list[Face]]:
        assert self.faces is not None
        faces: list[list[Face]] = [[] for _ in range(count)]
        sized = self._sized_model("face")
        threshold = float(_unwrap(self.faces.detector).score_threshold)
        for size in dict.fromkeys(sizes):
            members = [k for k, s in enumerate(sizes) if s == size]
            analyzer = FaceAnalyzer(cast(FaceDetector, AtSize(sized, size, threshold)), self.faces.embedder)
            found = analyzer.analyze([crops[k] for k in members], embed=False)
            found = self._embed_large([crops[k] for k in members], found)
            for k, in_crop in zip(members, found, strict=True):
                i, box = owners[k]
                shift = np.asarray([box[0], box[1]], np.float32)
                faces[i] += [replace(f, box=f.box + np.tile(shift, 2), landmarks=f.landmarks + shift)
                             for f in in_crop]
        return [_dedup_faces(f) for f in faces]

    def _embed_large(self, crops: list[Image], found: list[list[Face]]) -> list[list[Face]]:
        """Embed (in one call) the faces of at least ``min_embed_face`` pixels."""
        assert self.faces is not None
        chosen = [(k, j) for k, fs in enumerate(found) for j, f in enumerate(fs)
                  if min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= self.live.min_embed_face]
        if not chosen:
            return found
        aligned = np.concatenate([align_faces(crops[k], found[k][j].landmarks[None]) for k, j in chosen])
        rows = self.faces.embedder.embed(aligned)
        out = [list(fs) for fs in found]
        for (k, j), row in zip(chosen, rows, strict=True):
            out[k][j] = replace(out[k][j], embedding=row)
        return out

    def _plate_pipeline(self, side: int) -> PlatePipeline:
        assert self.plates is not None
        with self._lock:
            if side not in self._plate_pipelines:
                p = self.plates
                self._plate_pipelines[side] = PlatePipeline(
                    cast(PlateDetector, AtSize(self._sized_model("plate"), (side, side),
                                               float(_unwrap(p.detector).score_threshold))),
                    p.reader, rectify_options=p.rectify_options, vehicle_margin=p.vehicle_margin,
                    dedup_iou=p.dedup_iou, candidate_score=p.candidate_score,
                    province_recheck=p.province_recheck)
            return self._plate_pipelines[side]

    def _plates_on_vehicles(self, images: Sequence[Image], vehicles: Sequence[Detections]
                            ) -> list[list[PlateFinding]]:
        """Plates on vehicle crops, each at the smallest detector input that holds the crop."""
        assert self.plates is not None
        base_side = int(max(_unwrap(self.plates.detector).input_size))
        margin = 1 + 2 * self.plates.vehicle_margin
        buckets: dict[int, list[list[int]]] = {}
        for i, det in enumerate(vehicles):
            for j, (x1, y1, x2, y2) in enumerate(det.xyxy):
                longest = max(x2 - x1, y2 - y1) * margin
                side = next((s for s in sorted(self.live.plate_inputs) if s >= longest), base_side)
                buckets.setdefault(side, [[] for _ in vehicles])[i].append(j)
        readings: list[list[PlateReading]] = [[] for _ in images]
        for side, members in buckets.items():
            frames = [i for i, js in enumerate(members) if js]
            found = self._plate_pipeline(side).read([images[i] for i in frames],
                                                    [vehicles[i].xyxy[members[i]] for i in frames])
            for i, plates in zip(frames, found, strict=True):
                readings[i] += plates
        return [[PlateFinding(r, owning_vehicle(r.box, v.xyxy) if r.box is not None else None)
                 for r in rs] for rs, v in zip(readings, vehicles, strict=True)]


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


def _dedup_faces(faces: list[Face]) -> list[Face]:
    """Faces found twice (overlapping head crops of neighbours) kept once, best score first."""
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
                    "colour": p.reading.colour, "score": round(p.reading.score, 4),
                    "box": None if p.reading.box is None else _round(p.reading.box),
                    "corners": None if p.reading.corners is None else _round(p.reading.corners),
                    "vehicle": p.vehicle,
                    "match": None if match_plates is None else match_plates[i]}
                   for i, p in enumerate(result.plates)],
    }
