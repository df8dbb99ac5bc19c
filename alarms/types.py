"""The alarm a rule proposes (:class:`AlarmDraft`): shared by the rules and the alarm store.

A draft is what a pure rule returns. The store's ``raise_alarm`` turns an admitted draft into a
stored alarm (id, state, snapshot); :mod:`alarms.dedup` decides which drafts are admitted.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator


def aware_now(now: dt.datetime | None) -> dt.datetime:
    """``now``, which must be timezone-aware, or the current UTC time when ``None``."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


AlarmType = Literal[
    "watchlist_person",
    "unknown_person",
    "unregistered_vehicle",
    "watchlist_vehicle",
    "visitor_expired",
    "care_not_seen",
    "camera_offline",
    "camera_tampered",
]
ALARM_TYPES: tuple[AlarmType, ...] = get_args(AlarmType)

Severity = Literal["low", "medium", "high", "critical"]
"""Same levels as the registry's watchlist severity."""
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

SubjectKind = Literal["resident", "visitor", "watchlist", "unknown_track", "plate", "camera"]
"""Who or what an alarm is about: a registry person, an unknown track, a plate text, a camera."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom an alarm is about.

    ``id`` is the registry id for ``resident``/``visitor``/``watchlist``, ``"<camera>:<track>"``
    for ``unknown_track``, the normalised plate text for ``plate`` and the camera id for ``camera``.
    """

    kind: SubjectKind
    id: str

    def key(self) -> str:
        """``kind:id``, the subject part of a dedup key."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class AlarmDraft:
    """An alarm a rule wants raised, before dedup and storage.

    Attributes:
        type: the alarm type (see :data:`AlarmType`).
        severity: ``low`` .. ``critical``.
        rule_id: id of the rule that produced it (config ``rules[].id``).
        camera_id: the camera that saw it (``None`` for site-wide alarms such as care).
        zone: the zone id it happened in, if the rule is zone-scoped.
        occurred_at: when it happened, timezone-aware.
        subject: whom it is about.
        similarity: face cosine similarity of the best observation, if any, in [-1, 1].
        plate_text: the normalised plate text, for vehicle alarms.
        details: JSON-able extra facts (names, track id, tamper kind ...); never embeddings.
        dedup_key: ``rule|subject|scope``; equal keys are one alarm within the cooldown.
        cooldown_s: the rule's cooldown in seconds (used by :class:`alarms.dedup.Deduplicator`).
    """

    type: AlarmType
    severity: Severity
    rule_id: str
    camera_id: str | None
    zone: str | None
    occurred_at: dt.datetime
    subject: Subject
    dedup_key: str
    cooldown_s: float = 300.0
    similarity: float | None = None
    plate_text: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in ALARM_TYPES:
            raise ValueError(f"unknown alarm type {self.type!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        if not math.isfinite(self.cooldown_s) or self.cooldown_s < 0:
            raise ValueError(f"cooldown_s must be finite and >= 0, got {self.cooldown_s}")
        if not self.dedup_key:
            raise ValueError("dedup_key must not be empty")


def dedup_key(rule_id: str, subject: Subject, scope: str) -> str:
    """The dedup key of a rule firing for ``subject`` in ``scope`` (a camera, zone or ``site``)."""
    return f"{rule_id}|{subject.key()}|{scope}"


class RuleBase(BaseModel):
    """Fields every alarm rule has (the ``rules:`` entries of the YAML file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default="", pattern=r"^(|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$",
                    description="Unique rule id, in alarms and dedup keys; defaults to the rule type.")
    enabled: bool = Field(default=True, description="A disabled rule never fires.")
    cooldown_s: float = Field(default=300.0, ge=0, le=7 * 86400,
                              description="Seconds of quiet before the same (rule, subject, scope) "
                                          "raises again; every repeat restarts the wait.")

    @model_validator(mode="before")
    @classmethod
    def _default_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("id"):
            field_type = cls.model_fields.get("type")
            kind = data.get("type", field_type.default if field_type is not None else "")
            return {**data, "id": str(kind)}
        return data
