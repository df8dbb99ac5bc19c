"""``estatewatch bench delivery``: signed webhook deliveries per second through the outbox relay.

A fresh database gets ``--count`` alarms (each with its ``alarm.raised`` outbox message, written in one
transaction with the alarm); relays then deliver them, signed (Standard Webhooks), over keep-alive
connections to a minimal HTTP/1.1 receiver in its own process on 127.0.0.1 that answers 204. The
receiver also checks the signature of every 50th request, so a broken signer fails the run. Results
go to ``benchmarks/results/delivery.json`` and ``delivery.md``.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import typer
from sqlalchemy import func, select

from alarms.config import DeliveryConfig, RelayConfig, WebhookConfig
from alarms.relay import Relay
from alarms.schema import OUTBOX
from alarms.store import AlarmStore
from alarms.types import AlarmDraft, Subject
from alarms.webhooks import WebhookSink
from benchmarks.machine import load_average, machine_info, machine_line, results_dir
from benchmarks.options import int_list
from benchmarks.record import write_result

logger = logging.getLogger(__name__)

SECRET = "whsec_" + "ZXN0YXRld2F0Y2gtYmVuY2htYXJrLXNlY3JldC0zMmI="

RECEIVER = r"""
import asyncio, base64, hashlib, hmac, sys
KEY = base64.b64decode(sys.argv[1][len("whsec_"):])
count = 0
bad = 0
async def handle(reader, writer):
    global count, bad
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            count += 1
            if count % 50 == 1:
                signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
                mac = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
                if "v1," + mac not in headers.get("webhook-signature", "").split(" "):
                    bad += 1
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def report():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        print(count, bad, flush=True)
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    print(server.sockets[0].getsockname()[1], flush=True)
    await report()
asyncio.run(main())
"""


@dataclass
class DeliveryResultRow:
    database: str
    messages: int
    relays: int
    threads_per_relay: int
    workers: int
    batch_size: int
    enqueue_per_s: float
    deliver_s: float
    deliveries_per_s: float
    received: int
    bad_signatures: int


class _Receiver:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, SECRET], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.port = int(self.proc.stdout.readline())

    def counts(self) -> tuple[int, int]:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        received, bad = self.proc.stdout.readline().split()
        return int(received), int(bad)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def _draft(i: int) -> AlarmDraft:
    import datetime as dt

    subject = Subject(kind="unknown_track", id=f"gate:{i}")
    return AlarmDraft(
        type="unknown_person",
        severity="medium",
        rule_id="bench",
        camera_id="gate",
        zone=None,
        occurred_at=dt.datetime.now(dt.UTC),
        subject=subject,
        dedup_key=f"bench|{subject.key()}|gate",
        details={"track_id": i},
    )


def run_one(
    url: str, label: str, count: int, relays: int, threads: int, workers: int, batch: int, data_dir: Path
) -> DeliveryResultRow:
    """Enqueue ``count`` alarms, then time how long the relays take to deliver them all."""
    receiver = _Receiver()
    try:
        hook = WebhookConfig(id="bench", url=f"http://127.0.0.1:{receiver.port}/hook", secret=SECRET)
        relay_cfg = RelayConfig(workers=workers, batch_size=batch, poll_interval_s=0.01)
        delivery = DeliveryConfig(webhooks=[hook], relay=relay_cfg)
        store = AlarmStore.open(url, delivery=delivery, data_dir=data_dir)
        started = time.perf_counter()
        for i in range(count):
            store.raise_alarm(_draft(i))
        enqueue_s = time.perf_counter() - started
        workers_ = [
            Relay(store.engine, [WebhookSink(hook)], relay_cfg, name=f"bench-{i}") for i in range(relays)
        ]
        started = time.perf_counter()
        for relay in workers_:
            relay.start(threads=threads)
        while _pending(store) and time.perf_counter() - started < 600:
            time.sleep(0.02)
        deliver_s = time.perf_counter() - started
        for relay in workers_:
            relay.stop()
        received, bad = receiver.counts()
        store.close()
    finally:
        receiver.close()
    return DeliveryResultRow(
        database=label,
        messages=count,
        relays=relays,
        threads_per_relay=threads,
        workers=workers,
        batch_size=batch,
        enqueue_per_s=round(count / enqueue_s, 1),
        deliver_s=round(deliver_s, 3),
        deliveries_per_s=round(count / deliver_s, 1),
        received=received,
        bad_signatures=bad,
    )


def _pending(store: AlarmStore) -> int:
    with store.engine.connect() as conn:
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status != "delivered")
        return int(conn.execute(query).scalar_one())


def delivery(
    count: int = typer.Option(5000, min=100, help="Alarms (= webhook messages) per run."),
    relays: str = typer.Option("1,2", help="Relay counts to try, comma-separated."),
    threads: int = typer.Option(2, min=1, help="Claim loops per relay."),
    workers: int = typer.Option(16, min=1, help="Concurrent sends per relay."),
    batch: int = typer.Option(200, min=1, help="Messages claimed per round."),
    database_url: str | None = typer.Option(None, help="Also run against this database (e.g. PostgreSQL)."),
) -> None:
    """Signed webhook deliveries per second through the outbox (SQLite, and PostgreSQL if given)."""
    logging.getLogger("alarms").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would dominate
    relay_counts = int_list(relays, "--relays")
    results: list[DeliveryResultRow] = []
    with tempfile.TemporaryDirectory(prefix="ew-bench-delivery-") as tmp:
        targets = [("sqlite", None)] + ([("postgresql", database_url)] if database_url else [])
        for label, url in targets:
            for n_relays in relay_counts:
                run_dir = Path(tmp) / f"{label}-{n_relays}"
                db_url = url or f"sqlite:///{run_dir / 'estatewatch.db'}"
                if url:
                    _reset(url)
                row = run_one(db_url, label, count, n_relays, threads, workers, batch, run_dir)
                typer.echo(f"{label} relays={n_relays}: {row.deliveries_per_s} deliveries/s")
                results.append(row)
    _write(results)
    typer.echo(_markdown(results))


def _reset(url: str) -> None:
    """Empty the alarm tables of a PostgreSQL benchmark database (never the registry's)."""
    from sqlalchemy.engine import make_url

    from alarms import db

    parsed = make_url(url)
    options = str(parsed.query.get("options", ""))
    if options.startswith("-csearch_path="):  # a dedicated schema: create it on first use
        base = db.make_engine(
            parsed.difference_update_query(["options"]).render_as_string(hide_password=False)
        )
        with base.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{options.split("=", 1)[1]}"')
        base.dispose()
    engine = db.make_engine(url)
    db.upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE delivery_attempts, outbox_messages, alarm_events, alarm_comments, alarms")
    engine.dispose()


def _write(results: list[DeliveryResultRow]) -> None:
    info = machine_info()
    info["load_average_1_5_15"] = load_average()
    payload = {"benchmark": "delivery", "machine": info, "results": [asdict(r) for r in results]}
    write_result(
        payload, results_dir() / "delivery",
        "# Webhook delivery through the outbox\n\n"
        f"{machine_line(info)}, {info['date']}. "
        "Receiver: asyncio HTTP/1.1 on 127.0.0.1, same machine.\n\n"
        f"{_markdown(results)}\n"
    )


def _markdown(results: list[DeliveryResultRow]) -> str:
    head = (
        "| database | messages | relays | threads | workers | batch | enqueue/s | deliver s | deliveries/s | "
        "received | bad signatures |\n|" + " --- |" * 11
    )
    rows = [
        f"| {r.database} | {r.messages} | {r.relays} | {r.threads_per_relay} | {r.workers} | "
        f"{r.batch_size} | "
        f"{r.enqueue_per_s} | {r.deliver_s} | {r.deliveries_per_s} | {r.received} | {r.bad_signatures} |"
        for r in results
    ]
    return "\n".join([head, *rows])
