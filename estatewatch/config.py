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
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.config import CameraConfig
from vision.config import VisionSettings

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """The configuration file is unreadable, malformed or refers to a missing variable."""


class ServiceConfig(BaseModel):
    """The whole YAML file."""

    model_config = ConfigDict(extra="forbid")

    cameras: list[CameraConfig] = Field(default_factory=list, description="The site's cameras.")
    vision: VisionSettings = Field(default_factory=VisionSettings, description="How models run.")

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
