"""The demo's guard account: a fresh password on each run, one account, a guard of every camera."""

from __future__ import annotations

from api.accounts.store import Accounts
from estatewatch.demo import DEMO_GUARD, demo_guard


def test_each_demo_run_gives_the_guard_a_new_password_that_logs_in() -> None:
    accounts = Accounts.ephemeral()
    try:
        name, first = demo_guard(accounts)
        again, second = demo_guard(accounts)
        assert name == again == DEMO_GUARD and first != second
        assert accounts.login(name, first, "127.0.0.1") is None
        granted = accounts.login(name, second, "127.0.0.1")
        assert granted is not None
        user = granted[1]
        assert user.role == "guard" and user.cameras is None
        assert [u.username for u in accounts.users()].count(DEMO_GUARD) == 1
    finally:
        accounts.close()
