"""The vision engine: the model pack loaded once, each model behind its own dynamic batcher.

Callers (cameras, the ``recognize`` command, the API) submit single inputs; each model's
batcher coalesces the requests of all callers into one ONNX call of at most its ``max_batch``.
"""

from __future__ import annotations

import logging
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
        """The task's model with ``infer`` routed through its batcher."""
        return BatchedModel(self.models[task], self.batcher(task))


class BatchedModel:
    """A loaded model whose ``infer`` goes through its engine batcher.

    Each input is submitted on its own, so the inputs of concurrent callers (say, frames of
    several cameras) share ONNX calls up to the model's ``max_batch``. Everything else
    (attributes, helper methods) is the model's own.
    """

    def __init__(self, model: Any, batcher: DynamicBatcher[Any, Any]) -> None:
        self.model = model
        self.batcher = batcher

    def infer(self, batch: Sequence[Any]) -> list[Any]:
        """One result per input, computed in shared batches."""
        futures = [self.batcher.submit(item) for item in batch]
        return [f.result() for f in futures]

    def embed(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Embedders: ``(N, 112, 112, 3)`` crops -> ``(N, D)`` float32 rows."""
        rows = self.infer(list(crops))
        if not rows:
            return np.zeros((0, 512), np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)
