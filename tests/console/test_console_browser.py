"""The guard console in a real browser against the real app, service and pipeline.

Debian's chromium (Playwright) logs in as a guard limited to the lobby camera. The lobby is a
real RTSP camera (GStreamer) showing a watchlisted face: the pipeline raises the alarm, and it
appears in the open page without a reload, with its sound; acknowledging it with a note in the
page changes it in the API. Alarms of the gate camera (one raised by the pipeline itself:
the camera is offline; one stored directly) never reach the page. Screenshots go to
test-artifacts/console/.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.routing import iter_route_contexts

from alarms.store import AlarmStore
from alarms.types import AlarmDraft, Severity, Subject
from api.accounts.store import Accounts
from api.app import create_app
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from registry.service import Registry
from tests.api.conftest import lobby_camera, watch_yao_ming
from tests.console.conftest import AppServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.rtsp]

KEY = "console-test-key-0123456789"
STATIC = {"Authorization": f"Bearer {KEY}"}
GUARD, PASSWORD = "guard-lobby", "lobby guard password 7"
FEED, WEBRTC, CLIP = ("/api/v1/alarms/live", "/api/v1/cameras/{camera_id}/webrtc",
                      "/api/v1/alarms/{alarm_id}/clip")
ALARM_WAIT_S = 150.0
"""Upper bound for the pipeline's first alarm (models load on 2 shared cores; usually far less)."""


@dataclass
class Site:
    url: str
    service: Service
    store: AlarmStore
    api: httpx.Client
    watch_id: str
    routes: frozenset[str]
    started: threading.Thread | None = None
    gate_alarm: str | None = None

    def has(self, route: str) -> bool:
        """Whether the app serves this route (the feed, WebRTC and clips come from other branches)."""
        return route in self.routes

    def alarms(self, **params: Any) -> list[dict[str, Any]]:
        response = self.api.get("/api/v1/alarms", params={"limit": 100, **params})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture(scope="module")
def site(site_dir: Path) -> Iterator[Site]:
    """The app serving a service that is built but not started: the test starts its cameras."""
    with lobby_camera() as rtsp:
        registry = Registry.open()
        owner = watch_yao_ming(registry, name="姚明")
        config = ServiceConfig.model_validate({
            "cameras": [
                {"id": "lobby", "name": "大堂", "url": rtsp.url("lobby"), "detect_fps": 2,
                 "run": ["faces"]},
                # nothing listens there: offline at once, and the pipeline raises camera_offline
                {"id": "gate", "name": "北门", "url": f"rtsp://127.0.0.1:{free_port()}/none",
                 "run": ["faces"]},
            ],
            "rules": [{"type": "watchlist_person"},
                      {"type": "camera_offline", "cameras": ["gate"], "grace_s": 0}],
        })
        store = AlarmStore.open(f"sqlite:///{site_dir / 'alarms.db'}", data_dir=site_dir)
        accounts = Accounts.open(f"sqlite:///{site_dir / 'accounts.db'}")
        service = Service(config, registry=registry, store=store)
        app = create_app(service, frozenset([KEY]), accounts)
        routes = frozenset(str(r.path) for r in iter_route_contexts(app.routes))
        server = AppServer(app).start()
        api = httpx.Client(base_url=server.url, headers=STATIC, timeout=30)
        created = api.post("/api/v1/users", json={"username": GUARD, "password": PASSWORD, "role": "guard",
                                                  "cameras": ["lobby"]})
        assert created.status_code == 201, created.text
        site = Site(server.url, service, store, api, owner.id, routes)
        try:
            yield site
        finally:
            api.close()
            server.stop()
            if site.started is not None:
                site.started.join(timeout=120)
            service.stop()
            accounts.close()
            store.close()


@pytest.fixture(scope="module")
def page(browser: Any, site: Site) -> Iterator[Any]:
    """One page of a desktop-sized gatehouse screen for the tests of this module, in order."""
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.url + "/")
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def log_in(page: Any, username: str, password: str) -> None:
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")


def wait_until(page: Any, expression: str, timeout: float = 10.0) -> None:
    """Poll a JS expression from outside the page (the console's CSP forbids Playwright's in-page eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.1)


def store_alarm(store: AlarmStore, camera: str, plate: str, severity: Severity = "critical") -> str:
    """A watchlisted-plate alarm stored directly (not by the pipeline)."""
    draft = AlarmDraft(type="watchlist_vehicle", severity=severity, rule_id="watchlist-plates",
                       camera_id=camera, zone=None, occurred_at=dt.datetime.now(dt.UTC),
                       subject=Subject(kind="plate", id=plate),
                       dedup_key=f"watchlist-plates|{plate}|{camera}",
                       similarity=None, plate_text=plate, details={"label": f"{camera} only"})
    return store.raise_alarm(draft, snapshot=np.full((48, 64, 3), 80, np.uint8)).id


def test_login_page_is_chinese_and_refuses_a_wrong_password(page: Any, artifacts: Path) -> None:
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.inner_text("#login-form button[type=submit]") == "登录"
    log_in(page, GUARD, "not the password")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.inner_text("#login-error") == "用户名或密码错误"
    page.screenshot(path=str(artifacts / "01-login-refused.png"))
    assert page.evaluate("sessionStorage.length") == 0


def test_pipeline_alarm_appears_live_with_sound(page: Any, site: Site, artifacts: Path) -> None:
    log_in(page, GUARD, PASSWORD)
    page.wait_for_selector("body[data-screen=console]")
    assert "guard-lobby" in page.inner_text("#whoami")
    assert page.locator("li.alarm").count() == 0
    assert page.get_attribute("body", "data-sounding") == "false"
    # the WebSocket feed where the app has it; REST polling (the console's fallback) where not
    page.wait_for_selector(f"#feed-state[data-state={'live' if site.has(FEED) else 'polling'}]")
    page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    page.screenshot(path=str(artifacts / "02-console-empty.png"))

    site.started = threading.Thread(target=site.service.start, name="service-start", daemon=True)
    site.started.start()
    site.gate_alarm = store_alarm(site.store, "gate", "沪A99999")  # the guard must never see it
    page.wait_for_selector("li.alarm[data-camera=lobby]", timeout=ALARM_WAIT_S * 1000)
    assert page.evaluate("window.__sameDocument") is True

    item = page.locator("li.alarm[data-camera=lobby]").first
    alarm_id = item.get_attribute("data-id")
    stored = site.api.get(f"/api/v1/alarms/{alarm_id}").json()
    assert stored["type"] == "watchlist_person" and stored["camera_id"] == "lobby"
    assert stored["subject"] == {"kind": "watchlist", "id": site.watch_id}
    assert item.get_attribute("data-severity") == "critical" and item.get_attribute("data-state") == "open"
    assert "姚明" in item.locator(".who").inner_text() and "大堂" in item.locator(".camera").inner_text()
    assert item.locator(".type").inner_text() == "布控人员"
    wait_until(page, "document.querySelector('li.alarm .thumb').naturalWidth > 0")

    page.wait_for_selector("body[data-sounding=true]", timeout=10_000)
    assert page.evaluate("document.getElementById('alarm-sound').paused") is False
    page.screenshot(path=str(artifacts / "03-alarm-live.png"))

    page.click("#mute")  # muted for a while, visibly; then the sound comes back
    page.wait_for_selector("body[data-muted=true][data-sounding=false]")
    assert page.evaluate("document.getElementById('alarm-sound').paused") is True
    assert page.inner_text("#mute").startswith("已静音至")
    page.click("#mute")
    page.wait_for_selector("body[data-muted=false][data-sounding=true]")


def test_acknowledge_with_a_note_changes_the_alarm_in_the_api(browser: Any, page: Any, site: Site,
                                                              artifacts: Path) -> None:
    item = page.locator("li.alarm[data-camera=lobby]").first
    alarm_id = item.get_attribute("data-id")
    created = site.api.post("/api/v1/users", json={"username": "guard-2", "password": PASSWORD,
                                                   "role": "guard", "cameras": ["lobby"]})
    assert created.status_code == 201, created.text
    second = browser.new_context(viewport={"width": 1280, "height": 800})
    other = second.new_page()
    other.goto(site.url + "/")
    log_in(other, "guard-2", PASSWORD)
    other.wait_for_selector(f"li.alarm[data-id='{alarm_id}'][data-state=open]")
    item.click()
    page.wait_for_selector("body[data-main=detail]")
    wait_until(page, "document.getElementById('detail-canvas').width > 0")
    page.wait_for_selector("#detail-entry dd:has-text('姚明')")  # the watchlist entry matched
    page.fill("#detail-note", "已到现场查看")
    page.screenshot(path=str(artifacts / "04-alarm-detail.png"))
    page.click("#acknowledge")

    page.wait_for_selector(f"li.alarm[data-id='{alarm_id}'][data-state=acknowledged]")
    acked = site.api.get(f"/api/v1/alarms/{alarm_id}").json()
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == GUARD
    try:  # the other guard's screen changes by itself
        other.wait_for_selector(f"li.alarm[data-id='{alarm_id}'][data-state=acknowledged]", timeout=15_000)
        assert other.locator(f"li.alarm[data-id='{alarm_id}'] .state").inner_text() == "已确认"
    finally:
        second.close()
    assert page.get_attribute("#detail-view", "data-state") == "acknowledged"
    assert page.is_disabled("#acknowledge")
    page.wait_for_selector("#detail-history li[data-kind=acknowledged]")
    assert GUARD in page.inner_text("#detail-history")
    if site.has("/api/v1/alarms/{alarm_id}/events"):  # the history keeps the note
        events = site.api.get(f"/api/v1/alarms/{alarm_id}/events").json()
        assert [(e["type"], e["note"]) for e in events if e["type"] == "alarm.acknowledged"] == [
            ("alarm.acknowledged", "已到现场查看")]
        assert "已到现场查看" in page.inner_text("#detail-history li[data-kind=acknowledged]")

    # nothing open of a sounding severity is left for this guard: the sound stops
    open_lobby = [a for a in site.alarms(state="open") if a["camera_id"] == "lobby"]
    if not open_lobby:
        page.wait_for_selector("body[data-sounding=false]")
        assert page.evaluate("document.getElementById('alarm-sound').paused") is True
    page.screenshot(path=str(artifacts / "05-acknowledged.png"))


def test_the_alarm_clip_plays(page: Any, site: Site, artifacts: Path) -> None:
    if not site.has(CLIP):
        assert page.is_visible("#detail-noclip") and page.is_hidden("#detail-clip")
        return
    page.wait_for_selector("#detail-clip:not([hidden])", timeout=60_000)  # written ~5 s after the alarm
    page.evaluate("document.getElementById('detail-clip').play()")
    wait_until(page, "document.getElementById('detail-clip').currentTime > 0.5", timeout=20)
    assert page.evaluate("document.getElementById('detail-clip').videoWidth") > 0
    page.screenshot(path=str(artifacts / "06-clip.png"))


def test_the_feed_reconnects_by_itself_and_fills_the_gap_once(page: Any, site: Site) -> None:
    if not site.has(FEED):
        pytest.skip("this app has no live feed (the live branch) to reconnect to")
    page.wait_for_selector("#feed-state[data-state=live]")
    page.evaluate("window.estatewatch.feed.socket.close()")  # a dropped connection, as the page sees it
    page.wait_for_selector("#feed-state:not([data-state=live])", state="attached")
    missed = store_alarm(site.store, "lobby", "沪B12345", severity="high")  # raised during the gap
    page.wait_for_selector(f"li.alarm[data-id='{missed}']", timeout=30_000)
    page.wait_for_selector("#feed-state[data-state=live]", timeout=30_000)
    time.sleep(1.5)  # the replay after the reconnect, and a refresh, have both arrived by now
    ids = page.eval_on_selector_all("li.alarm", "items => items.map(i => i.dataset.id)")
    assert ids.count(missed) == 1 and len(ids) == len(set(ids))
    assert "沪B12345" in page.inner_text(f"li.alarm[data-id='{missed}'] .who")
    site.api.post(f"/api/v1/alarms/{missed}/resolve", json={"note": "test alarm"})
    page.wait_for_selector(f"li.alarm[data-id='{missed}']", state="detached")  # resolved: off the list


def test_alarms_of_another_camera_never_appear(page: Any, site: Site) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not site.alarms(camera_id="gate", type="camera_offline"):
        time.sleep(0.5)
    gate = site.alarms(camera_id="gate")
    assert {a["type"] for a in gate} == {"watchlist_vehicle", "camera_offline"}, gate
    time.sleep(4)  # longer than one refresh of the list
    shown = page.eval_on_selector_all("li.alarm", "items => items.map(i => i.dataset.camera)")
    assert shown and set(shown) == {"lobby"}
    assert page.locator("#wall .tile").count() == 1
    assert page.get_attribute("#wall .tile", "data-camera") == "lobby"
    assert "北门" not in page.inner_text("body")


def test_camera_wall_plays_live_video_with_health(page: Any, site: Site, artifacts: Path) -> None:
    page.click("#detail-close")
    page.wait_for_selector("body[data-main=wall]")
    page.wait_for_selector("#wall .tile[data-camera=lobby][data-health=online]", timeout=30_000)
    tile = page.locator("#wall .tile[data-camera=lobby]")
    assert tile.locator(".badge").inner_text() == "在线"
    if not site.has(WEBRTC):
        assert tile.get_attribute("data-video") == "none" and tile.locator("video").count() == 1
        assert tile.locator(".tile-novideo").inner_text() == "暂无视频"
        page.screenshot(path=str(artifacts / "07-wall.png"))
        return
    page.wait_for_selector("#wall .tile[data-camera=lobby][data-video=playing]", timeout=30_000)
    video = "document.querySelector('#wall .tile[data-camera=lobby] video')"
    assert page.evaluate(f"{video}.videoWidth") > 0
    start = page.evaluate(f"{video}.currentTime")
    wait_until(page, f"{video}.currentTime > {start} + 1", timeout=15)
    page.screenshot(path=str(artifacts / "07-wall.png"))


def test_snooze_a_camera_from_its_tile(page: Any, site: Site, artifacts: Path) -> None:
    tile = page.locator("#wall .tile[data-camera=lobby]")
    tile.locator(".snooze-for button[data-minutes='15']").click()
    page.wait_for_selector("#wall .tile[data-camera=lobby][data-snoozed=true]", timeout=5_000)
    assert tile.locator(".snoozed").inner_text().startswith("已暂停告警至 ")
    lobby = next(c for c in site.api.get("/api/v1/cameras").json() if c["id"] == "lobby")
    assert lobby["snoozed_by"] == GUARD and lobby["snoozed_until"] is not None
    page.screenshot(path=str(artifacts / "07b-wall-snoozed.png"))
    tile.locator(".snooze-end").click()  # leaves the lobby alarming for the tests after this one
    page.wait_for_selector("#wall .tile[data-camera=lobby][data-snoozed=false]", timeout=5_000)
    lobby = next(c for c in site.api.get("/api/v1/cameras").json() if c["id"] == "lobby")
    assert lobby["snoozed_until"] is None


def test_lookup_finds_a_resident_and_a_vehicle_by_plate(page: Any, site: Site, artifacts: Path) -> None:
    resident = site.api.post("/api/v1/residents", json={"name": "张伟", "building": "3", "unit": "2",
                                                        "room": "1502"})
    assert resident.status_code == 201, resident.text
    vehicle = site.api.post("/api/v1/vehicles", json={"plate": "沪A12345", "plate_colour": "blue",
                                                      "resident_id": resident.json()["id"]})
    assert vehicle.status_code == 201, vehicle.text
    now = dt.datetime.now(dt.UTC)
    visitor = site.api.post("/api/v1/visitors", json={
        "name": "张敏", "host_resident_id": resident.json()["id"], "valid_from": now.isoformat(),
        "valid_until": (now + dt.timedelta(hours=2)).isoformat()})
    assert visitor.status_code == 201, visitor.text
    page.click(".tabs [data-tab=lookup]")
    page.wait_for_selector("body[data-main=lookup]")
    page.fill("#resident-search input[name=name]", "张")
    page.click("#resident-search button")
    page.wait_for_selector("#lookup-results li:has-text('张伟')")
    assert "3-2-1502" in page.inner_text("#lookup-results li:has-text('张伟')")
    assert "访客" in page.inner_text("#lookup-results li:has-text('张敏')")
    assert page.inner_text("#lookup-status") == "找到 2 条"
    page.fill("#plate-search input[name=plate]", "沪a 123")  # any case and spacing, part of the plate
    page.click("#plate-search button")
    page.wait_for_selector("#lookup-results li:has-text('沪A12345')")
    found = page.inner_text("#lookup-results")
    assert "蓝牌" in found and "张伟" in found
    page.screenshot(path=str(artifacts / "08-lookup.png"))
    page.click(".tabs [data-tab=wall]")


def test_language_switch_is_remembered(page: Any, artifacts: Path) -> None:
    page.click(".topbar .lang-switch")
    page.wait_for_selector("html[lang=en]", state="attached")
    assert page.inner_text("#logout") == "Log out"
    assert page.locator("li.alarm .type").first.inner_text() == "Watchlisted person"
    assert page.inner_text("#wall .tile .badge") == "Online"
    page.screenshot(path=str(artifacts / "09-english.png"))
    page.reload()  # the token is in sessionStorage and the language in localStorage: both survive
    page.wait_for_selector("body[data-screen=console]")
    page.wait_for_selector("li.alarm")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.inner_text("#logout") == "Log out"
    page.click(".topbar .lang-switch")
    page.wait_for_selector("html[lang=zh-CN]", state="attached")
    assert page.inner_text("#logout") == "退出登录"


def test_phone_layout_and_logout(browser: Any, site: Site, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        phone.goto(site.url + "/")
        log_in(phone, GUARD, PASSWORD)
        phone.wait_for_selector("li.alarm[data-camera=lobby]")
        assert phone.is_visible("#alarm-list") and not phone.is_visible("#wall")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        phone.screenshot(path=str(artifacts / "10-phone-alarms.png"))
        phone.click(".tabs [data-tab=wall]")
        phone.wait_for_selector("#wall .tile", state="visible")
        assert not phone.is_visible("#alarm-list")
        phone.screenshot(path=str(artifacts / "11-phone-wall.png"))
        phone.click("#logout")
        phone.wait_for_selector("body[data-screen=login]")
        assert phone.evaluate("sessionStorage.length") == 0
    finally:
        context.close()
