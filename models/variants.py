"""Precision variants of a model: where each lives in the store and how it is verified.

The FP32 file is the fetched one (``<name>.onnx``, hash pinned in the manifest). The INT8 file
(``<name>.int8.onnx``) is made on this machine by ``estatewatch models quantize`` from the
verified FP32 file and a fixed set of real calibration inputs; beside it a record
(``<name>.int8.json``) holds its sha256, the FP32 hash it was made from, the recipe and the
calibration set's digest. Loading an INT8 file re-hashes it against that record (once per
process and file version, like the pack), so a truncated or replaced file is an error naming
the command that rebuilds it, never a silently different model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.fetch import ModelError, model_path, require, sha256_file
from models.manifest import VARIANTS, ModelSpec, Task, Variant
from models.store import models_dir

RECORD_VERSION = 1


def chosen_variant(spec: ModelSpec, chosen: Mapping[Task, Variant] | None = None) -> Variant:
    """The variant a role runs: the one chosen for its task, else the manifest's ``default_variant``."""
    return (chosen or {}).get(spec.task, spec.default_variant)


def variant_path(name: str, variant: Variant, store: Path | None = None) -> Path:
    """Path of a model's variant in the store (whether or not it exists)."""
    if variant == "fp32":
        return model_path(name, store)
    return (store or models_dir()) / f"{name}.{variant}.onnx"


def record_path(name: str, variant: Variant, store: Path | None = None) -> Path:
    """The JSON record beside a made variant (its hash, source and recipe)."""
    return variant_path(name, variant, store).with_suffix(".json")


@dataclass(frozen=True, slots=True)
class VariantRecord:
    """What ``models quantize`` wrote beside a variant file.

    Attributes:
        model: the manifest name.
        variant: ``int8``.
        sha256: hash of the variant file.
        size: its size in bytes.
        source_sha256: hash of the FP32 file it was made from (the manifest's stored hash).
        recipe: the quantisation recipe (:meth:`models.manifest.QuantRecipe.as_dict`).
        calibration: ``{"inputs": n, "sha256": digest of the calibration tensors, "source": ...}``.
        onnxruntime: version that made it.
    """

    model: str
    variant: str
    sha256: str
    size: int
    source_sha256: str
    recipe: dict[str, Any]
    calibration: dict[str, Any]
    onnxruntime: str

    def to_json(self) -> str:
        """The record as written to disk (stable key order, so equal runs write equal bytes)."""
        body = {"version": RECORD_VERSION, "model": self.model, "variant": self.variant,
                "sha256": self.sha256, "size": self.size, "source_sha256": self.source_sha256,
                "recipe": self.recipe, "calibration": self.calibration, "onnxruntime": self.onnxruntime}
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> VariantRecord:
        """Parse a record file (ModelError when unreadable or malformed)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(model=str(raw["model"]), variant=str(raw["variant"]), sha256=str(raw["sha256"]),
                       size=int(raw["size"]), source_sha256=str(raw["source_sha256"]),
                       recipe=dict(raw["recipe"]), calibration=dict(raw["calibration"]),
                       onnxruntime=str(raw["onnxruntime"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: unreadable variant record ({exc})") from exc


def rebuild_hint(spec: ModelSpec, variant: Variant) -> str:
    """The command that (re)makes a variant."""
    if variant != "int8":
        return "run `estatewatch models fetch`"
    if spec.default_variant == "int8":
        return f"run `estatewatch models fetch` (it makes the pack's default INT8 variants) or " \
            f"`estatewatch models quantize --models {spec.name}`"
    return f"run `estatewatch models quantize --models {spec.name}`"


def check_variant(spec: ModelSpec, variant: Variant, store: Path | None = None) -> VariantRecord:
    """Verify a made variant against its record and the manifest; return the record.

    Raises:
        ModelError: the variant is not made, was made from another FP32 file, or its file does
            not match its recorded sha256. The message names the model and the command to run.
    """
    path = variant_path(spec.name, variant, store)
    hint = rebuild_hint(spec, variant)
    if spec.int8 is None:
        raise ModelError(f"model {spec.name} has no {variant} variant (the manifest gives it no "
                         f"[models.{spec.name}.{variant}] recipe); use fp32")
    record_file = record_path(spec.name, variant, store)
    if not path.is_file() or not record_file.is_file():
        missing = path if not path.is_file() else record_file
        raise ModelError(f"model {spec.name}: the {variant} variant is not made: {missing} is missing "
                         f"({hint})")
    record = VariantRecord.read(record_file)
    if record.source_sha256 != spec.expected_stored_sha256:
        raise ModelError(f"model {spec.name}: the {variant} file was made from another FP32 model "
                         f"(sha256 {record.source_sha256[:16]}…, the manifest pins "
                         f"{spec.expected_stored_sha256[:16]}…); {hint}")
    if record.recipe != spec.int8.as_dict():
        raise ModelError(f"model {spec.name}: the {variant} file was made with another recipe than the "
                         f"manifest's (recorded {record.recipe}); {hint}")
    actual = sha256_file(path)
    if actual != record.sha256:
        raise ModelError(f"model {spec.name}: {variant} file {path} is corrupt: sha256 {actual[:16]}… "
                         f"does not match the recorded {record.sha256[:16]}… "
                         f"({path.stat().st_size} bytes on disk, {record.size} recorded); {hint}")
    return record


_VERIFIED: dict[tuple[str, int, int], str] = {}


def require_variant(spec: ModelSpec, variant: Variant = "fp32", store: Path | None = None) -> Path:
    """Path of a verified variant of a model (``fp32``: :func:`models.fetch.require`).

    The FP32 source is verified too (an INT8 file is only as good as what it was made from);
    the INT8 check is cached per process and file version.

    Raises:
        ModelError: the variant is unknown, not made, or fails its hash check.
    """
    if variant not in VARIANTS:
        raise ModelError(f"model {spec.name}: unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
    if variant == "fp32":
        return require(spec, store)
    path = variant_path(spec.name, variant, store)
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns) if st else None
    if key is None or _VERIFIED.get(key) != spec.expected_stored_sha256:
        check_variant(spec, variant, store)
        if key is not None:
            _VERIFIED[key] = spec.expected_stored_sha256
    return path
