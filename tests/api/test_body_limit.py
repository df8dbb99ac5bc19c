"""The request-body cap: oversized uploads get a 413 with a JSON body before anything parses them.

The real app behind a real uvicorn server on a loopback socket, spoken to with raw HTTP/1.1 so
the test controls ``Content-Length`` and chunked framing; and the app in-process for a body
longer than its declared length (a real server never delivers those bytes as the same body).
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.body_limit import MIB, ApiLimits
from estatewatch.config import ServiceConfig
from estatewatch.service import Service

KEY = "body-limit-test-key-0123"
CAP = MIB
BOUNDARY = "estatewatch-boundary"


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(Service(ServiceConfig()), frozenset([KEY]),  # type: ignore[arg-type]
                      limits=ApiLimits(max_request_bytes=CAP))


@pytest.fixture(scope="module")
def server(app: FastAPI) -> Iterator[tuple[str, int]]:
    """The app served by uvicorn on 127.0.0.1 (a free port) for the module's tests."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    runner = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield sock.getsockname()
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
        sock.close()


def multipart_head(size: int) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8" + b"\0" * (size - 2)


def request_head(length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"POST /api/v1/recognize HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n\r\n").encode()


def answered(conn: socket.socket, wait: float = 0.0) -> bool:
    return bool(select.select([conn], [], [], wait)[0])


def read_response(conn: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = conn.recv(65536)
        assert chunk, "connection closed inside the body"
        body += chunk
    return int(status_line.split()[1]), headers, body


@contextlib.contextmanager
def connect(address: tuple[str, int]) -> Iterator[socket.socket]:
    with socket.create_connection(address, timeout=20) as conn:
        yield conn


def send_until_answered(conn: socket.socket, chunks: Iterator[bytes]) -> int:
    """Send chunks until the server answers (or stops reading); the bytes sent."""
    sent = 0
    for chunk in chunks:
        if answered(conn):
            break
        try:
            conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
    return sent


def assert_refused(status: int, body: bytes) -> None:
    assert status == 413
    detail = json.loads(body)["detail"]
    assert "larger than 1 MiB" in detail and "ESTATEWATCH_MAX_REQUEST_BYTES" in detail


def test_declared_length_over_the_cap_is_refused_before_the_body_is_read(server: tuple[str, int]) -> None:
    body = multipart_head(64 * MIB)
    with connect(server) as conn:
        conn.sendall(request_head(len(body)))
        assert answered(conn, wait=10), "no answer to the headers alone"
        status, headers, answer = read_response(conn)
    assert_refused(status, answer)
    assert headers["content-type"] == "application/json"


def test_chunked_body_is_cut_off_once_it_passes_the_cap(server: tuple[str, int]) -> None:
    total = 64 * MIB
    body = multipart_head(total)
    piece = 64 * 1024

    def chunks() -> Iterator[bytes]:
        for start in range(0, total, piece):
            part = body[start:start + piece]
            yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
        yield b"0\r\n\r\n"

    with connect(server) as conn:
        conn.sendall(request_head(None))
        sent = send_until_answered(conn, chunks())
        status, _, answer = read_response(conn)
    assert_refused(status, answer)
    assert sent < total // 4, f"the server read {sent} bytes of a {total}-byte body before refusing"


def test_bodies_under_the_cap_reach_the_app(server: tuple[str, int]) -> None:
    """A small upload passes the cap and gets the app's own answer (no models loaded: 503)."""
    body = multipart_head(CAP // 2) + f"\r\n--{BOUNDARY}--\r\n".encode()
    with connect(server) as conn:
        conn.sendall(request_head(len(body)) + body)
        status, _, answer = read_response(conn)
    assert status == 503, answer


def test_a_body_longer_than_its_declared_length_is_counted(app: FastAPI) -> None:
    """In-process (ASGI) a client can deliver more than it declared: the bytes received count."""
    with TestClient(app) as client:
        body = multipart_head(2 * CAP) + f"\r\n--{BOUNDARY}--\r\n".encode()
        response = client.post("/api/v1/recognize", content=body, headers={
            "X-API-Key": KEY, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": "1000"})
        assert_refused(response.status_code, response.content)
        several = [("photos", (f"{i}.jpg", b"\xff\xd8" + b"\0" * (CAP // 2), "image/jpeg")) for i in range(3)]
        enroll = client.post("/api/v1/residents/r1/templates", headers={"X-API-Key": KEY}, files=several)
        assert_refused(enroll.status_code, enroll.content)  # each photo is small, all together are not
        bad = client.post("/api/v1/residents", content=b"{}", headers={"X-API-Key": KEY,
                                                                       "Content-Length": "12abc"})
        assert bad.status_code == 400 and "not a byte count" in bad.json()["detail"]
