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
        ("video: {max_viewers_per_camera: 0}", {}, r"video\.max_viewers_per_camera: Input should"),
        ("alarms: {clips: {pre_s: -1}}", {}, r"alarms\.clips\.pre_s: Input should"),
        ("alarms: {clips: {before_s: 3}}", {}, r"alarms\.clips\.before_s: Extra inputs"),
    ],
)
def test_bad_configs_say_what_is_wrong(text: str, env: dict[str, str], expected_error: str) -> None:
    with pytest.raises(ConfigError, match=expected_error):
        parse_config(text, env, "site.yaml")


def test_live_view_and_clip_settings() -> None:
    default = parse_config("", {})
    assert default.video.max_viewers_per_camera == 4
    clips = default.alarms.clips
    assert (clips.enabled, clips.pre_s, clips.post_s) == (True, 5, 5)
    cfg = parse_config("video: {max_viewers_per_camera: 2}\nalarms: {clips: {enabled: false, pre_s: 3}}", {})
    assert cfg.video.max_viewers_per_camera == 2
    assert (cfg.alarms.clips.enabled, cfg.alarms.clips.pre_s, cfg.alarms.clips.post_s) == (False, 3, 5)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_empty_file_is_an_empty_site() -> None:
    assert parse_config("", {}).cameras == []


ALARMS = """
cameras:
  - {id: lobby, url: lobby.mp4, run: [faces]}
  - {id: gate, url: gate.mp4, run: [vehicles, plates]}
zones:
  - {id: pool, camera: lobby, polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}
rules:
  - {type: watchlist_person}
  - {type: unknown_person, id: pool-stranger, zones: [pool]}
webhooks:
  - url: http://127.0.0.1:9000/hook
    secret: ${HOOK_SECRET}
    events: [alarm.raised]
mqtt: {host: 127.0.0.1, topic_prefix: estatewatch}
alarms: {retention_days: 30}
"""


def test_alarm_sections_are_parsed_into_delivery_settings() -> None:
    cfg = parse_config(ALARMS, {"HOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    delivery = cfg.delivery()
    assert [w.url for w in delivery.webhooks] == ["http://127.0.0.1:9000/hook"]
    assert delivery.mqtt[0].host == "127.0.0.1"
    assert cfg.alarms.retention_days == 30
    assert "MfKQ9r8" not in repr(cfg)


@pytest.mark.parametrize(
    ("patch", "expected_error"),
    [
        (("[pool]", "[roof]"), "roof"),
        (("{id: gate, url: gate.mp4", "{id: lobby, url: gate.mp4"), "duplicate camera ids: lobby"),
        (("whsec_", "nope_"), "whsec"),
    ],
)
def test_alarm_config_errors(patch: tuple[str, str], expected_error: str) -> None:
    text = ALARMS.replace(*patch)
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".replace(*patch) if patch[0] == "whsec_" else None
    env = {"HOOK_SECRET": secret or "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    with pytest.raises(ConfigError, match=expected_error):
        parse_config(text, env)


def test_plate_vote_settings_reach_each_cameras_vote(tmp_path: Path) -> None:
    """``alarms.plate_vote`` is the vote every vehicle track of every camera decides with."""
    from alarms.intake import Alarmist
    from alarms.rules import RuleSet

    cfg = parse_config(GOOD + "alarms:\n  plate_vote: {min_reads: 5, final_min_weight: 1.5}\n",
                       {"CAM_GATE_NORTH_PASSWORD": "x"})
    assert (cfg.alarms.plate_vote.min_reads, cfg.alarms.plate_vote.final_min_weight) == (5, 1.5)
    rules = RuleSet.build(cfg.rules, cfg.camera_runs(), cfg.zones)
    alarmist = Alarmist([c.id for c in cfg.cameras], rules, cfg.zones, store=None,  # type: ignore[arg-type]
                        registry=None, plates=cfg.alarms.plate_vote)
    vote = alarmist.observers["gate-north"].plate_vote().vote
    assert (vote.config.min_reads, vote.config.final_min_weight) == (5, 1.5)
    assert parse_config("", {}).alarms.plate_vote.min_reads == 3  # today's behaviour by default


@pytest.mark.parametrize(("text", "expected_error"), [
    ("alarms: {plate_vote: {min_reads: 0}}", r"alarms\.plate_vote\.min_reads: Input should be greater"),
    ("alarms: {plate_vote: {quorum: 2}}", r"alarms\.plate_vote\.quorum: Extra inputs"),
])
def test_bad_plate_vote_settings_name_the_key(text: str, expected_error: str) -> None:
    with pytest.raises(ConfigError, match=expected_error):
        parse_config(text, {})
