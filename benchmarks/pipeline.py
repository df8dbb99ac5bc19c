"""``estatewatch bench pipeline``: many live 720p25 cameras through the frame pipeline.

Cameras are local H.264 files looping in real time through :class:`~streams.source.CameraSource`
(decoded like RTSP): Debian opencv-doc's ``vtest.avi`` (pedestrians, static camera) scaled to
1280x720 at 25 fps for most cameras, the demo gate clip (a car with rendered Chinese plates) for
the last one or two. Every camera runs faces, vehicles and plates at ``--detect-fps``.

Measured per camera count: sampled frames, analysed, gated, dropped (%), capture -> result
p50/p99, CPU of this process, mean batch of every batcher. In the same run, the sequential
baseline: the same algorithm (:meth:`Cascade.analyse` with the live policy) with batching and
gating switched off: one thread, every sampled frame of the same clips (decoded in turn), one frame
per call on models without batchers, the whole frame (no motion regions), as frames/s. Writes
``benchmarks/results/pipeline.json`` and ``pipeline.md`` (or ``--out``).

``--levers none,detect_every,undecided,all`` runs each camera count once per variant of the
per-frame levers (:mod:`vision.levers`), one after the other in the same run, so their ratios
can be compared. Every run feeds each camera's results to an alarm-layer
:class:`~alarms.sightings.CameraObserver` (which also answers the levers' track hints), and
counts the decisions it makes: people decided, vehicles whose plate was decided, and the plate
texts: a lever that loses decisions would lose alarms.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import logging
import threading
import time
from pathlib import Path
from typing import Any, cast

import av
import psutil
import typer

from alarms.intake import UNKNOWN_FACE
from alarms.sightings import CameraObserver, PersonSighting, Sighting, VehicleSighting
from benchmarks.machine import load_average, machine_info, machine_line, results_dir
from benchmarks.options import choice, choice_list, int_list
from benchmarks.record import write_result
from media.clips import demo_folder, gate_clip, lobby_clip, vtest_clip
from models.manifest import TASKS, Task, Variant
from streams.config import ALL_ANALYSES, CameraConfig
from streams.frames import FrameSampler
from streams.testing.server import gstreamer_missing
from vision.cascade import Cascade, FrameTask
from vision.config import ModelChoice, VisionSettings, load_batch_defaults
from vision.engine import VisionEngine
from vision.gating import GatingConfig
from vision.levers import Levers, Settled
from vision.live import FramePipeline, FrameResult, percentile
from vision.pacing import PacingConfig
from vision.policy import RecognitionPolicy
from vision.session import PROVIDER_CHOICES

logger = logging.getLogger(__name__)

BATCH_ONE = {"yolo11n": 1, "scrfd_500m": 1, "retinaface_mnet025": 1, "w600k_mbf": 1, "clp_det": 1,
             "ppocrv6_rec": 1}
"""``--batching one``: every model one input per call (the comparison for the service's defaults)."""


LEVER_VARIANTS: dict[str, Levers] = {
    "none": Levers(),
    "detect_every": Levers(detect_every=2),
    "undecided": Levers(undecided_only=True),
    "all": Levers(detect_every=2, undecided_only=True),
    "detect_every3": Levers(detect_every=3),
    "all3": Levers(detect_every=3, undecided_only=True),
}
"""``--levers``: the per-frame levers compared side by side."""


class Decisions:
    """Each camera's alarm-layer observer (no registry: every face unknown), counting decisions.

    Answers the pipeline's track hints (:class:`vision.levers.TrackHints`) like the alarm intake.
    """

    def __init__(self, camera_ids: list[str]) -> None:
        self.observers = {cid: CameraObserver(cid) for cid in camera_ids}
        self._last: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.counting = False
        self.people = 0
        self.vehicles = 0
        self.plates: collections.Counter[str] = collections.Counter()

    def settled(self, camera_id: str, at: float, recheck_s: float) -> Settled:
        with self._lock:
            return self.observers[camera_id].settled(at, recheck_s)

    def on_result(self, result: FrameResult) -> None:
        frame = result.frame
        with self._lock:
            recognition = self._last.get(result.camera_id) if result.skipped_by_gate else result.recognition
            if recognition is None:
                return
            self._last[result.camera_id] = recognition
            wall = dt.datetime.fromtimestamp(frame.captured_at.wall, dt.UTC)
            found = self.observers[result.camera_id].observe(
                recognition, [UNKNOWN_FACE] * len(recognition.faces), (frame.width, frame.height),
                frame.captured_at.monotonic, wall, frame.seq, looked=not result.skipped_by_gate)
            if self.counting:
                self.count(found)

    def count(self, sightings: list[Sighting]) -> None:
        for sighting in sightings:
            if sighting.trigger != "decision":
                continue
            if isinstance(sighting, PersonSighting):
                self.people += 1
            elif isinstance(sighting, VehicleSighting):
                self.vehicles += 1
                self.plates[sighting.reading.text] += 1

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"people_decided": self.people, "plates_decided": self.vehicles,
                    "plate_texts": dict(self.plates.most_common())}


def bench_cameras(count: int, detect_fps: float, plate_cameras: int) -> list[CameraConfig]:
    """``count`` cameras: vtest for all but the last ``plate_cameras``, which show the gate clip."""
    folder = demo_folder()
    people, gate = vtest_clip(folder), gate_clip(folder)
    plates = min(plate_cameras, count)
    return [CameraConfig(id=f"cam{i:02d}", url=str(gate if i >= count - plates else people),
                         detect_fps=detect_fps, run=list(ALL_ANALYSES)) for i in range(count)]


def _sampled_frames(path: Path, fps: float) -> Any:
    """Endless BGR frames of a file sampled at ``fps`` of its own timeline (decode included)."""
    while True:
        sampler = FrameSampler(fps)
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if frame.time is not None and sampler.due(float(frame.time)):
                    yield frame.to_ndarray(format="bgr24")


def sequential_baseline(cameras: list[CameraConfig], seconds: float) -> dict[str, Any]:
    """Frames/s of the live algorithm with batching and gating off: one thread, one frame a call."""
    cascade = Cascade.from_store(VisionSettings())
    live = RecognitionPolicy.live()
    readers = [_sampled_frames(Path(c.url), c.detect_fps) for c in cameras]
    for reader, cam in zip(readers, cameras, strict=True):  # warm-up, one frame each
        cascade.analyse([FrameTask(next(reader), cam.run)], live)
    frames, analysis = 0, 0.0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for reader, cam in zip(readers, cameras, strict=True):
            image = next(reader)
            t0 = time.perf_counter()
            cascade.analyse([FrameTask(image, cam.run)], live)
            analysis += time.perf_counter() - t0
            frames += 1
    elapsed = time.perf_counter() - start
    return {"frames": frames, "seconds": round(elapsed, 1), "frames_per_s": round(frames / elapsed, 2),
            "analysis_ms_mean": round(analysis / frames * 1000, 1)}


def _pressure() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "n/a"


def run_pipeline(cameras: list[CameraConfig], engine: VisionEngine, *, seconds: float, warmup: float,
                 workers: int, max_queue: int, gating: GatingConfig | None,
                 pacing: PacingConfig | None = None, levers: Levers | None = None) -> dict[str, Any]:
    """One timed run of the pipeline over ``cameras``; counters are of the timed window only."""
    cascade = Cascade.from_engine(engine)
    lock = threading.Lock()
    latencies: list[float] = []
    measuring = threading.Event()
    decisions = Decisions([c.id for c in cameras])

    def on_result(result: FrameResult) -> None:
        decisions.on_result(result)
        if measuring.is_set():
            with lock:
                latencies.append(result.latency_ms)

    pipeline = FramePipeline(cameras, cascade, on_result, workers=workers, max_queue=max_queue,
                             gating=gating, pacing=pacing, levers=levers, hints=decisions)
    process = psutil.Process()
    pipeline.start()
    try:
        time.sleep(warmup)
        before = pipeline.counters()
        sources_before = {k: s.stats() for k, s in pipeline.sources.items()}
        batches_before = _batch_stats(engine, cascade)
        cpu_before, pressure_before = process.cpu_times(), _pressure()
        measuring.set()
        decisions.counting = True
        t0 = time.monotonic()
        time.sleep(seconds)
        measuring.clear()
        decisions.counting = False
        elapsed = time.monotonic() - t0
        cpu_after, pressure_after = process.cpu_times(), _pressure()
        after = pipeline.counters()
        sources_after = {k: s.stats() for k, s in pipeline.sources.items()}
        decoded = {k: sources_after[k].decoded - sources_before[k].decoded for k in sources_after}
        readers_cpu = sum(sources_after[k].reader_cpu_s - sources_before[k].reader_cpu_s
                          for k in sources_after)
        batches = _batch_stats(engine, cascade, batches_before)
    finally:
        pipeline.stop()
        cascade.close()
    cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed
    per_camera = {}
    for cam_id in after:
        a, b = after[cam_id], before[cam_id]
        per_camera[cam_id] = {"sampled": a.sampled - b.sampled, "analysed": a.analysed - b.analysed,
                              "gated": a.gated - b.gated, "dropped": a.dropped - b.dropped,
                              "failed": a.failed - b.failed, "decoded": decoded[cam_id],
                              "paced": a.paced - b.paced, "carried": a.carried - b.carried,
                              "effective_fps_end": round(a.effective_fps, 2),
                              "degraded_end": a.degraded}
    total = {key: sum(c[key] for c in per_camera.values())
             for key in ("sampled", "analysed", "gated", "dropped", "failed", "decoded", "paced", "carried")}
    handled = total["analysed"] + total["gated"]
    return {
        "cameras": len(cameras), "seconds": round(elapsed, 1), "workers": workers, "max_queue": max_queue,
        "gating": gating is not None, "adaptive": pacing is not None,
        "levers": (levers or Levers()).model_dump(), **total, **decisions.summary(),
        "paced_percent": round(100 * total["paced"] / max(total["sampled"], 1), 2),
        "effective_fps_per_camera": round((total["sampled"] - total["paced"]) / elapsed / len(cameras), 2),
        "dropped_percent": round(100 * total["dropped"] / max(total["sampled"], 1), 2),
        "handled_frames_per_s": round(handled / elapsed, 2),
        "analysed_frames_per_s": round(total["analysed"] / elapsed, 2),
        "latency_ms_p50": _round(percentile(latencies, 50)),
        "latency_ms_p99": _round(percentile(latencies, 99)),
        "latency_ms_max": _round(max(latencies) if latencies else None),
        "latency_ms_percentiles": [_round(percentile(latencies, p)) for p in range(101)] if latencies else [],
        "cpu_percent_of_one_core": round(100 * cpu, 1),
        # the cameras' reading threads (receive, decode, sample): the part GPU decode would take
        "readers_cpu_percent_of_one_core": round(100 * readers_cpu / elapsed, 1),
        "cpu_pressure_before": pressure_before, "cpu_pressure_after": pressure_after,
        "batches": batches, "per_camera": per_camera,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _batch_stats(engine: VisionEngine, cascade: Cascade,
                 before: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    batchers = {f"{task}": b for task, b in engine.batchers.items()}
    batchers.update({f"{name} (live path)": b for name, b in cascade.batchers().items()})
    out: dict[str, dict[str, Any]] = {}
    for name, batcher in batchers.items():
        requests, calls = batcher.stats.requests, batcher.stats.batches
        if before and name in before:
            requests -= before[name]["requests"]
            calls -= before[name]["batches"]
        out[name] = {"requests": requests, "batches": calls,
                     "mean_batch": round(requests / calls, 2) if calls else None}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The Markdown report of one benchmark run."""
    m, base = result["machine"], result["baseline"]
    lines = [
        "# Live pipeline benchmark", "",
        f"{machine_line(m)}, onnxruntime {m.get('onnxruntime')}, {m['date']}. "
        f"Command: `{result['command']}`.", "",
        f"Cameras: 1280x720 25 fps H.264 files looping in real time (decoded like RTSP by "
        f"CameraSource): vtest.avi (pedestrians) and {result['plate_cameras']} gate clip(s) "
        f"(car with Chinese plates); every camera runs faces, vehicles and plates at "
        f"{result['detect_fps']:g} fps. Gating: {result['gating']}.", "",
        f"Sequential baseline (the same live algorithm with batching and gating off: one thread, "
        f"every sampled frame, one frame per call, whole frames, decode included): "
        f"**{base['frames_per_s']} frames/s** "
        f"({base['frames']} frames in {base['seconds']} s, {base['analysis_ms_mean']} ms analysis "
        f"per frame).", "",
        "| cameras | levers | sampled | analysed | carried | gated | dropped % | paced % | handled fps "
        "| vs baseline | p50 ms | p99 ms | CPU % (1 core = 100): all / camera readers "
        "| people decided | plates decided | meets drop+latency |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in result["runs"]:
        ok = run["dropped_percent"] < 1 and (run["latency_ms_p99"] or 1e9) < 1000
        lines.append(
            f"| {run['cameras']} | {run.get('variant', 'none')} | {run['sampled']} | {run['analysed']} "
            f"| {run.get('carried', 0)} | {run['gated']} | {run['dropped_percent']} | {run['paced_percent']} "
            f"| {run['handled_frames_per_s']} | "
            f"{run['handled_frames_per_s'] / base['frames_per_s']:.1f}x | {run['latency_ms_p50']} | "
            f"{run['latency_ms_p99']} | {run['cpu_percent_of_one_core']} / "
            f"{run.get('readers_cpu_percent_of_one_core', '-')} | {run.get('people_decided', '-')} "
            f"| {run.get('plates_decided', '-')} | {'yes' if ok else 'no'} |")
    lines += _variant_means(result["runs"], base["frames_per_s"])
    lines += ["", "Levers (vision/levers.py): none; detect_every = YOLO on every 2nd analysed frame, boxes "
              "carried between while motion is small; undecided = faces embedded and plates read only on "
              "tracks not decided yet (re-checked every 3 s); all = both. People/plates decided: the "
              "alarm layer's decisions (CameraObserver) in the timed window; plate texts per run in the "
              "JSON.", "",
              "Handled fps = sampled frames that got a result (analysed + gated) per second; the "
              "offered load is cameras x detect fps, so the ratio is a lower bound of capacity when "
              "nothing is dropped.", "", "Mean batch per batcher (last run):", ""]
    if result["runs"]:
        for name, stats in result["runs"][-1]["batches"].items():
            if stats["batches"]:
                lines.append(f"- {name}: {stats['requests']} requests in {stats['batches']} calls, "
                             f"mean {stats['mean_batch']}")
        lines += ["", f"CPU pressure (last run) before: `{result['runs'][-1]['cpu_pressure_before']}`, "
                  f"after: `{result['runs'][-1]['cpu_pressure_after']}` (other processes on this shared "
                  "machine compete for the cores when avg10 is well above 0)."]
    if result.get("replay"):
        from benchmarks.replay import replay_markdown

        lines += replay_markdown(result["replay"], result["replay_mix"])
    if "load_average_1_5_15" in result:
        lines += ["", f"Load average at the end (1, 5, 15 min): {result['load_average_1_5_15']}."]
    return "\n".join(lines) + "\n"


def _variant_means(runs: list[dict[str, Any]], baseline: float) -> list[str]:
    """Mean per camera count and variant over the rounds, and the ratio to the reference variant.

    The reference is ``none`` when it ran, else the first variant run (e.g. ``all, lanes 1`` of
    ``--levers all --lanes 1,2``).
    """
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["cameras"], run.get("variant", "none")), []).append(run)
    variants = list(dict.fromkeys(variant for _, variant in groups))
    if len(variants) < 2:
        return []
    reference = "none" if "none" in variants else variants[0]
    keys = ("dropped_percent", "paced_percent", "handled_frames_per_s", "latency_ms_p99",
            "cpu_percent_of_one_core", "people_decided", "plates_decided")

    def mean(group: list[dict[str, Any]], key: str) -> float:
        values = [r[key] for r in group if r[key] is not None]
        return sum(values) / len(values) if values else float("nan")

    lines = ["", f"Means over the rounds (handled fps and CPU also as a ratio to `{reference}` at that "
             "count):", "", "| cameras | variant | runs | dropped % | paced % | handled fps | x reference "
             "| p99 ms | CPU % | CPU per handled frame x reference | people decided | plates decided |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (count, variant), group in groups.items():
        m = {k: mean(group, k) for k in keys}
        ref = groups.get((count, reference))
        handled_ref = mean(ref, "handled_frames_per_s") if ref else float("nan")
        cpu_ref = mean(ref, "cpu_percent_of_one_core") / handled_ref if ref else float("nan")
        cpu_frame = m["cpu_percent_of_one_core"] / m["handled_frames_per_s"]
        lines.append(f"| {count} | {variant} | {len(group)} | {m['dropped_percent']:.1f} "
                     f"| {m['paced_percent']:.1f} "
                     f"| {m['handled_frames_per_s']:.2f} | {m['handled_frames_per_s'] / handled_ref:.2f} "
                     f"| {m['latency_ms_p99']:.0f} | {m['cpu_percent_of_one_core']:.0f} "
                     f"| {cpu_frame / cpu_ref:.2f} | {m['people_decided']:.1f} | {m['plates_decided']:.1f} |")
    return lines


def pipeline(
    cameras: str = typer.Option("8", help="Camera counts to run, comma-separated (e.g. 4,6,8)."),
    seconds: float = typer.Option(60.0, min=5.0, help="Timed seconds per camera count."),
    detect_fps: float = typer.Option(5.0, min=0.5, max=25.0, help="Sampled frames per camera per second."),
    plate_cameras: int = typer.Option(1, min=0, help="How many cameras show the gate (plates) clip."),
    workers: int = typer.Option(2, min=1, max=16, help="Analysis worker threads."),
    max_queue: int = typer.Option(3, min=1, help="Sampled frames queued per camera before dropping."),
    intra_op_threads: int = typer.Option(1, min=0, help="onnxruntime threads per model call (0: all cores); "
                                         "1 lets the batchers of different models run side by side."),
    gating: bool = typer.Option(True, help="Motion gating (--no-gating analyses every frame)."),
    adaptive: bool = typer.Option(True, help="Adaptive pacing under overload (--no-adaptive: drop "
                                             "the oldest frames instead)."),
    baseline_seconds: float = typer.Option(30.0, min=5.0, help="Timed seconds of the sequential baseline."),
    warmup: float = typer.Option(5.0, min=0.0, help="Seconds before each timed window."),
    levers: str = typer.Option("none", help="Per-frame lever variants run side by side for each camera "
                               f"count, comma-separated: {', '.join(LEVER_VARIANTS)}."),
    rounds: int = typer.Option(1, min=1, max=10, help="Runs of every variant per camera count, the order "
                               "rotated each round (the load of a shared machine drifts)."),
    replay_seconds: float = typer.Option(0.0, min=0.0, help="Also replay this many seconds of each clip "
                                         "through every --levers variant, one frame at a time, for the CPU "
                                         "time per frame on identical frames (0: no replay)."),
    replay_only: bool = typer.Option(False, "--replay-only", help="Only the replay (no baseline, no "
                                     "real-time runs)."),
    batching: str = typer.Option("service", help="'service': the service's max_batch defaults "
                                 "(vision/batch_defaults.toml); 'one': every model at batch 1."),
    out: Path = typer.Option(None, help="Output stem (default benchmarks/results/pipeline, or "
                             "capacity with --find-capacity)."),
    find_capacity: bool = typer.Option(False, "--find-capacity",
                                       help="Search the largest camera count (RTSP cameras, mixed "
                                       "content) that meets --max-drop and --max-p99-ms; --seconds "
                                       "is each trial's length."),
    start: int = typer.Option(2, min=1, help="--find-capacity: first camera count tried (then doubled)."),
    max_cameras: int = typer.Option(64, min=1, max=512, help="--find-capacity: largest camera count tried."),
    max_drop: float = typer.Option(1.0, min=0.0, max=100.0,
                                   help="--find-capacity: a trial passes below this % of dropped frames."),
    max_p99_ms: float = typer.Option(1000.0, min=1.0,
                                     help="--find-capacity: ... and below this p99 capture -> result."),
    confirm: int = typer.Option(1, min=0, max=5, help="--find-capacity: reruns of the largest pass "
                                "(a lucky pass near the edge is demoted)."),
    raw_seconds: float = typer.Option(5.0, min=0.5, help="--find-capacity: seconds timing YOLO11n batch 1."),
    provider: str = typer.Option("cpu", help="Execution provider: auto, cpu, cuda or tensorrt "
                                 "(see README, GPU)."),
    int8: str = typer.Option("", help="Roles that run their INT8 variant (made by `estatewatch models "
                             "quantize`), comma-separated: face_detect, face_embed, vehicle_detect, "
                             "plate_detect, plate_read; unlisted roles run the pack's default "
                             "(int8 for vehicle_detect, fp32 for the others, on CPU). The raw "
                             "YOLO limit of --find-capacity stays FP32, the scale other machines are "
                             "compared on."),
    fp32: str = typer.Option("", help="Roles that run their FP32 model, comma-separated (as --int8); "
                             "`--fp32 vehicle_detect` runs the whole pack in FP32."),
    lanes: str = typer.Option("0", help="Model calls of one model at once (vision.lanes; 0: the "
                              "service's default, one per core with one-threaded sessions). Several "
                              "values, e.g. 1,2, run side by side like --levers (not with --find-capacity)."),
) -> None:
    """Many 720p25 cameras through the live pipeline vs the sequential baseline, or --find-capacity."""
    logging.basicConfig(level=logging.WARNING)
    counts = int_list(cameras, "--cameras")
    choice(batching, "--batching", ("service", "one"))
    variants = choice_list(levers, "--levers", tuple(LEVER_VARIANTS))
    choice(provider, "--provider", PROVIDER_CHOICES)
    models = variant_models(int8, fp32)
    lane_counts = int_list(lanes, "--lanes", minimum=0)
    if find_capacity:
        if len(lane_counts) != 1:
            raise typer.BadParameter("--find-capacity takes one value, e.g. --lanes 2", param_hint="--lanes")
        _find_capacity(start=start, maximum=max_cameras, seconds=seconds, warmup=warmup,
                       detect_fps=detect_fps, max_drop=max_drop, max_p99_ms=max_p99_ms, confirm=confirm,
                       workers=workers, max_queue=max_queue, intra_op_threads=intra_op_threads,
                       gating=gating, raw_seconds=raw_seconds, out=out, provider=provider,
                       models=models, levers=_one_lever_variant(levers), lanes=lane_counts[0])
        return
    if replay_only and not replay_seconds:
        raise typer.BadParameter("give --replay-seconds too", param_hint="--replay-only")
    largest = bench_cameras(max(counts), detect_fps, plate_cameras)
    replay: list[dict[str, Any]] = []
    if replay_seconds:
        from benchmarks.replay import run_replay

        typer.echo(f"replay: {replay_seconds:g} s of each clip per lever variant ...")
        folder = demo_folder()
        clips = {"vtest": vtest_clip(folder), "gate": gate_clip(folder), "lobby": lobby_clip(folder)}
        replay = run_replay(clips, seconds=replay_seconds,
                            fps=detect_fps, variants=variants, rounds=rounds,
                            gating=GatingConfig() if gating else None, progress=typer.echo)
    if replay_only:
        counts = []
        baseline: dict[str, Any] = {"frames": 0, "seconds": 0, "frames_per_s": float("nan"),
                                    "analysis_ms_mean": float("nan")}
    else:
        typer.echo(f"sequential baseline over {len(largest)} cameras' clips, {baseline_seconds:g} s ...")
        baseline = sequential_baseline(largest, baseline_seconds)
        typer.echo(f"  {baseline['frames_per_s']} frames/s")
    gate = GatingConfig() if gating else None
    runs = []
    used = "CPUExecutionProvider"
    # One engine per --lanes value, all loaded first (idle batchers cost nothing), so the values
    # run interleaved in one sitting like the lever variants.
    arms = [(variant, n) for n in lane_counts for variant in variants]
    with contextlib.ExitStack() as stack:
        engines = {n: stack.enter_context(VisionEngine(VisionSettings(
            max_batch=BATCH_ONE if batching == "one" else {}, intra_op_threads=intra_op_threads,
            provider=provider, models=models, lanes=n))) for n in dict.fromkeys(lane_counts)}
        first = next(iter(engines.values()))
        used = next(iter(first.models.values())).session.provider if first.models else used
        for count, round_, (variant, n) in ((c, r, arms[(k + r) % len(arms)]) for c in counts
                                            for r in range(rounds) for k in range(len(arms))):
                engine = engines[n]
                label = variant if len(lane_counts) == 1 else f"{variant}, lanes {n or 'auto'}"
                typer.echo(f"{count} cameras, round {round_ + 1}, levers {label}, {seconds:g} s ...")
                run = run_pipeline(bench_cameras(count, detect_fps, plate_cameras), engine, seconds=seconds,
                                   warmup=warmup, workers=workers, max_queue=max_queue, gating=gate,
                                   pacing=PacingConfig() if adaptive else None,
                                   levers=LEVER_VARIANTS[variant])
                run["variant"], run["round"] = label, round_ + 1
                run["lanes"] = engine.lanes
                run["load_average_1_5_15"] = load_average()
                typer.echo(f"  dropped {run['dropped_percent']}%, paced {run['paced_percent']}%, p99 "
                           f"{run['latency_ms_p99']} ms, handled {run['handled_frames_per_s']} fps, "
                           f"effective {run['effective_fps_per_camera']} fps/camera, "
                           f"carried {run['carried']}, CPU "
                           f"{run['cpu_percent_of_one_core']}% (camera readers "
                           f"{run['readers_cpu_percent_of_one_core']}%), "
                           f"decided {run['people_decided']} people, "
                           f"{run['plates_decided']} plates {run['plate_texts']}")
                runs.append(run)
    command = (f"estatewatch bench pipeline --cameras {cameras} --seconds {seconds:g} --detect-fps "
               f"{detect_fps:g} --plate-cameras {plate_cameras} --workers {workers} --max-queue {max_queue}"
               f" --intra-op-threads {intra_op_threads}{'' if gating else ' --no-gating'}"
               f"{'' if adaptive else ' --no-adaptive'} --levers {levers} --rounds {rounds}"
               f" --baseline-seconds {baseline_seconds:g} --batching {batching} --provider {provider}"
               f"{f' --replay-seconds {replay_seconds:g}' if replay_seconds else ''}"
               f"{' --replay-only' if replay_only else ''}{_int8_flag(models)} --lanes {lanes}")
    result = {"benchmark": "pipeline", "command": command, "machine": machine_info(used),
              "detect_fps": detect_fps, "plate_cameras": plate_cameras,
              "gating": GatingConfig().model_dump() if gating else None,
              "max_batch": BATCH_ONE if batching == "one" else load_batch_defaults(),
              "intra_op_threads": intra_op_threads, "variants": _variants(models, provider),
              "baseline": baseline, "runs": runs, "replay": replay,
              "replay_mix": {"vtest": len(largest) - min(plate_cameras, len(largest)),
                             "gate": min(plate_cameras, len(largest))},
              "load_average_1_5_15": load_average()}
    write_result(result, out or results_dir() / "pipeline", markdown(result))


def _find_capacity(*, start: int, maximum: int, seconds: float, warmup: float, detect_fps: float,
                   max_drop: float, max_p99_ms: float, confirm: int, workers: int, max_queue: int,
                   intra_op_threads: int, gating: bool, raw_seconds: float, out: Path | None,
                   provider: str, models: dict[Task, ModelChoice], levers: str, lanes: int) -> None:
    from benchmarks import capacity

    logging.getLogger("streams").setLevel(logging.WARNING)  # camera connects per trial drown the progress
    if start > maximum:
        raise typer.BadParameter(f"{start} is above --max-cameras {maximum}", param_hint="--start")
    missing = gstreamer_missing()
    if missing:
        typer.echo(f"--find-capacity serves its cameras from the local RTSP server: {missing}", err=True)
        raise typer.Exit(1)
    try:
        found = capacity.run_capacity(
            start=start, maximum=maximum, seconds=seconds, warmup=warmup, detect_fps=detect_fps,
            max_drop_percent=max_drop, max_p99_ms=max_p99_ms, confirm=confirm, workers=workers,
            max_queue=max_queue, intra_op_threads=intra_op_threads, gating=gating,
            raw_seconds=raw_seconds, progress=typer.echo, provider=provider, models=models,
            levers=LEVER_VARIANTS[levers], lanes=lanes)
    except capacity.NoFramesError as exc:  # a broken camera set-up, not a capacity: say so in one line
        typer.echo(f"--find-capacity stopped: {exc}", err=True)
        raise typer.Exit(1) from None
    command = ("estatewatch bench pipeline --find-capacity"
               f" --start {start} --max-cameras {maximum} --seconds {seconds:g} --warmup {warmup:g}"
               f" --detect-fps {detect_fps:g} --max-drop {max_drop:g} --max-p99-ms {max_p99_ms:g}"
               f" --confirm {confirm} --workers {workers} --max-queue {max_queue}"
               f" --intra-op-threads {intra_op_threads}{'' if gating else ' --no-gating'}"
               f" --provider {provider} --levers {levers}{_int8_flag(models)} --lanes {lanes}")
    machine = {**machine_info(found["raw_model_limit"]["provider"]),
               "load_average_1_5_15": load_average()}
    result = {"benchmark": "capacity", "command": command, "machine": machine,
              "detect_fps": detect_fps, "max_batch": load_batch_defaults(),
              "intra_op_threads": intra_op_threads, "variants": _variants(models, provider),
              "levers": levers, **found}
    write_result(result, out or results_dir() / "capacity", capacity.markdown(result))
    typer.echo(f"capacity {found['capacity']} cameras; {found['cameras_per_raw_yolo_image_per_s']} cameras "
               f"per raw YOLO image/s ({found['raw_model_limit']['full_images_per_s']} images/s)")


def int8_models(value: str) -> dict[Task, ModelChoice]:
    """``--int8 vehicle_detect,plate_read`` -> the ``vision.models`` setting that runs those roles in INT8."""
    return variant_models(value, "")


def variant_models(int8: str, fp32: str) -> dict[Task, ModelChoice]:
    """``--int8 ROLES --fp32 ROLES`` -> the ``vision.models`` setting (unlisted roles: the pack's default)."""
    chosen: dict[Task, ModelChoice] = {}
    for value, option, variant in ((int8, "--int8", "int8"), (fp32, "--fp32", "fp32")):
        if not value.strip():
            continue
        for role in choice_list(value, option, TASKS):
            if role in chosen:
                raise typer.BadParameter(f"role {role} is in both --int8 and --fp32")
            chosen[cast(Task, role)] = ModelChoice(variant=cast(Variant, variant))
    return chosen


def _variants(models: dict[Task, ModelChoice], provider: str = "cpu") -> dict[str, str]:
    settings = VisionSettings(models=models, provider=cast(Any, provider))
    return {task: settings.variant(task) for task in TASKS}


def _int8_flag(models: dict[Task, ModelChoice]) -> str:
    flags = ""
    for variant in ("int8", "fp32"):
        roles = [task for task, choice in models.items() if choice.variant == variant]
        flags += f" --{variant} {','.join(roles)}" if roles else ""
    return flags


def _one_lever_variant(value: str) -> str:
    """--find-capacity searches one lever variant (each search takes minutes; run it again for another)."""
    variants = choice_list(value, "--levers", tuple(LEVER_VARIANTS))
    if len(variants) != 1:
        raise typer.BadParameter("--find-capacity takes one variant, e.g. --levers all",
                                 param_hint="--levers")
    return variants[0]
