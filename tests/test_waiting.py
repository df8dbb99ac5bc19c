"""The bounded wait fails the test when it runs out; it never returns as if the condition held."""

from __future__ import annotations

import itertools

import pytest

from tests.waiting import wait_until


def test_returns_the_first_truthy_value() -> None:
    calls = itertools.count()
    assert wait_until(lambda: next(calls) >= 2 and "ready", timeout=10, interval=0.01, what="x") == "ready"


def test_timeout_fails_naming_what_it_waited_for_and_what_it_saw() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0.2 s waiting for 3 results; saw \[1, 2\]"):
        wait_until(lambda: False, timeout=0.2, interval=0.01, what="3 results", seen=lambda: [1, 2])


def test_timeout_shows_the_last_value_without_seen() -> None:
    with pytest.raises(AssertionError, match=r"saw 0$"):
        wait_until(lambda: 0, timeout=0.1, interval=0.01, what="a count")
