"""Restart, key rotation, the consent flow, disconnecting, and the docs."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import httpx

from ..running import Service

D = "mail.acme-corp.com"


async def test_restart_with_the_same_data_dir_keeps_everything(tmp_path):
    first = Service(tmp_path / "data")
    key = first.keys["test"]
    async with first.client(key) as api:
        tenant = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
        await api.post(f"/v1/tenants/{tenant}/domains", json={"domain": D})
        await api.post(f"/v1/tenants/{tenant}/domains/{D}/dns/publish")
        before = (await api.get(f"/v1/tenants/{tenant}/domains/{D}/dns")).json()
    first.stop()

    second = Service(tmp_path / "data")
    try:
        assert second.keys == {}  # no new account on a second start
        async with second.client(key) as api:
            assert (await api.get(f"/v1/tenants/{tenant}/domains/{D}/dns")).json() == before
            # The sandbox's Microsoft and DNS came back too: verification works after the restart.
            verified = await api.post(f"/v1/tenants/{tenant}/domains/{D}/verify")
            assert verified.status_code == 200, verified.text
    finally:
        second.stop()


async def test_rotating_a_key_stops_the_old_one_at_once(service, api):
    rotated = await api.post("/v1/api-key/rotate")
    assert rotated.status_code == 200
    new_key = rotated.json()["api_key"]
    assert new_key.startswith("tc_test_") and len(new_key) == 56
    old = await api.get("/v1/tenants")
    assert old.status_code == 401 and old.json()["detail"]["code"] == "invalid_api_key"
    async with service.client(new_key) as fresh:
        assert (await fresh.get("/v1/tenants")).status_code == 200
    stored = (service.settings.data_dir / "tenantcore.db").read_bytes()
    assert new_key.encode() not in stored  # only an HMAC is kept


async def test_admin_consent_flow_in_the_sandbox(api, service):
    link = (await api.get("/v1/tenants/connect")).json()
    url = urlparse(link["consent_url"])
    assert url.path == "/organizations/adminconsent"
    params = parse_qs(url.query)
    assert params["redirect_uri"] == [f"{service.settings.base_url}/v1/tenants/callback"]
    async with httpx.AsyncClient() as browser:  # the admin's browser: no API key
        consent = await browser.get(link["consent_url"])
        assert consent.status_code == 302
        back = urlparse(consent.headers["location"])
        callback = await browser.get(f"{service.url}/v1/tenants/callback?{back.query}")
        assert callback.status_code == 200, callback.text
        tampered = await browser.get(
            f"{service.url}/v1/tenants/callback",
            params={"state": "x.y", "tenant": callback.json()["tenant_id"], "admin_consent": "True"},
        )
        assert tampered.status_code == 400 and tampered.json()["detail"]["code"] == "invalid_consent_state"
    tenants = (await api.get("/v1/tenants")).json()
    assert [t["tenant_id"] for t in tenants["tenants"]] == [callback.json()["tenant_id"]]


async def test_disconnect_keeps_the_domains_in_microsoft(api, service, tenant_id):
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    assert (await api.delete(f"/v1/tenants/{tenant_id}")).status_code == 204
    assert (await api.get(f"/v1/tenants/{tenant_id}")).status_code == 404
    assert D in service.runtime.sandbox.state.tenants[tenant_id].domains


async def test_openapi_and_docs(service):
    async with httpx.AsyncClient(base_url=service.url) as client:
        spec = (await client.get("/openapi.json")).json()
        paths = spec["paths"]
        for path in [
            "/v1/tenants/{tenant_id}/domains",
            "/v1/tenants/{tenant_id}/domains/{domain_name}/verify",
            "/v1/tenants/{tenant_id}/domains/{domain_name}/enable-dkim",
            "/v1/tenants/{tenant_id}/domains/{domain_name}/dkim-status",
            "/v1/tenants/{tenant_id}/domains/{domain_name}/dns",
        ]:
            assert path in paths
        schemas = spec["components"]["schemas"]
        assert schemas["AddDomain"]["examples"] == [{"domain": "mail.acmecorp.com"}]
        assert schemas["DomainList"]["examples"][0]["domains"][0]["dkim_status"] == "healthy"
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        # Everything the page loads comes from this server: it works offline.
        assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert assets and all(a.startswith("/static/") for a in assets), assets
        for asset in assets:
            assert (await client.get(asset)).status_code == 200, asset
