"""The shared shell of the face model families: lazy session, warm-up, split inference.

Every family runs ``infer(batch) = postprocess(forward(preprocess(batch)))`` so that benchmarks
can time the pure model call (``forward``) apart from the numpy work around it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from vision.session import OnnxSession, SessionConfig
from vision.types import F32

logger = logging.getLogger(__name__)

InT = TypeVar("InT")
CtxT = TypeVar("CtxT")
OutT = TypeVar("OutT")


class FaceModel(ABC, Generic[InT, CtxT, OutT]):
    """An ONNX face model: ``load()``, ``preprocess``, ``forward``, ``postprocess``, ``infer``.

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
                 max_batch: int, workers: int = 1) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.path = Path(path)
        self.max_batch = max_batch
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self.config = config or SessionConfig()
        self.name = name
        self._session: OnnxSession | None = None

    @property
    def session(self) -> OnnxSession:
        """The open session (loaded on first use)."""
        if self._session is None:
            self.load()
        assert self._session is not None
        return self._session

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has run."""
        return self._session is not None

    def load(self) -> None:
        """Open the ONNX session and run one warm-up inference (idempotent)."""
        if self._session is not None:
            return
        config = self.config if self.workers == 1 else replace(self.config, intra_op_threads=1)
        self._session = OnnxSession(self.path, config)
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"{self.name}-worker")
        self.forward(self.warmup_input())
        logger.info("%s (%s) loaded from %s on %s", self.name, self.family, self.path,
                    self._session.provider)

    def close(self) -> None:
        """Stop the worker threads (the session is freed with the object)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def forward(self, tensor: F32) -> list[npt.NDArray[Any]]:
        """Run the model on a preprocessed ``(N, 3, H, W)`` float32 tensor (split over workers)."""
        session = self.session
        parts = min(self.workers, tensor.shape[0])
        if parts <= 1 or self._pool is None:
            return session.run(tensor)
        results = list(self._pool.map(session.run, np.array_split(tensor, parts)))
        return [np.concatenate([r[i] for r in results]) for i in range(len(results[0]))]

    def infer(self, batch: Sequence[InT]) -> list[OutT]:
        """One result per input, in order, in model calls of at most ``max_batch`` inputs."""
        out: list[OutT] = []
        for start in range(0, len(batch), self.max_batch):
            tensor, ctx = self.preprocess(batch[start:start + self.max_batch])
            out.extend(self.postprocess(self.forward(tensor), ctx))
        return out

    @abstractmethod
    def warmup_input(self) -> F32:
        """A representative input tensor for the warm-up call."""

    @abstractmethod
    def preprocess(self, batch: Sequence[InT]) -> tuple[F32, CtxT]:
        """Turn a batch into the model's input tensor and what postprocess needs."""

    @abstractmethod
    def postprocess(self, outputs: list[npt.NDArray[Any]], ctx: CtxT) -> list[OutT]:
        """Turn the model's outputs into one result per input."""


def normalise_nchw(batch: npt.NDArray[np.uint8], *, swap_rb: bool, mean: float | Sequence[float],
                   std: float) -> F32:
    """``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` float32 ``(x - mean) / std``.

    The channel swap and transpose are done on the uint8 array (1 byte per element), so the
    float work is one conversion and two in-place passes over a contiguous array (about 4x
    faster than transposing the float32 array).

    Args:
        batch: ``(N, H, W, 3)`` uint8, BGR.
        swap_rb: emit RGB (True) or keep BGR (False).
        mean: subtracted per *output* channel (one value or three).
        std: divisor, one value for all channels.
    """
    chans = batch[..., ::-1] if swap_rb else batch
    out = np.ascontiguousarray(chans.transpose(0, 3, 1, 2)).astype(np.float32)
    out -= np.asarray(mean, np.float32).reshape(-1, 1, 1)
    out /= np.float32(std)
    return out
