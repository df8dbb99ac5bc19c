"""``estatewatch bench ...``: throughput and latency benchmarks.

Each benchmark lives in its own module and writes JSON (and a Markdown table) under
``benchmarks/results/`` together with the machine it ran on (see :mod:`benchmarks.machine`).
"""

from __future__ import annotations

import typer

from benchmarks.api import bench_api
from benchmarks.console import console
from benchmarks.delivery import delivery
from benchmarks.faces import bench_faces
from benchmarks.media import media_command
from benchmarks.models import bench_models
from benchmarks.pipeline import pipeline
from benchmarks.plates import plates
from benchmarks.search import search
from benchmarks.streams import streams_command

app = typer.Typer(help="Throughput and latency benchmarks; results go to benchmarks/results/.",
                  no_args_is_help=True)

app.command("models")(bench_models)
app.command("faces")(bench_faces)
app.command("plates")(plates)
app.command("streams")(streams_command)
app.command("search")(search)
app.command("delivery")(delivery)
app.command("pipeline")(pipeline)
app.command("media")(media_command)
app.command("console")(console)
app.command("api")(bench_api)
