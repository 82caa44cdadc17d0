"""Accounts never see each other; test keys see only the sandbox, live keys only live tenants."""

from __future__ import annotations

D = "mail.acme-corp.com"


def endpoints(tenant_id: str) -> list[tuple[str, str, dict | None]]:
    base = f"/v1/tenants/{tenant_id}"
    return [
        ("GET", base, None),
        ("DELETE", base, None),
        ("POST", f"{base}/sync", None),
        ("GET", f"{base}/domains", None),
        ("POST", f"{base}/domains", {"domain": "new.acme-corp.com"}),
        ("POST", f"{base}/domains/{D}/verify", None),
        ("POST", f"{base}/domains/{D}/enable-dkim", None),
        ("GET", f"{base}/domains/{D}/dkim-status", None),
        ("GET", f"{base}/domains/{D}/dns", None),
        ("POST", f"{base}/domains/{D}/dns-check", None),
        ("GET", f"{base}/domains/{D}/health", None),
        ("GET", f"{base}/domains/{D}/dns/export", None),
        ("POST", f"{base}/domains/{D}/dns/publish", None),
        ("DELETE", f"{base}/domains/{D}", None),
    ]


async def test_another_account_gets_tenant_not_found_everywhere(api, service, tenant_id):
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    other = await service.new_account()
    async with service.client(other["test"]) as theirs:
        assert (await theirs.get("/v1/tenants")).json() == {"tenants": [], "count": 0, "has_more": False}
        for method, path, body in endpoints(tenant_id):
            response = await theirs.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["detail"]["code"] == "tenant_not_found", (method, path)
    # Nothing of ours moved.
    listing = (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()
    assert [d["domain_name"] for d in listing["domains"]] == [D]


async def test_live_keys_do_not_see_sandbox_tenants(service, tenant_id):
    async with service.client(service.keys["live"]) as live:
        assert (await live.get("/v1/tenants")).json()["count"] == 0
        for method, path, body in endpoints(tenant_id)[:4]:
            response = await live.request(method, path, json=body)
            assert response.status_code == 404 and response.json()["detail"]["code"] == "tenant_not_found"


async def test_the_same_microsoft_tenant_cannot_be_connected_twice(api, service, tenant_id):
    again = await api.post("/v1/tenants", json={"tenant_id": tenant_id})
    assert again.status_code == 409 and again.json()["detail"]["code"] == "tenant_already_connected"
    other = await service.new_account()
    async with service.client(other["test"]) as theirs:
        taken = await theirs.post("/v1/tenants", json={"tenant_id": tenant_id})
    assert taken.status_code == 409 and taken.json()["detail"]["code"] == "tenant_connected_to_another_account"
