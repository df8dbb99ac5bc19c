"""API keys: from ``ESTATEWATCH_API_KEYS`` (comma-separated) or a generated secret file."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

logger = logging.getLogger(__name__)


def load_api_keys(data_dir: Path, env: dict[str, str] | None = None) -> tuple[frozenset[str], Path | None]:
    """The accepted keys, and the file they came from (``None`` when from the environment).

    Without ``ESTATEWATCH_API_KEYS`` a random key is generated once into
    ``<data dir>/secrets/api.key`` (mode 0600) so that a fresh install is never open.
    """
    env = dict(os.environ) if env is None else env
    raw = env.get("ESTATEWATCH_API_KEYS", "")
    keys = frozenset(k.strip() for k in raw.split(",") if k.strip())
    if keys:
        return keys, None
    path = data_dir / "secrets" / "api.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
        logger.warning("no ESTATEWATCH_API_KEYS set: generated an API key in %s", path)
    return frozenset([path.read_text().strip()]), path
