"""``estatewatch registry ...``: residents, faces, vehicles, visitors and the watchlist."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage the resident registry (enroll, import, export, delete).",
                  no_args_is_help=True)
