"""``estatewatch bench ...``: throughput and latency benchmarks.

Each benchmark lives in its own module and writes JSON (and a Markdown table) under
``benchmarks/results/`` together with the machine it ran on (see :mod:`benchmarks.machine`).
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Throughput and latency benchmarks; results go to benchmarks/results/.",
                  no_args_is_help=True)

from benchmarks.models import bench_models  # noqa: E402

app.command("models")(bench_models)
app.command("plates")(__import__("benchmarks.plates", fromlist=["plates"]).plates)

from benchmarks.faces import bench_faces  # noqa: E402

app.command("faces")(bench_faces)
app.command("search")(__import__("benchmarks.search", fromlist=["search"]).search)

from benchmarks.streams import streams_command  # noqa: E402

app.command("streams")(streams_command)
app.command("pipeline")(__import__("benchmarks.pipeline", fromlist=["pipeline"]).pipeline)
app.command("delivery")(__import__("benchmarks.delivery", fromlist=["delivery"]).delivery)
