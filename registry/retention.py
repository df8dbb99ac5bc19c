"""Pure retention decisions for visitors' data (time is passed in, never read from the clock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable


def visitor_expired(valid_until: dt.datetime, now: dt.datetime, retention: dt.timedelta) -> bool:
    """Whether a visitor's data must go: ``retention`` has passed since the visit ended."""
    if retention < dt.timedelta(0):
        raise ValueError(f"retention must not be negative, got {retention}")
    if valid_until.tzinfo is None or now.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return now >= valid_until + retention


def visitors_to_purge(
    visitors: Iterable[tuple[str, dt.datetime]], now: dt.datetime, retention: dt.timedelta
) -> list[str]:
    """Ids of the ``(id, valid_until)`` visitors whose data must be purged at ``now``."""
    return [vid for vid, until in visitors if visitor_expired(until, now, retention)]


def visit_active(valid_from: dt.datetime, valid_until: dt.datetime, now: dt.datetime) -> bool:
    """Whether ``now`` falls inside the visit's validity window (both ends inclusive)."""
    return valid_from <= now <= valid_until
