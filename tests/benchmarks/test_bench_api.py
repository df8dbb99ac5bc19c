"""``estatewatch bench api`` end to end, tiny: real store, real uvicorn, real HTTP and WebSocket clients.

No speed is asserted (the figures depend on the machine); only that every part ran and was counted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.cli import app


@pytest.mark.parametrize("http_client", ["lean", "httpx"])
def test_bench_api_tiny_run_writes_sane_results(tmp_path: Path, http_client: str) -> None:
    out = tmp_path / "results"
    args = ["api", "--alarms", "500", "--clients", "3", "--duration", "2", "--subscribers", "3",
            "--rate", "5", "--poll-interval", "0.5", "--list-writes", "2", "--http-client", http_client,
            "--output", str(out)]

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
        assert listing["http_client"] == http_client
        answers = listing["answers"]  # every request counted once as kept or rendered (plus the warm-up)
        assert answers["kept"] + answers["rendered"] >= listing["requests"] and answers["rendered"] >= 1
        assert listing["cpu_ms_per_request"]["server"] > 0 and listing["cpu_ms_per_request"]["clients"] > 0
    feed = run["feed"]
    assert feed["alarms"] == 10 and feed["expected"] == 30
    assert feed["deliveries"] == 30 and feed["missing"] == 0 and feed["lost_messages"] == 0
    assert feed["p99_ms"] is not None and feed["p99_ms"] >= 0
    report = (out / "api.md").read_text()
    assert "| deep_page |" in report and "open loop" in report and "CPU per request: server" in report


def test_bench_api_rejects_a_bad_option() -> None:
    result = CliRunner().invoke(app, ["api", "--clients", "0"])

    assert result.exit_code == 2
    assert "--clients" in result.output


def test_bench_api_rejects_an_unknown_http_client() -> None:
    result = CliRunner().invoke(app, ["api", "--http-client", "curl"])

    assert result.exit_code == 2
    assert "--http-client" in result.output
