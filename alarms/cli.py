"""``estatewatch alarms ...``: alarms, the delivery log and manual replay, from the command line.

These commands work on the database directly (``ESTATEWATCH_DATABASE_URL``, default the
SQLite file in the data directory), so they also work while the service is stopped; a running
service's relay picks replayed messages up on its next poll.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any, cast

import typer

app = typer.Typer(help="Alarms, the delivery log and manual replay.", no_args_is_help=True)


def _store() -> Any:
    from alarms.store import AlarmStore

    return AlarmStore.open()


def _json(rows: list[Any]) -> str:
    def default(value: object) -> str:
        return value.isoformat() if isinstance(value, dt.datetime) else str(value)

    return json.dumps([dataclasses.asdict(r) for r in rows], ensure_ascii=False, indent=2, default=default)


@app.command("list")
def list_alarms(
    state: str = typer.Option(None, help="open, acknowledged or resolved."),
    camera: str = typer.Option(None, help="Only this camera."),
    limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Alarms, newest first."""
    from alarms.records import AlarmFilter, AlarmState, Paging

    if state is not None and state not in ("open", "acknowledged", "resolved"):
        raise typer.BadParameter("choose open, acknowledged or resolved", param_hint="--state")
    store = _store()
    try:
        states = (cast(AlarmState, state),) if state else None
        page = store.list(AlarmFilter(states=states, camera_id=camera), Paging(limit))
    finally:
        store.close()
    if as_json:
        typer.echo(_json(page.items))
        return
    typer.echo(f"{page.total} alarm(s); newest {len(page.items)}:")
    for a in page.items:
        what = a.plate_text or f"{a.subject.kind}:{a.subject.id}"
        typer.echo(f"{a.occurred_at:%Y-%m-%d %H:%M:%S} {a.severity:<8} {a.state:<12} {a.type:<22} "
                   f"camera={a.camera_id or '-'} {what}  id={a.id}")


@app.command("deliveries")
def deliveries(
    endpoint: str = typer.Option(None, help="Only this endpoint id."),
    status: str = typer.Option(None, help="pending, delivered, failed or dead."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Outbox messages per endpoint, with their delivery status and last error."""
    store = _store()
    try:
        rows = store.messages(endpoint_id=endpoint, status=status)
    finally:
        store.close()
    if as_json:
        typer.echo(_json(rows))
        return
    for m in rows:
        last = f" last={m.last_status_code or ''} {m.last_error or ''}".rstrip()
        typer.echo(f"#{m.id:<6} {m.status:<9} attempts={m.attempts:<2} {m.type:<20} endpoint={m.endpoint_id} "
                   f"webhook-id={m.event_id}{last}")
    typer.echo(f"{len(rows)} message(s)")


@app.command("attempts")
def attempts(message: int = typer.Argument(..., help="Outbox message number (from `deliveries`).")) -> None:
    """Every delivery attempt of one message: when, outcome, HTTP status, error, duration."""
    store = _store()
    try:
        rows = store.attempts(message_id=message)
    finally:
        store.close()
    for a in rows:
        typer.echo(f"{a.attempted_at:%Y-%m-%d %H:%M:%S} {a.outcome:<9} {a.status_code or '-':<4} "
                   f"{a.duration_ms:7.1f} ms {a.error or ''}")
    typer.echo(f"{len(rows)} attempt(s)")


@app.command("replay")
def replay(
    message: int = typer.Option(None, help="Queue this one message again (any status)."),
    endpoint: str = typer.Option(None, help="Queue every failed or dead message of this endpoint again "
                                 "and re-enable the endpoint."),
) -> None:
    """Deliver again with a fresh attempt budget and the same webhook-id (receivers deduplicate)."""
    from alarms import outbox

    if (message is None) == (endpoint is None):
        raise typer.BadParameter("give exactly one of --message and --endpoint")
    now = dt.datetime.now(dt.UTC)
    store = _store()
    try:
        with store.engine.begin() as conn:
            if endpoint is not None:
                outbox.enable_endpoint(conn, endpoint)
            count = outbox.replay(conn, now, message_id=message, endpoint_id=endpoint)
    finally:
        store.close()
    if count == 0:
        typer.echo("nothing to replay" + (f": no message #{message}" if message else ""), err=True)
        raise typer.Exit(1)
    typer.echo(f"queued {count} message(s) again")
