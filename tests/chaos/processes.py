"""`tenantcore serve` and `tenantcore worker` as real processes, to be killed with SIGKILL."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

TENANTCORE = [str(Path(sys.executable).parent / "tenantcore")]  # the installed command


def free_ports(count: int) -> list[int]:
    """`count` different loopback ports, each free for TCP and UDP (a port just released can be
    handed out again by the next ask, so they are picked together)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def free_port() -> int:
    """A loopback port free for TCP and UDP (the sandbox DNS server takes both)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class Process:
    """One TenantCore process; its output is kept (and searched for the first keys)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args, self.env = args, env
        self.output: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Process:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            TENANTCORE + self.args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def find(self, pattern: str, within: float = 20.0) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in list(self.output):
                if found := re.search(pattern, line):
                    return found.group(1)
            assert self.proc is not None and self.proc.poll() is None, "".join(self.output)
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in the output:\n{''.join(self.output)}")

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Serve(Process):
    def __init__(self, data_dir: Path, database_url: str, **settings: object) -> None:
        self.port, self.emulator_port, dns_port = free_ports(3)
        self.control = {"X-Emulator-Token": secrets.token_urlsafe(16)}  # what its emulator's /_emulator takes
        env = {
            "TENANTCORE_SANDBOX_EMULATOR_TOKEN": self.control["X-Emulator-Token"],
            "TENANTCORE_DATA_DIR": str(data_dir),
            "TENANTCORE_DATABASE_URL": database_url,
            "TENANTCORE_PORT": str(self.port),
            "TENANTCORE_SANDBOX_EMULATOR_PORT": str(self.emulator_port),
            "TENANTCORE_SANDBOX_DNS_PORT": str(dns_port),
        } | {f"TENANTCORE_{k.upper()}": str(v) for k, v in settings.items()}
        super().__init__(["serve"], env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.emulator = f"http://127.0.0.1:{self.emulator_port}"

    def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc is not None and self.proc.poll() is None, "".join(self.output)
            time.sleep(0.1)
        raise AssertionError(f"serve did not start:\n{''.join(self.output)}")
