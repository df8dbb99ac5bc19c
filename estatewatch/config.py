"""Service configuration: one YAML file plus ``ESTATEWATCH_*`` environment variables.

``${VAR}`` anywhere in a YAML string is replaced from the environment, so secrets (camera
passwords, webhook secrets) live in the environment or a secret file, never in the file. A
``${VAR}`` that is not set is an error naming the variable and where it was used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alarms.config import (
    AlarmSettings,
    ConnectorConfig,
    DeliveryConfig,
    MqttConfig,
    WebhookConfig,
    one_or_many,
)
from alarms.rules import RuleConfig, RuleSet
from alarms.zones import ZoneConfig
from api.video import VideoSettings
from streams.config import Analysis, CameraConfig
from vision.config import VisionSettings
from vision.live import PipelineSettings

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """The configuration file is unreadable, malformed or refers to a missing variable."""


class ServiceConfig(BaseModel):
    """The whole YAML file."""

    model_config = ConfigDict(extra="forbid")

    cameras: list[CameraConfig] = Field(default_factory=list, description="The site's cameras.")
    vision: VisionSettings = Field(default_factory=VisionSettings, description="How models run.")
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings,
                                       description="Frame scheduling, overload and motion gating.")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Polygons per camera.")
    rules: list[RuleConfig] | None = Field(
        None, description="Alarm rules; without this section a watchlisted face or plate raises a "
        "critical alarm on every camera that runs faces or plates. An empty list disables all rules.")
    webhooks: list[WebhookConfig] = Field(default_factory=list,
                                          description="Standard Webhooks endpoints (signed alarm events).")
    mqtt: list[MqttConfig] = Field(default_factory=list, description="MQTT brokers to publish events to.")
    connectors: list[ConnectorConfig] = Field(
        default_factory=list, description="Property-management systems' own endpoints.")
    alarms: AlarmSettings = Field(default_factory=AlarmSettings, description="Alarm storage and relay.")
    video: VideoSettings = Field(default_factory=VideoSettings, description="Live view over WebRTC.")

    @field_validator("mqtt", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return one_or_many(value)

    @model_validator(mode="after")
    def _rules_fit_the_site(self) -> ServiceConfig:
        ids = [c.id for c in self.cameras]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate camera ids: {', '.join(duplicates)}")
        RuleSet.build(self.rules, self.camera_runs(), self.zones)  # unknown cameras/zones -> ValueError
        self.delivery()  # duplicate endpoint ids -> ValueError
        return self

    def camera_runs(self) -> dict[str, list[Analysis]]:
        """Camera id -> what it analyses."""
        return {c.id: list(c.run) for c in self.cameras}

    def delivery(self) -> DeliveryConfig:
        """The delivery settings of the alarm store and relay."""
        return DeliveryConfig(public_base_url=self.alarms.public_base_url, webhooks=self.webhooks,
                              mqtt=self.mqtt, connectors=self.connectors, relay=self.alarms.relay)

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera with this id (KeyError if none)."""
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)


def expand_env(value: Any, env: dict[str, str], where: str = "") -> Any:
    """Replace ``${VAR}`` in every string of a parsed YAML tree (pure: env passed in)."""
    if isinstance(value, str):
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(f"{where or 'config'}: environment variable {name} is not set")
            return env[name]
        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [expand_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    return value


def parse_config(text: str, env: dict[str, str], source: str = "config") -> ServiceConfig:
    """Parse and validate YAML text (pure)."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(raw).__name__}")
    try:
        return ServiceConfig.model_validate(expand_env(raw, env))
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{source}: invalid configuration:\n  " + "\n  ".join(lines)) from None


def load_config(path: Path | None) -> ServiceConfig:
    """Load the YAML file (``None``: an empty config: no cameras, default vision settings)."""
    if path is None:
        return ServiceConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    return parse_config(text, dict(os.environ), str(path))
