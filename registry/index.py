"""The in-memory face index: templates of one embedding model, their owners, a search backend."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from registry.matching import Candidate, reported_score
from registry.search import SearchBackend


@dataclass(frozen=True, slots=True)
class IndexedTemplate:
    template_id: str
    owner_kind: str
    owner_id: str


class FaceIndex:
    """Thread-safe template store for one embedding model (labels are internal int64 ids).

    ``version`` is the registry version this index reflects (see :class:`registry.schema.RegistryState`).
    """

    def __init__(self, model_id: str, backend: SearchBackend, dim: int = 512) -> None:
        self.model_id, self.dim, self.backend = model_id, dim, backend
        self.version = -1
        self._lock = threading.RLock()
        self._labels: dict[str, int] = {}
        self._entries: dict[int, IndexedTemplate] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._labels

    def upsert(self, templates: list[IndexedTemplate], vectors: npt.NDArray[np.float32]) -> None:
        """Add (or replace) templates; ``vectors`` is ``(N, dim)`` float32, L2-normalised."""
        if vectors.shape != (len(templates), self.dim):
            raise ValueError(f"vectors must be ({len(templates)}, {self.dim}), got {vectors.shape}")
        with self._lock:
            labels = np.empty(len(templates), np.int64)
            for i, entry in enumerate(templates):
                label = self._labels.get(entry.template_id)
                if label is None:
                    label, self._next = self._next, self._next + 1
                    self._labels[entry.template_id] = label
                self._entries[label] = entry
                labels[i] = label
            self.backend.add(labels, np.ascontiguousarray(vectors, np.float32))

    def remove(self, template_ids: list[str]) -> None:
        with self._lock:
            labels = [self._labels.pop(t) for t in template_ids if t in self._labels]
            for label in labels:
                del self._entries[label]
            if labels:
                self.backend.remove(np.asarray(labels, np.int64))

    def search(self, queries: npt.NDArray[np.float32], k: int) -> list[list[Candidate]]:
        """Top-k candidates for each of the ``(Q, dim)`` unit-norm queries, best first.

        Scores are rounded to 6 decimals (:func:`registry.matching.reported_score`).
        """
        with self._lock:
            scores, labels = self.backend.search(queries, k)
            out: list[list[Candidate]] = []
            for row_scores, row_labels in zip(scores.tolist(), labels.tolist(), strict=True):
                row = []
                for score, label in zip(row_scores, row_labels, strict=True):
                    entry = self._entries.get(label) if label >= 0 else None
                    if entry is not None:
                        score = reported_score(score)
                        row.append(Candidate(entry.template_id, entry.owner_kind, entry.owner_id, score))
                out.append(row)
            return out
