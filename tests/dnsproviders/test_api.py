"""The DNS provider API and plan/apply over HTTP, with the safety rules as a user meets them:
connections validated before they are stored and never shown back, plans that say what
applying would do, conflicts left alone, failures that leave an honest plan, and removals
that take back only what TenantCore wrote."""

from __future__ import annotations

import httpx

from tenantcore.dnsproviders.base import ProviderError, RecordSet

from ..dnsservers import KnotServer, closed_port
from ..running import Service


def knot_body(knot: KnotServer, **override: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "knot",
        "kind": "rfc2136",
        "config": {"server": knot.host, "port": knot.port, "key_name": knot.key_name},
        "credentials": {"key_secret": knot.key_secret},
        "zone": knot.zones[9],
    }
    body.update(override)
    return body


async def test_a_connection_is_tested_before_it_is_stored_and_its_secret_never_shown(
    service: Service, api: httpx.AsyncClient, knot_server: KnotServer
) -> None:
    wrong_secret = knot_body(knot_server, credentials={"key_secret": "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="})
    refused = await api.post("/v1/dns-providers", json=wrong_secret)
    assert refused.status_code == 400 and refused.json()["detail"]["code"] == "dns_provider_auth_failed", refused.text
    down = knot_body(knot_server, config={"server": "127.0.0.1", "port": closed_port(), "key_name": "k", "timeout": 1})
    unreachable = await api.post("/v1/dns-providers", json=down)
    assert unreachable.json()["detail"]["code"] == "dns_provider_unreachable", unreachable.text
    unknown = await api.post("/v1/dns-providers", json=knot_body(knot_server, config={"server": "x", "colour": "red"}))
    assert unknown.status_code == 400 and unknown.json()["detail"]["code"] == "dns_provider_config_invalid"
    for config in (
        {"server": "x", "port": 99999, "key_name": "k"},
        {"server": "x", "key_name": "k", "algorithm": "md9"},
    ):
        bad = await api.post("/v1/dns-providers", json=knot_body(knot_server, config=config))
        assert bad.status_code == 400 and bad.json()["detail"]["code"] == "dns_provider_config_invalid", bad.text
    assert (await api.post("/v1/dns-providers", json=knot_body(knot_server, zone=None))).json()["detail"][
        "code"
    ] == "zone_required"
    elsewhere = await api.post("/v1/dns-providers", json=knot_body(knot_server, zone="not-held.example"))
    assert elsewhere.status_code == 400 and "not-held.example" in elsewhere.json()["detail"]["message"]
    assert (await api.get("/v1/dns-providers")).json()["count"] == 0  # nothing stored from the failures

    created = await api.post("/v1/dns-providers", json=knot_body(knot_server))
    assert created.status_code == 201, created.text
    provider = created.json()
    assert provider["credential_fields"] == ["key_secret"] and knot_server.key_secret not in created.text
    listed = await api.get("/v1/dns-providers")
    assert listed.json()["count"] == 1 and knot_server.key_secret not in listed.text
    assert (await api.post("/v1/dns-providers", json=knot_body(knot_server))).status_code == 409
    tested = await api.post(f"/v1/dns-providers/{provider['id']}/test", params={"zone": knot_server.zones[9]})
    assert tested.status_code == 200 and tested.json()["status"] == "ok"

    async with service.client(service.keys["live"]) as live:
        assert (await live.get(f"/v1/dns-providers/{provider['id']}")).status_code == 404  # another mode's
        sandbox = await live.post("/v1/dns-providers", json={"name": "s", "kind": "sandbox"})
        assert sandbox.json()["detail"]["code"] == "sandbox_provider_test_only"
    assert (await api.delete(f"/v1/dns-providers/{provider['id']}")).status_code == 204
    gone = await api.get(f"/v1/dns-providers/{provider['id']}")
    assert gone.status_code == 404 and gone.json()["detail"]["code"] == "dns_provider_not_found"


async def add(api: httpx.AsyncClient, tenant_id: str, name: str) -> None:
    response = await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": name})
    assert response.status_code == 201, response.text


def actions(plan: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {r["purpose"]: r["action"] for r in plan["records"]}


async def test_plan_then_apply_then_nothing_left(service: Service, api: httpx.AsyncClient, tenant_id: str) -> None:
    await add(api, tenant_id, "plan-apply.com")
    base = f"/v1/tenants/{tenant_id}/domains/plan-apply.com/dns"
    plan = (await api.get(f"{base}/plan")).json()
    assert plan["provider"]["kind"] == "sandbox" and plan["provider"]["zone"] == "plan-apply.com"
    assert set(actions(plan).values()) == {"create"} and plan["changes"] == len(plan["records"])
    applied = await api.post(f"{base}/apply")
    assert applied.status_code == 200, applied.text
    assert "plan-apply.com TXT" in applied.json()["written"]
    after = (await api.get(f"{base}/plan")).json()
    assert set(actions(after).values()) == {"unchanged"} and after["changes"] == 0


async def test_a_foreign_mx_is_kept_unless_replace_mx(service: Service, api: httpx.AsyncClient, tenant_id: str) -> None:
    store = service.runtime.sandbox.store  # type: ignore[union-attr]
    store.add_zone("has-google.com")
    store.add("has-google.com", "MX", "1 aspmx.l.google.com")
    await add(api, tenant_id, "has-google.com")
    base = f"/v1/tenants/{tenant_id}/domains/has-google.com/dns"
    mx = next(r for r in (await api.get(f"{base}/plan")).json()["records"] if r["purpose"] == "mx")
    assert mx["action"] == "conflict" and "replace_mx" in mx["reason"]
    assert (await api.post(f"{base}/apply")).status_code == 200
    assert store.values("has-google.com", "MX") == ["1 aspmx.l.google.com"]  # untouched
    assert (await api.post(f"{base}/apply", json={"replace_mx": True})).status_code == 200
    [microsoft] = store.values("has-google.com", "MX")
    assert "aspmx" not in microsoft and mx["wanted"].split()[1] in microsoft


async def test_a_provider_error_names_the_record_and_the_plan_shows_what_is_left(
    service: Service, api: httpx.AsyncClient, tenant_id: str
) -> None:
    await add(api, tenant_id, "half-way.com")
    base = f"/v1/tenants/{tenant_id}/domains/half-way.com/dns"
    await api.get(f"{base}/plan")  # opens the sandbox provider
    provider = service.runtime.dns_providers["sandbox"]
    real = provider.change

    async def refuse_autodiscover(zone: str, rrset: RecordSet, before: tuple[str, ...]) -> None:
        if rrset.name.startswith("autodiscover."):
            raise ProviderError("provider_refused", "the provider rejected the record (quota reached)", rrset.label)
        await real(zone, rrset, before)

    provider.change = refuse_autodiscover  # type: ignore[method-assign]
    try:
        failed = await api.post(f"{base}/apply")
    finally:
        provider.change = real  # type: ignore[method-assign]
    assert failed.status_code == 502
    detail = failed.json()["detail"]
    assert detail["code"] == "dns_provider_error"
    assert "autodiscover.half-way.com CNAME" in detail["message"] and "quota reached" in detail["message"]
    left = (await api.get(f"{base}/plan")).json()
    assert [r["name"] for r in left["records"] if r["action"] != "unchanged"] == ["autodiscover.half-way.com"]
    events = (await api.get("/v1/events", params={"type": "domain.dns_apply_failed"})).json()
    assert events["total"] == 1 and events["events"][0]["data"]["record"] == "autodiscover.half-way.com CNAME"


async def test_removal_takes_back_only_what_tenantcore_wrote(
    service: Service, api: httpx.AsyncClient, tenant_id: str
) -> None:
    store = service.runtime.sandbox.store  # type: ignore[union-attr]
    name = "leaving.com"
    store.add_zone(name)
    store.add(name, "TXT", "v=spf1 mx -all")
    store.add(name, "TXT", "google-site-verification=keep-me")
    await add(api, tenant_id, name)
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains/{name}/dns/apply")).status_code == 200
    assert "v=spf1 mx include:spf.protection.outlook.com -all" in store.values(name, "TXT")
    store.set(f"autodiscover.{name}", "CNAME", ["autodiscover.user-moved-it.net"])  # the user changed it since
    assert (await api.delete(f"/v1/tenants/{tenant_id}/domains/{name}")).status_code == 204
    assert sorted(store.values(name, "TXT")) == ["google-site-verification=keep-me", "v=spf1 mx -all"]
    assert store.values(name, "MX") == [] and store.values(f"_dmarc.{name}", "TXT") == []
    assert store.values(f"autodiscover.{name}", "CNAME") == ["autodiscover.user-moved-it.net"]


async def test_bulk_add_gives_one_result_per_name_and_a_failure_stops_nothing(
    api: httpx.AsyncClient, tenant_id: str
) -> None:
    names = [f"bulk{i:02d}.com" for i in range(11)] + ["not a domain", "bulk00.com", "bulk-last.com", "bulk-over.com"]
    response = await api.post(f"/v1/tenants/{tenant_id}/domains/bulk", json={"domains": names})
    assert response.status_code == 200, response.text
    body = response.json()
    results = {r["domain"]: r for r in body["results"]}
    assert body["added"] == 12 and body["failed"] == 3
    assert results["not a domain"]["error"]["code"] == "invalid_domain"
    assert [r["error"]["code"] for r in body["results"] if r["domain"] == "bulk00.com" and r["error"]] == [
        "duplicate_in_request"
    ]
    over = [
        r["domain"] for r in body["results"] if r["status"] == "failed" and r["error"]["code"] == "domain_limit_reached"
    ]
    assert over == ["bulk-over.com"]  # the tenant's 12 slots go to the first 12 valid names, in order
    listed = (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()
    assert listed["count"] == 12
    too_many = await api.post(f"/v1/tenants/{tenant_id}/domains/bulk", json={"domains": ["x.com"] * 101})
    assert too_many.status_code in (400, 422)


async def test_providers_cannot_reach_into_the_network_or_the_disk(service: Service, api: httpx.AsyncClient) -> None:
    """SSRF: a provider's server is a destination an account chooses, so it gets the same
    address rules as webhooks; values lexicon would read as files or sockets are refused."""
    rfc2136 = {"name": "x", "kind": "rfc2136", "credentials": {"key_secret": "aGVsbG8="}, "zone": "example.com"}
    async with service.client(service.keys["live"]) as live:
        inside = await live.post(
            "/v1/dns-providers", json=rfc2136 | {"config": {"server": "127.0.0.1", "key_name": "k"}}
        )
        assert inside.status_code == 400 and "not a public address" in inside.json()["detail"]["message"]
    lexicon = {"name": "y", "kind": "lexicon", "zone": "example.com"}
    # Test keys may use this machine's loopback only where the server is someone's own sandbox.
    assert service.settings.local_sandbox
    shared = Service(service.settings.data_dir.parent / "shared", public_url="https://tenantcore.example.net")
    try:
        assert not shared.settings.local_sandbox
        async with shared.client(shared.keys["test"]) as test_key:
            probe = await test_key.post(
                "/v1/dns-providers", json=rfc2136 | {"config": {"server": "127.0.0.1", "key_name": "k"}}
            )
        assert probe.status_code == 400 and "not a public address" in probe.json()["detail"]["message"]
    finally:
        shared.stop()
    refused = [
        {
            "config": {"provider_name": "powerdns", "options": {"pdns_server": "http://169.254.169.254/"}},
            "credentials": {"auth_token": "t"},
        },
        {
            "config": {"provider_name": "powerdns", "options": {"pdns_server": "/var/run/docker.sock"}},
            "credentials": {"auth_token": "t"},
        },
        {
            "config": {"provider_name": "googleclouddns"},
            "credentials": {"auth_service_account_info": "file::/etc/passwd"},
        },
        {"config": {"provider_name": "powerdns", "concurrency": 0}, "credentials": {"auth_token": "t"}},
    ]
    for body in refused:
        response = await api.post("/v1/dns-providers", json=lexicon | body)
        assert response.status_code == 400, response.text
        assert response.json()["detail"]["code"] == "dns_provider_config_invalid", response.text
    slow = rfc2136 | {"config": {"server": "192.0.2.1", "key_name": "k", "timeout": 1e9}}
    assert (await api.post("/v1/dns-providers", json=slow)).json()["detail"]["code"] == "dns_provider_config_invalid"
    sandbox = await api.post("/v1/dns-providers", json={"name": "s", "kind": "sandbox", "config": {"x": 1}})
    assert sandbox.status_code == 400
    traversal = await api.post("/v1/dns-providers", json={"name": "s", "kind": "sandbox", "zone": "../../etc"})
    assert traversal.status_code == 400 and traversal.json()["detail"]["code"] == "invalid_zone"
