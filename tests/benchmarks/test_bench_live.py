"""``estatewatch bench live`` end to end, tiny: the real service with one RTSP camera, two real subscribers.

No speed is asserted (the figures depend on the machine); only that both phases ran, the pipeline
was counted, and every alarm stored while the subscribers listened reached both of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from estatewatch.cli import app, main
from streams.testing.server import gstreamer_missing


@pytest.mark.skipif(gstreamer_missing() is not None, reason="GStreamer RTSP server not installed")
def test_bench_live_tiny_run_delivers_every_alarm_to_every_subscriber(tmp_path: Path) -> None:
    out = tmp_path / "results"
    args = ["--cameras", "1", "--subscribers", "2", "--rate", "4", "--seconds", "5", "--rounds", "1",
            "--warmup", "1", "--output", str(out)]

    result = CliRunner().invoke(app, ["bench", "live", *args])

    assert result.exit_code == 0, result.output
    payload = json.loads((out / "live.json").read_text())
    assert payload["benchmark"] == "live" and payload["machine"]["cpu"]
    (run,) = payload["runs"]
    assert run["cameras"] == 1
    assert [p["phase"] for p in run["phases"]] == ["without", "with"]
    assert all(p["sampled"] > 0 and p["alarms_stored"] == 20 for p in run["phases"])
    feed = run["feed"]
    assert feed["alarms"] >= 20  # the bench's, and the pipeline's own if it raised any
    assert feed["expected"] == 2 * feed["alarms"] == feed["deliveries"]
    assert feed["missing"] == 0 and feed["lost_messages"] == 0
    assert feed["p99_ms"] is not None and feed["p99_ms"] >= 0
    assert "| 1 | 1 | with |" in (out / "live.md").read_text()
    assert (out / "live-drops-latency.png").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--cameras", "65"], "65 is above 64"),
    (["--cameras", "two"], "'two' is not a whole number >= 1"),
    (["--subscribers", "0"], "--subscribers"),
])
def test_bench_live_rejects_a_bad_option_in_one_line(args: list[str], message: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "live", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
