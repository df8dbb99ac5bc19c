"""``estatewatch registry ...``: residents, faces, vehicles, visitors and the watchlist."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from registry.service import Registry
    from registry.templates import BiometricHolder

app = typer.Typer(help="Manage the resident registry (enroll, import, export, delete).", no_args_is_help=True)

HolderFactory = Callable[["Registry"], "BiometricHolder"]
_holders: dict[str, HolderFactory] = {}


def attach_holder(name: str, factory: HolderFactory) -> None:
    """Add ``factory(registry)`` as a holder of every registry these commands open.

    The composition root (:mod:`estatewatch.cli`) attaches the alarm store here, so ``delete``
    and ``purge-visitors`` redact alarm face crops and ``rotate-key`` re-encrypts them, while
    this package never imports ``alarms``. The holder is opened before any change is made.
    """
    _holders[name] = factory


def _open(actor: str | None = None) -> Registry:
    from registry.service import Registry

    registry = Registry.open(actor=actor)
    for factory in _holders.values():
        registry.add_holder(factory(registry))
    return registry


@contextmanager
def _opened(actor: str | None = None) -> Iterator[Registry]:
    """:func:`_open`, closed after use (its database connections and its holders')."""
    registry = _open(actor)
    try:
        yield registry
    finally:
        registry.close()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def migrate() -> None:
    """Create or upgrade the registry database to the newest schema."""
    from registry import db

    registry = _open()
    typer.echo(f"registry database at revision {db.current_revision(registry.engine)}")


@app.command()
def enroll(
    photo: list[Path] = typer.Option(..., "--photo", help="Photo with exactly one face (repeatable)."),
    name: str | None = typer.Option(None, "--name", help="Name of the new person."),
    building: str | None = typer.Option(None, "--building"),
    unit: str | None = typer.Option(None, "--unit"),
    room: str | None = typer.Option(None, "--room"),
    watchlist: bool = typer.Option(False, "--watchlist", help="Enroll onto the watchlist, not as resident."),
    reason: str = typer.Option("", "--reason", help="Watchlist reason."),
    severity: str = typer.Option(
        "critical", "--severity", help="Watchlist severity: low|medium|high|critical."
    ),
    resident_id: str | None = typer.Option(None, "--resident-id", help="Add templates to this resident."),
    profile: str = typer.Option("default", "--profile", help="Model profile of the face engine."),
    actor: str | None = typer.Option(None, "--actor", help="Who is recorded in the audit log."),
) -> None:
    """Enroll a person from photos (each must show exactly one usable face)."""
    from registry.changes import RegistryError
    from registry.enrollment import EnrollmentRefused
    from registry.types import Owner
    from vision.face.pipeline import FaceAnalyzer

    photos = []
    for path in photo:
        try:
            photos.append((path.name, path.read_bytes()))
        except OSError as exc:
            raise _fail(f"cannot read {path}: {exc.strerror}") from exc
    registry = _open(actor)
    analyzer = FaceAnalyzer.from_store(profile)
    analyzer.load()
    try:
        owner, ids = registry.enroll(
            photos,
            analyzer,
            owner=Owner("resident", resident_id) if resident_id else None,
            name=name,
            building=building,
            unit=unit,
            room=room,
            watchlist=watchlist,
            reason=reason,
            severity=severity,
        )
    except EnrollmentRefused as exc:
        for refusal in exc.refusals:
            typer.echo(f"refused {refusal}", err=True)
        raise typer.Exit(2) from exc
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"enrolled {owner.kind} {owner.id}: {len(ids)} template(s)")


@app.command("list")
def list_residents(as_json: bool = typer.Option(False, "--json")) -> None:
    """List residents (id, name, address, status, tags)."""
    from dataclasses import asdict

    residents = _open().list_residents()
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in residents], ensure_ascii=False, indent=2))
        return
    for r in residents:
        typer.echo(f"{r.id}  {r.name}  {r.address}  {r.status}  {','.join(r.tags)}")


@app.command()
def delete(
    person_id: str = typer.Argument(..., help="Id of the resident (or visitor / watchlist entry)."),
    kind: str = typer.Option("resident", "--kind", help="resident | visitor | watchlist"),
    actor: str | None = typer.Option(None, "--actor"),
) -> None:
    """Delete a person with every face template, crop and vehicle link."""
    from registry.changes import RegistryError
    from registry.types import Owner

    if kind not in ("resident", "visitor", "watchlist"):
        raise _fail(f"--kind must be resident, visitor or watchlist, not {kind!r}")
    with _opened(actor) as registry:
        try:
            report = registry.delete_owner(Owner(kind, person_id))  # type: ignore[arg-type]
        except RegistryError as exc:
            raise _fail(str(exc)) from exc
    typer.echo(
        f"deleted {kind} {person_id}: {report.templates} template(s), {report.vehicles} vehicle(s), "
        f"{report.visitors} visitor(s)"
    )


@app.command("import")
def import_csv(
    what: str = typer.Argument(..., help="residents | vehicles"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="UTF-8 CSV file."),
    actor: str | None = typer.Option(None, "--actor"),
) -> None:
    """Import residents or vehicles from CSV; prints a per-row report (exit 1 if any row failed)."""
    from registry import csvio

    importer = {"residents": csvio.import_residents, "vehicles": csvio.import_vehicles}.get(what)
    if importer is None:
        raise _fail("import what? residents or vehicles")
    with file.open(encoding="utf-8-sig", newline="") as stream:
        results = importer(_open(actor), stream)
    typer.echo(csvio.report_text(results), nl=False)
    if any(r.status == "error" for r in results):
        raise typer.Exit(1)


@app.command("export")
def export_csv(
    what: str = typer.Argument(..., help="residents | vehicles"),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default stdout)."),
) -> None:
    """Export residents or vehicles as UTF-8 CSV."""
    from registry import csvio

    exporter = {"residents": csvio.export_residents, "vehicles": csvio.export_vehicles}.get(what)
    if exporter is None:
        raise _fail("export what? residents or vehicles")
    registry = _open()
    if output is None:
        exporter(registry, sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as stream:
        count = exporter(registry, stream)
    typer.echo(f"wrote {count} {what} to {output}", err=True)


@app.command("add-vehicle")
def add_vehicle(
    plate: str = typer.Argument(...),
    resident_id: str = typer.Option(..., "--resident-id"),
    plate_colour: str | None = typer.Option(None, "--colour"),
    plate_type: str | None = typer.Option(None, "--type"),
    permit: str | None = typer.Option(None, "--permit"),
    actor: str | None = typer.Option(None, "--actor"),
) -> None:
    """Register a resident's vehicle (the plate is normalised)."""
    from registry.changes import RegistryError

    try:
        vid = _open(actor).add_vehicle(
            plate,
            resident_id=resident_id,
            plate_colour=plate_colour,
            plate_type=plate_type,
            parking_permit=permit,
        )
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"vehicle {vid}")


@app.command("watch-plate")
def watch_plate(
    plate: str = typer.Argument(...),
    label: str = typer.Option(..., "--label"),
    reason: str = typer.Option("", "--reason"),
    severity: str = typer.Option("critical", "--severity"),
    actor: str | None = typer.Option(None, "--actor"),
) -> None:
    """Put a plate on the watchlist."""
    from registry.changes import RegistryError

    try:
        entry = _open(actor).add_watchlist_entry(label, reason=reason, severity=severity, plate=plate)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"watchlist entry {entry}")


@app.command("match-plate")
def match_plate_cmd(text: str = typer.Argument(...)) -> None:
    """Look a recognised plate text up (exact, then OCR-confusion-aware)."""
    from dataclasses import asdict

    result = _open().match_plate(text)
    typer.echo(json.dumps(asdict(result), ensure_ascii=False, default=str, indent=2))


@app.command("purge-visitors")
def purge_visitors() -> None:
    """Delete visitors whose retention period (ESTATEWATCH_VISITOR_RETENTION_DAYS) has passed."""
    with _opened("retention") as registry:
        purged = registry.purge_expired_visitors(dt.datetime.now(dt.UTC))
    typer.echo(f"purged {len(purged)} visitor(s)")


@app.command("rotate-key")
def rotate_key(
    generate: bool = typer.Option(
        False, "--generate", help="Generate a new key at the top of the key file first (file keys only)."
    ),
) -> None:
    """Re-encrypt every template and alarm face crop under the current key; retire old keys after."""
    from registry import crypto
    from registry.config import RegistrySettings

    settings = RegistrySettings()
    key_file = settings.template_key_file or settings.default_key_file()
    file_keys = settings.template_key is None
    if generate:
        if not file_keys:
            raise _fail(
                "--generate works with key files; with ESTATEWATCH_TEMPLATE_KEY set a new key there "
                "and list the old one in ESTATEWATCH_TEMPLATE_KEYS_RETIRED"
            )
        old = key_file.read_text(encoding="ascii").split() if key_file.exists() else []
        crypto.write_key_file(key_file, [crypto.new_key_text(), *old])
    with _opened("rotate-key") as registry:
        count = registry.rotate_key()
        in_use = registry.key_ids_in_use()
    if file_keys and in_use <= {registry.cipher.current_key_id} and key_file.exists():
        current = key_file.read_text(encoding="ascii").split()[0]
        crypto.write_key_file(key_file, [current])
    typer.echo(f"re-encrypted {count} template(s); key in use: {registry.cipher.current_key_id}")


@app.command()
def reembed(
    model: str = typer.Option(..., "--model", help="Embedding model id of the new templates."),
    profile: str = typer.Option("default", "--profile", help="Model profile that provides this model."),
    drop_old: bool = typer.Option(False, "--drop-old", help="Delete the old model's templates after."),
) -> None:
    """Re-embed stored enrollment crops with another embedding model."""
    from vision.face.pipeline import FaceAnalyzer

    analyzer = FaceAnalyzer.from_store(profile)
    analyzer.load()
    done, skipped = _open("reembed").reembed(analyzer, model, drop_old=drop_old)
    typer.echo(f"re-embedded {done} template(s), skipped {skipped}")
