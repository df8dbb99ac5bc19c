"""The passes set of ``estatewatch bench plates``: one decided plate per car passing the camera.

Each :func:`media.passes.generate_passes` clip goes frame by frame (5 per second) through the
live path: the cascade with the live policy (vehicles, then plates on the vehicles) and a
camera's :class:`alarms.sightings.CameraObserver` (the vehicle tracker and its plate vote). What
counts is the plate each pass decides:

* **exact**: every decision of the pass is the true plate (one expected) — scored on the
  passes whose plate reaches 40 px in some frame (target >= 99%);
* **wrong valid**: a pass decided as another (valid) plate — target 0, on every pass; a pass
  whose plate never reaches 40 px may stay undecided.

For comparison, the same frames are also scored per frame (the most confident valid reading of
each frame at least 40 px high) and with the previous vote (the identity of the three most
confident frames), which a single misread frame could decide.

With per-frame levers (:mod:`vision.levers`, ``bench plates --passes-levers``), each frame goes
through a :class:`vision.live.SerialLane` as the live pipeline would take it: the motion gate
(when ``detect_every`` > 1, to measure motion), the carrier (YOLO on every k-th frame, boxes
carried between) and the observer's track hints (no plate reads on a vehicle whose plate is
decided); the observer sees each result as the alarm intake would (a gated frame repeats the
last analysis). Without levers the path is the plain one (every frame, whole, through YOLO).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import Counter
from typing import Any

from alarms.sightings import CameraObserver, PlateEvidence, VehicleSighting, vehicle_ballots
from media.passes import FPS, RenderedPass, generate_passes
from streams.config import CameraConfig
from streams.frames import Frame, Instant
from vision.cascade import Cascade, FrameTask, ImageRecognition
from vision.gating import GatingConfig
from vision.levers import Levers, Settled
from vision.live import SerialLane
from vision.plate.vote import PlateVoteConfig
from vision.policy import RecognitionPolicy
from vision.tracking import Tracker

logger = logging.getLogger(__name__)

REACHES_PX = 40.0
"""A pass is expected to be decided exactly when its plate reaches this height in some frame."""

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def decide_pass(recognitions: list[ImageRecognition], frame_size: tuple[int, int],
                plates: PlateVoteConfig | None = None) -> tuple[list[VehicleSighting], list[str]]:
    """The live observer's decisions over one pass, and the previous vote's (3 most confident reads)."""
    observer = CameraObserver("pass", plates=plates)
    previous: Tracker[PlateEvidence] = Tracker()
    sightings: list[VehicleSighting] = []
    old: list[str] = []
    at = 0.0
    for k, recognition in enumerate(recognitions):
        at = k / FPS
        wall = T0 + dt.timedelta(seconds=at)
        sightings += [s for s in observer.observe(recognition, [], frame_size, at, wall, k)
                      if isinstance(s, VehicleSighting)]
        ballots = vehicle_ballots(recognition.plates, recognition.vehicles.xyxy, at, wall, k)
        update = previous.update(recognition.vehicles, at, ballots)
        old += [str(d.decision.identity) for d in update.decisions]
    end = at + 10.0  # the car has gone
    sightings += [s for s in observer.close(end) if isinstance(s, VehicleSighting)]
    old += [str(d.decision.identity) for d in previous.close(end).decisions]
    return [s for s in sightings if s.trigger == "decision"], old


class _Hints:
    """One observer's decided tracks as the pipeline's track hints (like the alarm intake)."""

    def __init__(self, observer: CameraObserver) -> None:
        self.observer = observer

    def settled(self, camera_id: str, at: float, recheck_s: float) -> Settled:
        return self.observer.settled(at, recheck_s)


def live_pass(cascade: Cascade, frames: list[Any], levers: Levers, gate: bool = False
              ) -> tuple[list[VehicleSighting], list[str], list[ImageRecognition], int]:
    """One pass through a :class:`SerialLane` with ``levers``, its observer fed frame by frame.

    Returns the observer's decisions, the previous vote's, what each frame stood for (a gated
    frame: the last analysis) and how many frames ran YOLO.
    """
    observer = CameraObserver("pass")
    camera = CameraConfig(id="pass", url="rendered", run=["vehicles", "plates"])
    gating = GatingConfig() if gate or levers.detect_every > 1 else None
    lane = SerialLane(camera, cascade, gating=gating, levers=levers, hints=_Hints(observer))
    previous: Tracker[PlateEvidence] = Tracker()
    sightings: list[VehicleSighting] = []
    old: list[str] = []
    seen: list[ImageRecognition] = []
    detected = 0
    height, width = frames[0].shape[:2]
    at = 0.0
    for k, image in enumerate(frames):
        at = k / FPS
        wall = T0 + dt.timedelta(seconds=at)
        result = lane.analyse(Frame("pass", image, Instant(at, wall.timestamp()), k))
        recognition = seen[-1] if result.skipped_by_gate and seen else result.recognition
        detected += not (result.skipped_by_gate or result.carried)
        seen.append(recognition)
        sightings += [s for s in observer.observe(recognition, [], (width, height), at, wall, k,
                                                  looked=not result.skipped_by_gate)
                      if isinstance(s, VehicleSighting)]
        ballots = vehicle_ballots(recognition.plates, recognition.vehicles.xyxy, at, wall, k)
        update = previous.update(recognition.vehicles, at, ballots)
        old += [str(d.decision.identity) for d in update.decisions]
    end = at + 10.0
    sightings += [s for s in observer.close(end) if isinstance(s, VehicleSighting)]
    old += [str(d.decision.identity) for d in previous.close(end).decisions]
    return [s for s in sightings if s.trigger == "decision"], old, seen, detected


def score_passes(passes: list[RenderedPass], decided: list[list[VehicleSighting]], old: list[list[str]],
                 frames: list[list[ImageRecognition]]) -> dict[str, Any]:
    """Decided-exact rate where the plate reaches 40 px, wrong-valid passes, and the comparisons."""
    counts: Counter[str] = Counter()
    wrong = []
    for p, found, previous, recognitions in zip(passes, decided, old, frames, strict=True):
        reaches = p.max_height >= REACHES_PX
        texts = [s.reading.text for s in found]
        group = "reach" if reaches else "far"
        counts[f"{group}_passes"] += 1
        counts[f"{group}_exact"] += bool(texts) and all(t == p.text for t in texts)
        counts[f"{group}_undecided"] += not texts
        counts[f"{group}_split"] += len(texts) > 1
        if any(t != p.text for t in texts):
            counts[f"{group}_wrong"] += 1
            wrong.append({"truth": p.text, "colour": p.colour, "decided": texts,
                          "votes": [s.votes for s in found], "confidence": [round(s.share, 3) for s in found],
                          "max_height_px": round(p.max_height, 1)})
        if reaches:
            counts["old_exact"] += bool(previous) and all(t == p.text for t in previous)
            counts["old_wrong"] += any(t != p.text for t in previous)
        counts["far_old_wrong"] += not reaches and any(t != p.text for t in previous)
        for height, recognition in zip(p.heights, recognitions, strict=True):
            if height >= REACHES_PX:
                valid = [f.reading for f in recognition.plates if f.reading.valid]
                best = max(valid, key=lambda r: r.score, default=None)
                counts["frames_40"] += 1
                counts["frames_40_exact"] += best is not None and best.text == p.text
    votes = [s.votes for found in decided for s in found]

    def rate(part: str, whole: str) -> float | None:
        return counts[part] / counts[whole] if counts[whole] else None

    return {
        "passes": len(passes),
        "reaching_40px": {"passes": counts["reach_passes"], "decided_exact": counts["reach_exact"],
                          "exact": rate("reach_exact", "reach_passes"),
                          "undecided": counts["reach_undecided"],
                          "wrong_valid": counts["reach_wrong"], "split": counts["reach_split"]},
        "under_40px": {"passes": counts["far_passes"], "decided_exact": counts["far_exact"],
                       "undecided": counts["far_undecided"], "wrong_valid": counts["far_wrong"],
                       "split": counts["far_split"]},
        "wrong_valid": counts["reach_wrong"] + counts["far_wrong"],
        "median_votes": sorted(votes)[len(votes) // 2] if votes else None,
        "per_frame_40px": {"frames": counts["frames_40"], "exact": rate("frames_40_exact", "frames_40")},
        "previous_vote": {"exact": rate("old_exact", "reach_passes"),
                          "wrong_valid_reaching": counts["old_wrong"],
                          "wrong_valid_under": counts["far_old_wrong"]},
        "wrong": wrong,
    }


def run_passes(cascade: Cascade, count: int, seed: int, frames: int = 10,
               levers: Levers | None = None, gate: bool = False) -> dict[str, Any]:
    """Render ``count`` passes from ``seed``, run them through the live path, score the decisions."""
    policy = RecognitionPolicy.live()
    passes: list[RenderedPass] = []
    decided: list[list[VehicleSighting]] = []
    old: list[list[str]] = []
    seen: list[list[ImageRecognition]] = []
    elapsed = 0.0
    detected = 0
    for p in generate_passes(count, seed, frames=frames):
        start = time.perf_counter()
        if gate or (levers is not None and levers.active):
            found, previous, recognitions, ran = live_pass(cascade, p.frames, levers or Levers(), gate)
            detected += ran
        else:
            recognitions = [cascade.analyse([FrameTask(f, ("vehicles", "plates"), None)], policy)[0]
                            for f in p.frames]
            height, width = p.frames[0].shape[:2]
            found, previous = decide_pass(recognitions, (width, height))
            detected += len(recognitions)
        elapsed += time.perf_counter() - start
        decided.append(found)
        old.append(previous)
        seen.append(recognitions)
        passes.append(dataclasses.replace(p, frames=[]))  # keep the truth, not the pixels
        if len(passes) % 10 == 0:
            logger.info("passes seed %d: %d/%d done (%.0f s)", seed, len(passes), count, elapsed)
    result = score_passes(passes, decided, old, seen)
    n_frames = sum(len(p.heights) for p in passes)
    result.update({"seed": seed, "frames_per_pass": frames, "frames": n_frames, "yolo_frames": detected,
                   "levers": (levers or Levers()).model_dump(),
                   "gating": gate or bool(levers and levers.detect_every > 1),
                   "seconds": round(elapsed, 1), "frames_per_second": round(n_frames / elapsed, 2)})
    return result


def passes_markdown(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the passes results (one row per seed)."""
    lines = ["## Passes: one decided plate per car passing the camera", "",
             "| seed | levers | passes >= 40 px | decided exact | undecided | wrong valid | passes < 40 px "
             "| wrong valid < 40 px | undecided < 40 px | per frame >= 40 px | previous vote exact "
             "| YOLO frames | frames/s |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        reach, far = r["reaching_40px"], r["under_40px"]
        per_frame, prev = r["per_frame_40px"]["exact"], r["previous_vote"]["exact"]
        lines.append(
            f"| {r['seed']} | {r.get('variant', 'none')} | {reach['passes']} "
            f"| {_pct(reach['exact'])} ({reach['decided_exact']}) "
            f"| {reach['undecided']} | {reach['wrong_valid']} | {far['passes']} | {far['wrong_valid']} "
            f"| {far['undecided']} | {_pct(per_frame)} | {_pct(prev)} | {r.get('yolo_frames', r['frames'])}"
            f"/{r['frames']} | {r['frames_per_second']} |")
    lines += ["", "Median frames voting per decision: "
              + ", ".join(str(r["median_votes"]) for r in results)
              + f"; {results[0]['frames_per_pass'] if results else 0} frames per pass at 5 fps; "
              + ", ".join(f"{r['frames_per_second']} frames/s" for r in results) + ".", ""]
    for r in results:
        lines += [f"- seed {r['seed']}: {w['truth']} ({w['colour']}, up to {w['max_height_px']} px) decided "
                  f"{w['decided']} (votes {w['votes']}, confidence {w['confidence']})"
                  for w in r["wrong"][:20]]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
