"""Public probes: liveness, readiness and Prometheus metrics (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: models loaded and cameras started")
def readyz(service: ServiceDep, response: Response) -> dict[str, object]:
    ready = bool(service.ready)
    if not ready:
        response.status_code = 503
    return {"status": "ready" if ready else "starting"}


@router.get("/metrics", summary="Prometheus metrics")
def metrics(service: ServiceDep) -> Response:
    service.refresh_gauges()
    return Response(generate_latest(service.metrics), media_type=CONTENT_TYPE_LATEST)
