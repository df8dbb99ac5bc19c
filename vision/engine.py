"""The vision engine: the model pack loaded once, each model behind its own dynamic batcher.

Callers (cameras, the ``recognize`` command, the API) submit single inputs; each model's
batcher coalesces the requests of all callers into one ONNX call of at most its ``max_batch``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.fetch import require
from models.manifest import ModelSpec, Task, profile_models
from vision.batcher import DynamicBatcher
from vision.config import VisionSettings, load_batch_defaults, resolve_max_batch
from vision.model import create

logger = logging.getLogger(__name__)


class VisionEngine:
    """Loads the models of a profile and serves them through batchers.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, settings: VisionSettings | None = None, store: Path | None = None,
                 tasks: tuple[Task, ...] | None = None) -> None:
        self.settings = settings or VisionSettings()
        self.store = store
        chosen = profile_models(self.settings.profile)
        self.specs: dict[Task, ModelSpec] = {t: s for t, s in chosen.items() if tasks is None or t in tasks}
        self.models: dict[Task, Any] = {}
        self.batchers: dict[Task, DynamicBatcher[Any, Any]] = {}
        self._batched: dict[Task, BatchedModel] = {}

    def start(self) -> VisionEngine:
        """Verify, load and warm up every model, then start its batcher."""
        defaults = load_batch_defaults()
        config = self.settings.session_config()
        for task, spec in self.specs.items():
            model = create(spec.family, require(spec, self.store), config, name=spec.name)
            model.load()
            provider = model.session.provider if hasattr(model, "session") else "CPUExecutionProvider"
            max_batch = resolve_max_batch(spec.name, provider, self.settings.max_batch, defaults)
            self.models[task] = model
            self.batchers[task] = DynamicBatcher(
                model.infer, max_batch=max_batch, max_wait_ms=self.settings.max_wait_ms, name=spec.name,
            ).start()
            logger.info("model %s (%s) loaded on %s, max_batch %d", spec.name, task, provider, max_batch)
        return self

    def stop(self) -> None:
        """Stop every batcher (queued requests are finished first)."""
        for proxy in self._batched.values():
            proxy.stop()
        for batcher in self.batchers.values():
            batcher.stop()

    def __enter__(self) -> VisionEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def batcher(self, task: Task) -> DynamicBatcher[Any, Any]:
        """The batcher serving one task (KeyError names the task if it was not loaded)."""
        try:
            return self.batchers[task]
        except KeyError:
            raise KeyError(f"the vision engine was started without a {task} model") from None

    def batched(self, task: Task) -> BatchedModel:
        """The task's model with ``infer`` routed through its batcher (one proxy per task)."""
        if task not in self._batched:
            self._batched[task] = BatchedModel(self.models[task], self.batcher(task))
        return self._batched[task]


class BatchedModel:
    """A loaded model whose ``infer`` goes through dynamic batchers.

    Each input is submitted on its own, so the inputs of concurrent callers (say, frames of
    several cameras) share ONNX calls up to the model's ``max_batch``. Keyword options of
    ``infer`` (a per-call score threshold, say) get a batcher of their own, so a batch never
    mixes inputs that asked for different options. Everything else is the model's own.
    """

    def __init__(self, model: Any, batcher: DynamicBatcher[Any, Any]) -> None:
        self.model = model
        self.batcher = batcher
        self._variants: dict[tuple[tuple[str, Any], ...], DynamicBatcher[Any, Any]] = {}
        self._lock = threading.Lock()

    def _batcher_for(self, options: dict[str, Any]) -> DynamicBatcher[Any, Any]:
        if not options:
            return self.batcher
        key = tuple(sorted(options.items()))
        with self._lock:
            if key not in self._variants:
                self._variants[key] = DynamicBatcher(
                    lambda items: self.model.infer(items, **options), max_batch=self.batcher.max_batch,
                    max_wait_ms=self.batcher.max_wait * 1000, name=f"{self.batcher.name}{list(key)}",
                ).start()
            return self._variants[key]

    def infer(self, batch: Sequence[Any], **options: Any) -> list[Any]:
        """One result per input, computed in shared batches."""
        batcher = self._batcher_for(options)
        futures = [batcher.submit(item) for item in batch]
        return [f.result() for f in futures]

    def embed(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Embedders: ``(N, 112, 112, 3)`` crops -> ``(N, D)`` float32 rows."""
        rows = self.infer(list(crops))
        if not rows:
            return np.zeros((0, 512), np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def stop(self) -> None:
        """Stop the option variants' batchers (the main one belongs to the engine)."""
        with self._lock:
            for batcher in self._variants.values():
                batcher.stop()
            self._variants.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)
