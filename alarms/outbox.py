"""The transactional outbox: events written with the change that caused them, delivered later.

Pure core: :func:`retry_delay`, :func:`should_disable` and :func:`decide` turn one delivery
result into the message's next state. Shell: :func:`record_event` (inside the caller's
transaction), :func:`claim` (batch claim with a lease; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL)
and :func:`finish` (batch status update plus the delivery log).

A claimed row's ``next_attempt_at`` moves to the end of its lease and gets a claim token. If the
relay dies between sending and marking, the lease runs out and the message is sent again with the
same ``webhook-id``: at least once, never lost. A late mark from a relay that lost its lease is
ignored (the token no longer matches).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, bindparam, func, insert, select, update

from alarms.events import envelope, new_event_id
from alarms.records import DeliveryAttempt, OutboxMessage
from alarms.schema import ATTEMPTS, ENDPOINTS, EVENT_COUNTER, EVENTS, OUTBOX

logger = logging.getLogger(__name__)

__all__ = [
    "ATTEMPTS",
    "ENDPOINTS",
    "EVENTS",
    "OUTBOX",
    "DeliveryResult",
    "Route",
    "claim",
    "finish",
    "record_event",
]
MAX_ERROR_CHARS = 500


class Route(Protocol):
    """Where events may go: an endpoint id and its event-type filter (sinks and configs both fit)."""

    @property
    def endpoint_id(self) -> str: ...

    def accepts(self, event_type: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one delivery attempt came to.

    Attributes:
        ok: the receiver took it (2xx, or PUBACK for MQTT).
        status_code: HTTP status, ``None`` when no response came (connection, TLS, timeout).
        error: short reason for a failure (never a secret).
        retry_after_s: the receiver's Retry-After in seconds (429/503), if it sent one.
        gone: the receiver said the endpoint is gone for good (HTTP 410): disable it.
        duration_ms: wall time of the attempt.
    """

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None
    gone: bool = False
    duration_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Decision:
    """A message's next state after an attempt."""

    status: Literal["delivered", "pending", "failed", "dead"]
    next_attempt_at: dt.datetime
    disable_reason: str | None = None


def retry_delay(
    schedule: Sequence[float], attempts_made: int, retry_after_s: float | None = None, cap_s: float = 86400.0
) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` attempts, ``None`` when the budget is spent.

    ``schedule[i]`` is the delay before attempt ``i + 1``. A receiver's Retry-After replaces the
    scheduled delay (clamped to ``[0, cap_s]``) but does not extend the budget.
    """
    if attempts_made < 1:
        raise ValueError(f"attempts_made must be >= 1, got {attempts_made}")
    if not schedule:
        raise ValueError("the retry schedule must not be empty")
    if attempts_made >= len(schedule):
        return None
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), cap_s)
    return float(schedule[attempts_made])


def should_disable(failing_since: dt.datetime | None, now: dt.datetime, days: float) -> bool:
    """Whether an endpoint failing continuously since ``failing_since`` has failed for over ``days``."""
    if days <= 0:
        raise ValueError(f"days must be > 0, got {days}")
    return failing_since is not None and now - failing_since > dt.timedelta(days=days)


def decide(
    result: DeliveryResult,
    attempts_made: int,
    schedule: Sequence[float],
    failing_since: dt.datetime | None,
    now: dt.datetime,
    disable_after_days: float,
    max_retry_after_s: float = 86400.0,
) -> Decision:
    """The next state of a message after attempt number ``attempts_made`` came to ``result`` (pure)."""
    if result.ok:
        return Decision("delivered", now)
    if result.gone:
        return Decision("dead", now, f"receiver answered {result.status_code} (gone)")
    if should_disable(failing_since, now, disable_after_days):
        return Decision("dead", now, f"failing continuously for more than {disable_after_days:g} days")
    delay = retry_delay(schedule, attempts_made, result.retry_after_s, max_retry_after_s)
    if delay is None:
        return Decision("failed", now)
    return Decision("pending", now + dt.timedelta(seconds=delay))


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as recorded: its ``webhook-id``, its place in commit order and its envelope."""

    id: str
    seq: int
    payload: dict[str, Any]


def next_seq(conn: Connection) -> int:
    """The next event sequence number, taken in ``conn``'s transaction.

    The counter row stays locked until the transaction ends (on SQLite the whole database is), so
    numbers are handed out in commit order: a reader that has seen ``seq`` N has seen every event
    below N that will ever commit. Call it last in a transaction, after its other row locks.
    """
    counter = EVENT_COUNTER.c
    step = update(EVENT_COUNTER).where(counter.id == 1).values(last_seq=counter.last_seq + 1)
    seq = conn.execute(step.returning(counter.last_seq)).scalar_one_or_none()
    if seq is None:
        raise RuntimeError("the alarm store has no event counter: migrate it (alarms.db.upgrade)")
    return int(seq)


def record_event(
    conn: Connection,
    event_type: str,
    data: dict[str, Any],
    occurred_at: dt.datetime,
    now: dt.datetime,
    routes: Iterable[Route],
    first_delay_s: float = 0.0,
    alarm_id: str | None = None,
) -> RecordedEvent:
    """Record an event and queue it for every enabled endpoint that accepts it.

    Runs inside the caller's transaction: the event and its outbox rows commit (or not) with it.

    Returns:
        The recorded event: its id (the ``webhook-id``), its sequence number and its envelope.
    """
    event_id = new_event_id()
    payload = envelope(event_type, occurred_at, data)
    targets = [r.endpoint_id for r in routes if r.accepts(event_type)]
    seq = next_seq(conn)
    conn.execute(
        insert(EVENTS).values(
            id=event_id, type=event_type, occurred_at=occurred_at, alarm_id=alarm_id, payload=payload, seq=seq
        )
    )
    if targets:
        disabled = set(
            conn.execute(
                select(ENDPOINTS.c.id).where(
                    ENDPOINTS.c.id.in_(targets), ENDPOINTS.c.disabled_at.is_not(None)
                )
            ).scalars()
        )
        for endpoint_id in disabled:
            logger.warning(
                "event %s (%s) not queued for disabled endpoint %s", event_id, event_type, endpoint_id
            )
        due = now + dt.timedelta(seconds=first_delay_s)
        rows = [
            {
                "endpoint_id": e,
                "event_id": event_id,
                "type": event_type,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": due,
                "created_at": now,
                "updated_at": now,
            }
            for e in targets
            if e not in disabled
        ]
        if rows:
            conn.execute(insert(OUTBOX), rows)
    logger.debug("event %s (seq %d) %s queued for %s", event_id, seq, event_type, targets)
    return RecordedEvent(event_id, seq, payload)


def claim(
    conn: Connection, endpoint_ids: Collection[str], now: dt.datetime, limit: int, lease_s: float
) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for ``endpoint_ids`` for ``lease_s`` seconds (one statement)."""
    if not endpoint_ids:
        return []
    token = str(uuid.uuid4())
    due = (
        select(OUTBOX.c.id)
        .where(
            OUTBOX.c.status == "pending",
            OUTBOX.c.next_attempt_at <= now,
            OUTBOX.c.endpoint_id.in_(list(endpoint_ids)),
        )
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=now + dt.timedelta(seconds=lease_s), claim_token=token)
        .returning(
            OUTBOX.c.id,
            OUTBOX.c.endpoint_id,
            OUTBOX.c.event_id,
            OUTBOX.c.type,
            OUTBOX.c.payload,
            OUTBOX.c.attempts,
        )
    ).all()
    messages = [
        OutboxMessage(
            id=r.id,
            endpoint_id=r.endpoint_id,
            event_id=r.event_id,
            type=r.type,
            payload=r.payload,
            attempts=r.attempts,
            claim_token=token,
        )
        for r in rows
    ]
    messages.sort(key=lambda m: m.id)
    return messages


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished attempt: the message, what happened and what comes next."""

    message: OutboxMessage
    result: DeliveryResult
    decision: Decision
    attempted_at: dt.datetime


def _attempt_outcome(outcome: Outcome) -> str:
    status = outcome.decision.status
    return "retry" if status == "pending" else status


def finish(conn: Connection, outcomes: Sequence[Outcome], now: dt.datetime) -> list[DeliveryAttempt]:
    """Write the messages' new states (only where the claim is still ours) and the delivery log."""
    if not outcomes:
        return []
    conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("b_id"), OUTBOX.c.claim_token == bindparam("b_token"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            claim_token=None,
            updated_at=now,
            last_status_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
        )
        .execution_options(synchronize_session=False),
        [
            {
                "b_id": o.message.id,
                "b_token": o.message.claim_token,
                "b_status": o.decision.status,
                "b_attempts": o.message.attempts + 1,
                "b_next": o.decision.next_attempt_at,
                "b_code": o.result.status_code,
                "b_error": (o.result.error or "")[:MAX_ERROR_CHARS] or None,
            }
            for o in outcomes
        ],
    )
    # A message deleted meanwhile (its endpoint was deleted) is not logged: it has no row to refer to.
    ids = [o.message.id for o in outcomes]
    kept = set(conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.id.in_(ids))).scalars())
    attempts = [
        DeliveryAttempt(
            message_id=o.message.id,
            endpoint_id=o.message.endpoint_id,
            event_id=o.message.event_id,
            attempted_at=o.attempted_at,
            outcome=_attempt_outcome(o),  # type: ignore[arg-type]
            status_code=o.result.status_code,
            error=(o.result.error or "")[:MAX_ERROR_CHARS] or None,
            duration_ms=o.result.duration_ms,
        )
        for o in outcomes
        if o.message.id in kept
    ]
    if not attempts:
        return []
    conn.execute(
        insert(ATTEMPTS),
        [
            {
                "message_id": a.message_id,
                "endpoint_id": a.endpoint_id,
                "event_id": a.event_id,
                "attempted_at": a.attempted_at,
                "outcome": a.outcome,
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in attempts
        ],
    )
    return attempts


def pending_by_endpoint(conn: Connection) -> dict[str, int]:
    """Messages waiting for delivery (first attempt or retry), by endpoint id."""
    query = (select(OUTBOX.c.endpoint_id, func.count()).where(OUTBOX.c.status == "pending")
             .group_by(OUTBOX.c.endpoint_id))
    return {endpoint_id: int(count) for endpoint_id, count in conn.execute(query)}


def ensure_endpoints(conn: Connection, endpoint_ids: Iterable[str]) -> None:
    """Create the health rows of endpoints seen for the first time."""
    wanted = set(endpoint_ids)
    known = set(conn.execute(select(ENDPOINTS.c.id).where(ENDPOINTS.c.id.in_(wanted))).scalars())
    missing = wanted - known
    if missing:
        conn.execute(insert(ENDPOINTS), [{"id": e} for e in sorted(missing)])


def disabled_endpoints(conn: Connection, endpoint_ids: Collection[str]) -> set[str]:
    return set(
        conn.execute(
            select(ENDPOINTS.c.id).where(
                ENDPOINTS.c.id.in_(list(endpoint_ids)), ENDPOINTS.c.disabled_at.is_not(None)
            )
        ).scalars()
    )


def disable_endpoint(conn: Connection, endpoint_id: str, reason: str, now: dt.datetime) -> bool:
    """Disable an endpoint and give up its queued messages (``dead``); False if it already was."""
    changed = conn.execute(
        update(ENDPOINTS)
        .where(ENDPOINTS.c.id == endpoint_id, ENDPOINTS.c.disabled_at.is_(None))
        .values(disabled_at=now, disabled_reason=reason)
    ).rowcount
    if not changed:
        return False
    conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.endpoint_id == endpoint_id, OUTBOX.c.status == "pending")
        .values(status="dead", claim_token=None, updated_at=now, last_error=reason)
    )
    return True


def enable_endpoint(conn: Connection, endpoint_id: str) -> None:
    """Re-enable an endpoint; its health starts afresh (replay its dead messages separately)."""
    conn.execute(
        update(ENDPOINTS)
        .where(ENDPOINTS.c.id == endpoint_id)
        .values(disabled_at=None, disabled_reason=None, failing_since=None)
    )


def replay(
    conn: Connection, now: dt.datetime, *, message_id: int | None = None, endpoint_id: str | None = None
) -> int:
    """Queue a message again, or all ``failed``/``dead`` ones of an endpoint; returns how many.

    The attempt budget starts afresh; the event id (``webhook-id``) stays the same.
    """
    if (message_id is None) == (endpoint_id is None):
        raise ValueError("give exactly one of message_id and endpoint_id")
    stmt = update(OUTBOX).values(
        status="pending", attempts=0, next_attempt_at=now, claim_token=None, updated_at=now
    )
    if message_id is not None:
        stmt = stmt.where(OUTBOX.c.id == message_id)
    else:
        stmt = stmt.where(OUTBOX.c.endpoint_id == endpoint_id, OUTBOX.c.status.in_(("failed", "dead")))
    return int(conn.execute(stmt).rowcount)
