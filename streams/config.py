"""Typed, strict configuration of one camera (the ``cameras:`` entries of the YAML file)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from streams.backoff import BackoffSchedule
from streams.credentials import mask_url, url_secrets, with_credentials


class Transport(StrEnum):
    """RTSP lower transport: TCP (interleaved, the default: survives NAT and loss) or UDP."""

    TCP = "tcp"
    UDP = "udp"


class DecodeDevice(StrEnum):
    """Where a stream's video is decoded."""

    CPU = "cpu"
    CUDA = "cuda"  # NVIDIA NVDEC through FFmpeg; frames come back to system memory


class StreamRole(StrEnum):
    """Which of a camera's streams a source reads."""

    DETECT = "detect"  # the sub-stream when the camera has one, else the main stream
    MAIN = "main"  # full resolution: snapshots and live view


class TamperConfig(BaseModel):
    """Thresholds of the tamper checks, run on a small grey thumbnail of sampled frames."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run the tamper checks at all.")
    sample_fps: float = Field(default=1.0, gt=0, le=10,
                              description="Thumbnails per second fed to the checks.")
    frozen_after_s: float = Field(default=30.0, gt=0, le=3600,
                                  description="Seconds of an unchanged image before `frozen`.")
    frozen_max_diff: float = Field(default=0.5, ge=0, le=255,
                                   description="Mean absolute grey difference still 'unchanged'.")
    black_max_mean: float = Field(default=20.0, ge=0, le=255,
                                  description="Mean grey level at or below which a frame is dark.")
    black_max_std: float = Field(default=8.0, ge=0, le=128,
                                 description="Grey standard deviation at or below which a dark "
                                             "frame counts as covered/black.")
    black_after_s: float = Field(default=5.0, gt=0, le=3600,
                                 description="Seconds of black frames before `black`.")
    defocus_ratio: float = Field(default=0.25, gt=0, lt=1,
                                 description="Sharpness below this fraction of the learnt "
                                             "baseline counts as lost detail.")
    defocus_after_s: float = Field(default=5.0, gt=0, le=3600,
                                   description="Seconds of lost detail before `defocus`.")
    baseline_alpha: float = Field(default=0.05, gt=0, le=1,
                                  description="Weight of each new sample in the sharpness baseline.")


Analysis = Literal["faces", "vehicles", "plates"]
ALL_ANALYSES: tuple[Analysis, ...] = ("faces", "vehicles", "plates")


class CameraConfig(BaseModel):
    """One camera.

    ``url`` may carry credentials (``rtsp://user:${PASSWORD}@host/...``, substituted from the
    environment by the config loader) or they come from ``username``/``password``. URLs never
    appear in ``repr``; use :meth:`public_dict` for API output.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                    description="Stable id used in alarms, API and topics.")
    name: str = Field(default="", max_length=200, description="Human name shown to guards.")
    url: str = Field(repr=False, min_length=1,
                     description="Main stream: rtsp://, rtsps://, or a local video file "
                                 "(looped, paced in real time) for demos and tests.")
    sub_url: str | None = Field(default=None, repr=False,
                                description="Optional sub-stream used for detection.")
    username: str | None = Field(default=None, description="User, if not in the URL.")
    password: SecretStr | None = Field(default=None, description="Password, if not in the URL.")
    transport: Transport = Field(default=Transport.TCP, description="RTSP lower transport.")
    detect_fps: float = Field(default=5.0, gt=0, le=60,
                              description="Frames per second handed to detection.")
    run: list[Analysis] = Field(default_factory=lambda: list(ALL_ANALYSES),
                                description="What this camera analyses (used by vision).")
    open_timeout_s: float = Field(default=5.0, gt=0, le=60,
                                  description="Give up opening a stream after this long.")
    read_timeout_s: float = Field(default=3.0, gt=0, le=60,
                                  description="Give up a read that got no data for this long.")
    stall_after_s: float = Field(default=2.0, gt=0, le=60,
                                 description="An online camera without a frame this long is "
                                             "`stalled`.")
    watchdog_s: float = Field(default=10.0, gt=0, le=600,
                              description="Restart the decoder when data arrives but no frame "
                                          "decodes for this long.")
    decode_threads: int = Field(default=1, ge=0, le=16,
                                description="Decoder threads per stream (0: FFmpeg decides).")
    decode_device: DecodeDevice = Field(
        default=DecodeDevice.CPU,
        description="Where the video is decoded: `cpu` (4.5-7% of a core per 720p25 stream on "
                    "the machines measured), or `cuda` (the NVIDIA GPU's decoder through "
                    "FFmpeg); without a usable NVIDIA driver the stream decodes on the CPU "
                    "and the log says why, once.")
    backoff: BackoffSchedule = Field(default_factory=BackoffSchedule,
                                     description="Reconnect schedule.")
    tamper: TamperConfig = Field(default_factory=TamperConfig, description="Tamper checks.")

    @field_validator("url", "sub_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None or "://" not in value:
            return value
        scheme = value.split("://", 1)[0].lower()
        if scheme not in {"rtsp", "rtsps", "file", "http", "https"}:
            raise ValueError(f"unsupported URL scheme {scheme!r}")
        return value

    def stream_url(self, role: StreamRole = StreamRole.DETECT) -> str:
        """The URL to open for ``role``, with credentials (never log it: see :meth:`masked`)."""
        url = self.url if role is StreamRole.MAIN or self.sub_url is None else self.sub_url
        password = self.password.get_secret_value() if self.password else None
        return with_credentials(url, self.username, password)

    def masked(self, role: StreamRole = StreamRole.DETECT) -> str:
        """:meth:`stream_url` with the password masked: safe for logs and API output."""
        return mask_url(self.stream_url(role))

    def secrets(self) -> list[str]:
        """Every secret string this camera carries (to scrub from error text)."""
        found = url_secrets(self.url) + (url_secrets(self.sub_url) if self.sub_url else [])
        if self.password is not None:
            found.append(self.password.get_secret_value())
        return found

    def is_file(self, role: StreamRole = StreamRole.DETECT) -> bool:
        """Whether ``role``'s stream is a local file rather than a network camera."""
        url = self.stream_url(role)
        return url.startswith("file://") or "://" not in url

    def public_dict(self) -> dict[str, Any]:
        """JSON-able view for the API: URLs masked, password left out."""
        data = self.model_dump(mode="json", exclude={"password", "url", "sub_url"})
        data["url"] = mask_url(self.url)
        data["sub_url"] = mask_url(self.sub_url) if self.sub_url else None
        return data


def file_path(url: str) -> Path:
    """The local path of a ``file://`` URL or plain path."""
    return Path(url.removeprefix("file://"))
