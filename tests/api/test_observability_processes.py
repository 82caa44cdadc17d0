"""`tenantcore serve` as a real process: JSON log lines carrying the request id, and
prometheus-client's multiprocess mode (counters kept in PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tenantcore.logs import REQUEST_ID, JsonFormatter

from ..chaos.processes import Serve


def sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'tenantcore.db'}"


def stopped(serve: Serve) -> list[str]:
    """Stop the server and return its whole output (stdout and stderr), once it has ended."""
    serve.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("Finished server process" in line for line in serve.output):
        time.sleep(0.05)
    return [line for line in serve.output if line.strip()]


async def test_json_logs_carry_the_request_id(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "data", sqlite(tmp_path), log_format="json").start()
    try:
        serve.wait_ready()
        key = serve.find(r'"test_key": "(tc_test_[0-9a-f]{48})"')
        async with httpx.AsyncClient(base_url=serve.url, headers={"Authorization": f"Bearer {key}"}) as api:
            # Connecting a sandbox tenant calls (emulated) Microsoft, and every call is logged.
            created = await api.post("/v1/tenants", json={"tenant_name": "Acme"})
            assert created.status_code == 201, created.text
            chosen = await api.get("/v1/no-such-thing", headers={"X-Request-ID": "caller-chosen-42"})
            assert chosen.headers["x-request-id"] == "caller-chosen-42"
    finally:
        lines = stopped(serve)

    entries = [json.loads(line) for line in lines]  # every line of the output is one JSON object
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    request_id = created.headers["x-request-id"]
    during = [e for e in entries if e.get("request_id") == request_id]
    assert any(e["logger"] == "tenantcore.microsoft" and "-> 20" in e["message"] for e in during), entries
    # uvicorn's own lines are JSON too, and carry no request id (they are not inside one).
    started = [e for e in entries if e["logger"].startswith("uvicorn") and "Application startup" in e["message"]]
    assert started and "request_id" not in started[0]
    # The API key appears only on the start-up line that hands it over, never in a log line.
    assert [e["message"] for e in entries if key in json.dumps(e)] == [
        "First start: an account was created. Its API keys are shown ONCE; store them now"
    ]


def test_json_formatter_writes_the_exception() -> None:
    record = None
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("tenantcore.api", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    token = REQUEST_ID.set("req-1")
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert entry["message"] == "failed here" and entry["level"] == "ERROR" and entry["request_id"] == "req-1"
    assert "ValueError: boom" in entry["exception"] and "Traceback" in entry["exception"]
    assert "\n" not in JsonFormatter().format(record)  # one line, whatever the traceback


async def test_multiprocess_mode_counts_in_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_99999.db").write_bytes(b"left over from an earlier run")
    serve = Serve(tmp_path / "data", sqlite(tmp_path))
    serve.env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    serve.start()
    try:
        serve.wait_ready()
        async with httpx.AsyncClient(base_url=serve.url) as client:
            for _ in range(3):
                await client.get("/openapi.json")
            text = (await client.get("/metrics")).text
    finally:
        serve.stop()
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    openapi = frozenset({"method": "GET", "route": "/openapi.json", "status": "200"}.items())
    assert samples[("tenantcore_http_requests_total", openapi)] >= 3
    files = {path.name for path in directory.iterdir()}
    assert "counter_99999.db" not in files  # wiped at start: an earlier run's counts are not added in
    assert any(name.startswith("counter_") for name in files)
    assert any(name.startswith("histogram_") for name in files)
