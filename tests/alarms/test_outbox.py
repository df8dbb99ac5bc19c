"""The outbox's pure core (retry schedule, disable decision) and its claims on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from alarms import outbox
from alarms.config import DEFAULT_RETRY_SCHEDULE_S, WebhookConfig
from alarms.outbox import DeliveryResult, decide, retry_delay, should_disable
from tests.alarms.conftest import SECRET, T0, StoreFactory, delivery_config, make_draft

DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("schedule", "attempts", "retry_after", "expected", "expected_error"),
    [
        (DEFAULT_RETRY_SCHEDULE_S, 1, None, 5.0, None),
        (DEFAULT_RETRY_SCHEDULE_S, 2, None, 300.0, None),
        (DEFAULT_RETRY_SCHEDULE_S, 7, None, 36000.0, None),
        (DEFAULT_RETRY_SCHEDULE_S, 8, None, None, None),  # budget spent
        (DEFAULT_RETRY_SCHEDULE_S, 1, 120.0, 120.0, None),  # Retry-After replaces the schedule
        (DEFAULT_RETRY_SCHEDULE_S, 1, 10**9, 86400.0, None),  # ... capped
        (DEFAULT_RETRY_SCHEDULE_S, 8, 1.0, None, None),  # ... but does not extend the budget
        ((0.0,), 1, None, None, None),
        (DEFAULT_RETRY_SCHEDULE_S, 0, None, None, "attempts_made"),
        ((), 1, None, None, "empty"),
    ],
)
def test_retry_delay(
    schedule: Any,
    attempts: int,
    retry_after: float | None,
    expected: float | None,
    expected_error: str | None,
) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            retry_delay(schedule, attempts, retry_after)
        return
    assert retry_delay(schedule, attempts, retry_after) == expected


@pytest.mark.parametrize(
    ("failing_for", "days", "expected", "expected_error"),
    [
        (None, 5.0, False, None),
        (dt.timedelta(0), 5.0, False, None),
        (5 * DAY, 5.0, False, None),  # "longer than" N days
        (5 * DAY + dt.timedelta(seconds=1), 5.0, True, None),
        (DAY, 0.5, True, None),
        (DAY, 0.0, None, "days"),
    ],
)
def test_should_disable(
    failing_for: dt.timedelta | None, days: float, expected: bool | None, expected_error: str | None
) -> None:
    since = None if failing_for is None else T0 - failing_for
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            should_disable(since, T0, days)
        return
    assert should_disable(since, T0, days) is expected


@pytest.mark.parametrize(
    ("result", "attempts", "failing_for", "status", "delay_s", "disables"),
    [
        (DeliveryResult(ok=True, status_code=200), 1, None, "delivered", 0.0, False),
        (DeliveryResult(ok=False, status_code=500), 1, DAY, "pending", 5.0, False),
        (DeliveryResult(ok=False, status_code=500), 8, DAY, "failed", 0.0, False),
        (DeliveryResult(ok=False, status_code=410, gone=True), 1, None, "dead", 0.0, True),
        (DeliveryResult(ok=False, status_code=503, retry_after_s=30.0), 2, None, "pending", 30.0, False),
        (DeliveryResult(ok=False, error="timeout"), 3, 6 * DAY, "dead", 0.0, True),
    ],
)
def test_decide(
    result: DeliveryResult,
    attempts: int,
    failing_for: dt.timedelta | None,
    status: str,
    delay_s: float,
    disables: bool,
) -> None:
    since = None if failing_for is None else T0 - failing_for
    decision = decide(result, attempts, DEFAULT_RETRY_SCHEDULE_S, since, T0, 5.0)
    assert decision.status == status
    assert decision.next_attempt_at == T0 + dt.timedelta(seconds=delay_s)
    assert (decision.disable_reason is not None) is disables


def test_claims_are_disjoint_and_leased(make_store: StoreFactory) -> None:
    hook = WebhookConfig(id="pms", url="http://127.0.0.1:9/hook", secret=SECRET)
    store = make_store(delivery_config(hook))
    for i in range(10):
        store.raise_alarm(make_draft(subject_id=f"wl-{i}"), now=T0)
    with store.engine.begin() as conn:
        first = outbox.claim(conn, ["pms"], T0, limit=6, lease_s=60)
    with store.engine.begin() as conn:
        second = outbox.claim(conn, ["pms"], T0, limit=6, lease_s=60)
    assert len(first) == 6 and len(second) == 4
    assert not {m.id for m in first} & {m.id for m in second}
    with store.engine.begin() as conn:
        assert outbox.claim(conn, ["pms"], T0 + dt.timedelta(seconds=59), limit=100, lease_s=60) == []
        again = outbox.claim(conn, ["pms"], T0 + dt.timedelta(seconds=61), limit=100, lease_s=60)
    assert sorted(m.event_id for m in again) == sorted(m.event_id for m in first + second)


def test_a_stale_claim_cannot_mark(make_store: StoreFactory) -> None:
    hook = WebhookConfig(id="pms", url="http://127.0.0.1:9/hook", secret=SECRET)
    store = make_store(delivery_config(hook))
    store.raise_alarm(make_draft(), now=T0)
    with store.engine.begin() as conn:
        (stale,) = outbox.claim(conn, ["pms"], T0, limit=1, lease_s=1)
    later = T0 + dt.timedelta(seconds=2)
    with store.engine.begin() as conn:
        (fresh,) = outbox.claim(conn, ["pms"], later, limit=1, lease_s=60)
        ok = outbox.Outcome(
            stale, DeliveryResult(ok=True, status_code=200), outbox.Decision("delivered", later), later
        )
        outbox.finish(conn, [ok], later)
    (info,) = store.messages()
    assert fresh.event_id == stale.event_id
    assert info.status == "pending" and info.attempts == 0  # the late mark was ignored
