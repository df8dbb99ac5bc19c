"""The pure parts of the accounts: password hashes, the login limiter, principals, the credential cache."""

from __future__ import annotations

import datetime as dt

import pytest

from api.accounts.limiter import FailureLimiter, LoginLimits
from api.accounts.passwords import ITERATIONS, hash_password, verify_password
from api.accounts.principal import ROLE_SCOPES, SCOPES, STATIC_KEY, Principal
from api.accounts.vouched import VouchedCredentials


def test_password_hashes_are_salted_slow_and_checked() -> None:
    first, second = hash_password("hunter22"), hash_password("hunter22")
    assert first != second, "salted"
    assert ITERATIONS >= 600_000 and first.split("$")[:2] == ["pbkdf2_sha256", str(ITERATIONS)]
    assert "hunter22" not in first
    assert verify_password("hunter22", first)
    assert not verify_password("hunter23", first)
    assert not verify_password("hunter22", None), "no user: false (after the same work)"


def test_a_hash_made_with_other_iterations_still_verifies() -> None:
    assert verify_password("pw", hash_password("pw", iterations=1000))


@pytest.mark.parametrize(("failures_at", "asked_at", "expected"), [
    ([], 0.0, None),                            # never failed
    ([0.0, 1.0], 2.0, None),                    # under the limit
    ([0.0, 1.0, 2.0], 3.0, 97.0),               # at the limit: wait until the oldest ages out
    ([0.0, 1.0, 2.0], 100.0, None),             # the oldest aged out
    ([0.0, 1.0, 2.0, 50.0], 100.5, 0.5),        # sliding: the second oldest now decides
])
def test_failure_limiter(failures_at: list[float], asked_at: float, expected: float | None) -> None:
    limiter = FailureLimiter(limit=3, window_s=100.0)
    for at in failures_at:
        limiter.failed("guard1", at)
    assert limiter.retry_after("guard1", asked_at) == expected
    assert limiter.retry_after("someone else", asked_at) is None


def test_success_forgets_failures_and_memory_is_bounded() -> None:
    limiter = FailureLimiter(limit=1, window_s=100.0, max_keys=2)
    limiter.failed("a", 0.0)
    limiter.succeeded("a")
    assert limiter.retry_after("a", 1.0) is None
    for name in ("b", "c", "d"):
        limiter.failed(name, 1.0)
    assert limiter.retry_after("b", 2.0) is None, "the oldest key was forgotten"
    assert limiter.retry_after("d", 2.0) == 99.0


def test_login_limits_count_names_and_addresses_apart() -> None:
    limits = LoginLimits(per_user=2, per_address=3, window_s=60.0)
    limits.failed("a", "10.0.0.1", 0.0)
    limits.failed("b", "10.0.0.1", 0.0)
    assert limits.retry_after("c", "10.0.0.2", 1.0) is None
    limits.failed("a", "10.0.0.2", 0.0)
    assert limits.retry_after("a", "10.0.0.3", 1.0) == 59.0, "name limit, from any address"
    limits.failed("c", "10.0.0.1", 30.0)
    assert limits.retry_after("d", "10.0.0.1", 31.0) == 29.0, "address limit, for any name"
    limits.succeeded("a")
    assert limits.retry_after("a", "10.0.0.3", 1.0) is None


def test_roles_and_camera_scope() -> None:
    assert ROLE_SCOPES["admin"] == frozenset(SCOPES) == STATIC_KEY.scopes
    assert "alarms:write" not in ROLE_SCOPES["viewer"] and "alarms:write" in ROLE_SCOPES["guard"]
    guard = Principal(kind="user", id="1", name="g", role="guard", scopes=ROLE_SCOPES["guard"],
                      cameras=frozenset({"gate"}))
    assert guard.may_see("gate") and not guard.may_see("lobby") and not guard.may_see(None)
    assert STATIC_KEY.may_see(None) and STATIC_KEY.may_see("lobby")
    assert guard.covers(ROLE_SCOPES["viewer"], frozenset({"gate"}))
    assert not guard.covers(ROLE_SCOPES["viewer"], None), "all cameras is more than one"
    assert not guard.covers(ROLE_SCOPES["admin"], frozenset({"gate"}))


T = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
GUARD = Principal(kind="user", id="u1", name="g", role="guard", scopes=ROLE_SCOPES["guard"], cameras=None)


@pytest.mark.parametrize(("ttl_s", "expires_in_s", "asked_after_s", "expected"), [
    (5.0, None, 0.0, GUARD),
    (5.0, None, 4.9, GUARD),
    (5.0, None, 5.0, None),            # the ttl bounds what another process's revocation may miss
    (5.0, 2.0, 1.9, GUARD),
    (5.0, 2.0, 2.0, None),             # never past the token's own expiry
    (0.0, None, 0.0, None),            # zero: no cache
])
def test_vouched_credentials_live_ttl_at_most(ttl_s: float, expires_in_s: float | None, asked_after_s: float,
                                              expected: Principal | None) -> None:
    vouched = VouchedCredentials(dt.timedelta(seconds=ttl_s))
    expires = None if expires_in_s is None else T + dt.timedelta(seconds=expires_in_s)
    vouched.put("d1", GUARD, T, vouched.generation, expires)
    assert vouched.get("d1", T + dt.timedelta(seconds=asked_after_s)) == expected
    assert vouched.get("other", T) is None


def test_vouched_credentials_drop_answers_read_before_a_revocation() -> None:
    vouched = VouchedCredentials()
    vouched.put("d1", GUARD, T, vouched.generation)
    read_at = vouched.generation  # a check reads the database ...
    vouched.clear()               # ... a revocation commits and clears ...
    vouched.put("d2", GUARD, T, read_at)  # ... and the stale answer is not kept
    assert vouched.get("d1", T) is None and vouched.get("d2", T) is None
    with pytest.raises(ValueError, match="negative"):
        VouchedCredentials(dt.timedelta(seconds=-1))
