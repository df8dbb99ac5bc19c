"""``estatewatch models quantize``: make the INT8 variants, and check them against FP32.

Making a variant (:func:`quantize_one`): the FP32 model's own ``preprocess`` turns the fixed
real calibration set of :mod:`media.calibration` into tensors, and :mod:`models.quantize`
writes ``<name>.int8.onnx`` and its sha256 record beside the FP32 file.

Checking it (:func:`check_variant`, ``--check``): both variants run through the normal vision
path (the family classes, the plate pipeline) on pictures that did not calibrate them, and the
accuracy gates of issue 14 are computed:

* detectors: recall of the INT8 detections against the FP32 ones (IoU >= 0.5, same class),
  at least 99% (within 1 point of FP32's own 100%); the plate detector against the rendered
  plates' true boxes, within 1 point of FP32's recall, and exact reads within 1 point;
* plate reader: exact reads of the plate pipeline on the rendered set within 1 point of FP32;
* face embedder: cosine to the FP32 embedding >= 0.99 for every sample face, and the same 1:N
  decisions (best identity, match or unknown at the registry's threshold) whether the gallery
  and the probes are embedded with INT8, or the probes with INT8 against an FP32 gallery (the
  templates a registry already holds).

Speed is measured by ``estatewatch bench models --variants fp32,int8`` (same run, both
variants); a variant is worth making the default only where it passes here and is >= 1.5x
faster there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import typer

from benchmarks.machine import cpu_label, machine_info, results_dir
from benchmarks.options import choice_list
from benchmarks.record import write_result
from media.calibration import (
    VTEST,
    Picture,
    calibration_pictures,
    calibration_tensors,
    face_crops,
    photo,
    video_frames,
)
from models.fetch import ModelError, require
from models.manifest import ModelSpec, Task, Variant, load_manifest, profile_models
from models.quantize import quantize_model
from models.variants import VariantRecord, check_variant, require_variant
from vision.model import AnyModel, create
from vision.session import SessionConfig
from vision.types import F32, Detections

TASK_ORDER: tuple[Task, ...] = ("vehicle_detect", "face_detect", "plate_detect", "face_embed", "plate_read")
"""Detectors first: they carry the frame load."""
RECALL_POINTS = 0.01
"""Detection recall and exact reads may drop by at most 1 point."""
MIN_COSINE = 0.99
FACE_PHOTOS = ("players.jpg", "yaoming.jpg", "astronaut.png")
"""Faces of the checks (none of them calibrates a model)."""
GALLERY_PHOTO = "players.jpg"
"""The 1:N gallery: its 22 faces (Yao Ming among them); the other photos' faces are the probes."""
Progress = Callable[[str], None]


def quantisable(names: Sequence[str] | None = None) -> list[ModelSpec]:
    """Models with an INT8 recipe (all, or ``names``), detectors first."""
    manifest = load_manifest()
    specs = [manifest[n] for n in names] if names else [s for s in manifest.values() if s.int8]
    return sorted(specs, key=lambda s: (TASK_ORDER.index(s.task), s.name))


def make_default_variants(progress: Progress, names: Sequence[str] | None = None) -> list[ModelSpec]:
    """Make the variants the pack runs by default (manifest ``default_variant``) not made yet.

    Variants present and verified are skipped; ``names``: only of these models (default: all).
    Returns the models it quantised (``models fetch`` calls this for the models it fetched).
    """
    made = []
    for spec in quantisable():
        if names is not None and spec.name not in names:
            continue
        if spec.default_variant != "int8":
            continue
        try:
            record = check_variant(spec, "int8")
            progress(f"ok      {spec.name + '.int8':<20} default variant, verified "
                     f"(sha256 {record.sha256[:16]}…)")
            continue
        except ModelError as exc:
            progress(f"{spec.name}: making its default int8 variant ({exc})")
        quantize_one(spec, progress)
        made.append(spec)
    return made


def load(spec: ModelSpec, variant: Variant, config: SessionConfig | None = None) -> AnyModel:
    """A verified, loaded variant of a model, by its manifest family."""
    model = create(spec.family, require_variant(spec, variant), config, name=spec.name)
    model.load()
    return model


def face_detector_spec() -> ModelSpec:
    """The default profile's face detector (finds the faces the embedder is calibrated on)."""
    return profile_models("default")["face_detect"]


def quantize_one(spec: ModelSpec, progress: Progress) -> VariantRecord:
    """Calibrate ``spec`` on its real calibration set and write its INT8 variant."""
    if spec.int8 is None:
        raise ModelError(f"model {spec.name} has no int8 recipe in the manifest")
    started = time.perf_counter()
    model = load(spec, "fp32")
    finder = load(face_detector_spec(), "fp32") if spec.task == "face_embed" else None
    pictures = calibration_pictures(spec.task, spec.int8.calibration, finder)
    tensors = calibration_tensors(model, pictures)
    progress(f"{spec.name}: calibrating on {len(tensors)} real inputs "
             f"({', '.join(sorted({p.source.split(':')[0].split('#')[0] for p in pictures}))})")
    step = max(1, len(tensors) // 4)

    def calibrated(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            progress(f"{spec.name}:   {done}/{total} calibration inputs")

    record = quantize_model(spec, tensors, progress=calibrated,
                            source_note="; ".join(p.source for p in pictures))
    progress(f"{spec.name}: wrote int8 variant ({record.size / 1e6:.1f} MB, sha256 {record.sha256[:16]}…) "
             f"in {time.perf_counter() - started:.0f} s")
    return record


# -- accuracy ------------------------------------------------------------------------------------
def iou_matrix(a: F32, b: F32) -> F32:
    """IoU of every box of ``a (N, 4)`` with every box of ``b (M, 4)`` (xyxy)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9), np.float32)


def matched(reference: Detections, found: Detections, iou: float = 0.5) -> tuple[int, int, list[int]]:
    """(reference boxes found, unmatched extra boxes, indices of the reference boxes not found).

    Greedy one-to-one in descending reference score, same class, IoU >= ``iou``.
    """
    overlaps = iou_matrix(reference.xyxy, found.xyxy)
    if overlaps.size and reference.class_ids is not None and found.class_ids is not None:
        overlaps[reference.class_ids[:, None] != found.class_ids[None, :]] = 0.0
    hits, used, lost = 0, set(), []
    for i in np.argsort(-reference.scores, kind="stable"):
        order = [j for j in np.argsort(-overlaps[i], kind="stable") if j not in used] if overlaps.size else []
        if order and overlaps[i, order[0]] >= iou:
            used.add(int(order[0]))
            hits += 1
        else:
            lost.append(int(i))
    return hits, len(found) - len(used), lost


def detector_pictures(task: Task, plates: int) -> list[Picture]:
    """The pictures a detector is checked on (none of them calibrated it)."""
    from media.plates import generate

    if task == "face_detect":
        return [p for name in FACE_PHOTOS if (p := photo(name))]
    if task == "vehicle_detect":
        photos = [p for name in ("licenseplate_motion.jpg", "players.jpg") if (p := photo(name))]
        return video_frames(VTEST, range(25, 700, 50)) \
            + photos + [Picture(f"plate:{p.text}", p.image) for p in generate(min(plates, 12), 0)]
    return [Picture(f"plate:{p.text}", p.image) for p in generate(plates, 0)]


def check_detector(spec: ModelSpec, pictures: Sequence[Picture], config: SessionConfig) -> dict[str, Any]:
    """Recall of the INT8 detections against the FP32 ones on ``pictures``."""
    reference = load(spec, "fp32", config).infer([p.image for p in pictures])
    found = load(spec, "int8", config).infer([p.image for p in pictures])
    pairs = [matched(r, f) for r, f in zip(reference, found, strict=True)]
    total = sum(len(r) for r in reference)
    hits = sum(h for h, _, _ in pairs)
    recall = hits / total if total else 1.0
    lost = [{"picture": p.source, "fp32_score": round(float(r.scores[i]), 3)}
            for p, r, (_, _, missing) in zip(pictures, reference, pairs, strict=True) for i in missing]
    return {"pictures": len(pictures), "fp32_boxes": total, "int8_boxes": sum(len(f) for f in found),
            "recall_vs_fp32": round(recall, 4), "extra_vs_fp32": sum(e for _, e, _ in pairs),
            "lost": lost, "passed": recall >= 1.0 - RECALL_POINTS}


def plate_scores(det: Variant, rec: Variant, count: int, config: SessionConfig) -> dict[str, Any]:
    """Exact reads and detection recall (true boxes) of the plate pipeline with these variants."""
    from benchmarks.plates import score
    from media.plates import generate
    from vision.plate.pipeline import PlatePipeline

    plates = generate(count, 0)
    pipeline = PlatePipeline.from_store("default", config, variants={"plate_detect": det, "plate_read": rec})
    readings = []
    for i in range(0, len(plates), 4):
        readings += pipeline.read([p.image for p in plates[i:i + 4]])
    result = score(plates, readings)
    return {"exact": round(result["exact"], 4), "detection_recall": round(result["detection_recall"], 4),
            "false_plates": len(result["false_plates"])}


def check_plates(spec: ModelSpec, count: int, config: SessionConfig,
                 fp32: dict[str, Any]) -> dict[str, Any]:
    """Plate pipeline with this model's INT8 variant against the all-FP32 pipeline."""
    variants: dict[str, Variant] = {"plate_detect": "fp32", "plate_read": "fp32", spec.task: "int8"}
    int8 = plate_scores(variants["plate_detect"], variants["plate_read"], count, config)
    passed = int8["exact"] >= fp32["exact"] - RECALL_POINTS
    if spec.task == "plate_detect":
        passed &= int8["detection_recall"] >= fp32["detection_recall"] - RECALL_POINTS
    return {"plates": count, "fp32": fp32, "int8": int8, "passed": bool(passed)}


def check_embedder(spec: ModelSpec, config: SessionConfig, threshold: float) -> dict[str, Any]:
    """Cosine to FP32 on the sample faces, and the 1:N decisions with INT8 embeddings."""
    finder = load(face_detector_spec(), "fp32", config)
    gallery_crops = face_crops(finder, [p for n in (GALLERY_PHOTO,) if (p := photo(n))])
    probe_crops = face_crops(finder, [p for n in FACE_PHOTOS if n != GALLERY_PHOTO if (p := photo(n))])
    fp32, int8 = load(spec, "fp32", config), load(spec, "int8", config)

    def embed(model: AnyModel, crops: Sequence[Picture]) -> F32:
        return np.stack(model.infer([c.image for c in crops])).astype(np.float32)

    g32, g8 = embed(fp32, gallery_crops), embed(int8, gallery_crops)
    p32, p8 = embed(fp32, probe_crops), embed(int8, probe_crops)
    cosines = np.concatenate([(g32 * g8).sum(axis=1), (p32 * p8).sum(axis=1)])
    # Probes: the other photos' faces, and the gallery's own faces from a half-size copy of it.
    small = face_crops(finder, [Picture(f"{GALLERY_PHOTO}@0.5", _half(GALLERY_PHOTO))])
    q32, q8 = np.concatenate([p32, embed(fp32, small)]), np.concatenate([p8, embed(int8, small)])

    def decisions(gallery: F32, probes: F32) -> list[int]:
        sims = probes @ gallery.T
        best = sims.argmax(axis=1)
        return [int(b) if sims[i, b] >= threshold else -1 for i, b in enumerate(best)]

    reference = decisions(g32, q32)
    same_int8 = decisions(g8, q8) == reference
    same_mixed = decisions(g32, q8) == reference
    return {"faces": len(cosines), "cosine_min": round(float(cosines.min()), 4),
            "cosine_mean": round(float(cosines.mean()), 4), "probes": len(q32),
            "matches_fp32": int(sum(d >= 0 for d in reference)), "threshold": threshold,
            "same_decisions_int8_gallery": same_int8, "same_decisions_fp32_gallery": same_mixed,
            "passed": bool(cosines.min() >= MIN_COSINE and same_int8 and same_mixed)}


def _half(name: str) -> Any:
    import cv2

    picture = photo(name)
    if picture is None:
        raise ModelError(f"sample photo {name} unavailable")
    return np.asarray(cv2.resize(picture.image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), np.uint8)


def check_variants(specs: Sequence[ModelSpec], plates: int, progress: Progress) -> dict[str, Any]:
    """The accuracy gates of every model in ``specs`` (each must have its INT8 variant made)."""
    from registry.config import RegistrySettings

    config = SessionConfig(intra_op_threads=0)
    out: dict[str, Any] = {}
    plate_fp32: dict[str, Any] | None = None
    for spec in specs:
        check_variant(spec, "int8")
        progress(f"{spec.name}: checking int8 against fp32")
        if spec.task in ("plate_detect", "plate_read"):
            if plate_fp32 is None:
                plate_fp32 = plate_scores("fp32", "fp32", plates, config)
            result = check_plates(spec, plates, config, plate_fp32)
            if spec.task == "plate_detect":
                result["boxes"] = check_detector(spec, detector_pictures("plate_detect", 12), config)
        elif spec.task == "face_embed":
            result = check_embedder(spec, config, RegistrySettings.model_fields["match_threshold"].default)
        else:
            result = check_detector(spec, detector_pictures(spec.task, plates), config)
        out[spec.name] = {"task": spec.task, **result}
        progress(f"{spec.name}: {'PASS' if result['passed'] else 'FAIL'} {_summary(result)}")
    return out


def _summary(result: dict[str, Any]) -> str:
    keys = ("fp32_boxes", "recall_vs_fp32", "extra_vs_fp32", "lost", "cosine_min",
            "same_decisions_int8_gallery", "same_decisions_fp32_gallery")
    parts = [f"{k}={result[k]}" for k in keys if k in result]
    if "int8" in result:
        parts.append(f"exact fp32 {result['fp32']['exact']:.3f} -> int8 {result['int8']['exact']:.3f}, "
                     f"recall fp32 {result['fp32']['detection_recall']:.3f} -> "
                     f"int8 {result['int8']['detection_recall']:.3f}")
    return ", ".join(parts)


def markdown(result: dict[str, Any]) -> str:
    """The accuracy gates as a Markdown table."""
    m = result["machine"]
    lines = [f"# INT8 accuracy against FP32 ({cpu_label(m)}, onnxruntime {m.get('onnxruntime')}, "
             f"{m['date']})", "",
             "| model | task | gate | result |", "|---|---|---|---|"]
    for name, r in result["models"].items():
        lines.append(f"| {name} | {r['task']} | {'pass' if r['passed'] else 'FAIL'} | {_summary(r)} |")
    return "\n".join(lines) + "\n"


def quantize_command(
    models: str = typer.Option("", "--models",
                               help="Comma-separated model names (default: every model with an int8 "
                               "recipe in the manifest, detectors first)."),
    force: bool = typer.Option(False, "--force", help="Remake variants that exist and verify."),
    check: bool = typer.Option(False, "--check", help="Afterwards, compute the accuracy gates against "
                               "FP32 and write benchmarks/results/int8-accuracy.{json,md}."),
    plates: int = typer.Option(60, "--plates", min=3, help="Rendered plates in the plate checks."),
    out: Path = typer.Option(None, help="Output stem of --check (default benchmarks/results/int8-accuracy)."),
) -> None:
    """Make INT8 (QDQ, static, per-channel) variants calibrated on real inputs; --check their accuracy.

    Each variant is written beside its FP32 model as <name>.int8.onnx with a record of its sha256
    (<name>.int8.json), verified whenever it is loaded. Select one per role in the config:
    vision.models.<task>.variant: int8.
    """
    names = choice_list(models, "--models", list(load_manifest())) if models.strip() else None
    try:
        specs = quantisable(names)
        for spec in specs:
            require(spec)
            if not force:
                try:
                    record = check_variant(spec, "int8")
                    typer.echo(f"{spec.name}: int8 variant present and verified "
                               f"(sha256 {record.sha256[:16]}…)")
                    continue
                except ModelError:
                    pass
            quantize_one(spec, typer.echo)
        if check:
            result: dict[str, Any] = {"benchmark": "int8-accuracy",
                                      "machine": machine_info("CPUExecutionProvider"),
                                      "models": check_variants(specs, plates, typer.echo)}
            write_result(result, out or results_dir() / "int8-accuracy", markdown(result))
            if not all(r["passed"] for r in result["models"].values()):
                typer.echo("note: some variants miss their accuracy gate (see above); keep them fp32")
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
