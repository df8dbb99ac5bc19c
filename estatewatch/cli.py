"""The ``estatewatch`` command line: one entry point, one sub-command per job.

Heavy imports (onnxruntime, OpenCV, the web stack) happen inside the commands so that
``estatewatch --help`` stays instant.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from benchmarks.cli import app as bench_app
from models.cli import app as models_app
from registry.cli import app as registry_app
from streams.cli import app as streams_app

app = typer.Typer(
    name="estatewatch",
    help="Estatewatch: the security core for smart residential communities.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(models_app, name="models")
app.add_typer(streams_app, name="streams")
app.add_typer(registry_app, name="registry")
app.add_typer(bench_app, name="bench")


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log only warnings and errors."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def recognize(
    images: list[Path] = typer.Argument(..., help="Image files (JPEG, PNG, ...).", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image and line."),
    profile: str = typer.Option("default", help="Model profile: default or permissive."),
    run: str = typer.Option("faces,vehicles,plates", help="Stages to run (comma-separated)."),
    batch: int = typer.Option(8, min=1, max=64, help="Images per model batch."),
    provider: str = typer.Option("cpu", help="Execution provider: cpu, cuda or tensorrt."),
) -> None:
    """Find faces, vehicles and licence plates in still images.

    An unreadable file is reported on its own line and the others still run; the exit code
    is 1 if any file failed.
    """
    from estatewatch.recognize import ImageReadError, chunks, dumps, human_line, read_image
    from models.fetch import ModelError
    from vision.cascade import ALL_ANALYSES, Cascade, to_json
    from vision.config import VisionSettings

    stages = [s.strip() for s in run.split(",") if s.strip()]
    unknown = [s for s in stages if s not in ALL_ANALYSES]
    if unknown or not stages:
        raise typer.BadParameter(f"unknown stage(s) {unknown}; choose from {', '.join(ALL_ANALYSES)}",
                                 param_hint="--run")
    try:
        settings = VisionSettings.model_validate({"profile": profile, "providers": [provider]})
        cascade = Cascade.from_store(settings, run=stages)  # type: ignore[arg-type]
    except (ModelError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    failed = 0
    for group in chunks(images, batch):
        loaded, records = [], {}
        for path in group:
            try:
                loaded.append((path, read_image(path)))
            except ImageReadError as exc:
                records[path] = {"image": str(path), "error": str(exc)}
        results = cascade.recognize([im for _, im in loaded])
        for (path, _), result in zip(loaded, results, strict=True):
            records[path] = {"image": str(path), **to_json(result)}
        for path in group:
            record = records[path]
            failed += "error" in record
            typer.echo(dumps(record) if as_json else human_line(path, record))
    if failed:
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()
