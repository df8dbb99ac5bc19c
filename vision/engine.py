"""The vision engine: the model pack loaded once, each model behind its own dynamic batcher.

Callers (cameras, the ``recognize`` command, the API) submit single inputs; each model's
batcher coalesces the requests of all callers into one ONNX call of at most its ``max_batch``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from models.manifest import ModelSpec, Task, profile_models
from vision.batcher import DynamicBatcher
from vision.config import VisionSettings, load_batch_defaults, resolve_max_batch
from vision.detector import Detector, OnnxDetector
from vision.model import AnyModel, Model, OnnxModel, create

logger = logging.getLogger(__name__)

InT = TypeVar("InT")
OutT = TypeVar("OutT")
M = TypeVar("M", bound=AnyModel)


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
        self.models: dict[Task, AnyModel] = {}
        self.batchers: dict[Task, DynamicBatcher[Any, Any]] = {}

    def start(self) -> VisionEngine:
        """Verify, load and warm up every model, then start its batcher."""
        defaults = load_batch_defaults()
        config = self.settings.session_config()
        for task, spec in self.specs.items():
            model = create(spec.family, self.settings.model_path(spec, self.store), config, name=spec.name)
            model.load()
            provider = model.session.provider
            max_batch = resolve_max_batch(spec.name, provider, self.settings.max_batch, defaults)
            self.models[task] = model
            self.batchers[task] = DynamicBatcher(
                model.infer, max_batch=max_batch, max_wait_ms=self.settings.max_wait_ms, name=spec.name,
                lanes=self.settings.batch_lanes(provider),
            ).start()
            logger.info("model %s (%s) loaded on %s, max_batch %d, lanes %d", spec.name, task, provider,
                        max_batch, self.batchers[task].lanes)
        return self

    def stop(self) -> None:
        """Stop every batcher (queued requests are finished first)."""
        for batcher in self.batchers.values():
            batcher.stop()

    def __enter__(self) -> VisionEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def lanes(self) -> int:
        """Model calls of one model that run at once (the batchers' lanes; 1 before :meth:`start`)."""
        return max((b.lanes for b in self.batchers.values()), default=1)

    def batcher(self, task: Task) -> DynamicBatcher[Any, Any]:
        """The batcher serving one task (KeyError names the task if it was not loaded)."""
        try:
            return self.batchers[task]
        except KeyError:
            raise KeyError(f"the vision engine was started without a {task} model") from None

    def model(self, task: Task, kind: type[M]) -> M:
        """The task's loaded model, checked to be a ``kind`` (its family class or a base of it)."""
        model = self.models.get(task)
        if model is None:
            raise KeyError(f"the vision engine was started without a {task} model")
        if not isinstance(model, kind):
            raise TypeError(f"{task} model {model.name} is a {type(model).__name__}, not a {kind.__name__}")
        return model

    def detector(self, task: Task) -> Detector:
        """The task's loaded model, checked to be a detector family."""
        model = self.models.get(task)
        if not isinstance(model, OnnxDetector):
            raise TypeError(f"the vision engine has no {task} detector")
        return model

    def batched(self, task: Task, kind: type[OnnxModel[InT, Any, OutT]]) -> BatchedModel[InT, OutT]:
        """The task's model (checked to be a ``kind``) with ``infer`` routed through its batcher."""
        return BatchedModel(self.model(task, kind), self.batcher(task))


class BatchedModel(Generic[InT, OutT]):
    """A loaded model whose ``infer`` goes through a dynamic batcher (itself a :class:`Model`).

    Each input is submitted on its own, so the inputs of concurrent callers (say, frames of
    several cameras) share model calls up to the batcher's ``max_batch``.
    """

    def __init__(self, model: Model[InT, OutT], batcher: DynamicBatcher[InT, OutT]) -> None:
        self.model = model
        self.batcher = batcher
        self.name = model.name

    def load(self) -> None:
        """Load the model (the engine has already)."""
        self.model.load()

    def close(self) -> None:
        """Nothing: the model and the batcher belong to whoever made them."""

    def infer(self, batch: Sequence[InT]) -> list[OutT]:
        """One result per input, computed in shared batches."""
        futures = [self.batcher.submit(item) for item in batch]
        return [f.result() for f in futures]
