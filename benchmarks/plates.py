"""``estatewatch bench plates``: exact-read accuracy of the plate cascade on the rendered set.

Runs detect -> rectify -> read (:class:`vision.plate.pipeline.PlatePipeline`) on
:func:`media.plates.generate` photos and reports, per plate colour, the share of
plates read exactly (the valid reading equal to the ground truth), detection recall (a plate
detected whose box overlaps the true one by IoU >= 0.5), false plates (valid readings whose
box overlaps no true plate: each photo holds exactly one, so anything else the grammar accepts
is a false alarm) and throughput (images per second, batches of ``--batch`` images). Results
go to ``benchmarks/results/plates.{json,md}``.

The **passes** set (:mod:`benchmarks.plate_passes`, ``--passes``) scores the plate decided per
car passing the camera, through the live path, on a tuning seed and a held-back seed.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from benchmarks.machine import machine_info, results_dir
from benchmarks.options import choice_list, int_list
from benchmarks.record import write_result
from media.plates import COLOURS, RenderedPlate, generate
from models.manifest import VARIANTS, Variant
from vision.plate.rectify import plate_size
from vision.types import F32, PlateReading

if TYPE_CHECKING:
    from vision.config import VisionSettings
    from vision.plate.detector import PlateDetector
    from vision.plate.pipeline import PlatePipeline

logger = logging.getLogger(__name__)


def _iou(a: F32, b: F32) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, float(x2 - x1)) * max(0.0, float(y2 - y1))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


SETS = ("rendered", "closeup", "two_row", "negative")
"""The sets ``bench plates --sets`` can run (each on ``--seed`` and ``--held-back-seed``)."""

HEIGHT_BANDS: tuple[tuple[float, float], ...] = ((0, 30), (30, 35), (35, 40), (40, 50), (50, math.inf))
"""Plate height bands (pixels, true corners) that accuracy is reported for: how large a plate
must be in the frame for a given accuracy is what sizes a camera's placement and resolution."""

BAND_LABELS = tuple(f">={low:g} px" if high == math.inf else f"{low:g}-{high:g} px"
                    for low, high in HEIGHT_BANDS)


def _band(height: float) -> str:
    """The label of the band ``height`` (pixels, non-negative) falls in."""
    return next(label for (low, high), label in zip(HEIGHT_BANDS, BAND_LABELS, strict=True)
                if low <= height < high)


def score(plates: list[RenderedPlate], readings: list[list[PlateReading]]) -> dict[str, Any]:
    """Exact-read accuracy and detection recall, overall, per colour and per plate height, plus misreads."""
    total: Counter[str] = Counter()
    exact: Counter[str] = Counter()
    band_total: Counter[str] = Counter()
    band_exact: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    false_plates = []
    errors = []
    for plate, found in zip(plates, readings, strict=True):
        total[plate.colour] += 1
        height = plate_size(plate.corners)[1]
        band = _band(height)
        band_total[band] += 1
        truth = np.concatenate([plate.corners.min(axis=0), plate.corners.max(axis=0)]).astype(np.float32)
        hits = [r for r in found if r.box is not None and _iou(r.box, truth) >= 0.5]
        detected[plate.colour] += bool(hits)
        false_plates += [{"truth": plate.text, "background": plate.background, "read": r.text}
                         for r in found if r.valid and not any(r is h for h in hits)]
        if any(r.valid and r.text == plate.text for r in hits):
            exact[plate.colour] += 1
            band_exact[band] += 1
        else:
            errors.append({"truth": plate.text, "colour": plate.colour, "background": plate.background,
                           "height_px": round(height, 1),
                           "read": [r.text for r in hits], "raw": [r.raw for r in hits]})
    n = sum(total.values())
    per_colour = {
        c: {"plates": total[c], "exact": exact[c] / total[c] if total[c] else None,
            "detection_recall": detected[c] / total[c] if total[c] else None}
        for c in COLOURS
    }
    return {"plates": n, "exact": sum(exact.values()) / n if n else 0.0,
            "detection_recall": sum(detected.values()) / n if n else 0.0,
            "per_colour": per_colour,
            "per_height": {band: {"plates": band_total[band],
                                  "exact": band_exact[band] / band_total[band] if band_total[band] else None}
                           for band in BAND_LABELS},
            "false_plates": false_plates, "errors": errors}


def configured_reader_variant() -> Variant:
    """The plate reader's variant in the pack's configured settings (what ``--variants`` defaults to)."""
    from vision.config import VisionSettings

    return VisionSettings().variant("plate_read")


def reader_settings(threads: int, variant: Variant) -> VisionSettings:
    """The configured vision settings with the plate reader's variant set to ``variant``."""
    from vision.config import ModelChoice, VisionSettings

    base = VisionSettings()
    return base.model_copy(update={"intra_op_threads": threads,
                                   "models": {**base.models, "plate_read": ModelChoice(variant=variant)}})


def build_pipeline(threads: int, colour: bool = True, variant: Variant | None = None
                   ) -> PlatePipeline[PlateDetector]:
    """The plate pipeline of the default profile, loaded (``colour``: the colour constrains reads).

    ``variant``: the plate reader's precision variant (default: the configured one); the
    detector runs its configured variant.
    """
    from models.manifest import profile_models
    from vision.model import create_as
    from vision.plate.detector import PlateDetector
    from vision.plate.pipeline import PlateOptions, PlatePipeline
    from vision.plate.reader import PlateReader
    from vision.session import SessionConfig

    settings = reader_settings(threads, variant or configured_reader_variant())
    config = SessionConfig(intra_op_threads=threads)
    specs = profile_models("default")
    det, rec = specs["plate_detect"], specs["plate_read"]
    detector = create_as(PlateDetector, det.family, settings.model_path(det), config, name=det.name)
    reader = create_as(PlateReader, rec.family, settings.model_path(rec), config, name=rec.name)
    reader.use_colour = colour
    pipeline = PlatePipeline(detector.with_score_threshold(
        min(PlateOptions().candidate_score, detector.params.score_threshold)), reader, reader,
        accept_score=detector.params.score_threshold)
    pipeline.load()
    return pipeline


def run(count: int, seed: int, batch: int, threads: int, colour: bool = True,
        variant: Variant | None = None) -> dict[str, Any]:
    """Generate the set, run the cascade in batches, score it; returns the JSON-able result.

    ``variant``: the plate reader's precision variant (default: the configured one).
    """
    from vision.plate.reader import PlateReader

    variant = variant or configured_reader_variant()
    plates = generate(count, seed)
    pipeline = build_pipeline(threads, colour, variant)
    detector, reader = pipeline.detector, pipeline.reader
    assert isinstance(reader, PlateReader)
    readings: list[list[PlateReading]] = []
    start = time.perf_counter()
    for i in range(0, len(plates), batch):
        readings += pipeline.read([p.image for p in plates[i:i + batch]])
    elapsed = time.perf_counter() - start
    result = score(plates, readings)
    result.update({
        "benchmark": "plates", "seed": seed, "batch": batch,
        "models": {"detector": detector.name, "reader": reader.name}, "reader_variant": variant,
        "detector_input": list(detector.params.input_size),
        "pipeline": {"candidate_score": pipeline.options.candidate_score,
                     "detector_score": pipeline.accept_score,
                     "province_recheck": pipeline.options.province_recheck,
                     "colour_constraint": reader.use_colour},
        "seconds": round(elapsed, 3), "images_per_second": round(len(plates) / elapsed, 2),
        "ms_per_image": round(1000 * elapsed / len(plates), 1),
        "machine": machine_info(detector.session.provider),
    })
    return result


def markdown(result: dict[str, Any]) -> str:
    """A Markdown summary table of one result."""
    lines = [
        f"# Plate reading on the rendered set ({result['plates']} plates, seed {result['seed']}"
        f"{', reader ' + result['reader_variant'] if 'reader_variant' in result else ''})", "",
        "| colour | plates | exact read | detection recall |", "| --- | ---: | ---: | ---: |",
    ]
    for colour, row in result["per_colour"].items():
        if row["plates"]:
            lines.append(f"| {colour} | {row['plates']} | {row['exact']:.1%} "
                         f"| {row['detection_recall']:.1%} |")
    lines += [f"| **all** | {result['plates']} | {result['exact']:.1%} | {result['detection_recall']:.1%} |",
              "", "| plate height | plates | exact read |", "| --- | ---: | ---: |"]
    lines += [f"| {band} | {row['plates']} | {row['exact']:.1%} |"
              for band, row in result.get("per_height", {}).items() if row["plates"]]
    lines += ["", f"Throughput: {result['images_per_second']} images/s ({result['ms_per_image']} ms/image, "
              f"batch {result['batch']}, detector input {result['detector_input']}).", "",
              f"False plates (valid readings away from the true plate): {len(result['false_plates'])}.", "",
              f"Pipeline: {result['pipeline']}.", "",
              f"Machine: {result['machine']['cpu']}, {result['machine']['usable_cores']} cores, "
              f"onnxruntime {result['machine'].get('onnxruntime')} ({result['machine'].get('provider')}), "
              f"{result['machine']['date']}.", ""]
    if result["errors"]:
        lines += ["Misreads (truth -> read, raw):", ""]
        lines += [f"- {e['truth']} ({e['colour']}, {e['height_px']} px, {e['background']}) "
                  f"-> {e['read']} {e['raw']}"
                  for e in result["errors"][:40]]
    return "\n".join(lines) + "\n"


def passes_run(count: int, seeds: list[int], threads: int, levers: Sequence[str] = ("none",),
               readers: Sequence[Variant] | None = None) -> dict[str, Any]:
    """The passes set on each of ``seeds`` through the live path, per lever variant and reader variant.

    One cascade per plate-reader variant (``readers``, default the configured one) serves
    every seed and lever; each result names its ``reader``.
    """
    from benchmarks.pipeline import LEVER_VARIANTS
    from benchmarks.plate_passes import run_passes
    from vision.cascade import Cascade

    results: list[dict[str, Any]] = []
    for reader in readers or [configured_reader_variant()]:
        cascade = Cascade.from_store(reader_settings(threads, reader), run=("vehicles", "plates"))
        try:
            results += [{**run_passes(cascade, count, seed, levers=LEVER_VARIANTS.get(variant),
                                      gate=variant == "gate"), "variant": variant, "reader": reader}
                        for seed in seeds for variant in levers]
        finally:
            cascade.close()
    return {"benchmark": "plate_passes", "seeds": seeds, "held_back_seed": seeds[-1], "results": results,
            "machine": machine_info("CPUExecutionProvider")}


def passes_report(result: dict[str, Any]) -> str:
    """The passes results as Markdown (a table per plate-reader variant), with the machine."""
    from benchmarks.plate_passes import passes_markdown

    machine = result["machine"]
    readers = list(dict.fromkeys(r.get("reader", "") for r in result["results"]))
    text = "".join((f"\nPlate reader: {reader}\n\n" if len(readers) > 1 else "")
                   + passes_markdown([r for r in result["results"] if r.get("reader", "") == reader])
                   for reader in readers)
    return (text + f"\nSeeds {result['seeds']} (the last held back while tuning). "
            f"Machine: {machine['cpu']}, {machine['usable_cores']} cores, {machine['date']}.\n")


def plates(
    count: int = typer.Option(300, "--count", min=3, help="Number of rendered plates (colours in turn)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the rendered set."),
    batch: int = typer.Option(8, "--batch", min=1, help="Images per pipeline call."),
    threads: int = typer.Option(0, "--threads", min=0, help="onnxruntime intra-op threads (0 = all)."),
    out: Path | None = typer.Option(None, "--out", help="Results directory (default benchmarks/results)."),
    colour: bool = typer.Option(True, "--colour/--no-colour",
                                help="Let the plate's colour constrain its reading (the service does)."),
    sets: str = typer.Option("rendered", "--sets",
                             help=f"Comma-separated sets to run: {', '.join(SETS)}, passes."),
    set_count: int = typer.Option(240, "--set-count", min=3,
                                  help="Images per single-image set other than rendered."),
    held_back: int | None = typer.Option(None, "--held-back-seed",
                                         help="Also run the single-image sets other than rendered on this "
                                              "seed (never looked at while tuning)."),
    passes: int = typer.Option(100, "--passes", min=1,
                               help="Passes (clips of a car approaching) per seed, with --sets passes."),
    passes_seeds: str = typer.Option("7,1007", "--passes-seeds",
                                     help="Seeds of the passes, comma-separated (the last is held back)."),
    variants: str = typer.Option("", "--variants",
                                 help=f"Comma-separated precision variants of the plate reader to run "
                                      f"the chosen sets (passes too) with, side by side in one run "
                                      f"({', '.join(VARIANTS)}; default: the configured one). "
                                      f"Each set's exact reads and false plates per variant, and the "
                                      f"difference to fp32, go into the report."),
    only_passes: bool = typer.Option(False, "--only-passes", help="Same as --sets passes."),
    passes_levers: str = typer.Option("none", "--passes-levers",
                                      help="Per-frame lever variants of the live path the passes run "
                                           "through, side by side: none, gate (motion gating alone), "
                                           "detect_every, undecided, all, detect_every3, all3."),
) -> None:
    """Exact plate-read accuracy per colour and plate height, detection recall and throughput.

    With ``--sets``, also close-up crops (exact reads), two-row plates (exact reads), a negative
    set of signs and lettering that are not plates (false plates per image), and passes: the plate
    decided per car approaching the camera through the live path's vote.
    """
    chosen = ["passes"] if only_passes else [s.strip() for s in sets.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in (*SETS, "passes")]
    if unknown or not chosen:
        raise typer.BadParameter(f"unknown set(s) {unknown}; choose from {', '.join(SETS)}, passes",
                                 param_hint="--sets")
    seeds = int_list(passes_seeds, "--passes-seeds", minimum=0)
    levers = choice_list(passes_levers, "--passes-levers",
                         ("none", "gate", "detect_every", "undecided", "all", "detect_every3", "all3"))
    readers: list[Variant] = [v for v in VARIANTS if v in choice_list(variants, "--variants", VARIANTS)] \
        if variants.strip() else [configured_reader_variant()]
    directory = out or results_dir()
    if "rendered" in chosen:
        rendered = {v: run(count, seed, batch, threads, colour, v) for v in readers}
        result = with_variants(rendered)
        text = markdown(result) + variants_markdown(result.get("variant_comparison", []))
        write_result(result, directory / "plates", text)
        typer.echo(text)
    others = [s for s in chosen if s not in ("rendered", "passes")]
    if others:
        results = run_sets(others, set_count, [seed] if held_back is None else [seed, held_back],
                           batch, threads, colour, readers)
        text = set_markdown(results["sets"]) + variants_markdown(results.get("variant_comparison", []))
        write_result(results, directory / "plates-sets", text)
        typer.echo(text)
    if "passes" in chosen:
        found = passes_run(passes, seeds, threads, levers, readers)
        report = passes_report(found)
        write_result(found, directory / "plate_passes", report)
        typer.echo(report)


# --- Sets of issue 12 (negatives, close-up crops, two-row plates): read from single images. ---

def score_whole(truths: list[str], readings: list[list[PlateReading]]) -> dict[str, Any]:
    """Exact reads of images that each hold one plate anywhere (close-ups, two-row plates).

    An image is read exactly when one of its valid readings is its plate; every other valid
    reading is a false plate.
    """
    exact = 0
    errors, false_plates = [], []
    for truth, found in zip(truths, readings, strict=True):
        valid = [r for r in found if r.valid]
        hit = next((r for r in valid if r.text == truth), None)
        exact += hit is not None
        false_plates += [{"truth": truth, "read": r.text} for r in valid if r.text != truth]
        if hit is None:
            errors.append({"truth": truth, "read": [r.text for r in found], "raw": [r.raw for r in found],
                           "rejected": [r.rejected for r in found if r.rejected]})
    n = len(truths)
    return {"images": n, "exact_count": exact, "exact": exact / n if n else 0.0,
            "false_plates": len(false_plates), "false_plate_reads": false_plates[:40], "errors": errors[:60]}


def score_negatives(texts: list[str], readings: list[list[PlateReading]]) -> dict[str, Any]:
    """False plates on images of text that is not a plate (the figure is false plates per image)."""
    false_plates = [{"sign": t, "read": r.text, "raw": r.raw, "score": round(r.score, 3)}
                    for t, found in zip(texts, readings, strict=True) for r in found if r.valid]
    rejected = Counter(r.rejected.split(" (")[0].split(" at position")[0]
                       for found in readings for r in found if r.rejected)
    n = len(texts)
    return {"images": n, "false_plates": len(false_plates),
            "false_plates_per_image": len(false_plates) / n if n else 0.0,
            "images_with_false_plate": sum(any(r.valid for r in f) for f in readings),
            "false_plate_reads": false_plates[:60], "rejected_reasons": dict(rejected.most_common(12))}


def read_all(pipeline: Any, images: list[Any], batch: int) -> tuple[list[list[PlateReading]], float]:
    """Readings of every image through ``pipeline.read`` in batches, and the seconds it took."""
    out: list[list[PlateReading]] = []
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        out += pipeline.read(images[i:i + batch])
    return out, time.perf_counter() - start


def run_set(name: str, pipeline: Any, count: int, seed: int, batch: int) -> dict[str, Any]:
    """Render one set of :data:`SETS` (not ``rendered``) from ``seed``, read and score it."""
    if name == "negative":
        from media.signs import generate_signs

        signs = generate_signs(count, seed)
        readings, seconds = read_all(pipeline, [s.image for s in signs], batch)
        result = score_negatives([s.text for s in signs], readings)
        result["alone"] = sum(s.background == "alone" for s in signs)
        result["fonts"] = sorted({s.font for s in signs})
    elif name == "closeup":
        from media.plates import generate_closeups

        plates = generate_closeups(count, seed)
        readings, seconds = read_all(pipeline, [p.image for p in plates], batch)
        result = score_whole([p.text for p in plates], readings)
        result["per_colour"] = {
            c: _exact_of([r for p, r in zip(plates, readings, strict=True) if p.colour == c],
                         [p.text for p in plates if p.colour == c]) for c in COLOURS}
    elif name == "two_row":
        from media.plates import generate_two_row

        plates = generate_two_row(count, seed)
        readings, seconds = read_all(pipeline, [p.image for p in plates], batch)
        result = score_whole([p.text for p in plates], readings)
        result["rows_reported_2"] = sum(any(r.valid and r.rows == 2 for r in f) for f in readings)
        result["per_kind"] = per_kind(plates, readings)
    else:
        raise ValueError(f"unknown set {name!r}; choose from {', '.join(SETS[1:])}")
    result.update({"set": name, "seed": seed, "seconds": round(seconds, 2),
                   "images_per_second": round(count / seconds, 2) if seconds else None})
    return result


def per_kind(plates: list[RenderedPlate], readings: list[list[PlateReading]]) -> dict[str, Any]:
    """Two-row plates per kind (large, motorcycle): exact reads, and exact reads of the right kind.

    The kind is right when a motorcycle's plate is reported ``"motorcycle"`` with ``rows`` 2, and
    a large plate with ``rows`` 2 and any other kind.
    """
    from vision.plate.pipeline import MOTORCYCLE

    out: dict[str, Any] = {}
    for kind in sorted({p.kind for p in plates}):
        mine = [(p, f) for p, f in zip(plates, readings, strict=True) if p.kind == kind]
        hits = [next((r for r in f if r.valid and r.text == p.text), None) for p, f in mine]
        right = sum(r is not None and r.rows == 2 and (r.kind == MOTORCYCLE) == (kind == MOTORCYCLE)
                    for r in hits)
        exact = sum(r is not None for r in hits)
        out[kind] = {"images": len(mine), "exact_count": exact, "exact": exact / len(mine),
                     "kind_right": right}
    return out


def _exact_of(readings: list[list[PlateReading]], truths: list[str]) -> dict[str, Any]:
    exact = sum(any(r.valid and r.text == t for r in f) for f, t in zip(readings, truths, strict=True))
    return {"images": len(truths), "exact_count": exact, "exact": exact / len(truths) if truths else None}


def set_markdown(results: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`run_set` results (one row per set and seed)."""
    lines = ["| set | seed | reader | images | figure | images/s |",
             "| --- | ---: | --- | ---: | --- | ---: |"]
    for r in results:
        if r["set"] == "negative":
            figure = (f"**{r['false_plates']} false plates** ({r['false_plates_per_image']:.3f} per image; "
                      f"{r['alone']} signs alone, the rest on vehicle photos)")
        else:
            figure = (f"**{r['exact']:.1%} exact** ({r['exact_count']}/{r['images']}), "
                      f"{r['false_plates']} false plates")
            if "rows_reported_2" in r:
                figure += f", `rows: 2` on {r['rows_reported_2']}"
            for kind, k in r.get("per_kind", {}).items():
                figure += (f"; {kind} {k['exact']:.1%} ({k['exact_count']}/{k['images']}, "
                           f"kind right on {k['kind_right']})")
        lines.append(f"| {r['set']} | {r['seed']} | {r.get('variant', '')} | {r['images']} | {figure} "
                     f"| {r['images_per_second']} |")
    lines.append("")
    for r in results:
        bad = r.get("false_plate_reads") if r["set"] == "negative" else r.get("errors")
        if bad:
            lines += [f"{r['set']} seed {r['seed']}{' (' + r['variant'] + ')' if 'variant' in r else ''}: "
                      f"first misses", ""]
            lines += [f"- {json.dumps(e, ensure_ascii=False)}" for e in bad[:15]]
            lines.append("")
    return "\n".join(lines) + "\n"


def run_sets(names: list[str], count: int, seeds: list[int], batch: int, threads: int,
             colour: bool = True, variants: Sequence[Variant] | None = None) -> dict[str, Any]:
    """Every set of ``names`` on every seed, once per reader variant (one pipeline each); JSON-able.

    ``variants``: the plate reader's precision variants (default: the configured one). With
    more than one, ``variant_comparison`` holds each set's figure per variant and its difference
    to fp32 (:func:`compare_variants`).
    """
    results: list[dict[str, Any]] = []
    chosen = list(variants or [configured_reader_variant()])
    for variant in chosen:
        pipeline = build_pipeline(threads, colour, variant)
        results += [{**run_set(name, pipeline, count, seed, batch), "variant": variant}
                    for name in names for seed in seeds]
    out = {"benchmark": "plates-sets", "seeds": seeds, "count": count, "variants": chosen, "sets": results,
           "models": {"detector": pipeline.detector.name, "reader": pipeline.reader.name},
           "machine": machine_info(pipeline.detector.session.provider)}
    if len(chosen) > 1:
        out["variant_comparison"] = compare_variants(results)
    return out


def with_variants(rendered: dict[Variant, dict[str, Any]]) -> dict[str, Any]:
    """One rendered-set result per reader variant as one result.

    The first variant's result stays at the top (its charts and table); with more than one,
    ``variants`` holds each variant's full result and ``variant_comparison`` the figures side by
    side (:func:`compare_variants`).
    """
    first = next(iter(rendered.values()))
    if len(rendered) == 1:
        return first
    rows = [{**r, "set": "rendered", "variant": v, "images": r["plates"],
             "exact_count": round(r["exact"] * r["plates"]),
             "false_plates": len(r["false_plates"])} for v, r in rendered.items()]
    return {**first, "variants": rendered, "variant_comparison": compare_variants(rows)}


def _figure(result: dict[str, Any]) -> dict[str, Any]:
    if result["set"] == "negative":
        return {"false_plates": result["false_plates"], "images": result["images"]}
    return {"exact": result["exact"], "exact_count": result["exact_count"], "images": result["images"],
            "false_plates": result["false_plates"], "images_per_second": result.get("images_per_second")}


def compare_variants(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each set and seed's figure per reader variant, and its difference to fp32 (pure).

    Args:
        results: set results (:func:`run_set`, or a rendered result with ``images``,
            ``exact_count`` and ``false_plates``), each with its ``variant``.

    Returns:
        One row per (set, seed): ``{"set", "seed", "variants": {variant: figure}, "vs_fp32":
        {variant: difference}}``, where a figure is the exact rate with its counts and false
        plates (on the negative set: false plates alone), and the difference is in percentage
        points of exact reads (``exact_points``) and in false plates (``false_plates``);
        ``vs_fp32`` is empty when fp32 did not run.
    """
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault((r["set"], r["seed"]), {"set": r["set"], "seed": r["seed"], "variants": {},
                                                      "vs_fp32": {}})
        row["variants"][r["variant"]] = _figure(r)
    for row in rows.values():
        base = row["variants"].get("fp32")
        if base is None:
            continue
        for variant, figure in row["variants"].items():
            if variant == "fp32":
                continue
            diff: dict[str, Any] = {"false_plates": figure["false_plates"] - base["false_plates"]}
            if "exact" in figure:
                diff["exact_points"] = round(100 * (figure["exact"] - base["exact"]), 2)
            row["vs_fp32"][variant] = diff
    return list(rows.values())


def variants_markdown(rows: list[dict[str, Any]]) -> str:
    """The :func:`compare_variants` rows as a Markdown table (empty without rows)."""
    if not rows:
        return ""
    lines = ["", "Plate reader variants side by side (difference to fp32: exact-read points, false plates):",
             "",
             "| set | seed | variant | figure | vs fp32 |", "| --- | ---: | --- | --- | --- |"]
    for row in rows:
        for variant, f in row["variants"].items():
            figure = (f"{f['false_plates']} false plates / {f['images']} images" if "exact" not in f else
                      f"{f['exact']:.1%} exact ({f['exact_count']}/{f['images']}), "
                      f"{f['false_plates']} false plates")
            diff = row["vs_fp32"].get(variant)
            versus = "" if diff is None else ", ".join(
                ([f"{diff['exact_points']:+.1f} points"] if "exact_points" in diff else [])
                + [f"{diff['false_plates']:+d} false plates"])
            lines.append(f"| {row['set']} | {row['seed']} | {variant} | {figure} | {versus} |")
    return "\n".join(lines) + "\n"
