"""The API's reads under 64 concurrent connections on loopback, side by side with a bare
Starlette endpoint returning the domain list's JSON: the framework's ceiling.

    ./dev bench api_bench [--seconds 10] [--connections 64] [--workers N] [--reads all|domains]

The reads: the domain list (12 domains), one tenant, the tenants list, one domain's health,
and the events list. The data is made through the sandbox; the reads are then served by
`tenantcore serve` restarted without it (`--workers N` processes, uvloop + httptools), as a
production API process runs. (dkim-status is not a database read: it asks Microsoft.) Bare
Starlette runs one uvicorn process the same way. wrk (1 thread) loads each URL in turn.
Set TENANTCORE_DATABASE_URL to bench on PostgreSQL (a fresh database: see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BARE_APP = """
import json, os
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
BODY = open(os.environ["BENCH_BODY"], "rb").read()
async def domains(request):
    return Response(BODY, media_type="application/json")
app = Starlette(routes=[Route("/v1/tenants/{tenant_id}/domains", domains)])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=1)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def call(url: str, key: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:  # a file, not a pipe nobody reads (a full pipe stalls the server)
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)


def wrk(url: str, key: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {key}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(label: str) -> float:
        value, unit = re.search(rf"\s{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct("50%"), "p99": pct("99%"), "non2xx": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="tenantcore serve --workers N")
    parser.add_argument("--reads", choices=("all", "domains"), default="all")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: run `./dev bench api_bench` (it installs Debian's wrk) or apt-get install wrk")
    venv_bin = Path(sys.executable).parent
    work = Path(tempfile.mkdtemp(prefix="tc-apibench-"))
    port = free_port()
    # The rate limiter on (its cost is part of every request) but never refusing: one key at
    # full speed would otherwise measure 429s. TENANTCORE_RATE_LIMIT=0 in the environment: off.
    unlimited = {"TENANTCORE_RATE_LIMIT": "1000000000", "TENANTCORE_RATE_LIMIT_BURST": "1000000000"}
    env = {**unlimited, **os.environ, "TENANTCORE_DATA_DIR": str(work / "data"), "TENANTCORE_PORT": str(port)}
    log = work / "serve.log"
    # The data is made through the sandbox (one process); with --workers, the reads are then
    # served by N processes started without it (the sandbox lives in one process).
    server = start([str(venv_bin / "tenantcore"), "serve"], env, log)
    try:
        key = ""
        deadline = time.monotonic() + 60
        while not key and time.monotonic() < deadline:
            found = re.search(r"test: (tc_test_\w+)", log.read_text())
            key = found.group(1) if found else ""
            time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/openapi.json")
        tenant = call(f"{base}/v1/tenants", key, "POST", {"tenant_name": "Bench"})["tenant_id"]
        for i in range(12):
            name = f"d{i:02d}-bench.com"
            call(f"{base}/v1/tenants/{tenant}/domains", key, "POST", {"domain": name})
            call(f"{base}/v1/tenants/{tenant}/domains/{name}/dns/publish", key, "POST")
        url = f"{base}/v1/tenants/{tenant}/domains"
        listing = call(url, key)
        assert listing["count"] == 12
        body = work / "body.json"
        body.write_bytes(json.dumps(listing).encode())
        size = len(body.read_bytes())
        one = f"{base}/v1/tenants/{tenant}/domains/d00-bench.com"
        reads = {
            "domain list (12)": url,
            "tenant": f"{base}/v1/tenants/{tenant}",
            "tenants list": f"{base}/v1/tenants",
            "domain health": f"{one}/health",
            "events list": f"{base}/v1/events",
        }
        if args.reads == "domains":
            reads = {"domain list (12)": url}
        # The reads are served without the sandbox, as a production API process is: the
        # sandbox's emulator and DNS server are threads of the serving process, and while the
        # reconciler verifies the 12 new domains through them they take the GIL (in the first
        # runs, a quarter of the rate and most of the p99).
        stop(server)
        command = [str(venv_bin / "tenantcore"), "serve"]
        if args.workers > 1:
            command += ["--workers", str(args.workers)]
        server = start(command, {**env, "TENANTCORE_SANDBOX": "false"}, log)
        while log.read_text().count("Application startup complete") < args.workers:
            time.sleep(0.2)
        ours = {}
        for name, target in reads.items():
            call(target, key)  # answers 200
            wrk(target, key, 2, args.connections)  # warm-up
            ours[name] = wrk(target, key, args.seconds, args.connections)
    finally:
        stop(server)

    bare_port = free_port()
    (work / "bare.py").write_text(BARE_APP)
    bare = subprocess.Popen(
        [
            str(venv_bin / "uvicorn"),
            "bare:app",
            "--port",
            str(bare_port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=work,
        env={**os.environ, "BENCH_BODY": str(body)},
    )
    try:
        bare_url = f"http://127.0.0.1:{bare_port}/v1/tenants/{tenant}/domains"
        wait_up(bare_url)
        wrk(bare_url, key, 2, args.connections)
        ceiling = wrk(bare_url, key, args.seconds, args.connections)
    finally:
        bare.send_signal(signal.SIGINT)
        bare.wait(timeout=20)
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)

    database = "PostgreSQL" if "postgresql" in os.environ.get("TENANTCORE_DATABASE_URL", "") else "SQLite"
    print(
        f"\nTenantCore on {database}, {args.workers} process(es); {args.connections} connections, "
        f"{args.seconds} s per read; the domain list is {size} B\n"
    )
    print(f"{'':34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    rows = [(f"TenantCore: {name}", r) for name, r in ours.items()] + [("bare Starlette, same JSON", ceiling)]
    for name, r in rows:
        print(f"{name:34}{r['rps']:>10,.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['non2xx']:>10}")
    share = ours["domain list (12)"]["rps"] / ceiling["rps"]
    print(f"\nThe domain list serves {share:.0%} of the bare framework's rate")


if __name__ == "__main__":
    main()
