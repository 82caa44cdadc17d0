"""schemathesis with every check (`st run --checks all`) against the running service's
/openapi.json: no 5xx, every status, header and body as documented, every 4xx with a
`detail.code` (tests/fuzz/hooks.py), 405 with the right `Allow` for undocumented methods.

It runs the sandbox (test key) with a real tenant, domain, DNS provider, webhook endpoint and
delivery, so most requests reach past authentication and lookups. Bounded and deterministic:
MAX_EXAMPLES per operation and phase, derandomized, one worker; about a minute on two cores."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..running import Service

MAX_EXAMPLES = 25
ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "mail.acmecorp.com"  # the spec's example domain, added to the tenant below
SPARE_DOMAIN = "spare.acmecorp.com"  # what DELETE …/domains/{domain_name} deletes


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The service, its limits out of the fuzzer's way: ~2,000 requests in a minute on one key
    would otherwise be mostly 429s (documented, but testing nothing past the limiter)."""
    running = Service(
        tmp_path / "data", domain_limit=12, rate_limit=100_000, rate_limit_burst=100_000, auth_failure_limit=100_000
    )
    yield running
    running.stop()


async def _resources(service: Service) -> dict[str, str]:
    """What the fuzzer's identifiers point at: created the way a user would."""
    async with service.client(service.keys["test"]) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Fuzz"})).json()["tenant_id"]
        spare_tenant = (await api.post("/v1/tenants", json={"tenant_name": "Spare"})).json()["tenant_id"]
        for name in (DOMAIN, SPARE_DOMAIN):
            added = await api.post(f"/v1/tenants/{tenant}/domains", json={"domain": name})
            assert added.status_code == 201, added.text
        provider = await api.post("/v1/dns-providers", json={"name": "sandbox", "kind": "sandbox"})
        assert provider.status_code == 201, provider.text
        hook = await api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        assert hook.status_code == 201, hook.text
        endpoint = hook.json()["id"]
        assert (await api.post(f"/v1/webhooks/{endpoint}/test")).status_code == 202
        deliveries = (await api.get(f"/v1/webhooks/{endpoint}/deliveries")).json()["deliveries"]
        return {
            "tenant": tenant,
            "spare_tenant": spare_tenant,
            "provider": provider.json()["id"],
            "endpoint": endpoint,
            "delivery": deliveries[0]["id"],
        }


def _config(ids: dict[str, str]) -> str:
    # Real identifiers most of the time (so the fuzzer gets past 404), generated ones otherwise;
    # the deletes get spares of their own, or every later operation would only see 404s.
    return f"""
[dictionaries.tenant]
values = ["{ids["tenant"]}"]
[dictionaries.domain]
values = ["{DOMAIN}"]
[dictionaries.provider]
values = ["{ids["provider"]}"]
[dictionaries.endpoint]
values = ["{ids["endpoint"]}"]
[dictionaries.delivery]
values = ["{ids["delivery"]}"]

[parameters]
"path.tenant_id" = {{ dictionary = "tenant", probability = 0.8 }}
"path.domain_name" = {{ dictionary = "domain", probability = 0.7 }}
"path.provider_id" = {{ dictionary = "provider", probability = 0.8 }}
"path.endpoint_id" = {{ dictionary = "endpoint", probability = 0.8 }}
"path.delivery_id" = {{ dictionary = "delivery", probability = 0.8 }}

[[operations]]
include-path = "/v1/tenants/{{tenant_id}}"
include-method = "DELETE"
parameters = {{ "path.tenant_id" = "{ids["spare_tenant"]}" }}

[[operations]]
include-path = "/v1/tenants/{{tenant_id}}/domains/{{domain_name}}"
include-method = "DELETE"
parameters = {{ "path.domain_name" = "{SPARE_DOMAIN}" }}
"""


def test_the_api_answers_as_its_openapi_document_says(service: Service, tmp_path: Path) -> None:
    ids = asyncio.run(_resources(service))
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(ids))
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        f"{service.url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {service.keys['test']}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--no-color",
        # Rotating would revoke the key the run uses (tests/api/test_quickstart.py covers it).
        "--exclude-path",
        "/v1/api-key/rotate",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    summary = run.stdout[-30000:] + run.stderr[-3000:]
    assert run.returncode == 0, f"schemathesis failed after {took:.0f} s:\n{summary}"
    assert " passed" in run.stdout and "failures" not in run.stdout.rsplit("SUMMARY", 1)[-1], summary
