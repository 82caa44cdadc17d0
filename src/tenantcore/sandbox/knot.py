"""Knot DNS on loopback: a real authoritative server taking RFC 2136 updates signed with TSIG,
for the tests, the benchmarks, and trying TenantCore's `rfc2136` provider before pointing it
at a production server (pair it with TENANTCORE_SANDBOX_DNS_DELEGATIONS).

Needs Debian's `knot` (`./dev test` and `./dev bench` install it when run as root). Updates
live in memory only: nothing is written back to zone files or a journal.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

KNOTD = "/usr/sbin/knotd"
ATTEMPTS = 5  # a free port can be taken between our check and knotd's bind: try another


class KnotNotInstalled(RuntimeError):
    pass


def free_port() -> int:
    """A loopback port free on both UDP and TCP (DNS servers listen on both): a UDP-free port
    can be some client's ephemeral TCP port."""
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


def empty_zone(zone: str) -> str:
    return f"$TTL 60\n@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n@ NS ns.{zone}.\n"


def empty_zones(zones: Iterable[str]) -> dict[str, str]:
    return {zone: empty_zone(zone) for zone in zones}


def _conf(root: Path, port: int, key_name: str, secret: str, zones: Iterable[str], udp_workers: int) -> str:
    zone_lines = "\n".join(f"  - domain: {zone}" for zone in zones)
    return f"""server:
  rundir: {root}/run
  listen: 127.0.0.1@{port}
  udp-workers: {udp_workers}
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
    zonefile-sync: -1
    journal-content: none
    acl: tsig-update
zone:
{zone_lines}
"""


def _serves(port: int, zone: str) -> bool:
    try:
        answer = dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=port, timeout=0.5)
    except (OSError, dns.exception.Timeout):
        return False
    return answer.rcode() == dns.rcode.NOERROR and bool(answer.answer)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, and kill what does not stop within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def running_knot(
    zones: Mapping[str, str], *, key_name: str = "tenantcore", udp_workers: int = 1, wait: float = 120.0
) -> Iterator[KnotServer]:
    """knotd serving `zones` ({zone: zone-file text}) on a free loopback port, accepting
    updates signed with a fresh TSIG key (hmac-sha256); stopped and cleaned up afterwards."""
    knotd = shutil.which("knotd") or (KNOTD if os.path.exists(KNOTD) else None)
    if knotd is None:
        raise KnotNotInstalled("knotd not found: install Debian's knot (./dev test and ./dev bench do, as root)")
    root = Path(tempfile.mkdtemp(prefix="tc-knot-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        for sub in ("zones", "db", "run"):
            (root / sub).mkdir()
        for zone, text in zones.items():
            (root / "zones" / f"{zone}.zone").write_text(text)
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        last = list(zones)[-1]
        log = root / "knotd.log"
        for _ in range(ATTEMPTS):
            port = free_port()
            (root / "knot.conf").write_text(_conf(root, port, key_name, secret, zones, udp_workers))
            with log.open("ab") as out:
                proc = subprocess.Popen([knotd, "-c", str(root / "knot.conf")], stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + wait
            while proc.poll() is None and not _serves(port, last):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"knotd did not serve within {wait:.0f} s: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            if proc.poll() is None:
                break
        else:
            raise RuntimeError(f"knotd did not start in {ATTEMPTS} attempts: {log.read_text()[-2000:]}")
        yield KnotServer("127.0.0.1", port, key_name, secret, "hmac-sha256", tuple(zones))
    finally:
        if proc is not None and proc.poll() is None:
            stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)
