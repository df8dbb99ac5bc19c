"""The care alarm: a resident tagged ``lives_alone`` not seen by any camera for N hours.

Pure: :class:`LastSeen` records when each resident was last recognised (time passed in) and
:func:`care_alarms` turns last-seen times into alarm drafts at ``now``. Run the check
periodically (every few minutes); the dedup key is per resident, so a resident still missing at
the next check stays one alarm (see :mod:`alarms.dedup`).

A resident never seen since the watch started counts from ``watch_since`` (the service start, or
the time the resident was tagged), so a fresh install does not alarm for everyone at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from alarms.types import AlarmDraft, RuleBase, Severity, Subject, dedup_key


class CareRule(RuleBase):
    """Residents with ``tag`` not recognised by any camera for ``not_seen_h`` hours."""

    type: Literal["care_not_seen"] = "care_not_seen"
    severity: Severity = Field(default="high", description="Alarm severity.")
    tag: str = Field(default="lives_alone", min_length=1, max_length=64, description="Resident tag watched.")
    not_seen_h: float = Field(default=24.0, gt=0, le=24 * 30, description="Hours without a sighting.")
    cooldown_s: float = Field(default=12 * 3600.0, ge=0, le=7 * 86400, description="See RuleBase.")


@dataclass(frozen=True, slots=True)
class CareSubject:
    """A resident as the care check sees them (from ``registry`` ``ResidentInfo``)."""

    resident_id: str
    name: str
    tags: tuple[str, ...]
    status: str = "active"


class LastSeen:
    """When each resident was last recognised (aware datetimes; later times win)."""

    def __init__(self, initial: Mapping[str, dt.datetime] | None = None) -> None:
        self._seen: dict[str, dt.datetime] = dict(initial or {})

    def record(self, resident_id: str, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("last-seen times must be timezone-aware")
        current = self._seen.get(resident_id)
        if current is None or at > current:
            self._seen[resident_id] = at

    def get(self, resident_id: str) -> dt.datetime | None:
        return self._seen.get(resident_id)

    def as_dict(self) -> dict[str, dt.datetime]:
        return dict(self._seen)


def care_alarms(rule: CareRule, residents: Iterable[CareSubject], last_seen: Mapping[str, dt.datetime],
                watch_since: dt.datetime, now: dt.datetime) -> list[AlarmDraft]:
    """Drafts for the active residents with ``rule.tag`` unseen for ``rule.not_seen_h`` at ``now``.

    Args:
        rule: the care rule.
        residents: the registry's residents (others than tagged and active are skipped).
        last_seen: resident id -> last recognition time, aware.
        watch_since: when watching started; the reference for residents never seen.
        now: the check time, aware.
    """
    if now.tzinfo is None or watch_since.tzinfo is None:
        raise ValueError("now and watch_since must be timezone-aware")
    limit = dt.timedelta(hours=rule.not_seen_h)
    out: list[AlarmDraft] = []
    for r in residents:
        if not rule.enabled or r.status != "active" or rule.tag not in r.tags:
            continue
        seen = last_seen.get(r.resident_id)
        since = max(seen, watch_since) if seen is not None else watch_since
        if now - since >= limit:
            out.append(_draft(rule, r, seen, now))
    return out


def _draft(rule: CareRule, r: CareSubject, seen: dt.datetime | None, now: dt.datetime) -> AlarmDraft:
    subject = Subject("resident", r.resident_id)
    details = {"name": r.name, "last_seen": None if seen is None else seen.isoformat(),
               "not_seen_h": rule.not_seen_h}
    return AlarmDraft("care_not_seen", rule.severity, rule.id, None, None, now, subject,
                      dedup_key(rule.id, subject, "site"), rule.cooldown_s, details=details)
