"""Event bodies (pure): the Standard Webhooks envelope and the alarm fields receivers get.

Receivers get alarm facts and a snapshot URL they can fetch with an API key; never the face crop,
its path or any embedding.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from alarms.records import Alarm, AlarmComment

PRIVATE_DETAIL_KEYS = frozenset({"embedding", "embeddings", "crop", "crop_path", "face_crop", "template"})
"""Detail keys never sent anywhere, even if a rule put them there by mistake."""


def new_event_id() -> str:
    """A ``webhook-id``: ``msg_`` + 32 hex digits."""
    return f"msg_{uuid.uuid4().hex}"


def iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, milliseconds."""
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event_type: str, occurred_at: dt.datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The body every sink sends: ``{type, timestamp, data}``."""
    return {"type": event_type, "timestamp": iso(occurred_at), "data": data}


def snapshot_url(public_base_url: str, alarm_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/api/v1/alarms/{alarm_id}/snapshot"


def clip_url(public_base_url: str, alarm_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/api/v1/alarms/{alarm_id}/clip"


def alarm_data(alarm: Alarm, public_base_url: str) -> dict[str, Any]:
    """The alarm fields an ``alarm.*`` event carries (no crop, no embeddings)."""
    return {
        "id": alarm.id,
        "type": alarm.type,
        "severity": alarm.severity,
        "state": alarm.state,
        "rule_id": alarm.rule_id,
        "camera_id": alarm.camera_id,
        "zone": alarm.zone,
        "occurred_at": iso(alarm.occurred_at),
        "subject": {"kind": alarm.subject.kind, "id": alarm.subject.id},
        "similarity": alarm.similarity,
        "plate_text": alarm.plate_text,
        "snapshot_url": snapshot_url(public_base_url, alarm.id) if alarm.snapshot_path else None,
        "clip_url": clip_url(public_base_url, alarm.id) if alarm.clip_path else None,
        "details": {k: v for k, v in alarm.details.items() if k not in PRIVATE_DETAIL_KEYS},
        "acknowledged_at": iso(alarm.acknowledged_at) if alarm.acknowledged_at else None,
        "acknowledged_by": alarm.acknowledged_by,
        "resolved_at": iso(alarm.resolved_at) if alarm.resolved_at else None,
        "resolved_by": alarm.resolved_by,
        "resolution_note": alarm.resolution_note,
        "redacted": alarm.redacted,
        "redacted_at": iso(alarm.redacted_at) if alarm.redacted_at else None,
    }


def comment_data(comment: AlarmComment) -> dict[str, Any]:
    """A comment as ``alarm.commented`` events and the comments route carry it."""
    return {
        "id": comment.id,
        "alarm_id": comment.alarm_id,
        "created_at": iso(comment.created_at),
        "author": comment.author.to_dict(),
        "text": comment.text,
    }
