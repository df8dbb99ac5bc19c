"""``estatewatch bench api`` end to end, tiny: real store, real uvicorn, real HTTP and WebSocket clients.

No speed is asserted (the figures depend on the machine); only that every part ran and was counted.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from benchmarks.cli import app


def test_bench_api_tiny_run_writes_sane_results(tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["api", "--alarms", "500", "--clients", "3", "--duration", "2", "--subscribers", "3",
            "--rate", "5", "--poll-interval", "0.5", "--list-writes", "2", "--output", str(out)]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    payload = json.loads((out / "api.json").read_text())
    assert payload["benchmark"] == "api" and payload["machine"]["cpu"]
    run = payload["results"][0]
    assert run["database"] == "sqlite"
    assert (run["list"]["loop"], run["list_polling"]["loop"], run["list_polling"]["interval_s"]) == (
        "closed", "open", 0.5)
    for listing, clients in ((run["list_one_client"], 1), (run["list"], 3), (run["list_polling"], 3)):
        assert listing["alarms"] == 500 and listing["clients"] == clients
        assert listing["errors"] == 0, listing["error_samples"]
        assert listing["alarms_stored_meanwhile"] >= 1
        assert listing["requests"] > 0 and listing["p99_ms"] > 0
        assert set(listing["by_kind"]) == {"first_page", "state", "camera", "severity", "day", "state_camera",
                                           "deep_page"}
    feed = run["feed"]
    assert feed["alarms"] == 10 and feed["expected"] == 30
    assert feed["deliveries"] == 30 and feed["missing"] == 0 and feed["lost_messages"] == 0
    assert feed["p99_ms"] is not None and feed["p99_ms"] >= 0
    assert "| deep_page |" in (out / "api.md").read_text() and "open loop" in (out / "api.md").read_text()


def test_bench_api_rejects_a_bad_option() -> None:
    result = CliRunner().invoke(app, ["api", "--clients", "0"])

    assert result.exit_code == 2
    assert "--clients" in result.output
