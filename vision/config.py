"""Typed settings of the vision stage (a section of the service's YAML config)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.manifest import TASKS, ModelSpec, Task, Variant
from vision.session import CPU, PROVIDER_ALIASES, SessionConfig, plan_providers, resolve_providers

BATCH_DEFAULTS_PATH = Path(__file__).resolve().parent / "batch_defaults.toml"


class ModelChoice(BaseModel):
    """How one role's model of the pack is run (``vision.models.<task>``)."""

    model_config = ConfigDict(extra="forbid")

    variant: Variant = Field(
        ..., description="Precision variant: 'fp32' (the fetched model) or 'int8' (its static "
        "quantisation, made by `estatewatch models fetch` for the pack's INT8 defaults and by "
        "`estatewatch models quantize` for the others; loading fails with that hint when it is "
        "missing). See benchmarks/README.md for where INT8 pays and its accuracy.")


class VisionSettings(BaseModel):
    """How the models run: which pack, on which execution providers, batched how."""

    model_config = ConfigDict(extra="forbid")

    profile: Literal["default", "permissive"] = Field(
        "default", description="Model profile: 'permissive' uses only permissively licensed models "
        "where one exists (RetinaFace for faces).")
    providers: list[str] = Field(
        default_factory=lambda: ["cpu"], min_length=1,
        description="Execution providers in order of preference (cpu, cuda, tensorrt); "
        "unavailable ones are skipped with a warning, CPU is always the last resort. "
        "`provider` replaces this list when set.")
    provider: Literal["auto", "cpu", "cuda", "tensorrt"] | None = Field(
        None, description="One execution provider with tuned options: 'auto' (TensorRT if available, "
        "else CUDA, else CPU), 'cpu', 'cuda' or 'tensorrt' (FP16, engine cache in "
        "<data dir>/trt-cache/<model sha>/). A missing one runs on CPU with one warning naming how to "
        "install the GPU build (README, GPU). Unset: the `providers` list decides.")
    provider_strict: bool = Field(
        False, description="With provider cuda or tensorrt, refuse to start when it is not available "
        "instead of falling back to CPU.")
    device_id: int = Field(0, ge=0, le=64, description="The GPU (CUDA device id) the models run on.")
    intra_op_threads: int = Field(
        1, ge=0, le=256,
        description="Threads inside one operator (0: all cores). The default 1 lets the models of the "
        "live pipeline run side by side on different cores, which measured faster than many-threaded "
        "calls (see vision/batch_defaults.toml); a single-stream tool such as `recognize` uses 0.")
    inter_op_threads: int = Field(0, ge=0, le=256,
                                  description="Threads across operators (0: onnxruntime decides).")
    max_wait_ms: float = Field(5.0, ge=0, le=1000,
                               description="How long the oldest request waits for a batch to fill.")
    lanes: int = Field(
        0, ge=0, le=64,
        description="Model calls of one model run at once (each batcher's worker threads). 0: as many "
        "as this process may use cores (at most 8) when sessions are one-threaded on CPU "
        "(intra_op_threads 1), so the heaviest model (YOLO11n) is not held to one core; else 1.")
    max_batch: dict[str, int] = Field(
        default_factory=dict,
        description="Per-model batch limit overriding the benchmarked default (model name -> size).")

    models: dict[Task, ModelChoice] = Field(
        default_factory=dict,
        description="Per role (face_detect, face_embed, vehicle_detect, plate_detect, plate_read): "
        "which variant runs, e.g. {vehicle_detect: {variant: fp32}}. Unlisted roles run the pack's "
        "default on a CPU (models/manifest.toml `default_variant`: int8 for YOLO11n, fp32 for the "
        "others) and fp32 on CUDA or TensorRT.")

    def variant(self, task: Task, available: Sequence[str] | None = None) -> Variant:
        """The variant a role runs: configured, else the manifest default on a CPU, else FP32.

        See :meth:`variants`.
        """
        from models.manifest import profile_models
        from models.variants import chosen_variant

        return chosen_variant(profile_models(self.profile)[task], self.variants(available))

    def variants(self, available: Sequence[str] | None = None) -> dict[Task, Variant]:
        """Role -> variant for every listed role; on a GPU also ``fp32`` for every unlisted one.

        The manifest's INT8 defaults are for CPUs: on CUDA and TensorRT the pack runs its FP32
        files (TensorRT builds FP16 engines from them, and QDQ INT8 models run slowly on the CUDA
        provider), unless the config names a variant. ``available``: onnxruntime's available
        providers (default: this build's).
        """
        chosen = {task: choice.variant for task, choice in self.models.items()}
        if self.runs_on_gpu(available):
            chosen = {task: chosen.get(task, "fp32") for task in TASKS}
        return chosen

    def runs_on_gpu(self, available: Sequence[str] | None = None) -> bool:
        """Whether the sessions will run on CUDA or TensorRT (asked for and available)."""
        if self.provider == "cpu" or (self.provider is None and self.providers[0].lower() == "cpu"):
            return False
        if available is None:
            import onnxruntime as ort

            available = ort.get_available_providers()
        if self.provider is not None:
            first = plan_providers(self.provider, available).names[0]
        else:
            first = resolve_providers(self.providers, available)[0]
        return first != CPU

    def batch_lanes(self, provider: str) -> int:
        """Worker threads per batcher for sessions that run on ``provider`` (see ``lanes``)."""
        if self.lanes:
            return self.lanes
        if provider != CPU or self.intra_op_threads != 1:
            return 1
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, min(cores, 8))

    def model_path(self, spec: ModelSpec, store: Path | None = None) -> Path:
        """The verified file of ``spec``'s configured variant (:func:`models.variants.require_variant`)."""
        from models.variants import chosen_variant, require_variant

        return require_variant(spec, chosen_variant(spec, self.variants()), store)

    def session_config(self) -> SessionConfig:
        """The onnxruntime session settings these settings imply."""
        from storage.files import data_dir

        return SessionConfig(tuple(self.providers), self.intra_op_threads, self.inter_op_threads,
                             provider=self.provider, strict=self.provider_strict, device_id=self.device_id,
                             trt_cache_root=data_dir() / "trt-cache")


def load_batch_defaults(path: Path = BATCH_DEFAULTS_PATH) -> dict[str, dict[str, int]]:
    """``{provider: {model: max_batch}}`` as recorded by ``estatewatch bench models``."""
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return {prov: {m: int(b) for m, b in table.items()} for prov, table in data.items()
            if isinstance(table, dict)}


def resolve_max_batch(model: str, provider: str, overrides: dict[str, int],
                      defaults: dict[str, dict[str, int]]) -> int:
    """The batch limit of one model: explicit override, else the benchmarked best, else 1."""
    if model in overrides:
        if overrides[model] < 1:
            raise ValueError(f"max_batch for {model} must be >= 1, got {overrides[model]}")
        return overrides[model]
    provider = PROVIDER_ALIASES.get(provider.lower(), provider)
    return max(1, defaults.get(provider, {}).get(model, 1))
