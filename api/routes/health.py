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


@router.get("/readyz", summary="Readiness: started, models loaded, database answering; cameras reported",
            responses={503: {"model": Readiness, "description": "Not ready: `failures` says which check "
                                                                "failed and why"}})
def readyz(service: ReadinessDep, response: Response) -> Readiness:
    """200 when ready, else 503; both list every check. Offline cameras never make it 503 (see the model)."""
    report = service.readiness()
    if not report.ready:
        response.status_code = 503
    return report


@router.get("/metrics", summary="Prometheus metrics (text format)", response_class=PlainTextResponse)
def metrics(service: ReadinessDep) -> Response:
    service.refresh_gauges()
    return Response(generate_latest(service.metrics), media_type=CONTENT_TYPE_LATEST)
