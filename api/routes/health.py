"""Public probes: liveness, readiness and Prometheus metrics (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ReadinessDep
from api.schemas import Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> Liveness:
    return Liveness()


@router.get("/readyz", summary="Readiness: models loaded and cameras started",
            responses={503: {"model": Readiness, "description": "Still starting"}})
def readyz(service: ReadinessDep, response: Response) -> Readiness:
    if not service.ready:
        response.status_code = 503
        return Readiness(status="starting")
    return Readiness(status="ready")


@router.get("/metrics", summary="Prometheus metrics (text format)", response_class=PlainTextResponse)
def metrics(service: ReadinessDep) -> Response:
    service.refresh_gauges()
    return Response(generate_latest(service.metrics), media_type=CONTENT_TYPE_LATEST)
