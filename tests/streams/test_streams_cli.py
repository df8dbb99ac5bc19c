"""``estatewatch streams probe`` against the real RTSP server."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from streams.cli import app

from .conftest import PASSWORD, USER

pytestmark = pytest.mark.rtsp


def test_probe_reports_codec_rates_and_states(rtsp_server) -> None:
    result = CliRunner().invoke(app, ["probe", rtsp_server.url("live"), "--seconds", "3",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["codec"], report["width"], report["height"]) == ("h264", 320, 240)
    assert report["source_fps"] == 25
    assert report["state"] == "online" and report["reconnects"] == 0
    assert report["decoder"] == "cpu"
    # Never above the detection rate (5 fps, the sampler's slack aside); the 25 fps source's other
    # frames are decoded and dropped. Decode speed itself is measured by `estatewatch bench streams`.
    assert 0 < report["delivered_fps"] <= 5.5
    assert report["decoded_fps"] > report["delivered_fps"]
    assert [e["state"] for e in report["events"]][:2] == ["connecting", "online"]


def test_probe_masks_credentials_and_fails_on_auth(rtsp_server) -> None:
    url = rtsp_server.url("private", USER, "not-" + PASSWORD)
    result = CliRunner().invoke(app, ["probe", url, "--seconds", "2"])
    assert result.exit_code == 1
    assert "auth_failed" in result.output
    assert PASSWORD not in result.output and f"{USER}:***@" in result.output


def test_probe_names_the_decode_devices_for_a_bad_one() -> None:
    result = CliRunner().invoke(app, ["probe", "rtsp://127.0.0.1:1/x", "--decode-device", "gpu"])
    assert result.exit_code == 2
    assert "'gpu' is not one of 'cpu'" in result.output and "'cuda'" in result.output
