"""``estatewatch streams ...``: camera tools."""

from __future__ import annotations

import typer

app = typer.Typer(help="Camera stream tools (probe a camera before adding it).", no_args_is_help=True)
