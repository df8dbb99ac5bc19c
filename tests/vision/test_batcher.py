"""The dynamic batcher: coalescing, limits, isolation of failures, concurrency, shutdown."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from vision.batcher import BatcherClosed, DynamicBatcher


class RecordingModel:
    """A stand-in model that records the batches it was given (the batcher is model-agnostic)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[tuple[int, int]]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, batch: list[tuple[int, int]]) -> list[tuple[int, int]]:
        with self.lock:
            self.batches.append(list(batch))
        if self.delay:
            time.sleep(self.delay)
        if any(item == (-1, -1) for item in batch):
            raise ValueError("poisoned input")
        return [(caller, value * 10) for caller, value in batch]


class GatedModel(RecordingModel):
    """Its first call waits until ``expected`` requests were submitted, so that they queue up."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.submitted = 0
        self.cond = threading.Condition()

    def submitted_one(self) -> None:
        with self.cond:
            self.submitted += 1
            self.cond.notify_all()

    def __call__(self, batch: list[tuple[int, int]]) -> list[tuple[int, int]]:
        if not self.batches:  # calls come one at a time, from the batcher's worker
            with self.cond:
                assert self.cond.wait_for(lambda: self.submitted >= self.expected, timeout=60)
        return super().__call__(batch)


@pytest.mark.parametrize("max_batch", [1, 3, 8])
def test_concurrent_callers_get_their_own_results(max_batch: int) -> None:
    model = GatedModel(expected=8)  # every caller's first request is queued before a batch runs
    with DynamicBatcher(model, max_batch=max_batch, max_wait_ms=5, name="t") as batcher:

        def caller(cid: int) -> list[tuple[int, int, tuple[int, int]]]:
            rng = random.Random(cid)
            out = []
            for _ in range(40):
                value = rng.randrange(1_000_000)
                future = batcher.submit((cid, value))
                model.submitted_one()
                out.append((cid, value, future.result(timeout=60)))
            return out

        with ThreadPoolExecutor(8) as pool:
            results = [r for chunk in pool.map(caller, range(8)) for r in chunk]
    assert len(results) == 320
    for cid, value, answer in results:
        assert answer == (cid, value * 10)
    sizes = [len(b) for b in model.batches]
    assert max(sizes) <= max_batch
    assert sum(sizes) == 320
    assert batcher.stats.requests == 320
    if max_batch > 1:
        assert max(sizes) > 1, "concurrent callers were never coalesced"


def test_full_batch_does_not_wait_for_the_deadline() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, max_batch=4, max_wait_ms=60_000, name="t")
    futures = [batcher.submit((0, i)) for i in range(4)]
    batcher.start()
    assert [f.result(timeout=10) for f in futures] == [(0, i * 10) for i in range(4)]
    assert model.batches == [[(0, 0), (0, 1), (0, 2), (0, 3)]]
    batcher.stop()


def test_lone_request_is_run_once_max_wait_has_passed() -> None:
    model = RecordingModel()
    with DynamicBatcher(model, max_batch=16, max_wait_ms=20, name="t") as batcher:
        assert batcher.submit((1, 7)).result(timeout=10) == (1, 70)
    assert model.batches == [[(1, 7)]]


def test_snapshot_counts_batches_sizes_and_model_time() -> None:
    model = RecordingModel(delay=0.003)
    batcher = DynamicBatcher(model, max_batch=4, max_wait_ms=60_000, name="t")
    futures = [batcher.submit((0, i)) for i in range(6)]  # a batch of 4 at once, 2 left waiting
    batcher.stop()  # the queued requests are finished first
    assert [f.result() for f in futures] == [(0, i * 10) for i in range(6)]
    snap = batcher.snapshot()
    assert (snap.requests, snap.batches, snap.failures, snap.queued) == (6, 2, 0, 0)
    assert snap.sizes == {4: 1, 2: 1}
    assert sum(snap.latency_counts) == 2 and snap.latency_counts[0] == 0  # each call slept 3 ms
    assert snap.latency_sum_s >= 0.006


def test_bad_input_fails_only_its_caller() -> None:
    model = RecordingModel()
    batcher = DynamicBatcher(model, max_batch=8, max_wait_ms=60_000, name="t")
    futures = [batcher.submit(item) for item in [(0, 1), (-1, -1), (0, 2)]]
    batcher.start()
    batcher.stop()
    assert futures[0].result() == (0, 10)
    assert futures[2].result() == (0, 20)
    with pytest.raises(ValueError, match="poisoned"):
        futures[1].result()
    assert batcher.stats.failures == 1


def test_wrong_number_of_results_is_an_error() -> None:
    with (
        DynamicBatcher(lambda b: [], max_batch=2, max_wait_ms=0, name="short") as batcher,
        pytest.raises(RuntimeError, match="returned 0 results for a batch of 1"),
    ):
        batcher((0, 1))


def test_stop_finishes_queued_work_and_refuses_more() -> None:
    model = RecordingModel(delay=0.01)
    batcher = DynamicBatcher(model, max_batch=2, max_wait_ms=1, name="t").start()
    futures = [batcher.submit((0, i)) for i in range(10)]
    batcher.stop()
    assert [f.result(timeout=10) for f in futures] == [(0, i * 10) for i in range(10)]
    with pytest.raises(BatcherClosed):
        batcher.submit((0, 99))


def test_asubmit_from_an_event_loop() -> None:
    model = RecordingModel()

    async def main(batcher: DynamicBatcher[tuple[int, int], tuple[int, int]]) -> list[tuple[int, int]]:
        return list(await asyncio.gather(*(batcher.asubmit((2, i)) for i in range(6))))

    with DynamicBatcher(model, max_batch=6, max_wait_ms=50, name="t") as batcher:
        assert asyncio.run(main(batcher)) == [(2, i * 10) for i in range(6)]


@pytest.mark.parametrize(
    ("max_batch", "max_wait_ms", "expected_error"),
    [(0, 1, "max_batch must be >= 1"), (4, -1, "max_wait_ms must be >= 0")],
)
def test_invalid_limits(max_batch: int, max_wait_ms: float, expected_error: str) -> None:
    with pytest.raises(ValueError, match=expected_error):
        DynamicBatcher(lambda b: b, max_batch=max_batch, max_wait_ms=max_wait_ms)


class DoublingModel:
    """Stand-in model: doubles its inputs and records every call."""

    name = "doubling"

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.loaded = False

    def load(self) -> None:
        self.loaded = True

    def close(self) -> None:
        pass

    def infer(self, batch: Sequence[int]) -> list[int]:
        self.calls.append(list(batch))
        return [2 * x for x in batch]


def test_batched_model_is_a_model_whose_callers_share_calls() -> None:
    from vision.engine import BatchedModel
    from vision.model import Model

    model = DoublingModel()
    batcher = DynamicBatcher(model.infer, max_batch=8, max_wait_ms=500, name="doubling")
    batched = BatchedModel(model, batcher.start())
    assert isinstance(batched, Model) and batched.name == "doubling"
    batched.load()
    assert model.loaded
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda k: batched.infer([k, k + 10]), range(4)))
    assert results == [[2 * k, 2 * k + 20] for k in range(4)]
    assert len(model.calls) < 8, "concurrent callers never shared a call"
    batcher.stop()


def test_lanes_run_model_calls_at_the_same_time() -> None:
    """Two lanes: two batches are inside the model at once (one lane would wait at the barrier)."""
    meet = threading.Barrier(2, timeout=30)
    threads: set[str] = set()

    def model(batch: list[int]) -> list[int]:
        threads.add(threading.current_thread().name)
        meet.wait()  # raises BrokenBarrierError if the other call never comes
        return [x * 2 for x in batch]

    with DynamicBatcher(model, max_batch=1, max_wait_ms=0, name="two", lanes=2) as batcher:
        futures = [batcher.submit(i) for i in range(2)]
        assert [f.result(timeout=30) for f in futures] == [0, 2]
    assert threads == {"batcher-two-0", "batcher-two-1"}


def test_one_lane_runs_one_call_at_a_time() -> None:
    inside, most = 0, 0
    lock = threading.Lock()

    def model(batch: list[int]) -> list[int]:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.005)
        with lock:
            inside -= 1
        return batch

    with DynamicBatcher(model, max_batch=1, max_wait_ms=0, name="one") as batcher, \
            ThreadPoolExecutor(8) as pool:
        assert list(pool.map(batcher, range(16))) == list(range(16))
    assert most == 1


@pytest.mark.parametrize("lanes", [2, 3])
def test_stop_with_lanes_finishes_queued_work_and_ends_every_lane(lanes: int) -> None:
    model = RecordingModel(delay=0.005)
    batcher = DynamicBatcher(model, max_batch=2, max_wait_ms=1, name="t", lanes=lanes).start()
    futures = [batcher.submit((0, i)) for i in range(21)]
    batcher.stop()
    assert [f.result(timeout=10) for f in futures] == [(0, i * 10) for i in range(21)]
    assert not any(t.is_alive() for t in batcher._threads)
    assert sum(len(b) for b in model.batches) == 21


def test_lanes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lanes must be >= 1"):
        DynamicBatcher(lambda b: b, max_batch=1, max_wait_ms=0, lanes=0)
