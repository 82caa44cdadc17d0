"""Real DNS servers on loopback for the DNS-provider tests: Knot (RFC 2136 updates signed with
TSIG) and PowerDNS Authoritative (its HTTP API, as dns-lexicon drives it).

Both are started once per session in temporary directories on free loopback ports and stopped
afterwards. Without the Debian packages the fixtures skip, saying which package is missing.
"""

from __future__ import annotations

import base64
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

import dns.message
import dns.query
import dns.rcode
import httpx
import pytest

KNOTD = "/usr/sbin/knotd"
PDNS_SERVER = "/usr/sbin/pdns_server"
PDNS_SCHEMA = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"
ZONE_COUNT = 14


def free_port() -> int:
    """A loopback port free on both UDP and TCP (the servers listen on both): a UDP-free port
    can be some client's ephemeral TCP port. Same approach as bench/zones.py."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no loopback port free on both UDP and TCP")


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


def _serves(port: int, zone: str) -> bool:
    try:
        answer = dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=port, timeout=0.5)
    except (OSError, dns.exception.Timeout):
        return False
    return answer.rcode() == dns.rcode.NOERROR and bool(answer.answer)


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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# --- Knot ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnotServer:
    host: str
    port: int
    key_name: str
    key_secret: str = field(repr=False)
    algorithm: str
    zones: tuple[str, ...]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _knot_conf(root: Path, port: int, key_name: str, secret: str, zones: tuple[str, ...]) -> str:
    zone_lines = "\n".join(f"  - domain: {zone}" for zone in zones)
    return f"""server:
  rundir: {root}/run
  listen: 127.0.0.1@{port}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
key:
  - id: {key_name}
    algorithm: hmac-sha256
    secret: {secret}
acl:
  - id: tsig-update
    key: {key_name}
    action: update
database:
  storage: {root}/db
template:
  - id: default
    storage: {root}/zones
    file: "%s.zone"
    # Updates live in memory only: nothing is written back to the zone files or a journal.
    zonefile-sync: -1
    journal-content: none
    acl: tsig-update
zone:
{zone_lines}
"""


# Zones of their own for the zero-touch onboarding tests (the provider tests write the k zones).
ONBOARDING_ZONES = tuple(f"o{i:02d}.test" for i in range(1, 13))


@pytest.fixture(scope="session")
def knot_server() -> Iterator[KnotServer]:
    knotd = _binary(KNOTD, "knot")
    root = Path(tempfile.mkdtemp(prefix="tc-knot-"))
    try:
        for sub in ("zones", "db", "run"):
            (root / sub).mkdir()
        zones = tuple(f"k{i:02d}.test" for i in range(1, ZONE_COUNT + 1)) + ONBOARDING_ZONES
        for zone in zones:
            (root / "zones" / f"{zone}.zone").write_text(
                f"$TTL 60\n@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n@ NS ns.{zone}.\n"
            )
        key_name = "tenantcore-test"
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        for _ in range(5):
            port = free_port()
            conf = root / "knot.conf"
            conf.write_text(_knot_conf(root, port, key_name, secret, zones))
            proc = _start([knotd, "-c", str(conf)], lambda p=port: _serves(p, zones[-1]), "knotd", root / "knotd.log")
            if proc is not None:
                break
        else:
            raise RuntimeError(f"knotd did not start in 5 attempts; log: {(root / 'knotd.log').read_text()[-2000:]}")
        try:
            yield KnotServer("127.0.0.1", port, key_name, secret, "hmac-sha256", zones)
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
            _stop(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
