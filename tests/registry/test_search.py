"""Search backends: exact against brute force; FAISS IVF recall against exact (optional dependency)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from registry.search import ExactSearch, make_backend, rank, top_rows
from registry.service import Registry
from registry.types import Owner
from tests.registry.builders import unit_vectors
from tests.registry.conftest import RegistryFactory


def clustered(n: int, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    centers = unit_vectors(max(1, n // 4), seed=seed)
    x = centers[np.arange(n) % len(centers)] * 0.8 + 0.6 * unit_vectors(n, seed=seed + 1)
    queries = x[rng.choice(n, 50, replace=False)] * 0.85 + 0.53 * unit_vectors(50, seed=seed + 2)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), (
        queries / np.linalg.norm(queries, axis=1, keepdims=True)
    ).astype(np.float32)


def test_top_rows_then_rank_pads_and_orders() -> None:
    sims = np.array([[0.1, 0.9, 0.5, 0.7]], np.float32)
    cols = top_rows(sims, 3)
    assert sorted(cols[0].tolist()) == [1, 2, 3]
    assert top_rows(sims, 9).tolist() == [[0, 1, 2, 3]]
    labels = np.array([[10, 11, 12, 13]], np.int64)
    scores, out = rank(np.array([[0.1, 0.9, 0.5, 0.9]]), labels, 6)
    assert out.tolist() == [[11, 13, 12, 10, -1, -1]]  # equal scores: the lower label first
    assert scores[0, :4].tolist() == [0.9, 0.9, 0.5, 0.1] and np.isneginf(scores[0, 4:]).all()


def test_exact_matches_brute_force_through_adds_and_removes() -> None:
    gallery, queries = clustered(500)
    index = ExactSearch(512)
    index.add(np.arange(500, dtype=np.int64), gallery)
    removed = np.arange(0, 500, 3, dtype=np.int64)
    index.remove(removed)
    index.add(np.array([1], np.int64), gallery[1:2] * 1.0)  # re-adding a label replaces it
    keep = np.setdiff1d(np.arange(500), removed)
    assert len(index) == len(keep)
    scores, labels = index.search(queries, 3)
    brute = queries @ gallery[keep].T
    expected = keep[np.argsort(-brute, axis=1)[:, :3]]
    assert (labels == expected).all()
    np.testing.assert_allclose(scores, np.sort(brute, axis=1)[:, ::-1][:, :3], rtol=1e-5)
    single = index.search(queries[:1], 3)
    assert (single[1] == labels[:1]).all()


@pytest.mark.parametrize("name", ["faiss-ivf", "faiss-ivf-fp16"])
def test_faiss_ivf_recall_against_exact(name: str) -> None:
    pytest.importorskip("faiss")
    gallery, queries = clustered(4000)
    exact = ExactSearch(512)
    ann = make_backend(name, 512, min_train=2000, nprobe=16)
    labels = np.arange(4000, dtype=np.int64)
    exact.add(labels, gallery)
    ann.add(labels[:1000], gallery[:1000])  # exact until trained
    ann.add(labels[1000:], gallery[1000:])  # crosses min_train: trains, then adds go to the IVF lists
    recall = np.mean(ann.search(queries, 1)[1][:, 0] == exact.search(queries, 1)[1][:, 0])
    assert recall >= 0.95
    top = ann.search(queries[:1], 1)[1][0, 0]
    ann.remove(np.array([top], np.int64))
    assert ann.search(queries[:1], 1)[1][0, 0] != top and len(ann) == 3999


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown search backend"):
        make_backend("annoy", 512)


def test_registry_with_ann_backend(make_registry: RegistryFactory) -> None:
    pytest.importorskip("faiss")
    registry: Registry = make_registry(search_backend="faiss-ivf")
    rid = registry.add_resident("A")
    vec = unit_vectors(3, seed=8)
    registry.add_templates(Owner("resident", rid), vec)
    assert [m.owner for m in registry.match_faces(vec)] == [Owner("resident", rid)] * 3
