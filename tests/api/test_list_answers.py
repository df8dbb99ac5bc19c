"""The kept alarm list answers (pure): served only at the version they were rendered at, bounded."""

from __future__ import annotations

import asyncio
import threading

import pytest

from api.list_answers import MAX_ANSWER_BYTES, ListAnswers, VersionReads


def test_an_answer_is_served_only_at_its_version_and_for_its_key() -> None:
    answers = ListAnswers()
    answers.put("q1|cameras=None", 7, b"all")
    answers.put("q1|cameras=('gate',)", 7, b"gate")
    assert answers.get("q1|cameras=None", 7) == b"all"
    assert answers.get("q1|cameras=('gate',)", 7) == b"gate"
    assert answers.get("q1|cameras=('lobby',)", 7) is None
    assert answers.get("q1|cameras=None", 8) is None, "the store changed: never the old answer"
    assert answers.get("q1|cameras=None", 6) is None
    assert (answers.hits, answers.misses) == (2, 3)


def test_a_newer_version_drops_older_answers_and_an_older_render_is_not_kept() -> None:
    answers = ListAnswers()
    answers.put("a", 1, b"a1")
    answers.put("b", 2, b"b2")  # another request saw a change
    assert answers.get("a", 1) is None and answers.get("b", 2) == b"b2"
    answers.put("a", 1, b"a1 rendered late")  # read before the change: stale, not kept
    assert answers.get("a", 1) is None and answers.get("a", 2) is None


@pytest.mark.parametrize(("max_entries", "max_bytes", "bodies", "kept"), [
    (2, 1000, [b"1", b"2", b"3"], ["k2"]),          # full: start again with the newest
    (10, 5, [b"123", b"456"], ["k1"]),              # the byte cap too
    (10, 1000, [b"1", b"2"], ["k0", "k1"]),
])
def test_memory_is_bounded(max_entries: int, max_bytes: int, bodies: list[bytes], kept: list[str]) -> None:
    answers = ListAnswers(max_entries=max_entries, max_bytes=max_bytes)
    for n, body in enumerate(bodies):
        answers.put(f"k{n}", 1, body)
    assert [f"k{n}" for n in range(len(bodies)) if answers.get(f"k{n}", 1) is not None] == kept
    answers.put("huge", 1, b"x" * (MAX_ANSWER_BYTES + 1))
    assert answers.get("huge", 1) is None


def test_requests_missing_together_share_one_render_and_it_is_kept() -> None:
    answers = ListAnswers()
    started, release, renders = threading.Event(), threading.Event(), []

    def render() -> tuple[int, bytes]:  # in a pool thread
        renders.append(1)
        started.set()
        assert release.wait(10)
        return 5, b"page at 5"

    async def scenario() -> list[tuple[int, bytes]]:
        leader = asyncio.create_task(answers.answer("q", 5, render))
        while not started.is_set():
            await asyncio.sleep(0.001)
        follower = asyncio.create_task(answers.answer("q", 5, render))
        await asyncio.sleep(0.05)
        assert not follower.done(), "the second request waits for the first one's render"
        release.set()
        got = [await leader, await follower]
        assert await answers.answer("q", 5, render) == (5, b"page at 5")  # kept
        return got

    assert asyncio.run(scenario()) == [(5, b"page at 5")] * 2 and len(renders) == 1
    assert (answers.misses, answers.shared, answers.hits) == (1, 1, 1)


def test_another_version_or_key_renders_apart_and_a_failed_render_leaves_waiters_to_render() -> None:
    answers = ListAnswers()
    started, release = threading.Event(), threading.Event()

    def failing() -> tuple[int, bytes]:
        started.set()
        assert release.wait(10)
        raise RuntimeError("database gone")

    async def scenario() -> None:
        assert await answers.answer("q", 5, lambda: (6, b"read at 6")) == (6, b"read at 6")  # a change
        assert await answers.answer("q", 6, lambda: (6, b"other")) == (6, b"read at 6"), "kept as read"
        assert await answers.answer("r", 6, lambda: (6, b"r")) == (6, b"r")
        leader = asyncio.create_task(answers.answer("s", 6, failing))
        while not started.is_set():
            await asyncio.sleep(0.001)
        follower = asyncio.create_task(answers.answer("s", 6, lambda: (6, b"s")))
        await asyncio.sleep(0.01)
        release.set()
        with pytest.raises(RuntimeError, match="database gone"):
            await leader
        assert await follower == (6, b"s")

    asyncio.run(scenario())


def test_requests_waiting_for_a_render_hold_no_pool_thread() -> None:
    """60 requests wait for one render (the pool has 40 threads); another query renders meanwhile."""
    answers = ListAnswers()
    r_done = threading.Event()

    def slow() -> tuple[int, bytes]:  # finishes only once the other query has rendered
        assert r_done.wait(10), "the other render was queued behind the waiting requests"
        return 3, b"q"

    def quick() -> tuple[int, bytes]:
        r_done.set()
        return 3, b"r"

    async def scenario() -> list[tuple[int, bytes]]:
        waiting = [asyncio.create_task(answers.answer("q", 3, slow)) for _ in range(60)]
        await asyncio.sleep(0.05)
        other = await answers.answer("r", 3, quick)
        return [other, *await asyncio.gather(*waiting)]

    assert asyncio.run(scenario()) == [(3, b"r")] + [(3, b"q")] * 60
    assert (answers.misses, answers.shared) == (2, 59)


def test_version_reads_are_shared_but_never_older_than_the_request() -> None:
    """Requests arriving during a read wait for the next one; one read answers all of them."""
    calls: list[int] = []
    first_running, release = threading.Event(), threading.Event()

    def source() -> int:  # the change counter: each read sees one more change than the last
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            first_running.set()
            assert release.wait(10)
        return len(calls)

    async def scenario() -> tuple[int, list[int], int]:
        versions = VersionReads()
        first = asyncio.create_task(versions.read(source))
        while not first_running.is_set():
            await asyncio.sleep(0.001)
        later = [asyncio.create_task(versions.read(source)) for _ in range(5)]  # arrive during read 1
        await asyncio.sleep(0.01)
        release.set()
        return await first, list(await asyncio.gather(*later)), versions.reads

    first, later, reads = asyncio.run(scenario())
    assert first == 1 and later == [2] * 5, "a read begun before a request arrived never answers it"
    assert reads == 2 and calls == [1, 2]


def test_a_failed_version_read_fails_its_waiters_only() -> None:
    outcomes = iter([RuntimeError("database gone"), 7])

    def source() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def scenario() -> int:
        versions = VersionReads()
        with pytest.raises(RuntimeError, match="database gone"):
            await versions.read(source)
        return await versions.read(source)

    assert asyncio.run(scenario()) == 7
