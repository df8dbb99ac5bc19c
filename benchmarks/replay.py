"""``estatewatch bench pipeline --replay-seconds S``: the work per sampled frame of each lever variant.

On a machine shared with other work, the real-time pipeline benchmark measures mostly the share
of the cores the process got. This replay measures what the levers change, the work per frame,
on identical input: each camera clip's frames, sampled at ``--detect-fps`` and decoded up front,
go one at a time in video time through a :class:`vision.live.SerialLane` (the motion gate, the
carrier, the cascade with the live policy, the track hints) and an alarm-layer
:class:`~alarms.sightings.CameraObserver` per clip, once per lever variant, the variants'
order rotated each round, after one untimed pass (the detectors' first call at each input size
is slow). Per variant and clip: **process CPU time per sampled frame** (all
threads; onnxruntime at one intra-op thread, so no spinning pool inflates it), frames the
detector ran on, carried, gated, and the decisions (people, plates and their texts): with the
same frames, a variant that loses a decision shows it directly.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.pipeline import LEVER_VARIANTS, Decisions, _sampled_frames
from streams.config import ALL_ANALYSES, CameraConfig
from streams.frames import Frame, Instant
from vision.cascade import Cascade
from vision.config import VisionSettings
from vision.gating import GatingConfig
from vision.levers import Levers
from vision.live import SerialLane

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def clip_frames(path: Path, fps: float, seconds: float) -> list[np.ndarray]:
    """The first ``seconds`` of a clip sampled at ``fps`` (looping), decoded."""
    reader = _sampled_frames(path, fps)
    return [next(reader) for _ in range(round(seconds * fps))]


def replay_clip(cascade: Cascade, name: str, frames: list[np.ndarray], fps: float, levers: Levers,
                gating: GatingConfig | None) -> dict[str, Any]:
    """One clip's frames through a serial lane and an observer; CPU time and what was decided."""
    camera = CameraConfig(id=name, url="replay", run=list(ALL_ANALYSES))
    decisions = Decisions([name])
    decisions.counting = True
    lane = SerialLane(camera, cascade, gating=gating, levers=levers, hints=decisions)
    carried = gated = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for k, image in enumerate(frames):
        at = k / fps
        result = lane.analyse(Frame(name, image, Instant(at, (T0 + dt.timedelta(seconds=at)).timestamp()), k))
        carried += result.carried
        gated += result.skipped_by_gate
        decisions.on_result(result)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    end = len(frames) / fps + 10.0
    decisions.count(decisions.observers[name].close(end))  # the tracks left end: they decide too
    return {"clip": name, "frames": len(frames), "detector_frames": len(frames) - carried - gated,
            "carried": carried, "gated": gated, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "cpu_ms_per_frame": round(1000 * cpu / len(frames), 1), **decisions.summary()}


def run_replay(clips: dict[str, Path], *, seconds: float, fps: float, variants: list[str], rounds: int,
               gating: GatingConfig | None, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every variant over every clip, ``rounds`` times (order rotated); one row per run."""
    frames = {name: clip_frames(path, fps, seconds) for name, path in clips.items()}
    cascade = Cascade.from_store(VisionSettings(intra_op_threads=1))
    rows = []
    try:
        for name, images in frames.items():  # warm-up: every input size the crops need, untimed
            replay_clip(cascade, name, images, fps, LEVER_VARIANTS["none"], gating)
        for round_ in range(rounds):
            for k in range(len(variants)):
                variant = variants[(k + round_) % len(variants)]
                for name, images in frames.items():
                    row = replay_clip(cascade, name, images, fps, LEVER_VARIANTS[variant], gating)
                    row.update(variant=variant, round=round_ + 1)
                    progress(f"  replay round {round_ + 1} {variant:>12} {name}: "
                             f"{row['cpu_ms_per_frame']} ms CPU/frame, detector on "
                             f"{row['detector_frames']}/{row['frames']}, carried {row['carried']}, "
                             f"gated {row['gated']}, decided {row['people_decided']} people, "
                             f"plates {row['plate_texts']}")
                    rows.append(row)
    finally:
        cascade.close()
    return rows


def replay_markdown(rows: list[dict[str, Any]], mix: dict[str, int]) -> list[str]:
    """Per variant: CPU ms per frame per clip (mean of rounds), the camera mix's, and the ratio to none."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    clips = list(dict.fromkeys(r["clip"] for r in rows))

    def mean(variant: str, clip: str, key: str) -> float:
        values = [float(r[key]) for r in rows if r["variant"] == variant and r["clip"] == clip]
        return sum(values) / len(values)

    def mixed(variant: str) -> float:
        return sum(mean(variant, c, "cpu_ms_per_frame") * n for c, n in mix.items() if n) / sum(mix.values())

    base = mixed("none") if "none" in variants else float("nan")
    head = " | ".join(f"{c} CPU ms/frame" for c in clips)
    lines = ["", "### Replay: work per sampled frame on identical frames", "",
             f"| levers | {head} | mix CPU ms/frame | x none | detector frames | carried | gated "
             "| people decided | plates decided (texts) |",
             "|---|" + "---:|" * (len(clips) + 6) + "---|"]
    for v in variants:
        last = [r for r in rows if r["variant"] == v and r["round"] == 1]
        texts = "; ".join(f"{r['clip']}: {r['plate_texts']}" for r in last if r["plate_texts"])
        cells = " | ".join(f"{mean(v, c, 'cpu_ms_per_frame'):.0f}" for c in clips)
        lines.append(f"| {v} | {cells} | {mixed(v):.0f} | {mixed(v) / base:.2f} "
                     f"| {sum(r['detector_frames'] for r in last)} | {sum(r['carried'] for r in last)} "
                     f"| {sum(r['gated'] for r in last)} | {sum(r['people_decided'] for r in last)} "
                     f"| {sum(r['plates_decided'] for r in last)} ({texts or '-'}) |")
    lines += ["", "Mix: " + ", ".join(f"{n} x {c}" for c, n in mix.items() if n) + " (the cameras of "
              "the real-time runs; the lobby clip, a pan over a photo of 22 faces, shows the face levers "
              "and is not in the mix). Frame counts and decisions are of round 1; CPU is the mean of the "
              "rounds. Capacity scales about as 1 / (mix CPU ms per frame) when the cores are the limit."]
    return lines
