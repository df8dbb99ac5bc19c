"""Fixtures of the service tests: an isolated data directory per module (SQLite, secrets, snapshots)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from media.clips import lobby_clip
from media.images import image_path, media_dir
from registry.service import Registry
from registry.types import Owner
from streams.testing.server import Mount, RtspTestServer, gstreamer_missing
from vision.face.pipeline import FaceAnalyzer


@pytest.fixture(scope="module")
def site_dir(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh data directory (the model store stays the shared, fetched one)."""
    data = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ESTATEWATCH_DATA_DIR", str(data))
        mp.setenv("ESTATEWATCH_MODELS_DIR", str(model_store))
        mp.delenv("ESTATEWATCH_DATABASE_URL", raising=False)
        mp.delenv("ESTATEWATCH_TEMPLATE_KEY", raising=False)
        mp.delenv("ESTATEWATCH_TEMPLATE_KEY_FILE", raising=False)
        yield data


@contextlib.contextmanager
def lobby_camera() -> Iterator[RtspTestServer]:
    """The demo's lobby clip (Yao Ming among 22 players) on a real RTSP server, at ``url("lobby")``.

    Where GStreamer's RTSP server cannot run the test fails under CI and is skipped elsewhere.
    """
    missing = gstreamer_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the RTSP test server cannot run: {missing}")
        pytest.skip(missing)
    folder = media_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    server = RtspTestServer({"/lobby": Mount(file=lobby_clip(folder))})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def watch_yao_ming(registry: Registry, name: str = "watched person") -> Owner:
    """Enroll Yao Ming (``yaoming.jpg``, the face in the lobby clip) on the watchlist, severity critical."""
    analyzer = FaceAnalyzer.from_store()
    try:
        photo = image_path("yaoming.jpg")
        owner, _ = registry.enroll([(photo.name, photo.read_bytes())], analyzer, name=name, watchlist=True,
                                   reason="test", severity="critical")
    finally:
        analyzer.close()
    return owner
