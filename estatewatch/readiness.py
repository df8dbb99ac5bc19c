"""What ``/readyz`` reports: each check of the service, and the verdict over them.

Ready means started, every model loaded and every database answering ``SELECT 1`` in time.
Cameras are reported but never make the service unready: an offline camera is an alarm for the
guards (``camera.offline``) while the API, registry and alarms keep working, and restarting
the service would not bring the camera back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Engine

from api.schemas import CameraReadiness, Check, Readiness, ReadinessChecks
from models.manifest import Task, profile_models
from storage.db import DatabaseProbe
from streams.config import CameraConfig
from streams.credentials import redact
from streams.source import SourceStats


def verdict(checks: ReadinessChecks, started: bool, start_error: str | None) -> Readiness:
    """The report: ready when no check but the cameras failed; each failure named with why (pure)."""
    named = [("service", checks.service), *((f"model {n}", c) for n, c in checks.models.items()),
             *((f"database {n}", c) for n, c in checks.database.items())]
    failures = [f"{name}: {check.detail}" for name, check in named if not check.ok]
    status = ("ready" if not failures else "failed" if start_error
              else "starting" if not started else "unready")
    return Readiness(ready=not failures, status=status, failures=failures, checks=checks)


def started_check(started: bool, start_error: str | None, cameras: int) -> Check:
    if started:
        return Check(ok=True, detail=f"started with {cameras} camera(s)")
    if start_error:
        return Check(ok=False, detail=f"failed to start: {start_error}")
    return Check(ok=False, detail="starting: opening the database, loading models, starting cameras")


def model_checks(loaded: Mapping[str, str] | None, profile: str, tasks: Sequence[Task]) -> dict[str, Check]:
    """Each model ``tasks`` need, by name: loaded (``loaded`` maps model names to tasks) or not yet."""
    needed = profile_models(profile)
    checks = {needed[t].name: Check(ok=False, detail=f"{t} not loaded yet") for t in tasks if t in needed}
    for name, task in (loaded or {}).items():
        checks[name] = Check(ok=True, detail=f"{task} loaded")
    return checks


def camera_readiness(cameras: Sequence[CameraConfig],
                     stats: Mapping[str, SourceStats]) -> dict[str, CameraReadiness]:
    """Each configured camera's state and why, passwords scrubbed."""
    out = {}
    for cam in cameras:
        found = stats.get(cam.id)
        if found is None or found.state is None:
            out[cam.id] = CameraReadiness(state="not_started", reason="its reader has not started")
        else:
            out[cam.id] = CameraReadiness(state=found.state, reason=redact(found.reason, cam.secrets()))
    return out


class DatabaseChecks:
    """``SELECT 1`` on each named database, one :class:`DatabaseProbe` per engine, kept between calls."""

    def __init__(self, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        self._probes: dict[str, DatabaseProbe] = {}

    def check(self, engines: Mapping[str, Engine | None], secrets: Sequence[str] = ()) -> dict[str, Check]:
        checks = {}
        for name, engine in engines.items():
            if engine is None:
                checks[name] = Check(ok=False, detail="not open yet")
                continue
            probe = self._probes.get(name)
            if probe is None or probe.engine is not engine:
                probe = self._probes[name] = DatabaseProbe(engine, self.timeout_s)
            why = probe.check()
            detail = "SELECT 1 answered" if why is None else redact(why, secrets)
            checks[name] = Check(ok=why is None, detail=detail)
        return checks
