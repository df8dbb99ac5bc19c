"""``estatewatch bench api``: the alarm list under load, and the live feed's fan-out.

1. **Alarm list.** A fresh store (SQLite, or ``--database-url``) is filled with ``--alarms``
   alarms spread over cameras, types, severities, states and 30 days (bulk inserts), the real app
   runs on uvicorn on 127.0.0.1, and ``--clients`` concurrent HTTP clients (httpx, asyncio, in
   their own process so their work does not share the server's interpreter) ask list queries
   with a full-access key for ``--duration`` seconds, while ``--list-writes`` alarms per second are
   stored (each one changes every list, so no kept answer outlives it): the first page, filtered
   by state, camera, severity, a day, state and camera, and a deep page (offset = a tenth of the
   alarms). Reported
   per kind and overall: p50/p95/p99/max latency, requests/s, errors. Then the same clients in
   open loop (``--poll-interval``: each asks every second, as a console polling, whether or not its
   last answer came; latency from the scheduled time). Target (issue 11): p99 under 100 ms with
   100,000 alarms and 50 clients (compared against the closed loop, as first measured; the open
   loop is reported beside it, not instead).
2. **Live feed.** ``--subscribers`` WebSocket clients (the ``websockets`` package, in their own
   process) hold ``/api/v1/alarms/live``; alarms are stored at ``--rate`` per second for
   ``--duration`` seconds. Latency = received by a subscriber - committed (a store listener, put
   before the feed's, notes the commit time; same machine clock). Reported: p50/p99/max and the
   alarms a subscriber never received. Target: p99 under 1 s with 50 subscribers. No camera runs
   meanwhile (the issue asks for 8; this benchmark measures the API side alone).

Results go to ``benchmarks/results/api.json`` and ``api.md``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import multiprocessing
import os
import random
import resource
import socket
import statistics
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import typer
from sqlalchemy import insert

from alarms import db
from alarms.schema import ALARMS
from alarms.store import AlarmStore
from alarms.types import ALARM_TYPES, AlarmDraft, Subject
from benchmarks.console import _AlarmDesk
from benchmarks.delivery import _reset
from benchmarks.machine import load_average, machine_info, machine_line, results_dir
from benchmarks.record import write_result

logger = logging.getLogger(__name__)

CAMERAS = tuple(f"cam-{i:02d}" for i in range(1, 17))
SEVERITY_WEIGHTS = {"low": 0.35, "medium": 0.35, "high": 0.2, "critical": 0.1}
SPAN = dt.timedelta(days=30)
QUERY_KINDS = ("first_page", "state", "camera", "severity", "day", "state_camera", "deep_page")


# -- the store ------------------------------------------------------------------------------------
def fill(store: AlarmStore, count: int, now: dt.datetime, seed: int = 11, batch: int = 5000) -> float:
    """Bulk-insert ``count`` alarms over the 30 days before ``now``; returns the seconds it took.

    Older alarms are mostly resolved, the last day's mostly open; severities are weighted towards
    low and medium; a few alarms have no camera (site-wide). The table is then analyzed, as the
    hourly purge leaves it on a running site.
    """
    rng = random.Random(seed)
    started = time.perf_counter()
    severities, weights = list(SEVERITY_WEIGHTS), list(SEVERITY_WEIGHTS.values())
    rows: list[dict[str, Any]] = []
    with store.engine.begin() as conn:
        for i in range(count):
            age = SPAN * rng.random() ** 1.5  # more recent alarms than old ones
            occurred = now - age
            resolved_p = min(0.97, age / dt.timedelta(days=1))
            roll = rng.random()
            state = "resolved" if roll < resolved_p else "acknowledged" if roll < resolved_p + 0.1 else "open"
            kind = ALARM_TYPES[i % len(ALARM_TYPES)]
            camera = None if i % 50 == 0 else rng.choice(CAMERAS)
            subject = f"bench-{rng.randrange(count // 4 + 1)}"
            rows.append({
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "type": kind,
                "severity": rng.choices(severities, weights)[0], "state": state, "rule_id": f"rule-{kind}",
                "camera_id": camera, "zone": None if camera is None else f"zone-{camera[-1]}",
                "occurred_at": occurred, "created_at": occurred, "subject_kind": "unknown_track",
                "subject_id": subject, "similarity": None, "plate_text": None, "snapshot_path": None,
                "dedup_key": f"bench|{subject}|{camera}", "details": {"bench": i},
                "acknowledged_at": occurred if state != "open" else None,
                "acknowledged_by": "guard" if state != "open" else None,
                "resolved_at": occurred if state == "resolved" else None,
                "resolved_by": "guard" if state == "resolved" else None,
                "clip_path": None, "clip_known": True,  # as the store writes new alarms
            })
            if len(rows) == batch:
                conn.execute(insert(ALARMS), rows)
                rows = []
        if rows:
            conn.execute(insert(ALARMS), rows)
    db.analyze(store.engine)  # as the hourly purge leaves a running site's store
    return time.perf_counter() - started


def queries(count: int, now: dt.datetime, seed: int) -> list[tuple[str, str]]:
    """``(kind, query string)`` for each kind of list request, the filter values drawn at random."""
    rng = random.Random(seed)
    day = now - dt.timedelta(days=rng.randrange(1, 29))
    since, until = day.isoformat(), (day + dt.timedelta(days=1)).isoformat()
    camera = rng.choice(CAMERAS)
    plain: dict[str, list[tuple[str, str]]] = {
        "first_page": [],
        "state": [("state", rng.choice(["open", "acknowledged"]))],
        "camera": [("camera_id", camera)],
        "severity": [("severity", "critical"), ("severity", "high")],
        "day": [("since", since), ("until", until)],
        "state_camera": [("state", "open"), ("camera_id", camera)],
        "deep_page": [("offset", str(count // 10))],
    }
    return [(kind, urllib.parse.urlencode([*params, ("limit", "50")])) for kind, params in plain.items()]


# -- the app ----------------------------------------------------------------------------------------
class Site:
    """A store, accounts and the real app on uvicorn (127.0.0.1, a free port), with a full-access key."""

    def __init__(self, url: str, folder: Path) -> None:
        import uvicorn

        from api.accounts.store import Accounts
        from api.app import create_app
        from api.list_answers import ListAnswers
        from api.ports import ServiceView

        self.store = AlarmStore.open(url, data_dir=folder)
        self.committed: dict[str, float] = {}
        self.store.add_listener(self._note_commit)  # before the live feed's listener: commit time
        self.accounts = Accounts.open(f"sqlite:///{folder / 'accounts.db'}")
        self.key = os.urandom(16).hex()
        service = cast(ServiceView, _AlarmDesk(self.store))
        app = create_app(service, frozenset([self.key]), self.accounts)
        self.answers: ListAnswers = app.state.list_answers
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        config_ = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                 backlog=1024, timeout_keep_alive=120)
        self.server = uvicorn.Server(config_)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def _note_commit(self, event_type: str, envelope: dict[str, Any]) -> None:
        if event_type == "alarm.raised":
            self.committed[str(envelope["data"]["id"])] = time.time()

    def raise_alarm(self, i: int) -> str:
        draft = AlarmDraft(type="unknown_person", severity="high", rule_id="bench", camera_id=CAMERAS[i % 8],
                           zone=None, occurred_at=dt.datetime.now(dt.UTC),
                           subject=Subject(kind="unknown_track", id=f"live-{i}"), dedup_key=f"live|{i}",
                           similarity=None, plate_text=None, details={"live": i})
        return self.store.raise_alarm(draft).id

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.accounts.close()
        self.store.close()


# -- the clients (in a child process) ---------------------------------------------------------------
HTTP_CLIENTS = ("lean", "httpx")
"""``lean``: :class:`LeanHttp`, a few lines of asyncio; ``httpx``: the full client (about 5 ms of CPU
per request on the reference machine, more than the server spends: on a small machine it starves
the server it measures, where real consoles run elsewhere)."""


def _list_clients(port: int, key: str, plan: list[tuple[str, str]], clients: int, duration: float,
                  interval: float | None, out: Any, http_client: str = "lean") -> None:
    out.put(asyncio.run(_drive_list(port, key, plan, clients, duration, interval, http_client)))


class LeanHttp:
    """GET over kept-alive HTTP/1.1 connections to one host, at most ``connections`` at once.

    Just what the list benchmark needs: a fixed header set, answers with ``Content-Length`` (the
    API's JSON answers and 304s); anything else is an error.
    """

    def __init__(self, port: int, headers: dict[str, str], connections: int) -> None:
        self.port = port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"127.0.0.1:{port}", **headers}.items())
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(connections)

    async def get(self, path: str) -> tuple[int, bytes]:
        """``(status, body)`` of ``GET path``."""
        async with self._slots:
            reader, writer = self._idle.pop() if self._idle else \
                await asyncio.open_connection("127.0.0.1", self.port)
            try:
                writer.write(f"GET {path} HTTP/1.1\r\n{self.head}\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status, length = self._parse(head)
                body = await reader.readexactly(length) if length else b""
            except BaseException:
                writer.close()
                raise
            self._idle.append((reader, writer))
            return status, body

    @staticmethod
    def _parse(head: bytes) -> tuple[int, int]:
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                return status, int(value)
        if status == 304:
            return status, 0
        raise ValueError(f"answer {status} without Content-Length")

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


async def _drive_list(port: int, key: str, plan: list[tuple[str, str]], clients: int, duration: float,
                      interval: float | None = None, http_client: str = "lean") -> dict[str, Any]:
    """The clients' latencies per query kind, closed or open loop, and the CPU the clients used.

    Closed loop (``interval`` None): each client asks again as soon as it has its answer. Open
    loop: each client asks every ``interval`` seconds, at a random phase, whether or not its last
    answer came; latency counts from the scheduled time, so a server falling behind shows in full.
    """
    import httpx

    latencies: dict[str, list[float]] = {kind: [] for kind, _ in plan}
    errors: dict[str, int] = {kind: 0 for kind, _ in plan}
    samples: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    lean = LeanHttp(port, {"X-API-Key": key}, clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key},
                                 limits=limits, timeout=60) as client:

        async def get(path: str) -> tuple[int, bytes]:
            if http_client == "lean":
                return await asyncio.wait_for(lean.get(path), 60)
            response = await client.get(path)
            return response.status_code, response.content

        await get("/api/v1/alarms?limit=1")  # connect once before the clock starts
        cpu_started = time.process_time()
        started = time.perf_counter()
        end = started + duration

        async def ask(kind: str, query: str, t0: float) -> None:
            try:
                status, body = await get(f"/api/v1/alarms?{query}")
                ok = status == 200 and "total" in json.loads(body)
                if not ok and len(samples) < 5:
                    samples.append(f"{kind}: {status} {body[:200]!r}")
            except (httpx.HTTPError, OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
                ok = False
                if len(samples) < 5:
                    samples.append(f"{kind}: {exc!r}")
            if ok:
                latencies[kind].append(time.perf_counter() - t0)
            else:
                errors[kind] += 1

        async def closed(worker: int) -> None:
            i = worker
            while time.perf_counter() < end:
                kind, query = plan[i % len(plan)]
                i += 1
                await ask(kind, query, time.perf_counter())

        async def open_loop(worker: int, period: float) -> None:
            rng = random.Random(worker)
            due, i, asked = started + rng.random() * period, worker, []
            while due < end:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                kind, query = plan[i % len(plan)]
                i += 1
                asked.append(asyncio.create_task(ask(kind, query, due)))
                due += period
            await asyncio.gather(*asked)

        if interval is None:
            await asyncio.gather(*(closed(w) for w in range(clients)))
        else:
            await asyncio.gather(*(open_loop(w, interval) for w in range(clients)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    lean.close()
    return {"latencies": latencies, "errors": errors, "elapsed_s": elapsed, "error_samples": samples,
            "cpu_s": cpu}


def _subscribers(port: int, key: str, count: int, ready: Any, done: Any, out: Any) -> None:
    out.put(asyncio.run(_hold_feed(port, key, count, ready, done)))


async def _hold_feed(port: int, key: str, count: int, ready: Any, done: Any) -> dict[str, Any]:
    import websockets

    url = f"ws://127.0.0.1:{port}/api/v1/alarms/live?access_token={key}"
    sockets = [await websockets.connect(url, max_queue=None) for _ in range(count)]
    for ws in sockets:  # each is subscribed once it says ready
        while json.loads(await ws.recv()).get("kind") != "ready":
            pass
    ready.set()
    received: list[dict[str, float]] = [{} for _ in sockets]
    lost = [0] * count

    async def listen(n: int, ws: Any) -> None:
        try:
            async for raw in ws:
                at = time.time()
                message = json.loads(raw)
                if message.get("kind") == "event" and message.get("type") == "alarm.raised":
                    received[n][message["alarm"]["id"]] = at
                elif message.get("kind") == "lost":
                    lost[n] += int(message["count"])
        except websockets.ConnectionClosed:
            pass

    tasks = [asyncio.create_task(listen(n, ws)) for n, ws in enumerate(sockets)]
    while not done.is_set():
        await asyncio.sleep(0.05)
    for ws in sockets:
        await ws.close()
    await asyncio.gather(*tasks)
    return {"received": received, "lost_messages": lost}


# -- the two measurements ---------------------------------------------------------------------------
def _ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"p50_ms": round(q[49] * 1000, 2), "p95_ms": round(q[94] * 1000, 2),
            "p99_ms": round(q[98] * 1000, 2), "max_ms": round(max(values) * 1000, 2)}


def measure_list(site: Site, alarms: int, clients: int, duration: float, now: dt.datetime,
                 interval: float | None = None, writes: float = 0.0,
                 http_client: str = "lean") -> dict[str, Any]:
    """``clients`` concurrent clients asking list queries for ``duration`` seconds.

    Closed loop without ``interval``; open loop, each client every ``interval`` seconds, with it.
    Meanwhile ``writes`` alarms per second are stored (a live site: every one changes the lists).
    CPU is reported per side: the server's process (uvicorn and the writer) and the clients' (their
    load window only, not their start).
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    plan = queries(alarms, now, seed=clients)
    child = ctx.Process(target=_list_clients,
                        args=(site.port, site.key, plan, clients, duration, interval, out, http_client))
    answers = site.answers
    hits, misses, shared = answers.hits, answers.misses, answers.shared
    cpu = _process_cpu()
    stop = threading.Event()
    written: list[str] = []

    def write() -> None:
        started = time.perf_counter()
        while writes > 0 and not stop.wait(max(0.0, started + len(written) / writes - time.perf_counter())):
            written.append(site.raise_alarm(1_000_000 + len(written)))

    writer = threading.Thread(target=write, name="bench-list-writes", daemon=True)
    child.start()
    writer.start()
    try:
        raw = out.get(timeout=duration + 180)
        server_cpu = _process_cpu() - cpu  # from the clients' start: their connect and a first answer too
    finally:
        stop.set()
        writer.join(timeout=10)
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    latencies: dict[str, list[float]] = raw["latencies"]
    asked = sum(len(v) for v in latencies.values()) + sum(raw["errors"].values())
    kept, rendered = answers.hits - hits + answers.shared - shared, answers.misses - misses
    every = [x for values in latencies.values() for x in values]
    kinds = {kind: {"requests": len(latencies[kind]), "errors": raw["errors"][kind], **_ms(latencies[kind])}
             for kind, _ in plan}
    return {
        "alarms": alarms, "clients": clients, "duration_s": round(raw["elapsed_s"], 2),
        "loop": "closed" if interval is None else "open", "interval_s": interval,
        "alarms_stored_meanwhile": len(written),
        "queries": dict(plan), "requests": len(every), "errors": sum(raw["errors"].values()),
        "requests_per_s": round(len(every) / raw["elapsed_s"], 1), **_ms(every), "by_kind": kinds,
        "error_samples": raw["error_samples"], "http_client": http_client,
        "answers": {"kept": kept, "rendered": rendered,
                    "kept_share": round(kept / max(1, kept + rendered), 3)},
        "cpu_ms_per_request": {"server": round(server_cpu / max(1, asked) * 1000, 2),
                               "clients": round(raw["cpu_s"] / max(1, asked) * 1000, 2)},
    }


def _process_cpu() -> float:
    """CPU seconds (user + system) of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_feed(site: Site, subscribers: int, rate: float, duration: float) -> dict[str, Any]:
    """``subscribers`` WebSocket clients; alarms stored at ``rate`` per second for ``duration`` s."""
    ctx = multiprocessing.get_context("spawn")
    ready, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(target=_subscribers, args=(site.port, site.key, subscribers, ready, done, out))
    child.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the WebSocket subscribers did not connect within 120 s")
        raised: list[str] = []
        started = time.perf_counter()
        n = max(1, round(rate * duration))
        for i in range(n):
            pause = started + i / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            raised.append(site.raise_alarm(i))
        tail = time.monotonic() + 10  # let the last ones arrive
        time.sleep(1.0)
        done.set()
        raw = out.get(timeout=max(30.0, tail - time.monotonic() + 30))
    finally:
        done.set()
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    latencies: list[float] = []
    missing = 0
    for got in raw["received"]:
        for alarm_id in raised:
            if alarm_id in got:
                latencies.append(max(0.0, got[alarm_id] - site.committed[alarm_id]))
            else:
                missing += 1
    stats = _ms(latencies)
    return {"subscribers": subscribers, "rate_per_s": rate, "duration_s": duration, "alarms": len(raised),
            "deliveries": len(latencies), "expected": len(raised) * subscribers, "missing": missing,
            "lost_messages": sum(raw["lost_messages"]), "cameras_running": 0,
            **{k: v for k, v in stats.items() if k != "p95_ms"}}


def run(url: str | None, alarms: int, clients: int, duration: float, subscribers: int, rate: float,
        folder: Path, progress: Callable[[str], None] = lambda _: None,
        poll_interval: float = 1.0, list_writes: float = 1.0, http_client: str = "lean") -> dict[str, Any]:
    """Both measurements on one store (``url``, or SQLite in ``folder``); the JSON-able results."""
    database = "sqlite" if url is None else "postgresql"
    if url is not None:
        _reset(url)
    site = Site(url or f"sqlite:///{folder / 'estatewatch.db'}", folder)
    try:
        now = dt.datetime.now(dt.UTC)
        progress(f"{database}: storing {alarms} alarms ...")
        fill_s = fill(site.store, alarms, now)
        from api.app import freeze_startup_heap

        freeze_startup_heap()  # as `serve` does once started
        progress(f"{database}: stored in {fill_s:.1f} s; one client for {min(duration, 10.0):g} s ...")
        single = measure_list(site, alarms, 1, min(duration, 10.0), now, writes=list_writes,
                              http_client=http_client)
        progress(f"{database}: one client: p50 {single['p50_ms']} ms, {single['requests_per_s']} req/s; "
                 f"{clients} clients for {duration:g} s ...")
        listing = measure_list(site, alarms, clients, duration, now, writes=list_writes,
                               http_client=http_client)
        progress(f"{database}: list p99 {listing['p99_ms']} ms, {listing['requests_per_s']} req/s, "
                 f"{listing['errors']} errors; {clients} clients each every {poll_interval:g} s ...")
        polling = measure_list(site, alarms, clients, duration, now, poll_interval, list_writes, http_client)
        progress(f"{database}: polling p99 {polling['p99_ms']} ms, {polling['requests_per_s']} req/s, "
                 f"{polling['errors']} errors; {subscribers} subscribers at {rate:g}/s ...")
        feed = measure_feed(site, subscribers, rate, duration)
        progress(f"{database}: feed p99 {feed['p99_ms']} ms, {feed['missing']} missing")
    finally:
        site.close()
    return {"database": database, "fill_s": round(fill_s, 2), "list_one_client": single, "list": listing,
            "list_polling": polling, "feed": feed}


# -- the command ------------------------------------------------------------------------------------
def bench_api(
    alarms: int = typer.Option(100_000, min=100, help="Alarms stored before the list is asked."),
    clients: int = typer.Option(50, min=1, max=1000, help="Concurrent HTTP clients on the alarm list."),
    duration: float = typer.Option(30.0, min=1.0, max=3600, help="Seconds of load (each part)."),
    subscribers: int = typer.Option(50, min=1, max=1000, help="WebSocket clients on the live feed."),
    rate: float = typer.Option(5.0, min=0.1, max=200, help="Alarms stored per second during the feed part."),
    list_writes: float = typer.Option(
        1.0, min=0, max=100, help="Alarms stored per second while the list is asked (each changes every "
                                  "list: no answer outlives it); 0: none."),
    poll_interval: float = typer.Option(
        1.0, min=0.05, max=60, help="Open-loop part: each of the clients asks every this many seconds "
                                    "(a console polling), whether or not its last answer came."),
    http_client: str = typer.Option(
        "lean", help="The list clients' HTTP code: 'lean' (a few lines of asyncio, little CPU) or 'httpx' "
                     "(about 5 ms of CPU per request, taken from the server on a small machine). Client and "
                     "server CPU per request are reported apart either way."),
    database_url: str | None = typer.Option(
        None, help="Run on this database instead of a fresh SQLite file (its alarm tables are emptied)."),
    output: Path | None = typer.Option(
        None, help="Folder for api.json and api.md (default: benchmarks/results)."),
) -> None:
    """Alarm list latency under concurrent clients, and live feed latency to many subscribers."""
    if http_client not in HTTP_CLIENTS:
        raise typer.BadParameter(f"must be one of {', '.join(HTTP_CLIENTS)}, not {http_client!r}",
                                 param_hint="--http-client")
    logging.getLogger("alarms").setLevel(logging.WARNING)  # one INFO line per stored alarm
    with tempfile.TemporaryDirectory(prefix="ew-bench-api-") as tmp:
        result = run(database_url, alarms, clients, duration, subscribers, rate, Path(tmp), typer.echo,
                     poll_interval, list_writes, http_client)
    write(result, output or results_dir())
    typer.echo(markdown(result))


def write(result: dict[str, Any], folder: Path) -> None:
    info = machine_info()
    info["load_average_1_5_15"] = load_average()
    payload = {"benchmark": "api", "machine": info, "results": [result]}
    write_result(payload, folder / "api",
                 "# Alarm list under load, live feed fan-out\n\n"
                 f"{machine_line(info)}, {info['date']}, load {info['load_average_1_5_15']}. "
                 "Server (uvicorn, one process) and "
                 "clients (one process) on the same machine.\n\n" + markdown(result) + "\n")


def _cpu_line(listing: dict[str, Any]) -> str:
    """CPU per request of each side and the share of kept answers (results from before: nothing)."""
    cpu, answers = listing.get("cpu_ms_per_request"), listing.get("answers")
    if cpu is None or answers is None:
        return ""
    return (f" CPU per request: server {cpu['server']} ms, clients {cpu['clients']} ms "
            f"({listing['http_client']} client); {answers['kept_share'] * 100:.0f}% kept answers "
            f"({answers['rendered']} rendered).")


def markdown(result: dict[str, Any]) -> str:
    feed = result["feed"]
    lines: list[str] = []
    for listing in (result["list_one_client"], result["list"], result.get("list_polling")):
        if listing is None:  # results written before the open-loop part existed
            continue
        loop = ("closed loop: each asks again as soon as it has its answer" if listing.get("loop", "closed")
                == "closed" else f"open loop: each asks every {listing['interval_s']:g} s, latency from "
                "the scheduled time")
        lines += [
            f"Alarm list: {listing['alarms']} alarms in {result['database']} "
            f"(stored in {result['fill_s']} s), "
            f"{listing['clients']} client(s) for {listing['duration_s']} s ({loop}), "
            f"{listing.get('alarms_stored_meanwhile', 0)} alarms stored meanwhile: "
            f"{listing['requests_per_s']} requests/s, {listing['errors']} errors.{_cpu_line(listing)}",
            "",
            "| query | requests | errors | p50 | p95 | p99 | max |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for kind, r in [*listing["by_kind"].items(), ("**all**", listing)]:
            lines.append(f"| {kind} | {r['requests']} | {r['errors']} | {r['p50_ms']} ms | "
                         f"{r['p95_ms']} ms | {r['p99_ms']} ms | {r['max_ms']} ms |")
        lines.append("")
    lines += [
        f"Live feed: {feed['subscribers']} subscribers, {feed['alarms']} alarms at {feed['rate_per_s']}/s, "
        f"no camera running.",
        "",
        "| deliveries | expected | missing | lost | p50 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {feed['deliveries']} | {feed['expected']} | {feed['missing']} | {feed['lost_messages']} | "
        f"{feed['p50_ms']} ms | {feed['p99_ms']} ms | {feed['max_ms']} ms |",
    ]
    return "\n".join(lines)
