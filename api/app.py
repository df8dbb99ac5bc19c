"""The FastAPI application: REST under ``/api/v1``, public probes, OpenAPI at ``/docs``."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.accounts.limiter import LoginLimits
from api.accounts.store import Accounts
from api.body_limit import ApiLimits, RequestBodyLimit
from api.console import ROUTES as CONSOLE_ROUTES
from api.console import mount_console
from api.list_answers import CheckedQueries, ListAnswers, VersionReads
from api.live import LiveHub
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
    webhooks,
)
from api.video import VideoHub, VideoSettings

PUBLIC_ROUTES = ("/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc",
                 "/openapi.json", "/api/v1/auth/login", *CONSOLE_ROUTES)
"""Routes that answer without credentials; every other route requires a token or key (a test checks).
The console's page and assets are public; everything they show comes from the authenticated API."""


def create_app(service: ServiceView, api_keys: frozenset[str], accounts: Accounts | None = None,
               login_limits: LoginLimits | None = None, live: LiveHub | None = None,
               video: VideoSettings | None = None, limits: ApiLimits | None = None) -> FastAPI:
    """Build the app around a running (or starting) service (see :class:`api.ports.ServiceView`).

    Args:
        service: what the routes read.
        api_keys: full-access keys (``ESTATEWATCH_API_KEYS`` or the generated key file).
        accounts: users, integrator keys and the audit log; without them (tests of static keys)
            a temporary database that vanishes with the process.
        login_limits: the failed-login limits (default: 5 per user, 20 per address in 15 minutes).
        live: the live alarm feed's hub (default: 256 queued events per client, a ping every 20 s).
        video: the WebRTC live-view limits (default: 4 viewers per camera).
        limits: the request body cap (default: from the environment, else 16 MiB).
    """
    if not api_keys:
        raise ValueError("at least one API key is required")
    hub = VideoHub(video)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.close()  # every live viewer goes with the app's event loop

    app = FastAPI(title="Estatewatch", version="0.1.0", lifespan=lifespan,
                  description="Security core for smart residential communities.",
                  openapi_tags=[{"name": "alarms", "description": alarms.DESCRIPTION}])
    app.state.video = hub
    with contextlib.suppress(AttributeError, ValueError):  # a second app on one service: counted once
        service.metrics.register(hub)
    app.state.service = service
    app.state.api_keys = api_keys
    app.state.accounts = accounts or Accounts.ephemeral()
    app.state.login_limits = login_limits or LoginLimits()
    app.state.live = live or LiveHub()
    app.state.list_answers = ListAnswers()
    app.state.list_versions = VersionReads()
    app.state.list_queries = CheckedQueries()
    app.add_middleware(RequestBodyLimit, max_bytes=(limits or ApiLimits()).max_request_bytes)
    app.include_router(health.router)
    app.include_router(cameras.router)
    app.include_router(alarms.router)
    for router in (auth.router, users.router, keys.router, audit.router, residents.router, vehicles.router,
                   visitors.router, watchlist.router, recognize.router, webhooks.router):
        app.include_router(router)
    mount_console(app)
    return app


def freeze_startup_heap() -> None:
    """Leave the objects alive now (modules, models, the app) out of every later garbage collection.

    Call once the service has started. Python's full collections scan every tracked object; in
    the server process (FastAPI, pydantic, SQLAlchemy and the rest imported, models loaded) each
    one stopped the event loop for up to 175 ms, about 20 times a minute under load, and all
    collections took 19% of the server's CPU (`estatewatch bench api`, 50 clients: the alarm
    list's p99 187 ms with, 65 ms without). ``gc.freeze`` moves them to a generation that is
    never scanned; what startup left behind is collected first. Objects created later are
    collected as before.
    """
    gc.collect()
    gc.freeze()
