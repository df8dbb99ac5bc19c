"""PNG charts of benchmark results, drawn from the same JSON the benchmarks write.

Every benchmark records its result with :func:`benchmarks.record.write_result`, which calls
:func:`write_charts` with the result and its output stem; the charts go beside the JSON as
``<stem>-<chart>.png``. ``estatewatch bench charts`` re-renders them for
every JSON under ``benchmarks/results/``. Matplotlib (the ``bench`` extra) draws off-screen
(Agg backend), so this works on a headless server.

Charts per benchmark (where the JSON has the data):

* models: images/s against batch size per model (``pure`` solid, ``full`` dashed);
* pipeline, capacity: dropped % and p99 latency against camera count; the capture -> result
  latency distribution (CDF) of each run that recorded its percentiles;
* search: recall@1 against per-query time per gallery size and backend, and single-query p50 by size;
* delivery: deliveries/s per database and relay count;
* live: pipeline drops and p99 without and with feed subscribers, and the feed's p99, per camera count;
* faces: faces/s per side; plates: exact reads by plate height and colour; streams: CPU per stream;
  media: process CPU per WebRTC viewer count; console: alarm -> console p50/p99/max.

A result without a chart's data gets no chart and a line saying so; the run's JSON stands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from benchmarks.machine import results_dir

Result = dict[str, Any]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def kind(result: Result) -> str | None:
    """Which benchmark wrote ``result`` (streams and media results carry no ``benchmark`` key)."""
    name = result.get("benchmark")
    if isinstance(name, str):
        return name
    if "rtsp" in result and "file_decode" in result:
        return "streams"
    if "buffer" in result and "viewers" in result:
        return "media"
    return None


def _subtitle(result: Result) -> str:
    m = result.get("machine", {})
    return f"{m.get('cpu', '?')}, {m.get('usable_cores', '?')} cores, {str(m.get('date', ''))[:10]}"


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def _models(result: Result, stem: Path) -> list[Path]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (name, row) in enumerate(result["models"].items()):
        sizes = sorted(int(b) for b in row["by_batch"])
        colour = f"C{i % 10}"
        for mode, style in (("pure", "-"), ("full", "--")):
            ax.plot(sizes, [row["by_batch"][str(b)][mode]["images_per_s"] for b in sizes], style,
                    marker="o", color=colour, label=f"{name} ({mode})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_ylabel("images/s")
    provider = result.get("machine", {}).get("provider", "")
    ax.set_title(f"Model throughput against batch size, {provider}\n{_subtitle(result)}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return [_save(fig, stem.with_name(f"{stem.name}-throughput.png"))]


def _camera_runs(result: Result) -> list[Result]:
    return list(result.get("runs") or result.get("trials") or [])


def _drops_latency(result: Result, stem: Path) -> list[Path]:
    runs = sorted(_camera_runs(result), key=lambda r: r["cameras"])
    if not runs:
        return []
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, left = plt.subplots(figsize=(7, 4.5))
    right = left.twinx()
    cams = sorted({r["cameras"] for r in runs})  # a count run twice (a confirmation): the mean, all points

    def mean(key: str, count: int) -> float:
        values = [r[key] for r in runs if r["cameras"] == count and r[key] is not None]
        return sum(values) / len(values) if values else float("nan")

    for axis, key, style, colour in ((left, "dropped_percent", "o-", "C3"),
                                     (right, "latency_ms_p99", "s--", "C0")):
        axis.plot(cams, [mean(key, c) for c in cams], style, color=colour)
        axis.plot([r["cameras"] for r in runs], [r[key] if r[key] is not None else float("nan")
                                                 for r in runs], style[0], color=colour, alpha=0.4)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("cameras")
    left.set_ylabel("sampled frames dropped (%)", color="C3")
    right.set_ylabel("p99 capture -> result (ms)", color="C0")
    targets = result.get("targets", {"max_drop_percent": 1.0, "max_p99_ms": 1000.0})
    left.axhline(targets["max_drop_percent"], color="C3", alpha=0.3, linestyle=":")
    right.axhline(targets["max_p99_ms"], color="C0", alpha=0.3, linestyle=":")
    title = "Drops and p99 latency against cameras"
    if result.get("benchmark") == "capacity":
        title += f": capacity {result['capacity']}"
    left.set_title(f"{title}\n{_subtitle(result)}", fontsize=10)
    left.grid(True, alpha=0.3)
    return [_save(fig, stem.with_name(f"{stem.name}-drops-latency.png"))]


def _latency_cdf(result: Result, stem: Path) -> list[Path]:
    runs = [r for r in _camera_runs(result) if r.get("latency_ms_percentiles")]
    if not runs:
        return []
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        values = run["latency_ms_percentiles"]
        share = [100 * i / (len(values) - 1) for i in range(len(values))]
        label = f"{run['cameras']} cameras" + (f" (trial {run['trial']})" if "trial" in run else "")
        label += f", levers {run['variant']}" if "variant" in run else ""
        ax.plot(values, share, label=label)
    ax.set_xlabel("capture -> result (ms)")
    ax.set_ylabel("results at or below (%)")
    ax.set_title(f"Latency distribution (CDF)\n{_subtitle(result)}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return [_save(fig, stem.with_name(f"{stem.name}-latency-cdf.png"))]


def _pipeline(result: Result, stem: Path) -> list[Path]:
    return _drops_latency(result, stem) + _latency_cdf(result, stem)


def _search(result: Result, stem: Path) -> list[Path]:
    rows = result.get("results", [])
    if not rows:
        return []
    plt = _pyplot()
    fig, (speed, recall) = plt.subplots(1, 2, figsize=(11, 4.5))
    backends = sorted({r["backend"] for r in rows})
    for i, backend in enumerate(backends):
        mine = [r for r in rows if r["backend"] == backend]
        sizes = sorted({r["size"] for r in mine})
        best = [min(r["single_p50_ms"] for r in mine if r["size"] == s) for s in sizes]
        speed.plot(sizes, best, "o-", color=f"C{i}", label=backend)
        for size in sizes:
            points = [r for r in mine if r["size"] == size and r.get("recall_at_1") is not None]
            if points:
                recall.plot([r["single_p50_ms"] for r in points], [r["recall_at_1"] for r in points],
                            "o-", color=f"C{i}", alpha=0.4 + 0.6 * sizes.index(size) / max(len(sizes), 1),
                            label=f"{backend} {size:,}")
    speed.set_xscale("log")
    speed.set_yscale("log")
    speed.set_xlabel("gallery size (templates)")
    speed.set_ylabel("single query p50 (ms, best nprobe)")
    speed.set_title("Search speed", fontsize=10)
    speed.grid(True, alpha=0.3)
    speed.legend(fontsize=8)
    recall.set_xscale("log")
    recall.set_xlabel("single query p50 (ms)")
    recall.set_ylabel("recall@1 against exact")
    recall.set_title("Recall against speed (points: nprobe)", fontsize=10)
    recall.grid(True, alpha=0.3)
    if recall.lines:
        recall.legend(fontsize=7)
    fig.suptitle(f"1:N face search, {_subtitle(result)}", fontsize=10)
    return [_save(fig, stem.with_name(f"{stem.name}-recall-speed.png"))]


def _bars(stem: Path, suffix: str, labels: list[str], values: list[float], ylabel: str,
          title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(labels) + 2), 4.5))
    ax.bar(range(len(values)), values, color=[f"C{i % 10}" for i in range(len(values))])
    ax.set_xticks(range(len(values)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, stem.with_name(f"{stem.name}-{suffix}.png"))


def _delivery(result: Result, stem: Path) -> list[Path]:
    rows = result.get("results", [])
    if not rows:
        return []
    return [_bars(stem, "throughput", [f"{r['database']}, {r['relays']} relay(s)" for r in rows],
                  [r["deliveries_per_s"] for r in rows], "signed deliveries/s",
                  f"Webhook delivery throughput\n{_subtitle(result)}")]


def _faces(result: Result, stem: Path) -> list[Path]:
    sides = result.get("sides", {})
    out = [_bars(stem, "throughput", list(sides), [s["faces_per_s"] for s in sides.values()], "faces/s",
                 f"Face path throughput\n{_subtitle(result)}")] if sides else []
    rounds = {name: s["round_ms"] for name, s in sides.items() if s.get("round_ms")}
    if rounds:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name, times in rounds.items():
            ordered = sorted(times)
            ax.plot(ordered, [100 * (i + 1) / len(ordered) for i in range(len(ordered))], label=name)
        ax.set_xlabel("round time (ms, all photos)")
        ax.set_ylabel("rounds at or below (%)")
        ax.set_title(f"Round latency distribution (CDF)\n{_subtitle(result)}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        out.append(_save(fig, stem.with_name(f"{stem.name}-latency-cdf.png")))
    return out


def _plates(result: Result, stem: Path) -> list[Path]:
    groups = {**{f"height {k}": v for k, v in result.get("per_height", {}).items()},
              **{k: v for k, v in result.get("per_colour", {}).items()}}
    if not groups:
        return []
    return [_bars(stem, "exact", list(groups), [100 * g["exact"] for g in groups.values()],
                  "exact reads (%)", f"Plate reads by height and colour\n{_subtitle(result)}")]


def _streams(result: Result, stem: Path) -> list[Path]:
    rows = result.get("rtsp", [])
    if not rows:
        return []
    return [_bars(stem, "cpu", [f"{r['resolution']} {r['backend']}" for r in rows],
                  [r["cpu_percent_per_stream"] for r in rows], "CPU per stream (% of a core)",
                  f"RTSP decode cost at {result.get('detect_fps', 5):g} fps\n{_subtitle(result)}")]


def _media(result: Result, stem: Path) -> list[Path]:
    rows = result.get("viewers", [])
    if not rows:
        return []
    return [_bars(stem, "viewers-cpu", [f"{r['viewers']} viewer(s)" for r in rows],
                  [r["process_cpu_percent"] for r in rows], "process CPU (% of a core)",
                  f"One camera's process CPU against WebRTC viewers\n{_subtitle(result)}")]


def _console(result: Result, stem: Path) -> list[Path]:
    rows = [r for r in result.get("results", []) if r.get("p50_ms") is not None]
    if not rows:
        return []
    labels, values = [], []
    for row in rows:
        for key in ("p50_ms", "p99_ms", "max_ms"):
            labels.append(f"{row.get('feed', '')} {key.removesuffix('_ms')}".strip())
            values.append(float(row[key]))
    return [_bars(stem, "latency", labels, values, "alarm stored -> on the console (ms)",
                  f"Console alarm latency\n{_subtitle(result)}")]


def _api(result: Result, stem: Path) -> list[Path]:
    rows = result.get("results", [])
    if not rows or "list" not in rows[0]:
        return []
    row = rows[0]
    runs = [row[key] for key in ("list_one_client", "list", "list_polling") if key in row]
    kinds = list(runs[-1]["by_kind"])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(runs)
    for n, run in enumerate(runs):
        values = [run["by_kind"][k]["p99_ms"] or 0.0 for k in kinds]
        loop = "" if run.get("loop", "closed") == "closed" else f", each every {run['interval_s']:g} s"
        ax.bar([i + n * width for i in range(len(kinds))], values, width,
               label=f"{run['clients']} client(s){loop}")
    ax.axhline(100, color="red", linestyle="--", linewidth=1, label="target p99 100 ms")
    ax.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(kinds))], kinds, rotation=20,
                  ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("p99 latency (ms, log)")
    ax.set_title(f"Alarm list p99 per query, {runs[0]['alarms']} alarms in {row['database']}\n"
                 f"{_subtitle(result)}", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return [_save(fig, stem.with_name(f"{stem.name}-list-latency.png"))]


def _live(result: Result, stem: Path) -> list[Path]:
    runs = result.get("runs", [])
    if not runs:
        return []
    plt = _pyplot()
    fig, (drops, latency) = plt.subplots(1, 2, figsize=(11, 4.5))
    labels = [f"{r['cameras']} cameras" for r in runs]
    at = list(range(len(runs)))
    for n, side in enumerate(("without", "with")):
        drops.bar([i + 0.4 * n for i in at], [r[side]["dropped_percent"] for r in runs], 0.4,
                  color=f"C{n}", label=f"{side} subscribers")
        latency.bar([i + 0.27 * n for i in at], [r[side]["latency_ms_p99"] or 0.0 for r in runs], 0.27,
                    color=f"C{n}", label=f"pipeline p99, {side} subscribers")
    latency.bar([i + 0.54 for i in at], [r["feed"]["p99_ms"] or 0.0 for r in runs], 0.27, color="C2",
                label=f"feed p99 ({result.get('subscribers', '?')} subscribers)")
    drops.axhline(1.0, color="red", linestyle=":", linewidth=1)
    latency.axhline(1000.0, color="red", linestyle=":", linewidth=1, label="target 1 s")
    drops.set_xticks([i + 0.2 for i in at], labels)
    latency.set_xticks([i + 0.27 for i in at], labels)
    drops.set_ylabel("sampled frames dropped (%)")
    latency.set_ylabel("p99 (ms)")
    drops.set_title("Pipeline drops", fontsize=10)
    latency.set_title("Capture -> result and commit -> subscriber", fontsize=10)
    for axis in (drops, latency):
        axis.grid(True, axis="y", alpha=0.3)
        axis.legend(fontsize=7)
    fig.suptitle(f"Live alarm feed while cameras run, {_subtitle(result)}", fontsize=10)
    return [_save(fig, stem.with_name(f"{stem.name}-drops-latency.png"))]


RENDERERS: dict[str, Callable[[Result, Path], list[Path]]] = {
    "live": _live,
    "api": _api, "console": _console, "models": _models, "pipeline": _pipeline, "capacity": _pipeline,
    "search": _search,
    "delivery": _delivery, "faces": _faces, "plates": _plates, "streams": _streams, "media": _media,
}


def render(result: Result, stem: Path) -> list[Path]:
    """Draw every chart of ``result`` as ``<stem>-<chart>.png``; the paths written (none if unknown)."""
    renderer = RENDERERS.get(kind(result) or "")
    return renderer(result, stem) if renderer else []


def render_file(path: Path) -> list[Path]:
    """:func:`render` for one result JSON (charts beside it)."""
    result = json.loads(path.read_text())
    return render(result, path.with_suffix("")) if isinstance(result, dict) else []


def charts(
    results: Path = typer.Option(None, help="Folder of result JSON (default benchmarks/results)."),
) -> None:
    """Re-render the PNG charts of every recorded result JSON."""
    folder = results or results_dir()
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder", param_hint="--results")
    for path in sorted(folder.glob("*.json")):
        try:
            written = render_file(path)
        except (KeyError, TypeError, ValueError) as exc:  # not a result this version can draw
            typer.echo(f"{path.name}: no charts ({_why(exc)})")
            continue
        typer.echo(f"{path.name}: " + (", ".join(p.name for p in written) if written else "no charts"))


def _why(exc: Exception) -> str:
    return f"{exc.args[0]!r} missing" if isinstance(exc, KeyError) and exc.args else f"malformed: {exc}"


def write_charts(result: Result, stem: Path, echo: Callable[[str], None] = typer.echo) -> list[Path]:
    """:func:`render` for a benchmark's writer: says what it wrote; without matplotlib, says how to get it."""
    try:
        written = render(result, stem)
    except ImportError:
        echo("charts skipped: matplotlib is missing (scripts/setup.sh installs the 'bench' extra)")
        return []
    except (KeyError, TypeError, ValueError) as exc:  # a result without a chart's data: keep the run
        echo(f"charts skipped: {_why(exc)}")
        return []
    if written:
        echo("charts: " + ", ".join(str(p) for p in written))
    return written
