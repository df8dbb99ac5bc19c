"""The contract every model family implements, its one shared shell, and the family registry.

A family is a small class: ``load()`` opens the ONNX session and runs one warm-up
inference (so the first real frame is not slow), ``infer(batch)`` takes a list of inputs and
returns one result per input, in order. Every family subclasses :class:`OnnxModel` and runs
``infer(batch) = postprocess(forward(preprocess(batch)))``, so that benchmarks can time the
pure model call (``forward``) apart from the numpy work around it. Preprocessing is vectorised
over the batch. Which class runs a model is written in the manifest (``family``), never guessed
from tensor shapes.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from vision.session import OnnxSession, SessionConfig
from vision.types import F32

logger = logging.getLogger(__name__)

InT = TypeVar("InT")
CtxT = TypeVar("CtxT")
OutT = TypeVar("OutT")
InT_contra = TypeVar("InT_contra", contravariant=True)

UNBATCHED = 1 << 16
"""``max_batch`` of families whose callers bound the batch themselves (one call per batch)."""


@runtime_checkable
class Model(Protocol[InT_contra, OutT]):
    """A batched model: ``infer([x1, x2, ...]) == [infer([x1])[0], infer([x2])[0], ...]``."""

    name: str

    def load(self) -> None:
        """Open the session and warm it up (idempotent)."""

    def close(self) -> None:
        """Release what :meth:`load` started beyond the session (worker threads)."""

    def infer(self, batch: Sequence[InT_contra]) -> list[OutT]:
        """One result per input, in order."""
        ...


class _SharedSession:
    """One ONNX session, and its worker pool, shared by a model and all its variants."""

    def __init__(self, path: Path, config: SessionConfig, workers: int, name: str) -> None:
        self.path, self.config, self.workers, self.name = path, config, workers, name
        self.session: OnnxSession | None = None
        self.pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def open(self) -> tuple[OnnxSession, bool]:
        """The session, and whether this call opened it."""
        with self._lock:
            if self.session is not None:
                return self.session, False
            config = self.config if self.workers == 1 else replace(self.config, intra_op_threads=1)
            self.session = OnnxSession(self.path, config)
            if self.workers > 1:
                self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"{self.name}-worker")
            return self.session, True

    def close(self) -> None:
        with self._lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True)


class OnnxModel(ABC, Generic[InT, CtxT, OutT]):
    """An ONNX model: ``load()``, ``preprocess``, ``forward``, ``postprocess``, ``infer``.

    Args:
        path: the ``.onnx`` file (from :func:`models.fetch.require`).
        config: providers and threads; CPU with onnxruntime's defaults when ``None``.
        name: the model's name in the manifest (used in logs and benchmarks).
        max_batch: the most inputs per model call; :meth:`infer` splits larger batches.
        workers: CPU data parallelism. With ``workers > 1`` the session runs single-threaded
            (``intra_op_threads=1``) and :meth:`forward` splits each batch into ``workers``
            parts run concurrently on one shared session. On 2 cores this embedded faces about
            1.3x faster than one two-threaded call per batch (no per-operator thread barrier),
            and degraded much less when other processes competed for the CPU; a batch of one
            then runs on one core only, so keep 1 where single-image latency matters or on GPU.
    """

    family: ClassVar[str]

    def __init__(self, path: Path, config: SessionConfig | None = None, *, name: str,
                 max_batch: int = 8, workers: int = 1) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.path = Path(path)
        self.config = config or SessionConfig()
        self.name = name
        self.max_batch = max_batch
        self.workers = workers
        self._shared = _SharedSession(self.path, self.config, workers, name)
        self._ready = False

    @property
    def session(self) -> OnnxSession:
        """The open session (loaded on first use; shared with this model's variants)."""
        if not self._ready:
            self.load()
        assert self._shared.session is not None
        return self._shared.session

    @property
    def loaded(self) -> bool:
        """Whether the session is open."""
        return self._shared.session is not None

    def load(self) -> None:
        """Open the ONNX session and run one warm-up inference (idempotent).

        A variant (see :class:`vision.detector.OnnxDetector`) shares its original's session:
        whichever loads first opens it and warms it up at its own input.
        """
        if self._ready:
            return
        session, opened = self._shared.open()
        self._opened(session)
        self._ready = True
        if opened:
            self.forward(self.warmup_input())
            logger.info("%s (%s) loaded from %s on %s", self.name, self.family, self.path, session.provider)

    def close(self) -> None:
        """Stop the worker threads (the session is freed with the object; variants share both)."""
        self._shared.close()

    def forward(self, tensor: F32) -> list[npt.NDArray[Any]]:
        """Run the model on a preprocessed ``(N, ...)`` float32 tensor (split over workers)."""
        session = self.session
        pool = self._shared.pool
        parts = min(self.workers, tensor.shape[0])
        if parts <= 1 or pool is None:
            return session.run(tensor)
        results = list(pool.map(session.run, np.array_split(tensor, parts)))
        return [np.concatenate([r[i] for r in results]) for i in range(len(results[0]))]

    def infer(self, batch: Sequence[InT]) -> list[OutT]:
        """One result per input, in order, in model calls of at most ``max_batch`` inputs."""
        out: list[OutT] = []
        for start in range(0, len(batch), self.max_batch):
            tensor, ctx = self.preprocess(batch[start:start + self.max_batch])
            out.extend(self.postprocess(self.forward(tensor), ctx))
        return out

    def _opened(self, session: OnnxSession) -> None:
        """Read what the family needs from the open session (metadata), before the warm-up."""

    @abstractmethod
    def warmup_input(self) -> F32:
        """A representative input tensor for the warm-up call."""

    @abstractmethod
    def preprocess(self, batch: Sequence[InT]) -> tuple[F32, CtxT]:
        """Turn a batch into the model's input tensor and what postprocess needs."""

    @abstractmethod
    def postprocess(self, outputs: list[npt.NDArray[Any]], ctx: CtxT) -> list[OutT]:
        """Turn the model's outputs into one result per input."""


AnyModel = OnnxModel[Any, Any, Any]

FAMILIES: dict[str, type[AnyModel]] = {}
"""Family name (the manifest's ``family``) -> class. Filled by :func:`register_family`."""

M = TypeVar("M", bound=AnyModel)


def register_family(cls: type[M]) -> type[M]:
    """Class decorator: add a model family to :data:`FAMILIES` under its ``family`` key."""
    key = getattr(cls, "family", None)
    if not isinstance(key, str) or not key:
        raise TypeError(f"{cls.__name__} needs a non-empty ClassVar 'family'")
    if key in FAMILIES and FAMILIES[key] is not cls:
        raise TypeError(f"family {key!r} registered twice ({FAMILIES[key].__name__}, {cls.__name__})")
    FAMILIES[key] = cls
    return cls


def create(family: str, path: Path, config: SessionConfig | None = None, *, name: str,
           workers: int = 1) -> AnyModel:
    """Instantiate the class registered for ``family`` (importing all family modules first)."""
    import vision.families  # noqa: F401  (registers every family)

    try:
        cls = FAMILIES[family]
    except KeyError:
        raise KeyError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}") from None
    return cls(path, config, name=name, workers=workers)


def create_as(kind: type[M], family: str, path: Path, config: SessionConfig | None = None, *,
              name: str, workers: int = 1) -> M:
    """:func:`create`, checked to be a ``kind`` (the manifest names a family of the wrong task)."""
    model = create(family, path, config, name=name, workers=workers)
    if not isinstance(model, kind):
        raise TypeError(f"model {name}: family {family!r} is a {type(model).__name__}, "
                        f"not a {kind.__name__}")
    return model
