"""``estatewatch bench models``: images/s of every model at batch 1..32, CPU or GPU.

For each model of the profile and each batch size the benchmark times two things on the
same real inputs:

* ``pure``: ``model.forward(tensor)``: the ONNX call alone, on an already prepared tensor;
* ``full``: ``model.infer(batch)``: preprocessing + ONNX call + decoding, what callers get.

With ``--variants fp32,int8`` each model's INT8 variant (``estatewatch models quantize``) is
timed beside its FP32 model in the same run, call for call in turn (so a change in the
machine's load hits both alike), and the INT8/FP32 images/s ratio is recorded per batch size.

It records images/s and latency (median, p90) per call, picks the batch size with the best
``full`` throughput as the model's default ``max_batch`` for that execution provider
(``--write-defaults`` stores it in ``vision/batch_defaults.toml``, for single-stream use; the
service's defaults come from ``bench pipeline``, see that file), and writes JSON and a
Markdown table to ``benchmarks/results/``.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import typer

from benchmarks.machine import machine_info, results_dir
from benchmarks.options import choice_list, int_list
from benchmarks.record import write_result
from media.images import read_image
from models.fetch import ModelError
from models.manifest import VARIANTS, Task, Variant, profile_models
from models.variants import require_variant
from vision.config import BATCH_DEFAULTS_PATH, VisionSettings
from vision.model import create
from vision.session import CPU, PROVIDER_CHOICES, ProviderError, plan_providers

OPENCV_CAR = Path("/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg")


def sample_inputs(task: Task, count: int) -> list[npt.NDArray[np.uint8]]:
    """``count`` real inputs of the shape each task's model takes (cycled from a few photos)."""
    photos = [read_image(n) for n in ("players.jpg", "bus.jpg", "astronaut.png", "yaoming.jpg")]
    if OPENCV_CAR.is_file():
        car = cv2.imread(str(OPENCV_CAR))
        if car is not None:
            photos.append(np.asarray(car, np.uint8))
    if task in ("face_detect", "vehicle_detect", "plate_detect"):
        return [photos[i % len(photos)] for i in range(count)]
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        if task == "face_embed":
            side = min(h, w) // 3
            y, x = (i * 37) % (h - side), (i * 53) % (w - side)
            crops.append(cv2.resize(photo[y:y + side, x:x + side], (112, 112)))
        else:  # plate_read: a 48-pixel-high strip, plate-like aspect
            y, x = (i * 29) % (h - 60), (i * 41) % (w - 200)
            crops.append(cv2.resize(photo[y:y + 60, x:x + 190], (151, 48)))
    return [np.asarray(c, np.uint8) for c in crops]


def _time(fn: Callable[[], object], min_seconds: float, min_runs: int) -> list[float]:
    fn()  # warm-up for this shape
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _summary(batch: int, times: list[float]) -> dict[str, float]:
    median = statistics.median(times)
    p90 = sorted(times)[max(0, int(len(times) * 0.9) - 1)]
    return {"images_per_s": round(batch / median, 2), "latency_ms_median": round(median * 1000, 2),
            "latency_ms_p90": round(p90 * 1000, 2), "runs": len(times)}


def _time_in_turn(fns: dict[str, Callable[[], object]], min_seconds: float,
                  min_runs: int) -> dict[str, list[float]]:
    """Time several functions call for call in turn, each at least ``min_runs`` times and ``min_seconds``."""
    for fn in fns.values():
        fn()  # warm-up for this shape
    times: dict[str, list[float]] = {key: [] for key in fns}
    spent = dict.fromkeys(fns, 0.0)
    while min(len(t) for t in times.values()) < min_runs or min(spent.values()) < min_seconds:
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
            spent[key] += times[key][-1]
    return times


def bench_model(model: Any, task: Task, batches: list[int], min_seconds: float,
                progress: Callable[[str], None]) -> dict[str, Any]:
    """Time one loaded model at each batch size (pure and full)."""
    return bench_variants({"fp32": model}, task, batches, min_seconds, progress)["fp32"]


def bench_variants(models: dict[str, Any], task: Task, batches: list[int], min_seconds: float,
                   progress: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Time the variants of one model at each batch size (pure and full), in turn on the same inputs."""
    rows: dict[str, dict[str, Any]] = {v: {} for v in models}
    inputs = sample_inputs(task, max(batches))
    for batch in batches:
        items = inputs[:batch]
        tensors = {v: m.preprocess(items)[0] for v, m in models.items()}
        pure = _time_in_turn({v: functools.partial(m.forward, tensors[v]) for v, m in models.items()},
                             min_seconds, 3)
        full = _time_in_turn({v: functools.partial(m.infer, items) for v, m in models.items()},
                             min_seconds, 3)
        for v in models:
            rows[v][str(batch)] = {"pure": _summary(batch, pure[v]), "full": _summary(batch, full[v])}
            progress(f"  {v:<4} batch {batch:>2}: pure {rows[v][str(batch)]['pure']['images_per_s']:>8.1f} "
                     f"img/s, full {rows[v][str(batch)]['full']['images_per_s']:>8.1f} img/s")
    out: dict[str, dict[str, Any]] = {}
    for v, by_batch in rows.items():
        best = max(batches, key=lambda b: by_batch[str(b)]["full"]["images_per_s"])
        base = by_batch["1"]["full"]["images_per_s"] if "1" in by_batch else None
        out[v] = {"task": task, "by_batch": by_batch, "best_batch": best,
                  "best_speedup_vs_batch1": round(by_batch[str(best)]["full"]["images_per_s"] / base, 3)
                  if base else None}
    return out


def variant_ratios(result: dict[str, dict[str, Any]], variant: str) -> dict[str, dict[str, float]]:
    """``{batch: {"pure": x, "full": y}}``: images/s of ``variant`` over FP32's, per batch size."""
    fp32, other = result["fp32"]["by_batch"], result[variant]["by_batch"]
    return {b: {kind: round(other[b][kind]["images_per_s"] / fp32[b][kind]["images_per_s"], 3)
                for kind in ("pure", "full")} for b in fp32}


def write_defaults(provider: str, best: dict[str, int], path: Path = BATCH_DEFAULTS_PATH) -> None:
    """Merge ``{model: best batch}`` for one provider into ``vision/batch_defaults.toml``."""
    from vision.config import load_batch_defaults

    table = load_batch_defaults(path)
    table.setdefault(provider, {}).update(best)
    lines = ["# Default max_batch per execution provider and model: the batch size with the best",
             "# images/s (preprocessing included) measured by `estatewatch bench models --write-defaults`.",
             "# A config's vision.max_batch overrides these.", ""]
    for prov in sorted(table):
        lines.append(f"[{prov}]")
        lines += [f"{model} = {size}" for model, size in sorted(table[prov].items())]
        lines.append("")
    path.write_text("\n".join(lines))


def markdown(result: dict[str, Any]) -> str:
    """A Markdown table of one run."""
    m = result["machine"]
    out = [f"# Model throughput ({m['provider']}, {m['cpu']}, {m['usable_cores']} cores)", "",
           f"Date {m['date']}, onnxruntime {m.get('onnxruntime')}, profile {result['profile']}, "
           f"intra-op threads {result.get('intra_op_threads', 0)} (0: all cores). "
           "images/s; `pure` = ONNX call only, `full` = preprocessing + ONNX + decoding.", "",
           "| model | task | " + " | ".join(f"b{b} pure / full" for b in result["batches"])
           + " | best batch | speed-up vs b1 |",
           "|---|---|" + "---|" * len(result["batches"]) + "---|---|"]
    for name, r in result["models"].items():
        cells = [f"{r['by_batch'][str(b)]['pure']['images_per_s']:.1f} / "
                 f"{r['by_batch'][str(b)]['full']['images_per_s']:.1f}" for b in result["batches"]]
        out.append(f"| {name} | {r['task']} | " + " | ".join(cells)
                   + f" | {r['best_batch']} | {r['best_speedup_vs_batch1']}x |")
    if result.get("variants"):
        out += ["", "Variants, timed in turn with FP32 in this run: images/s (pure / full) and the ratio "
                "to FP32's images/s (pure / full).", "",
                "| model | variant | " + " | ".join(f"b{b} pure / full (ratios)" for b in result["batches"])
                + " |", "|---|---|" + "---|" * len(result["batches"])]
        for name, by_variant in result["variants"].items():
            for variant, r in by_variant.items():
                ratios = result["ratios"][name][variant]
                cells = [f"{r['by_batch'][str(b)]['pure']['images_per_s']:.1f} / "
                         f"{r['by_batch'][str(b)]['full']['images_per_s']:.1f} "
                         f"({ratios[str(b)]['pure']:.2f}x / {ratios[str(b)]['full']:.2f}x)"
                         for b in result["batches"]]
                out.append(f"| {name} | {variant} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def default_batches(provider: str) -> str:
    """The batch sizes swept by default: up to 64 on a GPU provider (they keep scaling), 32 on CPU."""
    return "1,2,4,8,16,32" if provider == CPU else "1,2,4,8,16,32,64"


def bench_models(
    provider: str = typer.Option("cpu", help="Execution provider: auto, cpu, cuda or tensorrt "
                                 "(a missing GPU one runs on CPU with a warning unless --strict)."),
    strict: bool = typer.Option(False, "--strict", help="Fail instead of falling back to CPU."),
    profile: str = typer.Option("default", help="Model profile: default or permissive."),
    batches: str = typer.Option("", help="Comma-separated batch sizes (default 1..32 on CPU, "
                                "1..64 on a GPU provider)."),
    only: str = typer.Option("", help="Comma-separated model names (default: all of the profile)."),
    seconds: float = typer.Option(1.0, min=0.05, help="Minimum timed seconds per measurement."),
    intra_op_threads: int = typer.Option(0, min=0, help="Threads inside one operator (0: all cores)."),
    variants: str = typer.Option("fp32", help="Comma-separated variants to time, in turn in one run "
                                 "(fp32,int8: INT8 beside FP32 with the ratio; int8 files come from "
                                 "`estatewatch models quantize`)."),
    write_defaults_: bool = typer.Option(False, "--write-defaults",
                                         help="Store each model's best batch in vision/batch_defaults.toml."),
    out: Path = typer.Option(None, help="Output stem (default benchmarks/results/models-<provider>)."),
) -> None:
    """Measure every model's images/s at several batch sizes and record the results."""
    import onnxruntime as ort

    if provider not in PROVIDER_CHOICES:
        raise typer.BadParameter(f"{provider!r}; choose one of {', '.join(PROVIDER_CHOICES)}",
                                 param_hint="--provider")
    try:
        planned = plan_providers(provider, ort.get_available_providers(), strict=strict).names[0]
    except ProviderError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    batches = batches or default_batches(planned)
    sizes = sorted(set(int_list(batches, "--batches")))
    if 1 not in sizes:
        sizes.insert(0, 1)
    raw: dict[str, object] = {"profile": profile, "provider": provider, "provider_strict": strict}
    raw["intra_op_threads"] = intra_op_threads
    settings = VisionSettings.model_validate(raw)
    specs = profile_models(settings.profile)
    wanted = set(choice_list(only, "--only", [s.name for s in specs.values()])) if only.strip() else set()
    chosen: list[Variant] = ["fp32"]
    chosen += [v for v in choice_list(variants, "--variants", VARIANTS) if v != "fp32"]  # type: ignore[misc]
    models: dict[str, Any] = {}
    timed: dict[str, dict[str, Any]] = {}
    ratios: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    used_provider = "CPUExecutionProvider"
    for task, spec in specs.items():
        if wanted and spec.name not in wanted:
            continue
        loaded: dict[str, Any] = {}
        for variant in chosen:
            try:
                path = require_variant(spec, variant)
            except ModelError as exc:
                if variant == "fp32":
                    raise
                skipped[spec.name] = str(exc)
                typer.echo(f"{spec.name}: {variant} skipped: {exc}")
                continue
            loaded[variant] = create(spec.family, path, settings.session_config(), name=spec.name)
            loaded[variant].load()
        used_provider = loaded["fp32"].session.provider
        typer.echo(f"{spec.name} ({task}) on {used_provider}: {', '.join(loaded)}")
        by_variant = bench_variants(loaded, task, sizes, seconds, typer.echo)
        models[spec.name] = by_variant.pop("fp32")
        if by_variant:
            timed[spec.name] = by_variant
            ratios[spec.name] = {v: variant_ratios({"fp32": models[spec.name], v: r}, v)
                                 for v, r in by_variant.items()}
    result = {"benchmark": "models", "profile": profile, "batches": sizes, "provider_requested": provider,
              "intra_op_threads": settings.intra_op_threads,
              "machine": machine_info(used_provider), "models": models}
    if len(chosen) > 1:
        result.update({"variants": timed, "ratios": ratios, "skipped_variants": skipped})
    suffix = "" if len(chosen) == 1 else "-" + "-".join(chosen)
    stem = out or results_dir() / f"models-{used_provider.removesuffix('ExecutionProvider').lower()}{suffix}"
    write_result(result, stem, markdown(result))
    if write_defaults_:
        write_defaults(used_provider, {name: r["best_batch"] for name, r in models.items()})
        typer.echo(f"updated {BATCH_DEFAULTS_PATH}")
