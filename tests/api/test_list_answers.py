"""The kept alarm list answers (pure): served only at the version they were rendered at, bounded."""

from __future__ import annotations

import pytest

from api.list_answers import MAX_ANSWER_BYTES, ListAnswers


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
