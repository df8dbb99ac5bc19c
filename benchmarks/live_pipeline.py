"""``estatewatch bench live``: the live alarm feed while cameras run, and what the feed costs them.

Issue 11 asks that an alarm reach 50 open WebSocket subscribers within 1 s (p99) of being stored
while 8 cameras run, without raising the pipeline's drops. ``bench api`` measures the feed with no
camera running; this benchmark runs the whole service, in one process as ``estatewatch serve``
does (:mod:`estatewatch.local_site`: the service with its pipeline, alarm intake, relay, clips and
the app on uvicorn), for each ``--cameras`` count:

* cameras: 720p25 H.264 over RTSP/TCP from the local GStreamer RTSP server, content in turn
  people, cars with plates, people, idle (:data:`benchmarks.capacity.MIX`), every camera running
  faces, vehicles and plates at ``--detect-fps``, the pipeline with the service's defaults (motion
  gating, adaptive pacing); default rules and an empty registry;
* phases of ``--seconds`` each, alternating *without* and *with* subscribers (A B B A ... over
  ``--rounds`` pairs, so a drift of the machine's load weighs on both alike). In every phase
  alarms are stored at ``--rate`` per second as ``bench api`` stores them (site-wide, so no clip is
  cut); in *with* phases ``--subscribers`` WebSocket clients (one child process, a full-access key)
  hold ``/api/v1/alarms/live``, connected before the phase starts;
* per phase the pipeline's sampled, dropped and paced frames and capture -> result latency (the
  pipeline's own counters and latency window, read at the phase's start and end), and the service
  process's CPU; in *with* phases every ``alarm.raised`` committed in the phase (the bench's and the
  pipeline's own, if any) against each subscriber: commit -> received p50/p99/max (a store listener
  notes the commit time; same machine clock), missing (not received by :data:`TAIL_S` after the
  phase), and ``lost`` messages (a subscriber's queue overflowed).

A camera count is *sustained* when the phases without subscribers drop and pace < 1% of sampled
frames with a p99 capture -> result < 1 s. Results: ``live.json``, ``live.md`` and a chart under
``benchmarks/results/`` (``--output``).
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import psutil
import typer

from alarms.store import AlarmStore
from alarms.types import AlarmDraft, Subject
from benchmarks.api import _ms, _subscribers
from benchmarks.capacity import MIX, camera_clips, rtsp_cameras
from benchmarks.delivery import _reset
from benchmarks.machine import load_average, machine_info, results_dir
from benchmarks.options import int_list
from benchmarks.record import write_result
from streams.testing.server import Mount, RtspTestServer, gstreamer_missing
from vision.live import CameraCounters, FramePipeline, percentile

logger = logging.getLogger(__name__)

SETTLE_S = 2.0
"""Pause before each phase's window (the subscribers' process has just connected)."""
TAIL_S = 5.0
"""After a phase, how long its last alarms have to reach the subscribers before they count as missing."""
MAX_CAMERAS = 64
TARGET_FEED_P99_MS = 1000.0
TARGET_DROP_PERCENT = 1.0
TARGET_PIPELINE_P99_MS = 1000.0


class RunningSite(Protocol):
    """The started service and its API, as the composition root builds it."""

    @property
    def port(self) -> int: ...

    @property
    def key(self) -> str:
        """A full-access API key."""
        ...

    @property
    def store(self) -> AlarmStore: ...

    @property
    def pipeline(self) -> FramePipeline: ...

    def close(self) -> None: ...


SiteStarter = Callable[[Mapping[str, Any], Path, str | None], RunningSite]
"""``(service config as its YAML holds it, data folder, alarm database URL or None) -> started site``."""

_starters: list[SiteStarter] = []


def attach_site(starter: SiteStarter) -> None:
    """Use ``starter`` to run the service (:mod:`estatewatch.cli` attaches its local site here)."""
    _starters[:] = [starter]


# -- what a phase measures ------------------------------------------------------------------------
class CommitLog:
    """A store listener: the wall-clock time each ``alarm.raised`` was committed, by alarm id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.at: dict[str, float] = {}

    def __call__(self, event_type: str, envelope: dict[str, Any]) -> None:
        if event_type == "alarm.raised":
            with self._lock:
                self.at[str(envelope["data"]["id"])] = time.time()

    def between(self, start: float, end: float) -> dict[str, float]:
        with self._lock:
            return {alarm_id: at for alarm_id, at in self.at.items() if start <= at <= end}


def bench_draft(i: int) -> AlarmDraft:
    """A site-wide alarm (no camera: no clip is cut, which would measure the disk, not the feed)."""
    return AlarmDraft(type="unknown_person", severity="high", rule_id="bench", camera_id=None, zone=None,
                      occurred_at=dt.datetime.now(dt.UTC),
                      subject=Subject(kind="unknown_track", id=f"live-{i}"), dedup_key=f"live|{i}",
                      similarity=None, plate_text=None, details={"live": i})


def store_alarms(store: AlarmStore, rate: float, seconds: float, first: int) -> tuple[list[str], list[float]]:
    """Store alarms at ``rate`` per second for ``seconds``: their ids and each store call's seconds."""
    ids: list[str] = []
    took: list[float] = []
    started = time.perf_counter()
    for i in range(max(1, round(rate * seconds))):
        pause = started + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        t0 = time.perf_counter()
        ids.append(store.raise_alarm(bench_draft(first + i)).id)
        took.append(time.perf_counter() - t0)
    pause = started + seconds - time.perf_counter()
    if pause > 0:
        time.sleep(pause)
    return ids, took


COUNTED = ("sampled", "analysed", "gated", "dropped", "paced", "failed")
CPU = "service_cpu_percent_of_one_core"


def pipeline_window(pipeline: FramePipeline, before: Mapping[str, CameraCounters]) -> tuple[dict[str, int],
                                                                                          list[float]]:
    """Frames counted since ``before`` (all cameras) and the capture -> result latencies (ms) of them.

    Each result adds one latency to its camera's window (the last 4096), so the newest
    ``results since before`` of each window are this phase's.
    """
    after = pipeline.counters()
    recent = pipeline.latencies_ms()
    totals = {key: sum(getattr(after[c], key) - getattr(before[c], key) for c in after) for key in COUNTED}
    latencies: list[float] = []
    for cam, now in after.items():
        new = now.analysed + now.gated - before[cam].analysed - before[cam].gated
        if new > 0:
            latencies += recent[cam][-new:]
    return totals, latencies


def frame_stats(totals: Mapping[str, int], latencies: list[float], seconds: float) -> dict[str, Any]:
    sampled = max(totals["sampled"], 1)
    handled = totals["analysed"] + totals["gated"]
    return {
        **totals,
        "dropped_percent": round(100 * totals["dropped"] / sampled, 2),
        "paced_percent": round(100 * totals["paced"] / sampled, 2),
        "handled_frames_per_s": round(handled / seconds, 2) if seconds else None,
        "latency_ms_p50": _round(percentile(latencies, 50)),
        "latency_ms_p99": _round(percentile(latencies, 99)),
        "latency_ms_max": _round(max(latencies) if latencies else None),
        "results": len(latencies),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def feed_stats(committed: Mapping[str, float], received: list[dict[str, float]], lost: list[int],
               bench_ids: set[str]) -> tuple[dict[str, Any], list[float]]:
    """Each committed alarm against each subscriber: latency stats, missing, lost; and the latencies (s)."""
    latencies: list[float] = []
    missing = 0
    for got in received:
        for alarm_id, at in committed.items():
            if alarm_id in got:
                latencies.append(max(0.0, got[alarm_id] - at))
            else:
                missing += 1
    stats = {k: v for k, v in _ms(latencies).items() if k != "p95_ms"}
    return {"subscribers": len(received), "alarms": len(committed),
            "pipeline_alarms": len(set(committed) - bench_ids), "expected": len(committed) * len(received),
            "deliveries": len(latencies), "missing": missing, "lost_messages": sum(lost), **stats}, latencies


class Phase:
    """One window of ``seconds``: alarms stored at ``rate``, with ``subscribers`` on the feed (or none)."""

    def __init__(self, site: RunningSite, commits: CommitLog, subscribers: int, rate: float,
                 seconds: float) -> None:
        self.site, self.commits = site, commits
        self.subscribers, self.rate, self.seconds = subscribers, rate, seconds
        self.latencies: list[float] = []
        self.feed_latencies: list[float] = []

    def run(self, first_alarm: int) -> dict[str, Any]:
        ctx = multiprocessing.get_context("spawn")
        ready, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
        child = None
        if self.subscribers:
            child = ctx.Process(target=_subscribers,
                                args=(self.site.port, self.site.key, self.subscribers, ready, done, out))
            child.start()
        try:
            if child is not None and not ready.wait(120):
                raise RuntimeError(f"{self.subscribers} WebSocket subscribers did not connect within 120 s")
            time.sleep(SETTLE_S)
            return self._window(first_alarm, child, done, out)
        finally:
            done.set()
            if child is not None:
                child.join(timeout=30)
                if child.is_alive():
                    child.kill()

    def _window(self, first_alarm: int, child: Any, done: Any, out: Any) -> dict[str, Any]:
        me = psutil.Process()
        before, cpu0, wall0 = self.site.pipeline.counters(), me.cpu_times(), time.time()
        t0 = time.monotonic()
        ids, took = store_alarms(self.site.store, self.rate, self.seconds, first_alarm)
        totals, self.latencies = pipeline_window(self.site.pipeline, before)
        elapsed, cpu1, wall1 = time.monotonic() - t0, me.cpu_times(), time.time()
        cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed
        result: dict[str, Any] = {
            "phase": "with" if self.subscribers else "without", "seconds": round(elapsed, 1),
            **frame_stats(totals, self.latencies, elapsed),
            CPU: round(100 * cpu, 1),
            "load_average_1": round(os.getloadavg()[0], 2),
            "alarms_stored": len(ids), "store_ms_p99": _ms(took)["p99_ms"], "feed": None,
        }
        if child is not None:
            subscriber_cpu = psutil.Process(child.pid).cpu_times()
            time.sleep(TAIL_S)
            done.set()
            raw = out.get(timeout=60)
            committed = self.commits.between(wall0, wall1)
            result["feed"], self.feed_latencies = feed_stats(committed, raw["received"], raw["lost_messages"],
                                                             set(ids))
            result["subscriber_process_cpu_s"] = round(subscriber_cpu.user + subscriber_cpu.system, 1)
        return result


# -- one camera count ---------------------------------------------------------------------------
def site_config(server: RtspTestServer, cameras: int, detect_fps: float) -> dict[str, Any]:
    """The service configuration (as its YAML file holds it) of ``cameras`` RTSP cameras."""
    return {"cameras": [{"id": c.id, "url": c.url, "detect_fps": c.detect_fps, "run": list(c.run)}
                        for c in rtsp_cameras(server, cameras, detect_fps)]}


def run_count(starter: SiteStarter, server: RtspTestServer, cameras: int, *, subscribers: int, rate: float,
              seconds: float, rounds: int, warmup: float, detect_fps: float, database_url: str | None,
              folder: Path, progress: Callable[[str], None]) -> dict[str, Any]:
    """Start the service with ``cameras`` cameras, run ``rounds`` pairs of phases, stop it; the results."""
    if database_url is not None:
        _reset(database_url)
    progress(f"{cameras} camera(s): starting the service (models, cameras, API) ...")
    site = starter(site_config(server, cameras, detect_fps), folder, database_url)
    commits = CommitLog()
    site.store.add_listener(commits)  # before the feed's listener (added by the first subscriber)
    phases: list[dict[str, Any]] = []
    pooled: dict[str, list[float]] = {"without": [], "with": [], "feed": []}
    try:
        progress(f"{cameras} camera(s): warming up for {warmup:g} s ...")
        time.sleep(warmup)
        first = 0
        for r in range(rounds):
            for with_feed in ((False, True) if r % 2 == 0 else (True, False)):
                phase = Phase(site, commits, subscribers if with_feed else 0, rate, seconds)
                label = f"{subscribers} subscribers" if with_feed else "no subscribers"
                progress(f"{cameras} camera(s), round {r + 1}/{rounds}: {label}, {seconds:g} s ...")
                row = {"round": r + 1, **phase.run(first)}
                first += row["alarms_stored"]
                phases.append(row)
                pooled[row["phase"]] += phase.latencies
                pooled["feed"] += phase.feed_latencies
                progress("  " + _phase_line(row))
    finally:
        site.close()
    return summarise(cameras, phases, pooled)


def _phase_line(row: dict[str, Any]) -> str:
    line = (f"dropped {row['dropped_percent']}%, paced {row['paced_percent']}%, p99 {row['latency_ms_p99']} "
            f"ms, service CPU {row[CPU]}%, load {row['load_average_1']}")
    feed = row["feed"]
    if feed:
        line += (f"; feed p99 {feed['p99_ms']} ms, {feed['deliveries']}/{feed['expected']} delivered, "
                 f"{feed['missing']} missing, {feed['lost_messages']} lost")
    return line


def summarise(cameras: int, phases: list[dict[str, Any]],
              pooled: Mapping[str, list[float]]) -> dict[str, Any]:
    """Phases of one label pooled (counters summed, latencies together) and the with/without ratios."""
    side: dict[str, dict[str, Any]] = {}
    for label in ("without", "with"):
        mine = [p for p in phases if p["phase"] == label]
        seconds = sum(p["seconds"] for p in mine)
        totals = {key: sum(p[key] for p in mine) for key in COUNTED}
        cpu = _mean([p[CPU] for p in mine])
        side[label] = {"phases": len(mine), "seconds": round(seconds, 1),
                       **frame_stats(totals, list(pooled[label]), seconds), CPU: cpu}
    feeds = [p["feed"] for p in phases if p["feed"]]
    feed = {key: sum(f[key] for f in feeds) for key in ("alarms", "pipeline_alarms", "expected", "deliveries",
                                                         "missing", "lost_messages")}
    feed.update({k: v for k, v in _ms(list(pooled["feed"])).items() if k != "p95_ms"})
    without, with_ = side["without"], side["with"]
    p99 = without["latency_ms_p99"]
    sustained = (without["dropped_percent"] < TARGET_DROP_PERCENT
                 and without["paced_percent"] < TARGET_DROP_PERCENT
                 and p99 is not None and p99 < TARGET_PIPELINE_P99_MS)
    return {
        "cameras": cameras, "phases": phases, "without": without, "with": with_, "feed": feed,
        "with_vs_without": {
            "dropped_points": round(with_["dropped_percent"] - without["dropped_percent"], 2),
            "paced_points": round(with_["paced_percent"] - without["paced_percent"], 2),
            "latency_p99_ratio": _ratio(with_["latency_ms_p99"], without["latency_ms_p99"]),
            "cpu_ratio": _ratio(with_[CPU], without[CPU]),
        },
        "sustained": sustained,
        "feed_meets_target": bool(feed["expected"]) and feed["missing"] == 0 and feed["lost_messages"] == 0
        and feed["p99_ms"] is not None and feed["p99_ms"] < TARGET_FEED_P99_MS,
    }


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


# -- the command ------------------------------------------------------------------------------------
def bench_live(
    cameras: str = typer.Option("8", help="Camera counts, comma-separated (each a fresh service), e.g. 4,8."),
    subscribers: int = typer.Option(50, min=1, max=1000, help="WebSocket clients on the live feed."),
    rate: float = typer.Option(5.0, min=0.1, max=200, help="Alarms stored per second in every phase."),
    seconds: float = typer.Option(60.0, min=5.0, max=3600, help="Seconds of each phase."),
    rounds: int = typer.Option(2, min=1, max=10, help="Pairs of phases (without and with subscribers)."),
    warmup: float = typer.Option(15.0, min=0.0, max=600,
                                 help="Seconds after the start before the first phase."),
    detect_fps: float = typer.Option(5.0, min=0.5, max=25.0, help="Sampled frames per camera per second."),
    database_url: str | None = typer.Option(
        None, help="Alarm store on this database instead of a fresh SQLite file (its alarm tables are "
                   "emptied)."),
    output: Path | None = typer.Option(None, help="Folder for live.json, live.md and the chart "
                                       "(default: benchmarks/results)."),
) -> None:
    """The live alarm feed's latency to many subscribers while cameras run, and its cost to the pipeline."""
    counts = int_list(cameras, "--cameras")
    if max(counts) > MAX_CAMERAS:
        raise typer.BadParameter(f"{max(counts)} is above {MAX_CAMERAS}", param_hint="--cameras")
    if not _starters:
        typer.echo("bench live runs the whole service: start it as `estatewatch bench live`", err=True)
        raise typer.Exit(1)
    missing = gstreamer_missing()
    if missing:
        typer.echo(f"bench live serves its cameras from the local RTSP server: {missing}", err=True)
        raise typer.Exit(1)
    for noisy in ("alarms", "streams", "vision", "estatewatch", "api"):  # a line per alarm, camera, start
        logging.getLogger(noisy).setLevel(logging.WARNING)
    command = (f"estatewatch bench live --cameras {','.join(map(str, counts))} --subscribers {subscribers} "
               f"--rate {rate:g} --seconds {seconds:g} --rounds {rounds} --warmup {warmup:g} "
               f"--detect-fps {detect_fps:g}" + (" --database-url ..." if database_url else ""))
    load_before = load_average()
    runs = []
    mounts = {path: Mount(file=clip) for path, clip in camera_clips(max(counts)).items()}
    with RtspTestServer(mounts) as server:
        for count in counts:
            with tempfile.TemporaryDirectory(prefix="ew-bench-live-") as tmp:
                runs.append(run_count(_starters[0], server, count, subscribers=subscribers, rate=rate,
                                      seconds=seconds, rounds=rounds, warmup=warmup, detect_fps=detect_fps,
                                      database_url=database_url, folder=Path(tmp), progress=typer.echo))
            typer.echo(summary_line(runs[-1]))
    machine = {**machine_info(), "load_average_1_5_15_before": load_before,
               "load_average_1_5_15": load_average()}
    result = {"benchmark": "live", "command": command, "machine": machine,
              "database": "postgresql" if database_url else "sqlite", "subscribers": subscribers,
              "rate_per_s": rate, "seconds_per_phase": seconds, "rounds": rounds, "warmup_s": warmup,
              "detect_fps": detect_fps, "mix": list(MIX), "runs": runs}
    write(result, output or results_dir())


def summary_line(run: dict[str, Any]) -> str:
    w, o, feed = run["with"], run["without"], run["feed"]
    return (f"{run['cameras']} camera(s): {'sustained' if run['sustained'] else 'NOT sustained'}; dropped "
            f"{o['dropped_percent']}% -> {w['dropped_percent']}% and p99 {o['latency_ms_p99']} -> "
            f"{w['latency_ms_p99']} ms without -> with subscribers; feed p99 {feed['p99_ms']} ms, "
            f"{feed['missing']} missing, {feed['lost_messages']} lost")


def write(result: dict[str, Any], folder: Path) -> None:
    write_result(result, folder / "live", markdown(result))


def markdown(result: dict[str, Any]) -> str:
    """The Markdown report of one run."""
    m = result["machine"]
    lines = [
        "# Live alarm feed while cameras run", "",
        f"Machine: {m['cpu']}, {m['usable_cores']} usable cores, {m['memory_gib']} GiB, {m['date']}, "
        f"load average 1/5/15 min {m['load_average_1_5_15_before']} before, {m['load_average_1_5_15']} "
        f"after. Command: `{result['command']}`.", "",
        f"The whole service in one process (pipeline, alarm intake, relay, clips, the app on uvicorn, "
        f"{result['database']} alarm store); cameras 1280x720 25 fps H.264 over RTSP/TCP from the local "
        f"GStreamer RTSP server, content in turn {', '.join(result['mix'])}, every camera running faces, "
        f"vehicles and plates at {result['detect_fps']:g} fps. Phases of {result['seconds_per_phase']:g} s "
        f"alternate without and with {result['subscribers']} WebSocket subscribers (one child process on "
        f"this machine), {result['rounds']} pair(s); {result['rate_per_s']:g} alarms/s are stored in "
        "every phase. Feed latency: commit -> received by a subscriber, every alarm against every "
        "subscriber. Sustained: without subscribers < 1% of sampled frames dropped and < 1% paced, "
        "p99 capture -> result < 1 s.", "",
        "| cameras | sustained | dropped % without -> with | paced % without -> with "
        "| pipeline p99 ms without -> with | service CPU % without -> with | feed p50 / p99 / max ms "
        "| delivered / expected | missing | lost |",
        "|---:|---|---|---|---|---|---|---|---:|---:|",
    ]
    for run in result["runs"]:
        o, w, f = run["without"], run["with"], run["feed"]
        lines.append(
            f"| {run['cameras']} | {'yes' if run['sustained'] else '**no**'} | {o['dropped_percent']} -> "
            f"{w['dropped_percent']} | {o['paced_percent']} -> {w['paced_percent']} | "
            f"{o['latency_ms_p99']} -> {w['latency_ms_p99']} | {o[CPU]} -> {w[CPU]} | "
            f"{f['p50_ms']} / {f['p99_ms']} / {f['max_ms']} | "
            f"{f['deliveries']} / {f['expected']} | {f['missing']} | {f['lost_messages']} |")
    lines += ["", "Each phase:", "",
              "| cameras | round | phase | sampled | dropped % | paced % | p50 ms | p99 ms | service CPU % "
              "| load 1 min | alarms | feed p99 ms | missing | lost |",
              "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in result["runs"]:
        for p in run["phases"]:
            feed = p["feed"] or {}
            lines.append(
                f"| {run['cameras']} | {p['round']} | {p['phase']} | {p['sampled']} | {p['dropped_percent']} "
                f"| {p['paced_percent']} | {p['latency_ms_p50']} | {p['latency_ms_p99']} "
                f"| {p[CPU]} | {p['load_average_1']} | {p['alarms_stored']} | {feed.get('p99_ms', '-')} "
                f"| {feed.get('missing', '-')} | {feed.get('lost_messages', '-')} |")
    unsustained = [str(r["cameras"]) for r in result["runs"] if not r["sustained"]]
    if unsustained:
        lines += ["", f"**This machine, under its load during the run, did not sustain "
                  f"{', '.join(unsustained)} camera(s)** (see the phases without subscribers)."]
    return "\n".join(lines) + "\n"
