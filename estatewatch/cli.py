"""The ``estatewatch`` command line: one entry point, one sub-command per job.

Heavy imports (onnxruntime, OpenCV, the web stack) happen inside the commands so that
``estatewatch --help`` stays instant.
"""

from __future__ import annotations

import logging

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
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    """Console-script entry point."""
    app()
