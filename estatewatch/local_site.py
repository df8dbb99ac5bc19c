"""The service and its API in this process on 127.0.0.1, composed as ``estatewatch serve`` does.

For ``estatewatch bench live``: :mod:`benchmarks` may not import the composition root, so
:mod:`estatewatch.cli` hands :func:`start_local_site` to the benchmark (as it hands the alarm
store to the registry's commands). The service is :class:`~estatewatch.service.Service` with its
pipeline, alarm intake, relay, clips and upkeep; the app is :func:`api.app.create_app` with the
configured live feed, on uvicorn in a thread. Databases live in the given folder (or at
``database_url``); the template key is a fresh one kept in memory; one random full-access key.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from alarms.store import AlarmStore
from api.accounts.store import Accounts
from api.app import create_app
from api.live import LiveHub
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from registry.config import RegistrySettings
from registry.service import Registry
from streams.testing.server import free_port
from vision.live import FramePipeline

logger = logging.getLogger(__name__)


class LocalSite:
    """A started service and its API; :meth:`close` stops both and closes the databases.

    Args:
        config: the service configuration as its YAML file would hold it.
        folder: where the SQLite files and snapshots go.
        database_url: the alarm store's database instead of a SQLite file in ``folder``.
    """

    def __init__(self, config: Mapping[str, Any], folder: Path, database_url: str | None = None) -> None:
        import uvicorn

        cfg = ServiceConfig.model_validate(dict(config))
        key = SecretStr(base64.b64encode(os.urandom(32)).decode())
        self.registry = Registry.open(RegistrySettings(template_key=key),
                                      url=f"sqlite:///{folder / 'registry.db'}")
        self.store = AlarmStore.open(database_url or f"sqlite:///{folder / 'alarms.db'}",
                                     delivery=cfg.delivery(), data_dir=folder, cipher=self.registry.cipher)
        self.accounts = Accounts.open(f"sqlite:///{folder / 'accounts.db'}")
        self.key = os.urandom(16).hex()
        self.service = Service(cfg, registry=self.registry, store=self.store)
        app = create_app(self.service, frozenset([self.key]), self.accounts,
                         live=LiveHub(queue_size=cfg.alarms.live_queue), video=cfg.video)
        self.port = free_port()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", backlog=1024))
        self._thread = threading.Thread(target=self._server.run, name="local-site-uvicorn", daemon=True)

    @property
    def pipeline(self) -> FramePipeline:
        if self.service.pipeline is None:
            raise RuntimeError("the service is not started")
        return self.service.pipeline

    def start(self, timeout_s: float = 30.0) -> LocalSite:
        """Start the service (models loaded, cameras started), then serve the API."""
        self.service.start()
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        logger.info("local site: %d camera(s), API on 127.0.0.1:%d", len(self.service.config.cameras),
                    self.port)
        return self

    def close(self) -> None:
        """Stop the API and the service (cameras, workers, relay), then close the databases."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self.service.stop()
        self.accounts.close()
        self.store.close()
        self.registry.close()


def start_local_site(config: Mapping[str, Any], folder: Path, database_url: str | None = None) -> LocalSite:
    """A :class:`LocalSite`, started."""
    site = LocalSite(config, folder, database_url)
    try:
        return site.start()
    except BaseException:
        site.close()
        raise
