"""`tenantcore serve --workers N`: several processes on one port, one database; what one
process writes, every other sees at its next request (no per-process state to go stale)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import httpx

from .chaos.processes import TENANTCORE, Process, free_port


def test_workers_refused_beside_the_sandbox(tmp_path: Path) -> None:
    done = subprocess.run(
        [*TENANTCORE, "serve", "--workers", "2", "--data-dir", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "TENANTCORE_SANDBOX=false" in done.stderr.replace("\n", " ").replace("│", "")


async def test_a_rotated_key_stops_in_every_process(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    serve = Process(
        ["serve", "--workers", "2"],
        {
            "TENANTCORE_DATA_DIR": str(tmp_path / "data"),
            "TENANTCORE_DATABASE_URL": database_url,
            "TENANTCORE_PORT": str(port),
            "TENANTCORE_SANDBOX": "false",
            "TENANTCORE_AUTH_FAILURE_LIMIT": "1000",  # the stale key fails 48 times on purpose
        },
    ).start()
    try:
        key = serve.find(r"live: (tc_live_\w+)", within=60)
        for _ in range(600):  # both processes up: each says so
            if sum("Application startup complete" in line for line in serve.output) == 2:
                break
            await asyncio.sleep(0.1)
        assert sum("Started server process" in line for line in serve.output) == 2, "".join(serve.output)
        base = f"http://127.0.0.1:{port}"
        path = "/v1/tenants/00000000-0000-0000-0000-000000000001/domains"

        async def fresh(method: str, url: str, key: str) -> httpx.Response:
            # A new connection each time: the kernel spreads them over both processes.
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
                return await client.request(method, url)

        for _ in range(6):
            assert (await fresh("GET", path, key)).json()["detail"]["code"] == "tenant_not_found"
            rotated = await fresh("POST", "/v1/api-key/rotate", key)
            assert rotated.status_code == 200, rotated.text
            stale = await asyncio.gather(*(fresh("GET", path, key) for _ in range(8)))
            assert {r.status_code for r in stale} == {401}
            key = rotated.json()["api_key"]
    finally:
        serve.stop()
