"""Describe the machine a benchmark ran on, so every recorded figure says where it came from."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform's best guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(provider: str | None = None) -> dict[str, Any]:
    """A JSON-able description of this machine (CPU, cores, memory, Python, ORT provider)."""
    import psutil

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if provider is not None:
        info["provider"] = provider
    try:
        import onnxruntime as ort

        info["onnxruntime"] = ort.__version__
    except ImportError:  # pragma: no cover - onnxruntime is a hard dependency
        pass
    return info


def results_dir() -> Path:
    """``benchmarks/results/`` in the checkout (created if missing), or the :func:`results_in` folder."""
    if _results_override:
        return _results_override[-1]
    path = Path(__file__).resolve().parent / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


_results_override: list[Path] = []


@contextlib.contextmanager
def results_in(path: Path) -> Iterator[Path]:
    """Within the block, :func:`results_dir` is ``path`` (``--quick`` runs write to ``results/quick``)."""
    path.mkdir(parents=True, exist_ok=True)
    _results_override.append(path)
    try:
        yield path
    finally:
        _results_override.pop()
