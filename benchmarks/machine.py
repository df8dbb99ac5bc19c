"""Describe the machine a benchmark ran on, so every recorded figure says where it came from."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _cpuinfo(field: str) -> str | None:
    """The first value of ``field`` in /proc/cpuinfo (``None`` without one, or off Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform's best guess)."""
    return _cpuinfo("model name") or platform.processor() or platform.machine()


SIMD_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
              "amx_int8": "AMX-INT8"}
"""/proc/cpuinfo flags that change ONNX speed (and INT8 numerics: VNNI does not saturate) -> names."""


def cpu_features() -> list[str]:
    """The :data:`SIMD_FLAGS` this CPU has, e.g. ``["AVX2"]`` or ``["AVX2", "AVX-512", "AVX-512 VNNI"]``."""
    flags = set((_cpuinfo("flags") or "").split())
    return [name for flag, name in SIMD_FLAGS.items() if flag in flags]


def machine_info(provider: str | None = None) -> dict[str, Any]:
    """A JSON-able description of this machine (CPU, cores, memory, Python, ORT provider)."""
    import psutil

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
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
        info["onnxruntime_build"] = _ort_distribution()
        info["available_providers"] = list(ort.get_available_providers())
    except ImportError:  # pragma: no cover - onnxruntime is a hard dependency
        pass
    if provider is not None and provider != "CPUExecutionProvider":
        info["gpu"] = gpu_info()
    return info


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages, to 2 decimals: how busy the machine was around a figure."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_line(info: dict[str, Any]) -> str:
    """``Machine: <cpu>, <n> usable cores, <m> GiB`` for a report's header, from :func:`machine_info`."""
    return f"Machine: {cpu_label(info)}, {info['usable_cores']} usable cores, {info['memory_gib']} GiB"


def cpu_label(info: dict[str, Any]) -> str:
    """``<cpu> (<features>)`` from :func:`machine_info` (the model name alone when none are known)."""
    features = info.get("cpu_features")
    return f"{info['cpu']} ({', '.join(features)})" if features else str(info["cpu"])


def _ort_distribution() -> str | None:
    """Which wheel provides onnxruntime (``onnxruntime`` or ``onnxruntime-gpu``) and its version."""
    from importlib import metadata

    for dist in ("onnxruntime-gpu", "onnxruntime"):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def gpu_info() -> list[dict[str, str]]:
    """Each GPU's name, driver, memory and CUDA version from ``nvidia-smi`` (empty without it)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    fields = ["index", "name", "driver_version", "memory.total", "compute_cap"]
    try:
        out = subprocess.run([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = [dict(zip(fields, (v.strip() for v in line.split(",")), strict=False))
            for line in out.splitlines() if line.strip()]
    try:
        header = subprocess.run([exe], capture_output=True, text=True, timeout=20).stdout
        cuda = header.split("CUDA Version:", 1)[1].split()[0] if "CUDA Version:" in header else ""
    except (OSError, subprocess.SubprocessError):
        cuda = ""
    for gpu in gpus:
        gpu["cuda_driver_version"] = cuda
    return gpus


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
