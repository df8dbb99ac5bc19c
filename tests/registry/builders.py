"""Synthetic embeddings for registry tests."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def unit_vectors(n: int, dim: int = 512, seed: int = 0) -> npt.NDArray[np.float32]:
    """``(n, dim)`` random float32 unit rows."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def with_similarity(base: npt.NDArray[np.float32], cos: float, seed: int = 1) -> npt.NDArray[np.float32]:
    """A unit vector whose cosine similarity with unit ``base`` is exactly ``cos`` (up to float32)."""
    noise = np.random.default_rng(seed).standard_normal(base.shape[-1])
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    out = cos * base.astype(np.float64) + np.sqrt(1 - cos**2) * noise
    return (out / np.linalg.norm(out)).astype(np.float32)
