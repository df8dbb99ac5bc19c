"""Record a benchmark's result: ``<stem>.json``, ``<stem>.md`` and its charts, one way for every benchmark.

(Not ``benchmarks/results.py``: that name is the folder the results go to.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from benchmarks.charts import write_charts


def write_result(result: dict[str, Any], stem: Path, markdown: str,
                 echo: Callable[[str], None] = typer.echo) -> list[Path]:
    """Write ``result`` as ``<stem>.json`` and ``markdown`` as ``<stem>.md``, then its charts.

    Args:
        result: the JSON-able result, with its ``machine`` (see :func:`benchmarks.machine.machine_info`).
        stem: the path without suffix, e.g. ``benchmarks/results/models-cpu``; its folder is created.
        markdown: the Markdown report, written as given.
        echo: where the written paths are said.

    Returns:
        Every path written: the JSON, the Markdown, then the charts (``<stem>-<chart>.png``).
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    write_atomically(json_path, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    write_atomically(md_path, markdown)
    echo(f"wrote {json_path} and {md_path}")
    return [json_path, md_path, *write_charts(result, stem, echo)]


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8) with one rename: a crash leaves the old file or the new one."""
    # A plain open (not mkstemp) so the file gets the usual umask permissions, not 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
