"""A cap on the size of every request body, enforced before anything parses it.

Per-file limits (:mod:`api.uploads`) apply only after Starlette has spooled a whole multipart
form into temporary files; this middleware stops a request as soon as its declared
``Content-Length`` or, for a chunked body without one, the bytes received so far exceed the
cap, so an oversized upload costs neither disk nor the time to parse it.
"""

from __future__ import annotations

import logging

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = 16 * MIB


class ApiLimits(BaseSettings):
    """Limits of the HTTP API (environment: ``ESTATEWATCH_MAX_REQUEST_BYTES``)."""

    model_config = SettingsConfigDict(env_prefix="ESTATEWATCH_", extra="ignore")

    max_request_bytes: int = Field(
        DEFAULT_MAX_REQUEST_BYTES, ge=1024,
        description="Largest request body accepted, in bytes, multipart overhead included (all the "
        "photos of one enrollment together); a larger one is refused with 413 before it is parsed.")


class RequestTooLarge(HTTPException):
    """The body grew past the cap while the app read it (a 413; the app's handler may answer it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    size = f"{limit / MIB:g} MiB" if limit >= MIB else f"{limit} bytes"
    return (f"request body larger than {size}: send fewer or smaller files per request "
            f"(the limit is ESTATEWATCH_MAX_REQUEST_BYTES)")


class RequestBodyLimit:
    """ASGI middleware: 413 with a JSON ``detail`` for a request body over ``max_bytes``.

    A declared ``Content-Length`` over the cap is refused before the app runs; otherwise the
    bytes are counted as the app receives them and the read that crosses the cap raises
    :class:`RequestTooLarge` (a body longer than its declared length is counted the same way).
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and not declared.strip().isdigit():
            await JSONResponse({"detail": f"Content-Length {declared!r} is not a byte count"},
                               status_code=400)(scope, receive, send)
            return
        if declared is not None and int(declared) > self.max_bytes:
            self._log(scope, f"declared {declared} bytes")
            await self._refuse(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received, started = 0, False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    self._log(scope, f"{received} bytes received so far")
                    raise RequestTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except RequestTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The client may still be sending: the server closes the connection after this answer.
        await JSONResponse({"detail": too_large(self.max_bytes)}, status_code=413,
                           headers={"Connection": "close"})(scope, receive, send)

    def _log(self, scope: Scope, what: str) -> None:
        client = scope.get("client")
        logger.info("request body refused: %s %s from %s: %s, over the cap of %s bytes",
                       scope.get("method"), scope.get("path"), client[0] if client else "?", what,
                       self.max_bytes)
