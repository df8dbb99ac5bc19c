"""ArcFace face embedder (InsightFace ``w600k_mbf``, MobileFaceNet trained on WebFace600K).

Model contract: input ``(N, 3, 112, 112)`` float32 RGB ``(x - 127.5) / 127.5`` of an
ArcFace-aligned crop (see :mod:`vision.face.align`); output ``(N, 512)``. The fetcher stores the
model with a symbolic batch dimension, so one call embeds many faces.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from models.manifest import EMBEDDING_DIM
from vision.face.align import ALIGNED_SIZE
from vision.model import Model, OnnxModel, register_family
from vision.ops import normalise_nchw
from vision.session import SessionConfig
from vision.types import F32, Image

logger = logging.getLogger(__name__)


def l2_normalise(x: F32, eps: float = 1e-12) -> F32:
    """Rows of ``(N, D)`` scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: F32 = (x / np.maximum(norms, eps)).astype(np.float32, copy=False)
    return out


def embed_crops(embedder: Model[Image, F32], crops: npt.NDArray[np.uint8]) -> F32:
    """``(N, 112, 112, 3)`` uint8 BGR aligned crops -> ``(N, 512)`` float32 rows, via ``infer``."""
    rows = embedder.infer(list(crops))
    if not rows:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    return np.stack(rows).astype(np.float32, copy=False)


@register_family
class ArcFaceEmbedder(OnnxModel[Image, int, F32]):
    """ArcFace: ``infer(list of (112, 112, 3) uint8 BGR aligned crops) -> list[(512,) float32]``.

    Embeddings are L2-normalised, so cosine similarity is a dot product.

    Args:
        path: the ONNX file.
        config: session providers and threads.
        name: manifest name.
        max_batch: most crops per model call. On 2 CPU cores 8 was fastest per face
            (larger batches fall out of cache); raise it on a GPU.
        workers: CPU data parallelism inside each call (see :class:`~vision.model.OnnxModel`).
    """

    family: ClassVar[str] = "arcface"

    def __init__(
        self,
        path: Path,
        config: SessionConfig | None = None,
        *,
        name: str = "w600k_mbf",
        max_batch: int = 8,
        workers: int = 1,
    ) -> None:
        super().__init__(path, config, name=name, max_batch=max_batch, workers=workers)

    def warmup_input(self) -> F32:
        return np.zeros((1, 3, ALIGNED_SIZE, ALIGNED_SIZE), np.float32)

    def embed(self, crops: npt.NDArray[np.uint8]) -> F32:
        """``(N, 112, 112, 3)`` uint8 BGR crops -> ``(N, 512)`` float32 unit rows, ``max_batch`` per call."""
        return embed_crops(self, crops)

    def preprocess(self, batch: Sequence[Image] | npt.NDArray[np.uint8]) -> tuple[F32, int]:
        """Crops -> ``(N, 3, 112, 112)`` float32 RGB ``(x - 127.5) / 127.5``; ctx is N."""
        crops = batch if isinstance(batch, np.ndarray) else np.stack(batch)
        if crops.shape[1:] != (ALIGNED_SIZE, ALIGNED_SIZE, 3) or crops.dtype != np.uint8:
            raise ValueError(f"expected (N, {ALIGNED_SIZE}, {ALIGNED_SIZE}, 3) uint8 crops, "
                             f"got {crops.shape} {crops.dtype}")
        return normalise_nchw(crops, swap_rb=True, mean=127.5, std=127.5), int(crops.shape[0])

    def postprocess(self, outputs: list[npt.NDArray[Any]], ctx: int) -> list[F32]:
        """``(N, 512)`` raw features -> N unit-length ``(512,)`` float32 vectors."""
        features = np.asarray(outputs[0], np.float32).reshape(ctx, -1)
        return list(l2_normalise(features))
