"""Files under the data directory: where it is, and writes that appear whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def data_dir() -> Path:
    """The data directory (SQLite file, snapshots, models by default).

    ``ESTATEWATCH_DATA_DIR``, default ``./data``.
    """
    return Path(os.environ.get("ESTATEWATCH_DATA_DIR", "./data")).expanduser()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it appears whole or not at all (temporary file, fsync, rename).

    The temporary file is ``.<random>.tmp`` next to ``path``. The file is readable and writable by
    its owner only (0600, as :func:`tempfile.mkstemp` creates it), which key files rely on.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
