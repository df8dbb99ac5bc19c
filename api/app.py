"""The FastAPI application: REST under ``/api/v1``, public probes, OpenAPI at ``/docs``."""

from __future__ import annotations

from fastapi import FastAPI

from api.ports import ServiceView
from api.routes import alarms, cameras, health, recognize, residents, vehicles, visitors, watchlist

PUBLIC_ROUTES = ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json")
"""Routes that answer without an API key; every other route requires one."""


def create_app(service: ServiceView, api_keys: frozenset[str]) -> FastAPI:
    """Build the app around a running (or starting) service (see :class:`api.ports.ServiceView`)."""
    if not api_keys:
        raise ValueError("at least one API key is required")
    app = FastAPI(title="Estatewatch", version="0.1.0",
                  description="Security core for smart residential communities.")
    app.state.service = service
    app.state.api_keys = api_keys
    app.include_router(health.router)
    app.include_router(cameras.router)
    app.include_router(alarms.router)
    for router in (residents.router, vehicles.router, visitors.router, watchlist.router, recognize.router):
        app.include_router(router)
    return app
