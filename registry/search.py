"""1:N search backends over L2-normalised embeddings: exact (numpy) and FAISS IVF (optional).

A backend stores ``(label, vector)`` pairs, labels being int64, and answers top-k inner-product
(cosine) queries. FAISS is imported only when its backend is built.

The exact backend finds its candidates with one float32 matrix product, then re-scores them with
correctly rounded float64 sums: a score does not depend on how many queries came in the same call
or on the CPU (BLAS picks other kernels, with other rounding, for other shapes). FAISS's IVF
scores are its own (approximate by design).
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from registry.matching import exact_dot

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class SearchBackend(Protocol):
    name: ClassVar[str]

    def add(self, labels: I64, vectors: F32) -> None: ...

    def remove(self, labels: I64) -> None: ...

    def search(self, queries: F32, k: int) -> tuple[F64, I64]:
        """Top-k of ``(Q, D)`` queries: ``(Q, k)`` scores (best first) and labels, ``-1`` padded."""
        ...

    def __len__(self) -> int: ...

    @property
    def nbytes(self) -> int: ...


def _empty(q: int, k: int) -> tuple[F64, I64]:
    return np.full((q, k), -np.inf, np.float64), np.full((q, k), -1, np.int64)


def top_rows(sims: F32, k: int) -> I64:
    """Column indices of the top-``k`` entries of each row of ``(Q, N)`` ``sims`` (unordered)."""
    q, n = sims.shape
    kk = min(k, n)
    if kk < n:
        return np.argpartition(sims, n - kk, axis=1)[:, n - kk :].astype(np.int64)
    return np.tile(np.arange(n, dtype=np.int64), (q, 1))


def rank(scores: F64, labels: I64, k: int) -> tuple[F64, I64]:
    """Sort each row's candidates best first (ties by label), ``-1``/``-inf`` padded to ``k``."""
    q, kk = scores.shape
    out_scores, out_labels = _empty(q, k)
    order = np.lexsort((labels, -scores), axis=1)
    out_scores[:, :kk] = np.take_along_axis(scores, order, axis=1)
    out_labels[:, :kk] = np.take_along_axis(labels, order, axis=1)
    return out_scores, out_labels


class ExactSearch:
    """Brute force: one matrix product over a contiguous float32 gallery (rows swapped on removal)."""

    name: ClassVar[str] = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._data: F32 = np.empty((0, dim), np.float32)
        self._labels: I64 = np.empty(0, np.int64)
        self._rows: dict[int, int] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes + self._labels.nbytes)

    def _reserve(self, n: int) -> None:
        if n <= self._data.shape[0]:
            return
        capacity = max(n, int(self._data.shape[0] * 1.25) + 64)  # memory within 1.25x of the data
        data = np.empty((capacity, self.dim), np.float32)
        data[: self._n] = self._data[: self._n]
        labels = np.full(capacity, -1, np.int64)
        labels[: self._n] = self._labels[: self._n]
        self._data, self._labels = data, labels

    def add(self, labels: I64, vectors: F32) -> None:
        self.remove(np.asarray([lb for lb in labels.tolist() if lb in self._rows], np.int64))
        self._reserve(self._n + len(labels))
        start = self._n
        self._data[start : start + len(labels)] = vectors
        self._labels[start : start + len(labels)] = labels
        for offset, label in enumerate(labels.tolist()):
            self._rows[label] = start + offset
        self._n += len(labels)

    def remove(self, labels: I64) -> None:
        for label in labels.tolist():
            row = self._rows.pop(label, None)
            if row is None:
                continue
            last = self._n - 1
            if row != last:
                self._data[row] = self._data[last]
                moved = int(self._labels[last])
                self._labels[row] = moved
                self._rows[moved] = row
            self._n = last

    def search(self, queries: F32, k: int) -> tuple[F64, I64]:
        if self._n == 0:
            return _empty(len(queries), k)
        gallery = self._data[: self._n]
        # candidates from float32 BLAS (one query: a matrix-vector product, one pass over the
        # gallery); their scores then computed exactly, so they do not depend on the call's shape
        sims = (gallery @ queries[0])[None, :] if len(queries) == 1 else queries @ gallery.T
        rows = top_rows(sims, k)
        exact = np.array(
            [[exact_dot(query, gallery[r]) for r in row] for query, row in zip(queries, rows, strict=True)],
            np.float64,
        ).reshape(rows.shape)
        return rank(exact, self._labels[rows], k)


class FaissIVFSearch:
    """FAISS inverted-file index (approximate), exact until the gallery is large enough to train.

    Args:
        dim: embedding dimension.
        nprobe: inverted lists visited per query (recall against speed).
        fp16: store vectors as float16 (half the memory, scores within ~1e-3).
        min_train: gallery size at which the IVF index is trained (exact below it).
        nlist: inverted lists; default ``4 * sqrt(N)`` rounded to a power of two.
    """

    name: ClassVar[str] = "faiss-ivf"

    def __init__(
        self,
        dim: int,
        *,
        nprobe: int = 32,
        fp16: bool = False,
        min_train: int = 20_000,
        nlist: int | None = None,
        train_sample: int = 100_000,
    ) -> None:
        import faiss

        self._faiss: Any = faiss
        self.dim, self.nprobe, self.fp16 = dim, nprobe, fp16
        self.min_train, self.nlist, self.train_sample = min_train, nlist, train_sample
        self._exact: ExactSearch | None = ExactSearch(dim)
        self._ivf: Any = None
        self._quantizer: Any = None

    def __len__(self) -> int:
        return len(self._exact) if self._exact is not None else int(self._ivf.ntotal)

    @property
    def nbytes(self) -> int:
        if self._exact is not None:
            return self._exact.nbytes
        per_vector = self.dim * (2 if self.fp16 else 4) + 8
        return int(self._ivf.ntotal) * per_vector + int(self._ivf.nlist) * self.dim * 4

    def set_nprobe(self, nprobe: int) -> None:
        """Inverted lists visited per query from now on."""
        self.nprobe = nprobe
        if self._ivf is not None:
            self._ivf.nprobe = nprobe

    @property
    def trained(self) -> bool:
        return self._ivf is not None

    def add(self, labels: I64, vectors: F32) -> None:
        if self._exact is not None:
            self._exact.add(labels, vectors)
            if len(self._exact) >= self.min_train:
                self._train_from_exact()
            return
        self._ivf.remove_ids(np.ascontiguousarray(labels, np.int64))
        self._ivf.add_with_ids(np.ascontiguousarray(vectors, np.float32), np.ascontiguousarray(labels))

    def remove(self, labels: I64) -> None:
        if self._exact is not None:
            self._exact.remove(labels)
        else:
            self._ivf.remove_ids(np.ascontiguousarray(labels, np.int64))

    def search(self, queries: F32, k: int) -> tuple[F64, I64]:
        if self._exact is not None:
            return self._exact.search(queries, k)
        scores, labels = self._ivf.search(np.ascontiguousarray(queries, np.float32), k)
        scores = np.where(labels < 0, -np.inf, scores).astype(np.float64)
        return scores, labels.astype(np.int64)

    def _train_from_exact(self) -> None:
        assert self._exact is not None
        n = len(self._exact)
        data, labels = self._exact._data[:n], self._exact._labels[:n]
        nlist = self.nlist or 2 ** max(4, round(math.log2(4 * math.sqrt(n))))
        faiss = self._faiss
        quantizer = faiss.IndexFlatIP(self.dim)
        if self.fp16:
            ivf = faiss.IndexIVFScalarQuantizer(
                quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        else:
            ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = data[rng.choice(n, size=min(n, self.train_sample, nlist * 64), replace=False)]
        ivf.cp.niter = 10
        ivf.train(np.ascontiguousarray(sample))
        ivf.add_with_ids(np.ascontiguousarray(data), np.ascontiguousarray(labels))
        ivf.nprobe = self.nprobe
        self._quantizer = quantizer  # the IVF index does not own the Python-side quantizer
        self._ivf, self._exact = ivf, None
        logger.info(
            "trained FAISS IVF index: %s vectors, %s lists, nprobe %s, fp16 %s",
            n,
            nlist,
            self.nprobe,
            self.fp16,
        )


BACKENDS = ("exact", "faiss-ivf", "faiss-ivf-fp16")
"""Names :func:`make_backend` builds."""


def make_backend(name: str, dim: int, **options: Any) -> SearchBackend:
    """Build a backend by name: ``exact``, ``faiss-ivf`` or ``faiss-ivf-fp16``."""
    if name == "exact":
        return ExactSearch(dim)
    if name in ("faiss-ivf", "faiss-ivf-fp16"):
        try:
            return FaissIVFSearch(dim, fp16=name.endswith("fp16"), **options)
        except ImportError as exc:
            raise RuntimeError(f"search backend {name!r} needs faiss-cpu (pip install faiss-cpu)") from exc
    raise ValueError(f"unknown search backend {name!r}; use {', '.join(BACKENDS)}")
