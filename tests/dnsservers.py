"""Real DNS servers on loopback for the DNS-provider tests: Knot (RFC 2136 updates signed with
TSIG, started by `tenantcore.sandbox.knot`) and PowerDNS Authoritative (its HTTP API, as dns-lexicon drives it).

Both are started once per session in temporary directories on free loopback ports and stopped
afterwards. Without the Debian packages the fixtures skip, saying which package is missing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tenantcore.sandbox.knot import (
    KnotNotInstalled,
    KnotServer,
    empty_zones,
    free_port,
    running_knot,
    stop_process,
)

PDNS_SERVER = "/usr/sbin/pdns_server"
PDNS_SCHEMA = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"
ZONE_COUNT = 14


def closed_port() -> int:
    """A loopback TCP port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary(path: str, package: str) -> str:
    found = shutil.which(os.path.basename(path)) or (path if os.path.exists(path) else None)
    if found is None:
        pytest.skip(f"{path} not found: run ./dev test as root, it installs Debian's {package}")
    return found


def _start(argv: list[str], ready: Callable[[], bool], what: str, log: Path) -> subprocess.Popen[bytes] | None:
    """Start a server and wait until `ready()`; None if it exited (e.g. a port was taken between
    our check and its bind: the caller tries other ports)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if ready():
            return proc
        time.sleep(0.1)
    proc.terminate()
    proc.wait(timeout=10)
    raise RuntimeError(f"{what} did not become ready within 30 s; log: {log.read_text()[-2000:]}")


# --- Knot ---------------------------------------------------------------------------------


# Zones of their own for the zero-touch onboarding tests (the provider tests write the k zones).
ONBOARDING_ZONES = tuple(f"o{i:02d}.test" for i in range(1, 13))


@pytest.fixture(scope="session")
def knot_server() -> Iterator[KnotServer]:
    zones = tuple(f"k{i:02d}.test" for i in range(1, ZONE_COUNT + 1)) + ONBOARDING_ZONES
    try:
        with running_knot(empty_zones(zones), key_name="tenantcore-test") as server:
            yield server
    except KnotNotInstalled as exc:
        pytest.skip(f"{exc}: run ./dev test as root, it installs Debian's knot")


# --- PowerDNS -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerDnsServer:
    host: str
    port: int
    api_url: str
    api_key: str = field(repr=False)
    zones: tuple[str, ...]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def create_zone(self, name: str) -> None:
        """A native zone holding SOA and NS only, through the HTTP API."""
        zone = name.rstrip(".") + "."
        body = {
            "name": zone,
            "kind": "Native",
            "nameservers": [f"ns.{zone}"],
            "rrsets": [
                {
                    "name": zone,
                    "type": "SOA",
                    "ttl": 60,
                    "records": [{"content": f"ns.{zone} hostmaster.{zone} 1 3600 600 86400 60", "disabled": False}],
                }
            ],
        }
        response = httpx.post(
            f"{self.api_url}/api/v1/servers/localhost/zones", json=body, headers={"X-API-Key": self.api_key}
        )
        response.raise_for_status()


def _pdns_api_ready(api_url: str, api_key: str) -> bool:
    try:
        response = httpx.get(f"{api_url}/api/v1/servers/localhost", headers={"X-API-Key": api_key}, timeout=0.5)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


@pytest.fixture(scope="session")
def pdns_server() -> Iterator[PowerDnsServer]:
    pdns = _binary(PDNS_SERVER, "pdns-server")
    if not os.path.exists(PDNS_SCHEMA):
        pytest.skip(f"{PDNS_SCHEMA} not found: run ./dev test as root, it installs Debian's pdns-backend-sqlite3")
    root = Path(tempfile.mkdtemp(prefix="tc-pdns-"))
    try:
        database = root / "pdns.sqlite3"
        with sqlite3.connect(database) as db:
            db.executescript(Path(PDNS_SCHEMA).read_text())
        db.close()
        api_key = secrets.token_urlsafe(24)
        for _ in range(5):
            dns_port, web_port = free_port(), free_port()
            api_url = f"http://127.0.0.1:{web_port}"
            (root / "pdns.conf").write_text(
                "\n".join(
                    [
                        "launch=gsqlite3",
                        f"gsqlite3-database={database}",
                        "api=yes",
                        f"api-key={api_key}",
                        "webserver=yes",
                        "webserver-address=127.0.0.1",
                        f"webserver-port={web_port}",
                        "webserver-allow-from=127.0.0.1",
                        "local-address=127.0.0.1",
                        f"local-port={dns_port}",
                        # No caches: a test reads right after a write, and must see it.
                        "cache-ttl=0",
                        "negquery-cache-ttl=0",
                        "query-cache-ttl=0",
                        "",
                    ]
                )
            )
            argv = [
                pdns,
                f"--config-dir={root}",
                "--guardian=no",
                "--daemon=no",
                "--disable-syslog",
                f"--socket-dir={root}",
            ]
            proc = _start(argv, lambda u=api_url: _pdns_api_ready(u, api_key), "pdns_server", root / "pdns.log")
            if proc is not None:
                break
        else:
            raise RuntimeError(
                f"pdns_server did not start in 5 attempts; log: {(root / 'pdns.log').read_text()[-2000:]}"
            )
        try:
            zones = tuple(f"p{i:02d}.test" for i in range(1, ZONE_COUNT + 1))
            server = PowerDnsServer("127.0.0.1", dns_port, api_url, api_key, zones)
            for zone in zones:
                server.create_zone(zone)
            yield server
        finally:
            stop_process(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
