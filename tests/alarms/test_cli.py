"""``estatewatch alarms``: list, deliveries, attempts and replay against the configured database."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alarms.config import WebhookConfig
from alarms.delivery import build_relay
from alarms.store import AlarmStore
from estatewatch.cli import app
from tests.alarms.conftest import SECRET, T0, delivery_config, make_draft


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_failed_delivery_is_listed_and_replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESTATEWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ESTATEWATCH_DATABASE_URL", raising=False)
    hook = WebhookConfig(url=f"http://127.0.0.1:{closed_port()}/down", secret=SECRET, id="pms")
    store = AlarmStore.open(delivery=delivery_config(hook, schedule=[0.0]))
    alarm = store.raise_alarm(make_draft(plate_text=None), now=T0)
    build_relay(store).run_once(T0)  # the receiver is down and the budget is one attempt: failed
    store.close()
    runner = CliRunner()

    listed = runner.invoke(app, ["-q", "alarms", "list"])
    assert listed.exit_code == 0, listed.output
    assert alarm.id in listed.output and "watchlist_person" in listed.output

    failed = runner.invoke(app, ["-q", "alarms", "deliveries", "--status", "failed"])
    assert "endpoint=pms" in failed.output and "1 message(s)" in failed.output
    number = failed.output.split("#", 1)[1].split()[0]
    tries = runner.invoke(app, ["-q", "alarms", "attempts", number])
    assert "failed" in tries.output and "1 attempt(s)" in tries.output

    replayed = runner.invoke(app, ["-q", "alarms", "replay", "--endpoint", "pms"])
    assert replayed.exit_code == 0 and "queued 1 message(s) again" in replayed.output
    pending = runner.invoke(app, ["-q", "alarms", "deliveries", "--status", "pending"])
    assert "1 message(s)" in pending.output and "attempts=0" in pending.output

    nothing = runner.invoke(app, ["-q", "alarms", "replay", "--message", "999"])
    assert nothing.exit_code == 1 and "no message #999" in nothing.output
    both = runner.invoke(app, ["-q", "alarms", "replay"])
    assert both.exit_code == 2
