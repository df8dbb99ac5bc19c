"""Synthetic H.264 clips for tests, demos and benchmarks, generated with ffmpeg into a cache."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)


def media_cache_dir() -> Path:
    """``$ESTATEWATCH_CACHE_DIR/media`` (default ``~/.cache/estatewatch/media``), created."""
    root = os.environ.get("ESTATEWATCH_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "estatewatch"
    path = base / "media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def h264_clip(width: int, height: int, *, fps: int = 25, seconds: float = 10.0,
              source: str = "testsrc2") -> Path:
    """An H.264 MP4 of ffmpeg's lavfi ``source`` (GOP 2 s, no B-frames), cached by parameters.

    Raises:
        RuntimeError: ffmpeg is not installed (Debian package ``ffmpeg``) or failed.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg not found: install the Debian package 'ffmpeg'")
    name = f"{source.split('=')[0]}_{width}x{height}_{fps}fps_{seconds:g}s.mp4"
    path = media_cache_dir() / name
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp.mp4")
    command = [
        ffmpeg, "-v", "error", "-y", "-f", "lavfi",
        "-i", f"{source}=size={width}x{height}:rate={fps}", "-t", f"{seconds:g}",
        "-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * fps), "-bf", "0",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp),
    ]
    logger.info("generating %s", path)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {result.stderr.strip()[-500:]}")
    tmp.replace(path)
    return path
