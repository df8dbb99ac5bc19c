"""The FastAPI application: REST under ``/api/v1``, public probes, OpenAPI at ``/docs``."""

from __future__ import annotations

from fastapi import FastAPI

from api.accounts.limiter import LoginLimits
from api.accounts.store import Accounts
from api.body_limit import ApiLimits, RequestBodyLimit
from api.ports import ServiceView
from api.routes import (
    alarms,
    audit,
    auth,
    cameras,
    health,
    keys,
    recognize,
    residents,
    users,
    vehicles,
    visitors,
    watchlist,
)

PUBLIC_ROUTES = ("/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc",
                 "/openapi.json", "/api/v1/auth/login")
"""Routes that answer without credentials; every other route requires a token or key (a test checks)."""


def create_app(service: ServiceView, api_keys: frozenset[str], accounts: Accounts | None = None,
               login_limits: LoginLimits | None = None, limits: ApiLimits | None = None) -> FastAPI:
    """Build the app around a running (or starting) service (see :class:`api.ports.ServiceView`).

    Args:
        service: what the routes read.
        api_keys: full-access keys (``ESTATEWATCH_API_KEYS`` or the generated key file).
        accounts: users, integrator keys and the audit log; without them (tests of static keys)
            a temporary database that vanishes with the process.
        login_limits: the failed-login limits (default: 5 per user, 20 per address in 15 minutes).
        limits: the request body cap (default: from the environment, else 16 MiB).
    """
    if not api_keys:
        raise ValueError("at least one API key is required")
    app = FastAPI(title="Estatewatch", version="0.1.0",
                  description="Security core for smart residential communities.")
    app.state.service = service
    app.state.api_keys = api_keys
    app.state.accounts = accounts or Accounts.ephemeral()
    app.state.login_limits = login_limits or LoginLimits()
    app.add_middleware(RequestBodyLimit, max_bytes=(limits or ApiLimits()).max_request_bytes)
    app.include_router(health.router)
    app.include_router(cameras.router)
    app.include_router(alarms.router)
    for router in (auth.router, users.router, keys.router, audit.router, residents.router, vehicles.router,
                   visitors.router, watchlist.router, recognize.router):
        app.include_router(router)
    return app
