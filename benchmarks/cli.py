"""``estatewatch bench ...``: throughput and latency benchmarks.

Each benchmark lives in its own module and writes JSON (and a Markdown table) under
``benchmarks/results/`` together with the machine it ran on (see :mod:`benchmarks.machine`).
"""

from __future__ import annotations

import typer

from benchmarks.api import bench_api
from benchmarks.charts import charts
from benchmarks.console import console
from benchmarks.delivery import delivery
from benchmarks.faces import bench_faces
from benchmarks.live_pipeline import bench_live
from benchmarks.media import media_command
from benchmarks.models import bench_models
from benchmarks.options import with_quick
from benchmarks.pipeline import pipeline
from benchmarks.plates import plates
from benchmarks.search import search
from benchmarks.streams import streams_command

app = typer.Typer(help="Throughput and latency benchmarks; results go to benchmarks/results/.",
                  no_args_is_help=True)

# --quick: under two minutes on a 2-core machine, results under benchmarks/results/quick/.
app.command("models")(with_quick(bench_models, batches="1,2,4", seconds=0.2))
app.command("faces")(with_quick(bench_faces, rounds=3))
app.command("plates")(with_quick(plates, count=30, set_count=10, passes=3))
app.command("streams")(with_quick(streams_command, seconds=2.0))
app.command("search")(with_quick(search, sizes="10000", queries=50, nprobe="16"))
app.command("delivery")(with_quick(delivery, count=500, relays="1"))
app.command("pipeline")(with_quick(pipeline, cameras="2", seconds=8.0, warmup=2.0, baseline_seconds=5.0,
                                   raw_seconds=1.0, max_cameras=4, confirm=0))
app.command("charts")(charts)
app.command("media")(with_quick(media_command, seconds=4.0, rounds=1))
app.command("console")(with_quick(console, alarms=10, interval=0.2))
app.command("api")(with_quick(bench_api, alarms=5000, clients=10, duration=5.0, subscribers=10))
app.command("live")(with_quick(bench_live, cameras="2", subscribers=10, seconds=10.0, rounds=1, warmup=5.0))
