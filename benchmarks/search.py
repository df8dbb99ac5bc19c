"""``estatewatch bench search``: 1:N face search latency, recall and memory on synthetic templates.

The gallery imitates face embeddings: identities grouped into demographic-like clusters, several
templates per identity (cosine about 0.6 between them), queries are noisy copies of gallery items
(cosine about 0.85 with their source). ANN recall@1 is measured against exact search on the same
queries. Results go to ``benchmarks/results/search.json`` and ``search.md``.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import typer

from benchmarks.machine import load_average, machine_info, machine_line, results_dir
from benchmarks.options import choice_list, int_list
from benchmarks.record import write_result
from registry.search import BACKENDS

logger = logging.getLogger(__name__)

DIM = 512
F32 = npt.NDArray[np.float32]


def _unit(x: F32) -> F32:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def synthetic_gallery(n: int, *, per_identity: int = 5, groups: int = 256, seed: int = 0) -> F32:
    """``(n, 512)`` float32 unit templates: group -> identity -> template, built in chunks."""
    rng = np.random.default_rng(seed)
    group_centers = _unit(rng.standard_normal((groups, DIM), dtype=np.float32))
    n_ids = max(1, n // per_identity)
    ids = _unit(
        0.5 * group_centers[rng.integers(0, groups, n_ids)]
        + 0.866 * _unit(rng.standard_normal((n_ids, DIM), dtype=np.float32))
    )
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        owner = np.arange(start, stop) % n_ids
        noise = _unit(rng.standard_normal((stop - start, DIM), dtype=np.float32))
        out[start:stop] = _unit(0.8 * ids[owner] + 0.6 * noise)
    return out


def noisy_queries(gallery: F32, q: int, *, seed: int = 1) -> F32:
    rng = np.random.default_rng(seed)
    source = gallery[rng.choice(len(gallery), q, replace=False)]
    return _unit(0.85 * source + 0.53 * _unit(rng.standard_normal(source.shape, dtype=np.float32)))


@dataclass
class SearchResult:
    backend: str
    size: int
    build_s: float
    index_mib: float
    raw_f32_mib: float
    memory_ratio: float
    rss_delta_mib: float
    single_p50_ms: float
    single_p99_ms: float
    batch: int
    batch_p50_ms: float
    batch_per_query_ms: float
    recall_at_1: float | None
    nprobe: int | None = None


def _rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _latencies(fn: Any, items: list[Any]) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def run_backend(
    name: str,
    gallery: F32,
    queries: F32,
    exact_top1: npt.NDArray[np.int64] | None,
    *,
    batch: int,
    nprobes: Sequence[int | None] = (None,),
) -> tuple[list[SearchResult], npt.NDArray[np.int64]]:
    """Build one backend over ``gallery`` and measure it (once per ``nprobe`` for IVF backends)."""
    from registry.search import FaissIVFSearch, make_backend

    gc.collect()
    rss0 = _rss_mib()
    t = time.perf_counter()
    options: dict[str, Any] = {} if name == "exact" else {"min_train": 1}
    backend = make_backend(name, DIM, **options)
    backend.add(np.arange(len(gallery), dtype=np.int64), gallery)
    build_s = time.perf_counter() - t
    rss = _rss_mib() - rss0
    raw = gallery.nbytes / 2**20
    index_mib = backend.nbytes / 2**20
    results, first_top1 = [], None
    for nprobe in nprobes:
        if isinstance(backend, FaissIVFSearch) and nprobe is not None:
            backend.set_nprobe(nprobe)
        backend.search(queries[:batch], 1)  # warm-up
        single = _latencies(lambda q: backend.search(q[None], 5), list(queries))
        batches = [queries[i : i + batch] for i in range(0, len(queries) - batch + 1, batch)] or [queries]
        batched = _latencies(lambda b: backend.search(b, 5), batches)
        top1 = backend.search(queries, 1)[1][:, 0]
        first_top1 = top1 if first_top1 is None else first_top1
        recall = None if exact_top1 is None else float(np.mean(top1 == exact_top1))
        result = SearchResult(
            backend=name,
            size=len(gallery),
            build_s=round(build_s, 2),
            index_mib=round(index_mib, 1),
            raw_f32_mib=round(raw, 1),
            memory_ratio=round(index_mib / raw, 3),
            rss_delta_mib=round(rss, 1),
            single_p50_ms=round(float(np.percentile(single, 50)), 3),
            single_p99_ms=round(float(np.percentile(single, 99)), 3),
            batch=len(batches[0]),
            batch_p50_ms=round(float(np.percentile(batched, 50)), 3),
            batch_per_query_ms=round(float(np.percentile(batched, 50)) / len(batches[0]), 4),
            recall_at_1=None if recall is None else round(recall, 4),
            nprobe=backend.nprobe if isinstance(backend, FaissIVFSearch) else None,
        )
        logger.info("%s", result)
        results.append(result)
    assert first_top1 is not None
    return results, first_top1


def search(
    sizes: str = typer.Option("10000,100000,1000000", help="Gallery sizes, comma-separated."),
    backends: str = typer.Option("exact,faiss-ivf,faiss-ivf-fp16", help="Backends, comma-separated."),
    queries: int = typer.Option(300, min=10, help="Single queries per measurement (fewer at 1M exact)."),
    out: str = typer.Option("search", help="Result file stem under benchmarks/results/."),
    batch: int = typer.Option(32, min=1, help="Queries per batched search."),
    nprobe: str = typer.Option("16,32,64", help="IVF lists probed; comma-separated to sweep."),
) -> None:
    """1:N search latency (single and batched), ANN recall@1 against exact, and memory."""
    size_list = int_list(sizes, "--sizes")
    names = choice_list(backends, "--backends", BACKENDS)
    probes = int_list(nprobe, "--nprobe")
    import faiss

    threads = faiss.omp_get_max_threads()
    results: list[SearchResult] = []
    for size in size_list:
        gallery = synthetic_gallery(size)
        q = noisy_queries(gallery, min(queries, 100) if size >= 1_000_000 else queries)
        exact_top1 = None
        if "exact" in names:
            typer.echo(f"{size:,} templates: exact ...")
            res, exact_top1 = run_backend("exact", gallery, q, None, batch=batch)
            results.extend(res)
        else:  # recall needs the exact answer
            exact_top1 = np.argmax(q @ gallery.T, axis=1).astype(np.int64)
        for name in (n for n in names if n != "exact"):
            typer.echo(f"{size:,} templates: {name} (nprobe {nprobe}) ...")
            res, _ = run_backend(name, gallery, q, exact_top1, batch=batch, nprobes=probes)
            results.extend(res)
        del gallery
        gc.collect()
        _write(results, threads, out)
    typer.echo(_markdown(results))


def _write(results: list[SearchResult], threads: int, out: str = "search") -> None:
    info = machine_info()
    info["faiss_omp_threads"] = threads
    info["load_average_1_5_15"] = load_average()
    payload = {"benchmark": "search", "machine": info, "results": [asdict(r) for r in results]}
    write_result(
        payload, results_dir() / out,
        f"# 1:N face search\n\n{machine_line(info)}, {info['date']}\n\n{_markdown(results)}\n"
    )


def _markdown(results: list[SearchResult]) -> str:
    head = (
        "| backend | N | nprobe | build s | index MiB | x raw f32 | single p50 ms | single p99 ms | "
        "batch | batch p50 ms | per query ms | recall@1 |\n|" + " --- |" * 12
    )
    rows = [
        f"| {r.backend} | {r.size:,} | {r.nprobe or ''} | {r.build_s} | {r.index_mib} | {r.memory_ratio} | "
        f"{r.single_p50_ms} | {r.single_p99_ms} | {r.batch} | {r.batch_p50_ms} | {r.batch_per_query_ms} | "
        f"{'' if r.recall_at_1 is None else r.recall_at_1} |"
        for r in results
    ]
    return "\n".join([head, *rows])
