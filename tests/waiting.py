"""Bounded waits for tests: a wait that runs out fails the test, it never returns silently."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float, what: str,
               seen: Callable[[], object] | None = None, interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    Raises ``AssertionError`` after ``timeout`` seconds, naming ``what`` was awaited and what
    was seen instead (``seen()`` if given, else the condition's last value), so a timeout can
    never pass for success. Give generous timeouts: this asserts behaviour, not speed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            observed = seen() if seen is not None else value
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; saw {observed!r}")
        time.sleep(interval)
