"""The ``estatewatch`` command line: one entry point, one sub-command per job.

Heavy imports (onnxruntime, OpenCV, the web stack) happen inside the commands so that
``estatewatch --help`` stays instant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from alarms.cli import app as alarms_app
from benchmarks.cli import app as bench_app
from benchmarks.live_pipeline import attach_site
from benchmarks.quantize import make_default_variants, quantize_command
from models.cli import app as models_app
from models.cli import attach_default_variant_maker
from registry.cli import app as registry_app
from registry.cli import attach_holder
from streams.cli import app as streams_app

if TYPE_CHECKING:
    from alarms.store import AlarmStore
    from estatewatch.config import ServiceConfig
    from estatewatch.local_site import LocalSite
    from registry.service import Registry

app = typer.Typer(
    name="estatewatch",
    help="Estatewatch: the security core for smart residential communities.",
    no_args_is_help=True,
    add_completion=False,
)
models_app.command("quantize")(quantize_command)  # calibrates with vision's preprocessing: above models/
attach_default_variant_maker(make_default_variants)
app.add_typer(models_app, name="models")
app.add_typer(streams_app, name="streams")
app.add_typer(registry_app, name="registry")
app.add_typer(alarms_app, name="alarms")
app.add_typer(bench_app, name="bench")


def _alarm_crops(registry: Registry) -> AlarmStore:
    """The alarm store as holder of alarm face crops for the registry commands (delete redacts them)."""
    from alarms.store import AlarmStore

    return AlarmStore.for_registry(registry)


attach_holder("alarm-crops", _alarm_crops)


def _local_site(config: Mapping[str, Any], folder: Path, database_url: str | None) -> LocalSite:
    """The whole service and its API in this process, for ``bench live`` (benchmarks may not compose it)."""
    from estatewatch.local_site import start_local_site

    return start_local_site(config, folder, database_url)


attach_site(_local_site)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log only warnings and errors."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # per-request and per-migration chatter
        for noisy in ("httpx", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def recognize(
    images: list[Path] = typer.Argument(..., help="Image files (JPEG, PNG, ...).", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per image and line."),
    profile: str = typer.Option("default", help="Model profile: default or permissive."),
    run: str = typer.Option("faces,vehicles,plates", help="Stages to run (comma-separated)."),
    batch: int = typer.Option(8, min=1, max=64, help="Images per model batch."),
    provider: str = typer.Option("cpu", help="Execution provider: auto, cpu, cuda or tensorrt "
                                 "(a missing GPU one runs on CPU with a warning; README, GPU)."),
    match: bool = typer.Option(True, help="Match faces and plates against the resident registry."),
) -> None:
    """Find faces, vehicles and licence plates in still images, and who or whose they are.

    Faces and plates are matched against the registry (ESTATEWATCH_DATABASE_URL, default the
    SQLite file in the data directory). An unreadable file is reported on its own line and
    the others still run; the exit code is 1 if any file failed.
    """
    from estatewatch.recognize import ImageReadError, RegistryMatcher, chunks, dumps, human_line, read_image
    from models.fetch import ModelError
    from streams.config import ALL_ANALYSES
    from vision.cascade import Cascade, to_json
    from vision.config import VisionSettings

    stages = [s.strip() for s in run.split(",") if s.strip()]
    unknown = [s for s in stages if s not in ALL_ANALYSES]
    if unknown or not stages:
        raise typer.BadParameter(f"unknown stage(s) {unknown}; choose from {', '.join(ALL_ANALYSES)}",
                                 param_hint="--run")
    try:
        settings = VisionSettings.model_validate({"profile": profile, "provider": provider,
                                                  "intra_op_threads": 0})  # one stream: all cores per call
        cascade = Cascade.from_store(settings, run=stages)  # type: ignore[arg-type]
        matcher = RegistryMatcher.open() if match else None
    except (ModelError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    failed = 0
    for group in chunks(images, batch):
        loaded, records = [], {}
        for path in group:
            try:
                loaded.append((path, read_image(path)))
            except ImageReadError as exc:
                records[path] = {"image": str(path), "error": str(exc)}
        results = cascade.recognize([im for _, im in loaded])
        for (path, _), result in zip(loaded, results, strict=True):
            faces, plates = matcher.match(result) if matcher else (None, None)
            records[path] = {"image": str(path), **to_json(result, faces, plates)}
        for path in group:
            record = records[path]
            failed += "error" in record
            typer.echo(dumps(record) if as_json else human_line(path, record))
    if matcher:
        matcher.close()
    if failed:
        raise typer.Exit(1)


def _run_service(config: ServiceConfig, host: str, port: int, banner: str,
                 registry: Registry | None = None, demo_guard: bool = False) -> None:
    """Start the service (models load in the background; /readyz says when) and serve the API."""
    import os
    import threading

    import uvicorn

    from api.accounts.store import Accounts, bootstrap_admin
    from api.app import create_app, freeze_startup_heap
    from api.keys import load_api_keys
    from api.live import LiveHub
    from estatewatch.service import Service
    from storage.files import data_dir

    keys, key_file = load_api_keys(data_dir())
    accounts = Accounts.open()  # users, integrator keys, audit log: migrated before serving
    bootstrap_admin(accounts, os.environ.get("ESTATEWATCH_ADMIN_PASSWORD"))
    guard = None
    if demo_guard:
        from estatewatch.demo import demo_guard as make_demo_guard

        guard = make_demo_guard(accounts)
    service = Service(config, registry=registry)
    # mypy checks here that Service gives the API its api.ports.ServiceView
    app = create_app(service, keys, accounts, live=LiveHub(queue_size=config.alarms.live_queue),
                     video=config.video)
    failure: list[BaseException] = []

    def start() -> None:
        try:
            service.start()
            freeze_startup_heap()  # models loaded, stores open: kept out of later collections
        except BaseException as exc:  # reported below and by /readyz staying 503
            failure.append(exc)
            logging.getLogger("estatewatch").error("service failed to start: %s", exc)

    starter = threading.Thread(target=start, name="service-start", daemon=True)
    starter.start()
    typer.echo(banner)
    typer.echo(f"  Console:  http://{host}:{port}/   (guards log in with their user name and password)")
    if guard is not None:
        typer.echo(f"  guard:    user '{guard[0]}', password '{guard[1]}'  (a new one on each demo run)")
    typer.echo(f"  API:      http://{host}:{port}/docs   (health: /healthz, /readyz, metrics: /metrics)")
    typer.echo("  API key:  " + (f"in {key_file}" if key_file else "from ESTATEWATCH_API_KEYS")
               + "  (send it as 'Authorization: Bearer <key>'; users log in at /api/v1/auth/login)")
    if key_file:
        typer.echo(f"  try:      curl -H \"Authorization: Bearer $(cat {key_file})\" "
                   f"http://{host}:{port}/api/v1/recognitions?limit=3")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        starter.join(timeout=120)
        service.stop()
        accounts.close()
    if failure:
        raise typer.Exit(1)


@app.command()
def serve(
    config: Path = typer.Option(None, "--config", "-c", help="YAML config file (cameras, vision).",
                                exists=True, dir_okay=False, readable=True),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
) -> None:
    """Run the service: cameras -> recognition -> REST API (Ctrl-C stops it cleanly)."""
    from estatewatch.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    _run_service(cfg, host, port, f"Estatewatch: serving {len(cfg.cameras)} camera(s)")


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    detect_fps: float = typer.Option(2.0, min=0.2, max=25, help="Frames per second analysed per camera."),
    rtsp: bool = typer.Option(True, "--rtsp/--files",
                              help="Serve the sample clips over RTSP from a local server, as a site's "
                                   "cameras would be (default), or read the files directly."),
) -> None:
    """Run the service with two local sample cameras, a demo registry and a webhook receiver.

    The lobby camera shows a watchlisted face, the gate camera a resident's car, a watchlisted
    plate and an unregistered one: alarms follow within a minute, and the local receiver prints
    each signed webhook it verifies.
    """
    import base64
    import secrets

    from estatewatch.demo import DemoCameras, WebhookPrinter, demo_clips, demo_config, seed_registry
    from media.clips import MediaError
    from models.fetch import ModelError, fetch
    from registry.service import Registry
    from vision.face.pipeline import FaceAnalyzer

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    printer = WebhookPrinter(secret, typer.echo).start()
    cameras: DemoCameras | None = None
    try:
        fetch()
        cameras = DemoCameras(demo_clips())
        urls = cameras.start() if rtsp else None
        cfg = demo_config(detect_fps, printer.url, secret, urls)
        if urls:
            typer.echo("demo cameras over RTSP: " + ", ".join(f"{c} {u}" for c, u in urls.items()))
        registry = Registry.open()
        analyzer = FaceAnalyzer.from_store()
        for line in seed_registry(registry, analyzer):
            typer.echo(f"demo registry: added {line}")
        analyzer.close()
    except (MediaError, ModelError, RuntimeError) as exc:
        printer.stop()
        if cameras is not None:
            cameras.stop()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        _run_service(cfg, host, port, "Estatewatch demo: cameras 'lobby' (faces) and 'gate' (vehicles, "
                     f"plates); webhooks go to {printer.url} and are printed below", registry,
                     demo_guard=True)
    finally:
        printer.stop()
        cameras.stop()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: a usage error (a bad option value) is one line on stderr, exit 2.

    Typer's boxed usage errors span several lines; here the command path and click's message
    (which names the allowed values) make one line, and ``--help`` has the rest.
    """
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=argv, prog_name="estatewatch", standalone_mode=False)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        raise SystemExit(1) from None
    except typer.TyperException as exc:  # typer's click: UsageError, BadParameter, NoSuchOption, ...
        message = " ".join(str(getattr(exc, "format_message", exc.__str__)()).split())
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `estatewatch bench`: the help text
            typer.echo(exc.format_message() if hasattr(exc, "format_message") else str(exc))
            raise SystemExit(0) from None
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "estatewatch"
        typer.echo(f"{where}: {message} (see --help)", err=True)
        raise SystemExit(getattr(exc, "exit_code", 1)) from None
    raise SystemExit(rc if isinstance(rc, int) else 0)
