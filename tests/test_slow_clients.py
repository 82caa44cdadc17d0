"""Slow clients against a real `tenantcore serve` over real sockets: a client dribbling its
headers or body, or idling on a kept-alive connection, is cut off after the bound; a normal
client is not. The bounds are set short (1 s) to keep this quick."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chaos.processes import Serve

BOUND = 1.0


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    data = Path(tmp_path_factory.mktemp("slow"))
    running = Serve(
        data / "data",
        f"sqlite+aiosqlite:///{data / 'tc.db'}",
        header_timeout=BOUND,
        body_timeout=BOUND,
        keep_alive_timeout=BOUND,
        worker="false",
    ).start()
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def key(serve: Serve) -> str:
    return serve.find(r"test: (tc_test_\w+)")


def connect(serve: Serve) -> socket.socket:
    return socket.create_connection(("127.0.0.1", serve.port), timeout=10)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def dribble(sock: socket.socket, data: bytes, every: float = 0.2) -> bool:
    """Send one byte at a time; False once the server has closed the connection."""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return False
        time.sleep(every)
    return True


def test_a_client_dribbling_its_headers_is_cut_off(serve: Serve):
    started = time.monotonic()
    with connect(serve) as sock:
        dribble(sock, b"GET /v1/tenants HTTP/1.1\r\nHost: x\r\n", every=0.1)
        answer = read_until_closed(sock)
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]["code"] == "request_timeout"
    assert BOUND * 0.9 <= took < BOUND + 2, took


def test_a_connection_that_sends_nothing_is_closed(serve: Serve):
    started = time.monotonic()
    with connect(serve) as sock:
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < BOUND + 2


def test_a_slow_body_gets_408(serve: Serve, key: str):
    body = json.dumps({"tenant_name": "Slow"}).encode()
    head = (
        f"POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with connect(serve) as sock:
        sock.sendall(head + body[:3])
        dribble(sock, body[3:], every=0.3)
        answer = read_until_closed(sock)
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["detail"]["code"] == "request_timeout"
    assert BOUND * 0.9 <= took < BOUND + 2, took
    # Nothing was created from the half-sent request.
    tenants = httpx.get(f"{serve.url}/v1/tenants", headers={"Authorization": f"Bearer {key}"}).json()
    assert "Slow" not in json.dumps(tenants)


def test_an_idle_keep_alive_connection_is_closed(serve: Serve):
    with connect(serve) as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        read_until_closed(sock)  # the rest of the answer, then the close
    assert BOUND * 0.9 <= time.monotonic() - started < BOUND + 2


def test_a_normal_client_is_unaffected(serve: Serve, key: str):
    with httpx.Client(base_url=serve.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
        created = client.post("/v1/tenants", json={"tenant_name": "Quick"})
        assert created.status_code == 201, created.text
        time.sleep(BOUND / 2)  # kept alive across a short pause
        assert client.get("/v1/tenants").status_code == 200
    # Headers and body in several quick packets (well within the bounds) are fine too.
    body = json.dumps({"tenant_name": "Chunked"}).encode()
    head = (
        f"POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with connect(serve) as sock:
        for part in (head[:20], head[20:], body[:5], body[5:]):
            sock.sendall(part)
            time.sleep(0.05)
        assert read_until_closed(sock).startswith(b"HTTP/1.1 201")
