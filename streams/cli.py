"""``estatewatch streams ...``: camera tools."""

from __future__ import annotations

import json

import typer

from streams.config import DecodeDevice, Transport

app = typer.Typer(help="Camera stream tools (probe a camera before adding it).", no_args_is_help=True)


@app.callback()
def _streams() -> None:
    """Camera stream tools (a group even with one command, so ``streams probe`` stays stable)."""


@app.command("probe")
def probe_command(
    url: str = typer.Argument(..., help="rtsp://[user:password@]host[:port]/path or a file."),
    seconds: float = typer.Option(10.0, "--seconds", "-s", min=1.0, help="How long to read."),
    transport: Transport = typer.Option(Transport.TCP, help="RTSP transport."),
    fps: float = typer.Option(5.0, "--fps", min=0.1, max=60, help="Detection rate to sample."),
    decode_device: DecodeDevice = typer.Option(
        DecodeDevice.CPU, "--decode-device",
        help="Decode on the cpu or on the NVIDIA GPU (cuda; falls back to the CPU, saying why)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Connect like the service would; report codec, rates, CPU, states and reconnects."""
    from streams.probe import probe

    report = probe(url, seconds, transport=transport, detect_fps=fps, decode_device=decode_device)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        size = f"{report.width}x{report.height}" if report.width else "-"
        lines = [
            f"url:            {report.url}",
            f"state:          {report.state} ({report.reason})",
            f"codec:          {report.codec or '-'} {size} @ {report.source_fps or '-'} fps",
            f"decoded on:     {report.decoder or '-'} (asked: {decode_device.value})",
            f"decoded fps:    {report.decoded_fps}",
            f"delivered fps:  {report.delivered_fps} (requested {fps})",
            f"decode CPU:     {report.decode_cpu_percent}% of one core",
            f"reconnects:     {report.reconnects}",
            "events:",
            *(f"  {e['previous'] or '-'} -> {e['state']}"
              + (f" tamper {e['tamper']} {'raised' if e['active'] else 'cleared'}"
                 if e["tamper"] else "") + f": {e['reason']}" for e in report.events),
        ]
        typer.echo("\n".join(lines))
    if report.state != "online":
        raise typer.Exit(code=1)
