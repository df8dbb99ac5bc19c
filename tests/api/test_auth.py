"""Users, roles, keys and camera scopes over HTTP: the real app on a real database (SQLite and PostgreSQL).

The service is built but not started (no cameras run): alarms are raised into its real store, and
health events and recognitions are fed through its own handlers, so the routes read what they
read in production.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from alarms.store import AlarmStore
from alarms.types import AlarmDraft, Subject
from api.accounts.limiter import LoginLimits
from api.accounts.principal import ROLE_SCOPES, STATIC_KEY
from api.accounts.schema import SESSIONS, USERS
from api.accounts.store import Accounts, Actor, bootstrap_admin
from api.app import PUBLIC_ROUTES, create_app
from api.schemas import Recognition
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from streams.frames import Instant
from streams.health import CameraState, HealthEvent

KEY = "static-test-key-0123456789"
STATIC = {"Authorization": f"Bearer {KEY}"}
CONFIG = {"cameras": [{"id": "gate", "url": "rtsp://cam-gate.local/main"},
                      {"id": "lobby", "url": "rtsp://cam-lobby.local/main"}]}
PASSWORD = "correct horse battery"


class Clock:
    """The accounts' clock, stepped by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Site:
    client: TestClient
    accounts: Accounts
    store: AlarmStore
    service: Service
    clock: Clock

    def user(self, username: str, role: str, cameras: list[str] | None = None) -> dict[str, str]:
        """Create a user through the API (with the static key) and log in: their auth headers."""
        created = self.client.post("/api/v1/users", headers=STATIC, json={
            "username": username, "password": PASSWORD, "role": role, "cameras": cameras})
        assert created.status_code == 201, created.text
        return self.login(username)

    def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 12 * 3600
        return {"Authorization": f"Bearer {body['access_token']}"}


def make_site(db_url: str, tmp_path: Path, limits: LoginLimits | None = None) -> Iterator[Site]:
    clock = Clock()
    store = AlarmStore.open(db_url, data_dir=tmp_path)
    accounts = Accounts.open(db_url, clock=clock)
    service = Service(ServiceConfig.model_validate(CONFIG), store=store)
    try:
        with TestClient(create_app(service, frozenset([KEY]), accounts, limits)) as client:
            yield Site(client, accounts, store, service, clock)
    finally:
        accounts.close()
        store.close()


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from make_site(db_url, tmp_path)


def raise_alarm(store: AlarmStore, camera: str, plate: str) -> str:
    draft = AlarmDraft(type="watchlist_vehicle", severity="high", rule_id="watchlist-plates",
                       camera_id=camera, zone=None,
                       occurred_at=dt.datetime(2026, 5, 1, 8, 30, tzinfo=dt.UTC),
                       subject=Subject(kind="plate", id=plate),
                       dedup_key=f"watchlist-plates|{plate}|{camera}",
                       similarity=None, plate_text=plate, details={})
    return store.raise_alarm(draft, snapshot=np.full((48, 64, 3), 80, np.uint8)).id


# -- login, logout, expiry -------------------------------------------------------------------
def test_login_me_logout(site: Site) -> None:
    guard = site.user("guard1", "guard", ["gate"])
    me = site.client.get("/api/v1/auth/me", headers=guard).json()
    assert me == {"kind": "user", "id": me["id"], "name": "guard1", "role": "guard",
                  "scopes": sorted(ROLE_SCOPES["guard"]), "cameras": ["gate"]}
    assert site.client.post("/api/v1/auth/logout", headers=guard).status_code == 204
    revoked = site.client.get("/api/v1/auth/me", headers=guard)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert site.client.get("/api/v1/alarms", headers=guard).status_code == 401


def test_tokens_expire(site: Site) -> None:
    viewer = site.user("viewer1", "viewer")
    site.clock.advance(hours=11, minutes=59)
    assert site.client.get("/api/v1/auth/me", headers=viewer).status_code == 200
    site.clock.advance(minutes=1)
    expired = site.client.get("/api/v1/auth/me", headers=viewer)
    assert expired.status_code == 401 and expired.json()["detail"] == "token expired: log in again"
    site.clock.advance(days=1, seconds=1)
    site.login("viewer1")  # purges sessions expired over a day ago
    with site.accounts.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SESSIONS)).scalar_one() == 1
    assert site.client.get("/api/v1/auth/me", headers=viewer).json()["detail"] == "unknown token"


def test_a_revocation_by_another_process_is_heard_within_the_credential_ttl(site: Site, db_url: str) -> None:
    """Checked credentials are believed for 5 s (api.accounts.vouched); this process's own
    revocations end that at once (the tests above), another process's within the 5 s."""
    guard = site.user("guard1", "guard")
    made = site.client.post("/api/v1/keys", headers=STATIC, json={"name": "pms", "scopes": ["alarms:read"]})
    pms = {"X-API-Key": made.json()["key"]}
    for headers in (guard, pms):
        assert site.client.get("/api/v1/alarms", headers=headers).status_code == 200
    other = Accounts.open(db_url, clock=site.clock)  # the CLI, or a second server on the database
    try:
        admin = Actor(STATIC_KEY, "cli")
        other.revoke_key(admin, made.json()["id"])
        guard_id = next(u.id for u in other.users() if u.username == "guard1")
        other.set_disabled(admin, guard_id, True)
    finally:
        other.close()
    site.clock.advance(seconds=4)
    for headers in (guard, pms):  # still believed: checked less than 5 s ago
        assert site.client.get("/api/v1/alarms", headers=headers).status_code == 200
    site.clock.advance(seconds=1)
    assert site.client.get("/api/v1/alarms", headers=pms).json()["detail"] == "key revoked"
    assert "revoked" in site.client.get("/api/v1/alarms", headers=guard).json()["detail"]


@pytest.mark.parametrize("credentials", [
    {"username": "guard1", "password": "wrong password"},
    {"username": "nobody", "password": PASSWORD},
])
def test_wrong_password_or_user_is_401(site: Site, credentials: dict[str, str]) -> None:
    site.user("guard1", "guard")
    response = site.client.post("/api/v1/auth/login", json=credentials)
    assert response.status_code == 401
    assert "access_token" not in response.text


def test_login_is_rate_limited_per_user(site: Site) -> None:
    site.user("guard1", "guard")
    for _ in range(5):
        assert site.client.post("/api/v1/auth/login", json={"username": "guard1", "password": "nope"}
                                ).status_code == 401
    limited = site.client.post("/api/v1/auth/login", json={"username": "guard1", "password": PASSWORD})
    assert limited.status_code == 429, "the right password must not get through while limited"
    assert int(limited.headers["Retry-After"]) == 15 * 60
    site.clock.advance(minutes=15)
    site.login("guard1")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_login_is_rate_limited_per_address(db_url: str, tmp_path: Path) -> None:
    for site in make_site(db_url, tmp_path, LoginLimits(per_user=5, per_address=3)):
        site.user("guard1", "guard")
        for name in ("a", "b", "c"):  # three names, one address (the test client's)
            assert site.client.post("/api/v1/auth/login", json={"username": name, "password": "x"}
                                    ).status_code == 401
        limited = site.client.post("/api/v1/auth/login", json={"username": "guard1", "password": PASSWORD})
        assert limited.status_code == 429


# -- the first admin -------------------------------------------------------------------------
def test_first_admin_from_the_environment(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert bootstrap_admin(site.accounts, "admin password 1") is None
        assert bootstrap_admin(site.accounts, "another password") is None  # users exist: no change
    assert "admin password 1" not in caplog.text
    admin = site.login("admin", "admin password 1")
    assert site.client.get("/api/v1/auth/me", headers=admin).json()["role"] == "admin"


def test_first_admin_gets_a_one_time_password(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        password = bootstrap_admin(site.accounts, None)
        assert password is not None and len(password) >= 16
        assert bootstrap_admin(site.accounts, None) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(password in w for w in warnings) == 1, "the password is shown exactly once"
    with site.accounts.engine.connect() as conn:
        stored = conn.execute(select(USERS.c.password_hash).where(USERS.c.username == "admin")).scalar_one()
    assert password not in stored and stored.startswith("pbkdf2_sha256$")
    assert int(stored.split("$")[1]) >= 600_000
    site.login("admin", password)


# -- users: admins only ----------------------------------------------------------------------
def test_users_are_managed_by_admins_only(site: Site) -> None:
    admin = site.user("boss", "admin")
    guard = site.user("guard1", "guard", ["gate"])
    new = {"username": "g2", "password": PASSWORD, "role": "guard"}
    assert site.client.post("/api/v1/users", headers=guard, json=new).status_code == 403
    assert site.client.get("/api/v1/users", headers=guard).status_code == 403
    created = site.client.post("/api/v1/users", headers=admin, json=new)
    assert created.status_code == 201 and created.json()["cameras"] is None
    assert "password" not in created.text and PASSWORD not in created.text
    assert site.client.post("/api/v1/users", headers=admin, json=new).status_code == 409
    assert site.client.post("/api/v1/users", headers=admin, json={**new, "username": "g3", "role": "root"}
                            ).status_code == 422
    users = {u["username"]: u for u in site.client.get("/api/v1/users", headers=admin).json()}
    assert set(users) == {"boss", "guard1", "g2"}
    guard_id = users["guard1"]["id"]
    disabled = site.client.patch(f"/api/v1/users/{guard_id}", headers=admin, json={"disabled": True})
    assert disabled.json()["disabled"] is True
    assert site.client.get("/api/v1/auth/me", headers=guard).status_code == 401, "disabling revokes tokens"
    assert site.client.post("/api/v1/auth/login", json={"username": "guard1", "password": PASSWORD}
                            ).status_code == 401
    assert site.client.delete(f"/api/v1/users/{guard_id}", headers=admin).status_code == 204
    assert site.client.delete(f"/api/v1/users/{guard_id}", headers=admin).status_code == 404
    assert site.client.delete(f"/api/v1/users/{users['boss']['id']}", headers=admin).status_code == 409


# -- integrator keys -------------------------------------------------------------------------
def test_keys_act_with_their_scopes_and_cameras(site: Site) -> None:
    gate_alarm = raise_alarm(site.store, "gate", "京A11111")
    lobby_alarm = raise_alarm(site.store, "lobby", "京B22222")
    admin = site.user("boss", "admin")
    made = site.client.post("/api/v1/keys", headers=admin,
                            json={"name": "pms", "scopes": ["alarms:read"], "cameras": ["gate"]})
    assert made.status_code == 201
    secret = made.json()["key"]
    listed = site.client.get("/api/v1/keys", headers=admin)
    assert secret not in listed.text and listed.json()[0]["prefix"] == secret[:10]
    pms = {"X-API-Key": secret}
    alarms = site.client.get("/api/v1/alarms", headers=pms).json()
    assert [a["id"] for a in alarms["items"]] == [gate_alarm] and alarms["total"] == 1
    assert site.client.get(f"/api/v1/alarms/{lobby_alarm}", headers=pms).status_code == 404
    assert site.client.post(f"/api/v1/alarms/{gate_alarm}/acknowledge", headers=pms, json={}
                            ).status_code == 403, "no alarms:write"
    assert site.client.get("/api/v1/cameras", headers=pms).status_code == 403, "no cameras:read"
    assert site.client.get("/api/v1/users", headers=pms).status_code == 403
    assert site.client.post("/api/v1/keys", headers={"Authorization": f"Bearer {secret}"},
                            json={"name": "x", "scopes": ["alarms:read"]}).status_code == 403
    assert site.client.delete(f"/api/v1/keys/{made.json()['id']}", headers=admin).status_code == 204
    revoked = site.client.get("/api/v1/alarms", headers=pms)
    assert revoked.status_code == 401 and revoked.json()["detail"] == "key revoked"
    unknown = site.client.get("/api/v1/alarms", headers={"X-API-Key": secret[:-2] + "xx"})
    assert unknown.status_code == 401 and unknown.json()["detail"] == "unknown key"


def test_registry_routes_need_their_scopes(site: Site) -> None:
    """A key without ``registry:write`` cannot enroll or change the registry; a viewer neither."""
    admin = site.user("boss", "admin")
    made = site.client.post("/api/v1/keys", headers=admin, json={"name": "pms", "scopes": ["registry:read"]})
    assert made.status_code == 201, made.text
    for headers in ({"X-API-Key": made.json()["key"]}, site.user("watcher", "viewer")):
        photo = {"photos": ("face.jpg", b"\xff\xd8 not checked before the scope", "image/jpeg")}
        refused = [
            site.client.post("/api/v1/residents", headers=headers, json={"name": "x"}),
            site.client.post("/api/v1/residents/r1/templates", headers=headers, files=photo),
            site.client.delete("/api/v1/residents/r1", headers=headers),
            site.client.post("/api/v1/watchlist", headers=headers, json={"label": "x"}),
            site.client.post("/api/v1/vehicles", headers=headers, json={"plate": "京A12345"}),
        ]
        assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
        assert site.client.get("/api/v1/residents", headers=headers).status_code != 403


def test_a_key_cannot_grant_more_than_it_has(site: Site) -> None:
    admin = site.user("boss", "admin")
    minter = site.client.post("/api/v1/keys", headers=admin,
                              json={"name": "minter", "scopes": ["users:admin", "alarms:read"]}).json()["key"]
    headers = {"X-API-Key": minter}
    assert site.client.post("/api/v1/keys", headers=headers,
                            json={"name": "x", "scopes": ["alarms:write"]}).status_code == 403
    assert site.client.post("/api/v1/users", headers=headers, json={
        "username": "a2", "password": PASSWORD, "role": "admin"}).status_code == 403
    assert site.client.post("/api/v1/keys", headers=headers,
                            json={"name": "x", "scopes": ["alarms:read"]}).status_code == 201


# -- camera scope and roles ------------------------------------------------------------------
def feed_cameras(service: Service) -> None:
    at = Instant(monotonic=1.0, wall=1_764_000_000.0)
    for camera in ("gate", "lobby"):
        service._on_event(HealthEvent(camera, CameraState.ONLINE, CameraState.CONNECTING, "first frame", at))
        service._recognitions[camera].append(Recognition(
            camera_id=camera, seq=1, captured_at=at.wall, analysis_ms=1.0, latency_ms=2.0,
            faces=[], vehicles=[], plates=[]))


def test_guard_limited_to_a_camera_sees_only_it(site: Site) -> None:
    feed_cameras(site.service)
    mine, other = raise_alarm(site.store, "gate", "京A11111"), raise_alarm(site.store, "lobby", "京B22222")
    guard = site.user("guard1", "guard", ["gate"])
    client = site.client
    listed = client.get("/api/v1/alarms", headers=guard).json()
    assert [a["id"] for a in listed["items"]] == [mine] and listed["total"] == 1
    assert client.get("/api/v1/alarms", params={"camera_id": "lobby"}, headers=guard).json()["items"] == []
    for path in (f"/api/v1/alarms/{other}", f"/api/v1/alarms/{other}/snapshot"):
        hidden = client.get(path, headers=guard)
        assert hidden.status_code == 404 and hidden.json() == {"detail": f"no alarm {other!r}"}
    for action in ("acknowledge", "resolve"):
        assert client.post(f"/api/v1/alarms/{other}/{action}", headers=guard, json={}).status_code == 404
    assert site.store.get(other).state == "open"
    assert client.get(f"/api/v1/alarms/{mine}", headers=guard).status_code == 200
    snapshot = client.get(f"/api/v1/alarms/{mine}/snapshot", headers=guard)
    assert snapshot.status_code == 200 and snapshot.headers["content-type"] == "image/jpeg"
    acked = client.post(f"/api/v1/alarms/{mine}/acknowledge", headers=guard, json={"by": "someone else"})
    assert acked.json()["acknowledged_by"] == "guard1", "a user acts as themselves"
    assert [c["id"] for c in client.get("/api/v1/cameras", headers=guard).json()] == ["gate"]
    assert {e["camera_id"] for e in client.get("/api/v1/cameras/events", headers=guard).json()} == {"gate"}
    assert {r["camera_id"] for r in client.get("/api/v1/recognitions", headers=guard).json()} == {"gate"}
    assert client.get("/api/v1/recognitions", params={"camera_id": "lobby"}, headers=guard).status_code == 404
    everything = client.get("/api/v1/recognitions", headers=STATIC).json()
    assert {r["camera_id"] for r in everything} == {"gate", "lobby"}


def test_viewer_cannot_acknowledge(site: Site) -> None:
    alarm = raise_alarm(site.store, "gate", "京A11111")
    viewer = site.user("viewer1", "viewer")
    assert site.client.get(f"/api/v1/alarms/{alarm}", headers=viewer).status_code == 200
    for action in ("acknowledge", "resolve"):
        refused = site.client.post(f"/api/v1/alarms/{alarm}/{action}", headers=viewer, json={})
        assert refused.status_code == 403 and "alarms:write" in refused.json()["detail"]
    assert site.store.get(alarm).state == "open"


# -- audit -----------------------------------------------------------------------------------
def test_audit_says_who_what_and_from_where_without_secrets(site: Site) -> None:
    alarm = raise_alarm(site.store, "gate", "京A11111")
    admin = site.user("boss", "admin")
    guard = site.user("guard1", "guard")
    key = site.client.post("/api/v1/keys", headers=admin, json={"name": "pms", "scopes": ["alarms:write"]})
    site.client.post(f"/api/v1/alarms/{alarm}/acknowledge", headers=guard, json={})
    site.client.post(f"/api/v1/alarms/{alarm}/resolve", headers={"X-API-Key": key.json()["key"]},
                     json={"by": "pms guard 7", "note": "towed"})
    site.client.delete(f"/api/v1/keys/{key.json()['id']}", headers=admin)
    assert site.client.get("/api/v1/audit", headers=guard).status_code == 403
    response = site.client.get("/api/v1/audit", headers=admin)
    entries = response.json()
    done = [(e["actor"], e["action"], e["entity"]) for e in reversed(entries)]
    assert done == [("api-key", "create", "user"), ("boss", "login", "session"),
                    ("api-key", "create", "user"), ("guard1", "login", "session"),
                    ("boss", "create", "key"), ("guard1", "acknowledged", "alarm"),
                    ("key:pms", "resolved", "alarm"), ("boss", "revoke", "key")]
    assert {e["source"] for e in entries} == {"testclient"}
    resolved = next(e for e in entries if e["action"] == "resolved")
    assert resolved["entity_id"] == alarm
    assert resolved["details"] == {"by": "pms guard 7", "camera_id": "gate"}
    tokens = [headers["Authorization"].split()[1] for headers in (guard, admin)]
    secrets = [PASSWORD, key.json()["key"], *tokens]
    assert not [s for s in secrets if s in response.text]
    assert "password" not in response.text


# -- every route needs credentials -----------------------------------------------------------
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_route_but_the_public_ones_needs_credentials(site: Site) -> None:
    """Walks the route table: a route added without authentication fails here."""
    seen_public: set[str] = set()
    checked: set[tuple[str, str]] = set()
    for route in iter_route_contexts(site.client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route.original_route, WebSocketRoute):  # no headers: closed with 4401 after accept
            client, path = site.client, str(route.path)
            with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(path) as ws:
                ws.receive_text()
            assert closed.value.code == 4401, f"websocket {route.path} closed with {closed.value.code}"
            checked.add(("websocket", path))
            continue
        assert isinstance(route.original_route, Route) and route.path and route.methods, (
            f"{route.original_route!r}: a new kind of route; check its authentication here")
        if route.path in PUBLIC_ROUTES:
            seen_public.add(route.path)
            assert site.client.request(sorted(route.methods)[0], route.path).status_code != 401
            continue
        assert isinstance(route.original_route, APIRoute), f"{route.path}: not public and not an API route"
        path = str(route.path_format).replace("{", "").replace("}", "")  # any value for each path parameter
        for method in route.methods:
            response = site.client.request(method, path)
            assert response.status_code == 401, f"{method} {route.path} answered {response.status_code}"
            assert response.headers["WWW-Authenticate"] == "Bearer"
            checked.add((method.lower(), route.path))
    assert seen_public == set(PUBLIC_ROUTES), "a public route is listed but does not exist"
    documented = {(method, path) for path, item in site.client.get("/openapi.json").json()["paths"].items()
                  for method in item if path not in PUBLIC_ROUTES}
    assert documented and documented <= checked, "the walk missed documented routes"
    assert ("websocket", "/api/v1/alarms/live") in checked


def test_tables_match_their_migrations(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from api.accounts.schema import metadata

    accounts = Accounts.open(db_url)
    try:
        with accounts.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                             "version_table": "api_alembic_version"})
            diff = [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]
    finally:
        accounts.close()
    assert diff == []
