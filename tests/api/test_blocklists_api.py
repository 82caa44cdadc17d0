"""Blocklists through the service: test mode asks the lists TENANTCORE_SANDBOX_BLOCKLISTS names
(here a fake DBL served by Knot, delegated from the sandbox DNS); the domain list and the health
endpoint show the verdict beside the spec's fields, and the events API has the transitions."""

from __future__ import annotations

import pytest

from ..dnshealth.test_blocklists import _set_listing, blocklist_knot  # noqa: F401 (a fixture)
from ..running import Service

D = "mail.acme-corp.com"


@pytest.fixture
def service(tmp_path, blocklist_knot):  # noqa: F811
    running = Service(
        tmp_path / "data",
        worker=False,
        sandbox_blocklists=["spamhaus:dbl.test-bl"],
        sandbox_dns_delegations={"dbl.test-bl": blocklist_knot.address},
    )
    yield running
    running.stop()


async def test_listing_shows_in_list_health_and_events(api, tenant_id, blocklist_knot):  # noqa: F811
    base = f"/v1/tenants/{tenant_id}/domains"
    assert (await api.post(base, json={"domain": D})).status_code in (200, 201)
    await api.post(f"{base}/{D}/dns-check")
    [item] = (await api.get(base)).json()["domains"]
    assert item["blocklist_status"] == "clean"
    assert {"spf_status", "dkim_status", "dmarc_status", "mx_status", "last_checked"} <= set(item)

    _set_listing(blocklist_knot, "dbl.test-bl", D, "127.0.1.2")
    try:
        await api.post(f"{base}/{D}/dns-check")
        health = (await api.get(f"{base}/{D}/health")).json()
        assert health["blocklist_status"] == "listed" and health["grade"] == "error"
        [entry] = health["blocklists"]
        assert entry["blocklist"] == "dbl.test-bl" and entry["codes"] == ["127.0.1.2"]
        assert any(f["code"] == "blocklisted" for f in health["findings"])
        assert (await api.get(base)).json()["domains"][0]["blocklist_status"] == "listed"
        events = (await api.get("/v1/events", params={"type": "domain.blocklisted"})).json()["events"]
        assert [e["domain_name"] for e in events] == [D]
        assert events[0]["data"]["blocklist"] == "dbl.test-bl"
    finally:
        _set_listing(blocklist_knot, "dbl.test-bl", D, None)

    await api.post(f"{base}/{D}/dns-check")
    assert (await api.get(base)).json()["domains"][0]["blocklist_status"] == "clean"
    events = (await api.get("/v1/events", params={"type": "domain.delisted"})).json()["events"]
    assert [e["domain_name"] for e in events] == [D]
