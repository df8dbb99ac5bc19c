"""Pure logic of the streams package: tables, no I/O."""

from __future__ import annotations

import cv2
import numpy as np
import pydantic
import pytest

from streams.backoff import BackoffSchedule, BackoffStep
from streams.config import CameraConfig, StreamRole, TamperConfig
from streams.credentials import mask_url, redact, with_credentials
from streams.decoder import classify_failure
from streams.frames import Frame, FrameSampler, Instant, LatestFrameSlot
from streams.health import CameraState, HealthMachine, TamperKind
from streams.tamper import TamperDetector, frame_stats

DEFAULT = BackoffSchedule()


@pytest.mark.parametrize(
    ("attempt", "rand", "expected", "expected_error"),
    [
        (0, 0.5, 1.0, None),
        (4, 0.5, 1.0, None),
        (5, 0.5, 5.0, None),
        (9, 0.5, 5.0, None),
        (10, 0.5, 10.0, None),
        (19, 0.5, 10.0, None),
        (20, 0.5, 60.0, None),
        (10_000, 0.5, 60.0, None),
        (0, 0.0, 0.9, None),  # jitter 10 % down
        (20, 0.999999, 66.0, None),  # and up
        (-1, 0.5, None, "attempt"),
        (0, 1.0, None, "rand"),
    ],
)
def test_default_backoff_schedule(attempt: int, rand: float, expected: float | None,
                                  expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            DEFAULT.delay(attempt, rand)
    else:
        assert DEFAULT.delay(attempt, rand) == pytest.approx(expected, abs=1e-3)


def test_backoff_schedule_is_data() -> None:
    schedule = BackoffSchedule(steps=[BackoffStep(delay_s=0.1, repeats=2)], final_delay_s=0.5,
                               jitter=0)
    assert [schedule.delay(i, 0.3) for i in range(4)] == [0.1, 0.1, 0.5, 0.5]
    with pytest.raises(pydantic.ValidationError):
        BackoffSchedule(steps=[BackoffStep(delay_s=0, repeats=1)])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:pw@cam:554/s1", "rtsp://admin:***@cam:554/s1"),
        ("rtsp://cam:554/s1", "rtsp://cam:554/s1"),
        ("rtsp://admin@cam/s1", "rtsp://admin@cam/s1"),
        ("rtsp://admin:p%40ss@cam/s1", "rtsp://admin:***@cam/s1"),
        ("rtsp://admin:p@ss@cam/s1", "rtsp://admin:***@cam/s1"),
        ("error: 'rtsp://u:x@h/a' and rtsps://v:y@k/b", "error: 'rtsp://u:***@h/a' and rtsps://v:***@k/b"),
        ("rtsp://:pw@cam/s1", "rtsp://:***@cam/s1"),
    ],
)
def test_mask_url(text: str, expected: str) -> None:
    assert mask_url(text) == expected


def test_redact_removes_plain_and_quoted_secrets() -> None:
    assert redact("bad p@ss and p%40ss", ["p@ss"]) == "bad *** and ***"
    assert with_credentials("rtsp://cam/s", "admin", "p@ss") == "rtsp://admin:p%40ss@cam/s"
    assert with_credentials("rtsp://u:v@cam/s", "admin", "x") == "rtsp://u:v@cam/s"


def test_camera_config_masks_and_forbids_extras() -> None:
    config = CameraConfig(id="gate-north", name="北门", url="rtsp://admin:hunter2@cam/main",
                          sub_url="rtsp://admin:hunter2@cam/sub")
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config.public_dict())
    assert config.stream_url() == "rtsp://admin:hunter2@cam/sub"
    assert config.stream_url(StreamRole.MAIN) == "rtsp://admin:hunter2@cam/main"
    assert config.masked() == "rtsp://admin:***@cam/sub"
    assert config.secrets() == ["hunter2", "hunter2"]
    separate = CameraConfig(id="c", url="rtsp://cam/main", username="u", password="pw")
    assert separate.stream_url() == "rtsp://u:pw@cam/main"
    assert "pw" not in repr(separate)


@pytest.mark.parametrize(
    ("settings", "expected_error"),
    [
        ({"id": "c", "url": "rtsp://cam/s", "detect_fps": 0}, "detect_fps"),
        ({"id": "c", "url": "rtsp://cam/s", "bogus": 1}, "bogus"),
        ({"id": "bad id", "url": "rtsp://cam/s"}, "id"),
        ({"id": "c", "url": "ftp://cam/s"}, "scheme"),
        ({"id": "c", "url": "rtsp://cam/s", "transport": "sctp"}, "transport"),
        ({"id": "c", "url": "rtsp://cam/s", "run": ["faces", "cats"]}, "run"),
        ({"id": "c", "url": "rtsp://cam/s", "transport": "udp"}, None),
        ({"id": "c", "url": "/srv/demo.mp4"}, None),
    ],
)
def test_camera_config_validation(settings: dict[str, object], expected_error: str | None) -> None:
    if expected_error:
        with pytest.raises(pydantic.ValidationError, match=expected_error):
            CameraConfig.model_validate(settings)
    else:
        CameraConfig.model_validate(settings)


@pytest.mark.parametrize(
    ("source_fps", "detect_fps", "seconds", "expected"),
    [
        (25, 5, 10, 50),
        (25, 25, 4, 100),
        (25, 50, 4, 100),  # cannot deliver more than arrives
        (30, 1, 10, 10),
        (12.5, 5, 10, 50),
    ],
)
def test_frame_sampler_keeps_the_configured_rate(source_fps: float, detect_fps: float,
                                                 seconds: float, expected: int) -> None:
    sampler = FrameSampler(detect_fps)
    times = np.arange(0, seconds, 1 / source_fps) + 100.0
    kept = sum(sampler.due(float(t)) for t in times)
    assert abs(kept - expected) <= 1


def test_frame_sampler_does_not_burst_after_a_gap() -> None:
    sampler = FrameSampler(5)
    assert sampler.due(0.0)
    assert sampler.due(10.0)  # after a 10 s outage: one frame, not 50 catch-ups
    assert not sampler.due(10.04)
    with pytest.raises(ValueError):
        FrameSampler(0)


def make_frame(seq: int, camera_id: str = "cam") -> Frame:
    return Frame(camera_id, np.zeros((4, 6, 3), np.uint8), Instant(float(seq), 0.0), seq)


def test_latest_frame_slot_drops_and_counts() -> None:
    slot = LatestFrameSlot()
    for seq in range(3):
        slot.put(make_frame(seq))
    first = slot.take(0)
    assert first is not None and (first.seq, first.dropped) == (2, 2)
    assert slot.take(0) is None  # the same frame is never delivered twice
    slot.put(make_frame(7))
    slot.clear()  # stale after a disconnect
    assert slot.take(0) is None
    slot.put(make_frame(9))
    later = slot.take(0)
    assert later is not None and (later.seq, later.dropped) == (9, 6)
    assert (slot.delivered, slot.dropped) == (2, 8)


@pytest.mark.parametrize(
    ("shape", "dtype", "expected_error"),
    [((4, 6, 3), np.uint8, None), ((4, 6), np.uint8, "image"), ((4, 6, 3), np.float32, "image")],
)
def test_frame_validates_image(shape: tuple[int, ...], dtype: type, expected_error: str | None
                               ) -> None:
    image = np.zeros(shape, dtype)
    if expected_error:
        with pytest.raises(ValueError, match=expected_error):
            Frame("c", image, Instant(0, 0), 0)  # type: ignore[arg-type]
    else:
        assert Frame("c", image, Instant(0, 0), 0).width == 6  # type: ignore[arg-type]


def at(t: float) -> Instant:
    return Instant(t, 1_700_000_000 + t)


# (step, time, expected state after, events emitted)
HEALTH_SCRIPT = [
    ("start", 0.0, CameraState.CONNECTING, 1),
    ("frame", 1.0, CameraState.ONLINE, 1),
    ("frame", 1.2, CameraState.ONLINE, 0),
    ("tick", 2.5, CameraState.ONLINE, 0),
    ("tick", 3.3, CameraState.STALLED, 1),
    ("tick", 4.0, CameraState.STALLED, 0),
    ("frame", 4.1, CameraState.ONLINE, 1),
    ("offline", 5.0, CameraState.OFFLINE, 1),
    ("offline", 6.0, CameraState.OFFLINE, 0),  # retries do not repeat the event
    ("tick", 9.0, CameraState.OFFLINE, 0),
    ("auth", 10.0, CameraState.AUTH_FAILED, 1),
    ("auth", 11.0, CameraState.AUTH_FAILED, 0),
    ("frame", 12.0, CameraState.ONLINE, 1),
]


def test_health_machine_transitions() -> None:
    machine = HealthMachine("cam", stall_after_s=2.0)
    previous = None
    for step, t, state, count in HEALTH_SCRIPT:
        if step == "start":
            events = machine.start(at(t))
        elif step == "frame":
            events = machine.frame(at(t))
        elif step == "tick":
            events = machine.tick(at(t))
        elif step == "offline":
            events = machine.failure(CameraState.OFFLINE, "refused", at(t))
        else:
            events = machine.failure(CameraState.AUTH_FAILED, "401", at(t))
        assert machine.state is state, (step, t)
        assert len(events) == count, (step, t)
        for event in events:
            assert (event.previous, event.state, event.camera_id) == (previous, state, "cam")
        previous = machine.state
    with pytest.raises(ValueError):
        machine.failure(CameraState.ONLINE, "no", at(13))
    tamper = machine.tamper(TamperKind.BLACK, True, "covered", at(14))
    assert tamper.is_tamper and tamper.state is CameraState.ONLINE
    assert tamper.to_dict()["tamper"] == "black"


@pytest.mark.parametrize(
    ("exc", "state", "fragment"),
    [
        (__import__("av").error.HTTPUnauthorizedError(
            825242872, "Server returned 401 Unauthorized (authorization failed)",
            "rtsp://admin:hunter2@cam/s"), CameraState.AUTH_FAILED, "authentication"),
        (__import__("av").error.HTTPNotFoundError(
            875574520, "Server returned 404 Not Found", "rtsp://admin:hunter2@cam/s"),
         CameraState.OFFLINE, "not found"),
        (__import__("av").error.ExitError(1414092869, "Immediate exit requested",
                                          "rtsp://admin:hunter2@cam/s"),
         CameraState.OFFLINE, "timed out"),
        (ConnectionRefusedError(111, "Connection refused"), CameraState.OFFLINE, "refused"),
        (RuntimeError("Unauthorized by hunter2"), CameraState.AUTH_FAILED, "authentication"),
        # Garbage from a server whose port reads like a 401: the URL is not the error's message.
        (__import__("av").error.InvalidDataError(
            1094995529, "Invalid data found when processing input", "rtsp://127.0.0.1:40133/stream"),
         CameraState.OFFLINE, "not a valid stream"),
    ],
)
def test_classify_failure_masks_credentials(exc: BaseException, state: CameraState,
                                            fragment: str) -> None:
    failure = classify_failure(exc, ["hunter2"])
    assert failure.state is state
    assert fragment in failure.reason
    assert "hunter2" not in failure.reason


def textured(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (90, 160), dtype=np.uint8)


def run_detector(config: TamperConfig, images: list[np.ndarray], fps: float = 1.0
                 ) -> list[tuple[float, TamperKind, bool]]:
    detector = TamperDetector(config)
    changes = []
    for i, image in enumerate(images):
        for change in detector.update(frame_stats(image), i / fps):
            changes.append((i / fps, change.kind, change.active))
    return changes


TAMPER = TamperConfig(frozen_after_s=3, black_after_s=2, defocus_after_s=2)


@pytest.mark.parametrize(
    ("name", "images", "expected"),
    [
        ("moving", [textured(i) for i in range(10)], []),
        ("frozen", [textured(1)] * 6, [(3.0, TamperKind.FROZEN, True)]),
        ("frozen then moving", [textured(1)] * 5 + [textured(2)],
         [(3.0, TamperKind.FROZEN, True), (5.0, TamperKind.FROZEN, False)]),
        ("black", [textured(i) for i in range(3)] + [np.full((90, 160), 5, np.uint8)] * 4,
         [(5.0, TamperKind.BLACK, True)]),
        ("defocused", [textured(i) for i in range(4)]
         + [cv2.GaussianBlur(textured(i), (0, 0), 4) for i in range(4, 9)],
         [(6.0, TamperKind.DEFOCUS, True)]),
        ("defocus cleared", [textured(i) for i in range(4)]
         + [cv2.GaussianBlur(textured(i), (0, 0), 4) for i in range(4, 7)] + [textured(9)],
         [(6.0, TamperKind.DEFOCUS, True), (7.0, TamperKind.DEFOCUS, False)]),
    ],
)
def test_tamper_detector(name: str, images: list[np.ndarray],
                         expected: list[tuple[float, TamperKind, bool]]) -> None:
    assert run_detector(TAMPER, images) == expected, name


def test_frame_stats_rejects_colour() -> None:
    with pytest.raises(ValueError):
        frame_stats(np.zeros((4, 4, 3), np.uint8))
