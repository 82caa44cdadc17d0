"""Every error code of the spec and of TenantCore's surface, and bad input of every kind."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tenantcore.emulator import Fault

D = "mail.acme-corp.com"
UNKNOWN = "11111111-2222-3333-4444-555555555555"


def code(response) -> str:
    return response.json()["detail"]["code"]


async def test_auth_codes(service):
    async with service.client(None) as anonymous:
        assert code(await anonymous.get("/v1/tenants")) == "invalid_auth_header"
        for header, expected in [
            ("Basic abc", "invalid_auth_header"),
            ("Bearer", "missing_api_key"),
            ("Bearer tc_live_" + "0" * 48, "invalid_api_key"),
            ("Bearer tc_live_short", "invalid_api_key"),
            ("Bearer sk_test_" + "a" * 48, "invalid_api_key"),
        ]:
            response = await anonymous.get("/v1/tenants", headers={"Authorization": header})
            assert response.status_code == 401, header
            assert code(response) == expected, header
        # The scheme is case-insensitive (RFC 9110 11.1), on FastAPI's routes and the fast list alike.
        key = service.keys["test"]
        for scheme in ("bearer", "BEARER"):
            headers = {"Authorization": f"{scheme} {key}"}
            assert (await anonymous.get("/v1/tenants", headers=headers)).status_code == 200, scheme
            listed = await anonymous.get(f"/v1/tenants/{UNKNOWN}/domains", headers=headers)
            assert code(listed) == "tenant_not_found", scheme  # past authentication


async def test_spec_error_codes(api, service, tenant_id):
    assert code(await api.get(f"/v1/tenants/{UNKNOWN}/domains")) == "tenant_not_found"
    assert code(await api.post(f"/v1/tenants/{UNKNOWN}/domains", json={"domain": D})) == "tenant_not_found"
    for bad in [
        "not a domain",
        "bob@acme-corp.com",
        "https://acme-corp.com",
        "acme.onmicrosoft.com",
        "*.acme.com",
        "192.0.2.1",
        "",
    ]:
        response = await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": bad})
        assert response.status_code == 400 and code(response) == "invalid_domain", bad
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    base = f"/v1/tenants/{tenant_id}/domains"
    assert code(await api.post(f"{base}/{D}/verify")) == "verification_failed"
    assert code(await api.post(f"{base}/other-acme.com/verify")) == "domain_not_found"
    assert code(await api.post(f"{base}/other-acme.com/enable-dkim")) == "domain_not_found"
    assert code(await api.get(f"{base}/other-acme.com/dns")) == "domain_not_found"
    assert code(await api.get(f"{base}/other-acme.com/dkim-status")) == "domain_not_found"
    assert code(await api.post(f"{base}/{D}/enable-dkim")) == "dkim_not_ready"  # not verified yet
    assert code(await api.get(f"/v1/tenants/{UNKNOWN}/domains/{D}/dns")) == "tenant_not_found"
    duplicate = await api.post(base, json={"domain": D.upper() + "."})
    assert duplicate.status_code == 409 and code(duplicate) == "domain_already_exists"


async def test_domain_limit(tmp_path):
    from ..running import Service

    small = Service(tmp_path / "small", domain_limit=2)
    try:
        async with small.client(small.keys["test"]) as api:
            tenant = (await api.post("/v1/tenants", json={"tenant_name": "Small"})).json()["tenant_id"]
            for i in range(2):
                assert (
                    await api.post(f"/v1/tenants/{tenant}/domains", json={"domain": f"d{i}.acme.com"})
                ).status_code == 201
            over = await api.post(f"/v1/tenants/{tenant}/domains", json={"domain": "d2.acme.com"})
            assert over.status_code == 400 and code(over) == "domain_limit_reached"
            assert over.json()["detail"]["message"] == "Tenant already has 2 domains."
    finally:
        small.stop()


async def test_tenant_limit_is_402_even_under_concurrent_connects(tmp_path):
    from ..running import Service

    small = Service(tmp_path / "t", tenant_limit=2)
    try:
        async with small.client(small.keys["test"]) as api:
            results = await asyncio.gather(*(api.post("/v1/tenants", json={"tenant_name": f"T{i}"}) for i in range(6)))
            assert sorted(r.status_code for r in results) == [201, 201, 402, 402, 402, 402]
            assert {code(r) for r in results if r.status_code == 402} == {"tenant_limit_reached"}
            assert (await api.get("/v1/tenants")).json()["count"] == 2
    finally:
        small.stop()


async def test_twenty_concurrent_adds_on_a_tenant_with_eleven_domains(api, tenant_id):
    base = f"/v1/tenants/{tenant_id}/domains"
    for i in range(11):
        assert (await api.post(base, json={"domain": f"d{i:02d}.acme-corp.com"})).status_code == 201
    results = await asyncio.gather(*(api.post(base, json={"domain": f"race{i:02d}.acme-corp.com"}) for i in range(20)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [400] * 19, [r.text for r in results if r.status_code not in (201, 400)]
    assert {code(r) for r in results if r.status_code == 400} == {"domain_limit_reached"}
    listing = (await api.get(base)).json()
    assert listing["count"] == 12


async def test_bad_input_gets_a_4xx_with_a_code(api, tenant_id):
    base = f"/v1/tenants/{tenant_id}/domains"
    cases = [
        (api.post(base, content=b"{not json", headers={"content-type": "application/json"}), 400, "invalid_json"),
        (api.post(base, json={"domain": 5}), 400, "invalid_request"),
        (api.post(base, json={"domains": "x.com"}), 400, "invalid_request"),
        (api.post(base, json={"domain": "a.com", "extra": 1}), 400, "invalid_request"),
        (api.post(base, json=["a.com"]), 400, "invalid_request"),
        (
            api.post(
                base, content=b'{"domain": "' + b"a" * 70000 + b'.com"}', headers={"content-type": "application/json"}
            ),
            413,
            "payload_too_large",
        ),
        (api.get("/v1/tenants/not-a-guid/domains"), 400, "invalid_tenant_id"),
        (api.get("/v1/tenants/not-a-guid"), 400, "invalid_tenant_id"),
        (api.put(base), 405, "method_not_allowed"),
        (api.get("/v1/nothing"), 404, "not_found"),
        (api.post("/v1/tenants", json={"tenant_name": ""}), 400, "invalid_request"),
        (api.post("/v1/tenants", json={"tenant_name": "   "}), 400, "invalid_request"),
        (api.post("/v1/tenants", json={"tenant_name": "Acme\n$ORIGIN evil.com."}), 400, "invalid_request"),
        (api.post("/v1/tenants", json={"tenant_name": "Acme\tCorp"}), 400, "invalid_request"),
        (api.post("/v1/tenants", json={"tenant_name": "Acme\u2028Corp"}), 400, "invalid_request"),
        (api.post("/v1/tenants", json={"tenant_name": "Acme \u202eproC"}), 400, "invalid_request"),
        # Booleans are JSON's true and false, not strings that look like them.
        (api.post(f"{base}/{D}/dns/apply", json={"replace_mx": "true"}), 400, "invalid_request"),
        (api.put(f"{base}/{D}/dns/provider", json={"auto_repair": "yes"}), 400, "invalid_request"),
        (api.post("/v1/webhooks", json={"url": "https://example.com/h", "enabled": "on"}), 400, "invalid_request"),
        (api.get(f"{base}/{'a' * 300}.com/dns"), 400, "invalid_domain"),
        (api.get(f"{base}/bad..name/dns"), 400, "invalid_domain"),
    ]
    for request, status, expected in cases:
        response = await request
        assert response.status_code == status, (expected, response.text)
        assert code(response) == expected
        assert response.headers["x-request-id"]


async def test_request_ids(api):
    mine = await api.get("/v1/tenants", headers={"X-Request-ID": "trace-123"})
    assert mine.headers["x-request-id"] == "trace-123"
    fresh = await api.get("/v1/tenants", headers={"X-Request-ID": "bad id with spaces"})
    assert fresh.headers["x-request-id"] != "bad id with spaces" and len(fresh.headers["x-request-id"]) == 32


async def test_microsoft_failures_map_to_5xx_and_leave_state_consistent(api, service, tenant_id):
    state = service.runtime.sandbox.state
    state.inject(Fault("unavailable", "graph", "/domains", count=-1, retry_after=0))
    failed = await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    assert failed.status_code == 503 and code(failed) == "microsoft_unavailable"
    assert failed.headers["retry-after"]
    state.faults.clear()
    assert (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()["count"] == 0  # the slot was released
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201

    state.inject(Fault("throttle", "graph", "/verify", count=-1, retry_after=600))
    throttled = await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/verify")
    assert throttled.status_code == 503 and code(throttled) == "microsoft_throttled"
    assert throttled.headers["retry-after"] == "600"


async def test_a_domain_microsoft_already_has_is_adopted(api, service, tenant_id):
    """As after a crash between Microsoft's answer and our write: adding again adopts it."""
    state = service.runtime.sandbox.state
    emulated = state.tenants[tenant_id]
    emulated.domains[D] = state.new_domain(D)
    added = await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    assert added.status_code == 201
    code_in_ms = emulated.domains[D].verification_code
    assert added.json()["verification_dns_records"][0]["text"] == f"MS={code_in_ms}"


async def test_sync_reconciles_with_microsoft(api, service, tenant_id):
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    state = service.runtime.sandbox.state
    emulated = state.tenants[tenant_id]
    emulated.domains["elsewhere.acme-corp.com"] = state.new_domain("elsewhere.acme-corp.com")
    del emulated.domains[D]
    result = (await api.post(f"/v1/tenants/{tenant_id}/sync")).json()
    assert result["added"] == ["elsewhere.acme-corp.com"] and result["removed"] == [D]
    names = [d["domain_name"] for d in (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()["domains"]]
    assert names == ["elsewhere.acme-corp.com"]


async def test_delete_domain_in_microsoft_too(api, service, tenant_id):
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    emulated = service.runtime.sandbox.state.tenants[tenant_id]
    emulated.domains[D].references = 2
    refused = await api.delete(f"/v1/tenants/{tenant_id}/domains/{D}")
    assert refused.status_code == 409 and code(refused) == "domain_has_references"
    emulated.domains[D].references = 0
    assert (await api.delete(f"/v1/tenants/{tenant_id}/domains/{D}")).status_code == 204
    assert D not in emulated.domains
    assert code(await api.get(f"/v1/tenants/{tenant_id}/domains/{D}/dns")) == "domain_not_found"


async def test_domain_managed_by_another_account_is_refused(api, service, tenant_id):
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    other = await service.new_account()
    async with service.client(other["test"]) as theirs:
        their_tenant = (await theirs.post("/v1/tenants", json={"tenant_name": "Other"})).json()["tenant_id"]
        refused = await theirs.post(f"/v1/tenants/{their_tenant}/domains", json={"domain": D})
    assert refused.status_code == 409 and code(refused) == "domain_managed_by_another_account"


async def test_domain_verified_in_another_microsoft_tenant(api, service, tenant_id):
    state = service.runtime.sandbox.state
    elsewhere = state.create_tenant("Elsewhere")
    taken = state.new_domain(D)
    taken.is_verified = True
    elsewhere.domains[D] = taken
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/dns/publish")
    in_use = await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/verify")
    assert in_use.status_code == 409 and code(in_use) == "domain_in_use"


@pytest.mark.parametrize("mode", ["live"])
async def test_live_mode_without_microsoft_settings_says_so(service, mode):
    async with service.client(service.keys[mode]) as live:
        response = await live.post("/v1/tenants", json={"tenant_id": str(uuid.uuid4())})
        assert response.status_code == 503 and code(response) == "microsoft_not_configured"
        assert (await live.get("/v1/tenants")).json() == {"tenants": [], "count": 0, "has_more": False}


async def test_adopting_a_verified_domain_survives_exchange_refusing(api, service, tenant_id):
    """Microsoft already has the domain, verified; Exchange refuses the app. The add still
    lands (the DKIM keys come later), instead of leaving a half-done reservation."""
    from tenantcore.emulator import Consent

    state = service.runtime.sandbox.state
    adopted = state.new_domain(D)
    adopted.is_verified = True
    adopted.email_enabled_at = 0.0
    state.tenants[tenant_id].domains[D] = adopted
    state.consent(tenant_id, service.runtime.sandbox.client_id, Consent(exchange_admin_role=False))
    added = await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    assert added.status_code == 201, added.text
    assert added.json()["domain"]["is_verified"] is True
    assert [d["domain_name"] for d in (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()["domains"]] == [D]


async def test_a_500_still_has_the_error_body_and_the_request_id(service) -> None:
    """Whatever goes wrong inside, the caller gets the API's error shape and an id to quote."""

    async def boom() -> None:
        raise RuntimeError("a bug")

    service.app.add_api_route("/v1/_boom", boom, methods=["GET"])
    async with service.client(None) as client:
        response = await client.get("/v1/_boom", headers={"X-Request-ID": "trace-me-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-me-1"
    assert response.json()["detail"]["code"] == "internal_error"
    assert "trace-me-1" in response.json()["detail"]["message"] and "a bug" not in response.text


async def test_tenant_names_take_what_people_write(api):
    # A no-break space pasted from a document, Persian's zero-width non-joiner, an emoji sequence.
    for name in (
        "Contoso\u00a0Ltd",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "\U0001f469\u200d\U0001f4bb Team",
    ):
        made = await api.post("/v1/tenants", json={"tenant_name": name})
        assert made.status_code == 201, (name, made.text)
        assert made.json()["tenant_name"] == name


async def test_head_is_answered_as_get_without_a_body(service, api, tenant_id):
    """Uptime monitors and `curl -I` send HEAD; FastAPI's GET routes alone would answer 405."""
    listed, head = await api.get("/v1/tenants"), await api.head("/v1/tenants")
    assert head.status_code == 200 and head.content == b""
    for header in ("content-type", "content-length", "x-content-type-options"):
        assert head.headers[header] == listed.headers[header], header
    assert head.headers["x-request-id"] != listed.headers["x-request-id"]
    unknown = await api.head(f"/v1/tenants/{UNKNOWN}/domains")
    assert unknown.status_code == 404 and unknown.content == b""
    async with service.client(None) as anonymous:
        page = await anonymous.head("/app/login")
        assert page.status_code == 200 and page.content == b""
        assert page.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in page.headers
        signed_out, signed_out_head = await anonymous.get("/app"), await anonymous.head("/app")
        assert signed_out_head.status_code == signed_out.status_code == 303
        assert signed_out_head.headers["location"] == signed_out.headers["location"]
    assert (await api.head(f"/v1/tenants/{tenant_id}/domains/{D}/verify")).status_code == 405  # a POST route
