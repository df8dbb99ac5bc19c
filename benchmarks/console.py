"""``estatewatch bench console``: how long a stored alarm takes to show in a guard's console.

The real app (uvicorn on 127.0.0.1) serves a store; Debian's chromium (driven by Playwright, a
dev dependency) logs in as a guard and keeps the console open. Alarms are stored one by one,
and the page notes when each one's list item appears (a MutationObserver, ``Date.now()``: the
same clock as the store's side). Latency = on screen - stored (after the commit). Target
(issue 13): under 1 s p99. Where the app has no live feed the console polls every 3 s, and the
figures show it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import typer

from benchmarks.machine import load_average, machine_info, machine_line, results_dir
from benchmarks.record import write_result

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]
WATCH = """() => { window.__seen = {}; new MutationObserver(() => {
  for (const li of document.querySelectorAll('li.alarm')) window.__seen[li.dataset.id] ??= Date.now();
}).observe(document.getElementById('alarm-list'), {childList: true}); }"""


def console(
    alarms: int = typer.Option(50, min=5, max=1000, help="Alarms stored, one at a time."),
    interval: float = typer.Option(0.5, min=0.05, help="Seconds between two alarms."),
) -> None:
    """Alarm stored -> on the guard's screen: p50/p99/max over ``alarms`` alarms."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise typer.BadParameter("needs the dev extras (playwright) and Debian's chromium") from exc
    with tempfile.TemporaryDirectory(prefix="ew-bench-console-") as tmp, sync_playwright() as pw:
        site = _Site(Path(tmp))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            row = _measure(browser, site, alarms, interval)
        finally:
            browser.close()
            site.close()
    _write(row)
    typer.echo(json.dumps(row, indent=2))


class _AlarmDesk:
    """The service as the alarm routes and the live feed see it, around a bare store.

    Benchmarks do not build the composition root (tests/test_layers.py); nothing here runs a
    camera, so the camera routes answer empty lists.
    """

    ready = True
    registry = None
    cascade = None
    public_base_url = "http://127.0.0.1"

    def __init__(self, store: Any) -> None:
        from prometheus_client import CollectorRegistry

        self.store = store
        self.metrics = CollectorRegistry()

    def cameras(self) -> list[Any]:
        return []

    def events(self, limit: int = 100) -> list[Any]:
        return []

    def recognitions(self, camera_id: str | None = None, limit: int = 50) -> list[Any]:
        return []

    def refresh_gauges(self) -> None:
        return None


class _Site:
    """A store, accounts and the app on uvicorn, with a guard user."""

    def __init__(self, folder: Path) -> None:
        import uvicorn

        from alarms.store import AlarmStore
        from api.accounts.store import SYSTEM, Accounts, Actor
        from api.app import create_app
        from api.ports import ServiceView

        self.store = AlarmStore.open(f"sqlite:///{folder / 'alarms.db'}", data_dir=folder)
        self.accounts = Accounts.open(f"sqlite:///{folder / 'accounts.db'}")
        self.accounts.create_user(Actor(SYSTEM, None), "bench-guard", "bench guard password", "guard")
        # the alarm desk alone (no cameras, no models): what the alarm routes and the feed read
        service = cast(ServiceView, _AlarmDesk(self.store))
        app = create_app(service, frozenset([os.urandom(16).hex()]), self.accounts)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config_ = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config_)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)

    def raise_alarm(self, i: int) -> str:
        from alarms.types import AlarmDraft, Subject

        plate = f"沪A{i:05d}"
        draft = AlarmDraft(type="watchlist_vehicle", severity="critical", rule_id="bench", camera_id="gate",
                           zone=None, occurred_at=dt.datetime.now(dt.UTC),
                           subject=Subject(kind="plate", id=plate), dedup_key=f"bench|{plate}",
                           similarity=None, plate_text=plate, details={})
        return self.store.raise_alarm(draft, snapshot=np.full((360, 640, 3), 90, np.uint8)).id

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.accounts.close()
        self.store.close()


def _measure(browser: Any, site: _Site, alarms: int, interval: float) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1600, "height": 900})
    page.goto(f"http://127.0.0.1:{site.port}/")
    page.fill("#login-form input[name=username]", "bench-guard")
    page.fill("#login-form input[name=password]", "bench guard password")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#feed-state[data-state=live], #feed-state[data-state=polling]", state="attached")
    time.sleep(1.0)
    feed = page.get_attribute("#feed-state", "data-state")
    page.evaluate(WATCH)
    stored: dict[str, float] = {}
    for i in range(alarms):
        alarm_id = site.raise_alarm(i)
        stored[alarm_id] = time.time()
        time.sleep(interval)
    deadline = time.monotonic() + 30
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        seen = page.evaluate("window.__seen")
        if all(a in seen for a in stored):
            break
        time.sleep(0.2)
    latencies = sorted(seen[a] / 1000 - t for a, t in stored.items() if a in seen)
    page.close()
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) >= 2 else latencies * 99
    return {"feed": feed, "alarms": alarms, "interval_s": interval, "shown": len(latencies),
            "p50_ms": round(q[49] * 1000), "p99_ms": round(q[98] * 1000),
            "max_ms": round(max(latencies) * 1000) if latencies else None}


def _write(row: dict[str, Any]) -> None:
    info = machine_info()
    info["load_average_1_5_15"] = load_average()
    write_result(
        {"benchmark": "console", "machine": info, "results": [row]}, results_dir() / "console",
        "# Alarm stored -> on a guard's console\n\n"
        f"{machine_line(info)}, {info['date']}, load {info['load_average_1_5_15']}. "
        "Headless Debian chromium on the same machine.\n\n"
        "| feed | alarms | every | shown | p50 | p99 | max |\n| --- | --- | --- | --- | --- | --- | --- |\n"
        f"| {row['feed']} | {row['alarms']} | {row['interval_s']} s | {row['shown']} | {row['p50_ms']} ms | "
        f"{row['p99_ms']} ms | {row['max_ms']} ms |\n")
