"""The service's live checker takes its resolver settings from TENANTCORE_DNS_*."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from tenantcore.config import Settings
from tenantcore.dnshealth import Severity
from tenantcore.runtime import Runtime


async def test_a_dead_nameserver_costs_what_the_dns_settings_say(blackhole, monkeypatch, tmp_path):
    monkeypatch.setenv("TENANTCORE_DNS_NAMESERVERS", f'["{blackhole}"]')
    monkeypatch.setenv("TENANTCORE_DNS_TIMEOUT", "0.1")
    monkeypatch.setenv("TENANTCORE_DNS_TRIES", "2")
    runtime = Runtime(Settings(data_dir=tmp_path, sandbox=False))
    try:
        started = time.monotonic()
        report = await runtime.env("live").checker.check("acme-corp.com")
        elapsed = time.monotonic() - started
    finally:
        await runtime.close()
    assert report.grade is Severity.UNKNOWN  # a timeout is never "missing"
    assert elapsed < 2.0  # 0.1 s + 0.2 s per query; the defaults (2 s, 3 tries) take 12 s and more


@pytest.mark.parametrize(("name", "value"), [("TENANTCORE_DNS_TIMEOUT", "0"), ("TENANTCORE_DNS_TRIES", "0")])
def test_nonsense_dns_settings_are_refused(monkeypatch, tmp_path, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path)
