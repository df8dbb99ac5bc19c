"""The guard console: a static single-page app served at ``/`` (plain JS modules, no build step).

The page and its assets are public (a browser loads them before anyone has logged in); every
piece of data the console shows comes from the authenticated API with the guard's token, so
the camera scope of the user applies to the console as it does to any other client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).parent / "static"
"""The console's files: ``index.html``, the JS modules, the stylesheet and ``i18n/<lang>.json``."""
ROUTES = ("/", "/console/{asset:path}")
"""The console's public routes (listed in :data:`api.app.PUBLIC_ROUTES`)."""

MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".json": "application/json",
               ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}
HEADERS = {
    # revalidate on each load: a guard's screen picks up a new console after a restart
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "; ".join((
        "default-src 'self'", "img-src 'self' blob: data:", "media-src 'self' blob: data:",
        "connect-src 'self' ws: wss:", "style-src 'self'", "script-src 'self'", "object-src 'none'",
        "frame-ancestors 'none'", "base-uri 'none'")),
}


def asset_file(asset: str) -> Path:
    """The file of a console asset; :class:`HTTPException` 404 if it is not one (no path escapes)."""
    path = (STATIC_DIR / asset).resolve()
    if (not path.is_relative_to(STATIC_DIR.resolve()) or not path.is_file()
            or path.suffix not in MEDIA_TYPES):
        raise HTTPException(404, f"no console file {asset!r}")
    return path


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


def mount_console(app: FastAPI) -> None:
    """Serve the console: its page at ``/`` and its assets under ``/console/``."""

    @app.get(ROUTES[0], include_in_schema=False)
    def console_page() -> FileResponse:
        return _file(STATIC_DIR / "index.html")

    @app.get(ROUTES[1], include_in_schema=False)
    def console_asset(asset: str) -> FileResponse:
        return _file(asset_file(asset))
