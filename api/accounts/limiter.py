"""The login rate limit: failed attempts per key (a user name, a client address) in a sliding window.

Pure: every method takes the time, so tests step it instead of sleeping.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class FailureLimiter:
    """Refuses a key after ``limit`` failures within ``window_s`` seconds, until the oldest ages out.

    Args:
        limit: failures allowed in the window.
        window_s: the window, seconds.
        max_keys: keys remembered at most (the oldest are forgotten first), so a flood of
            made-up names cannot grow memory without bound.
    """

    limit: int
    window_s: float
    max_keys: int = 10_000
    _failures: dict[str, deque[float]] = field(default_factory=dict, init=False, repr=False)

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may try again, or ``None`` if it may now."""
        times = self._prune(key, now)
        if len(times) < self.limit:
            return None
        return max(times[0] + self.window_s - now, 0.0) or None

    def failed(self, key: str, now: float) -> None:
        """Record a failed attempt of ``key`` at ``now``."""
        times = self._prune(key, now)
        times.append(now)
        self._failures.pop(key, None)
        self._failures[key] = times  # most recently failed last
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures (a correct password)."""
        self._failures.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times


class LoginLimits:
    """Failed logins counted per user name and per client address (thread-safe).

    Args:
        per_user: failures of one user name allowed in ``window_s``.
        per_address: failures from one client address allowed in ``window_s`` (any names).
        window_s: the sliding window, seconds.
    """

    def __init__(self, per_user: int = 5, per_address: int = 20, window_s: float = 900.0) -> None:
        self.users = FailureLimiter(per_user, window_s)
        self.addresses = FailureLimiter(per_address, window_s)
        self._lock = threading.Lock()

    def retry_after(self, username: str, address: str | None, now: float) -> float | None:
        """Seconds until this name from this address may try again, or ``None`` if it may now."""
        with self._lock:
            waits = [self.users.retry_after(username, now),
                     None if address is None else self.addresses.retry_after(address, now)]
        return max((w for w in waits if w is not None), default=None)

    def failed(self, username: str, address: str | None, now: float) -> None:
        with self._lock:
            self.users.failed(username, now)
            if address is not None:
                self.addresses.failed(address, now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self.users.succeeded(username)
