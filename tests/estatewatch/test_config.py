"""The YAML config: ${VAR} expansion, strictness, clear errors (pure, no I/O)."""

from __future__ import annotations

from pathlib import Path

import pytest

from estatewatch.config import ConfigError, load_config, parse_config

GOOD = """
cameras:
  - id: gate-north
    name: 北门车行道
    url: rtsp://admin:${CAM_GATE_NORTH_PASSWORD}@127.0.0.1:8554/stream1
    detect_fps: 5
    run: [vehicles, plates]
vision:
  profile: permissive
"""


def test_variables_are_substituted_and_masked_in_public_output() -> None:
    cfg = parse_config(GOOD, {"CAM_GATE_NORTH_PASSWORD": "s3cret!"})
    cam = cfg.camera("gate-north")
    assert cam.stream_url().startswith("rtsp://admin:s3cret!@")
    assert "s3cret" not in str(cam.public_dict())
    assert "s3cret" not in repr(cfg)
    assert cam.run == ["vehicles", "plates"]
    assert cfg.vision.profile == "permissive"


@pytest.mark.parametrize(
    ("text", "env", "expected_error"),
    [
        (GOOD, {}, r"cameras\[0\]\.url: environment variable CAM_GATE_NORTH_PASSWORD is not set"),
        ("cameras: [{id: a, url: x.mp4, colour: red}]", {}, r"cameras\.0\.colour: Extra inputs"),
        ("cameras: [{id: a, url: x.mp4, detect_fps: 0}]", {}, r"cameras\.0\.detect_fps: Input should"),
        ("cameras: [{id: a, url: x.mp4, run: [cats]}]", {}, r"cameras\.0\.run\.0"),
        ("vision: {profile: fastest}", {}, r"vision\.profile"),
        ("- just\n- a list", {}, "top level must be a mapping"),
        ("cameras: [unclosed", {}, "not valid YAML"),
    ],
)
def test_bad_configs_say_what_is_wrong(text: str, env: dict[str, str], expected_error: str) -> None:
    with pytest.raises(ConfigError, match=expected_error):
        parse_config(text, env, "site.yaml")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_empty_file_is_an_empty_site() -> None:
    assert parse_config("", {}).cameras == []
