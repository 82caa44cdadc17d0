"""What would harm a customer's real tenant, fixed (the audit's ranked list), seen from the API
against the emulator: services the domain already had are kept, records are read again after
verification, Microsoft's own domains are never adopted, Exchange readiness is asked again,
DKIM keys are read before any are created, consent redirects without `state` are understood."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from tenantcore.emulator import Consent

from .test_reconciler import wait_for_event

D = "mail.acme-corp.com"


async def test_verify_keeps_every_service_the_domain_had(api, service, tenant_id):
    state = service.runtime.sandbox.state
    base = f"/v1/tenants/{tenant_id}/domains"
    assert (await api.post(base, json={"domain": D})).status_code == 201
    # Teams and Intune use it too (added to the customer's tenant long ago).
    state.tenants[tenant_id].domains[D].supported_services = ["OfficeCommunicationsOnline", "Intune"]
    await api.post(f"{base}/{D}/dns/publish")
    assert (await api.post(f"{base}/{D}/verify")).status_code == 200
    assert state.tenants[tenant_id].domains[D].supported_services == ["OfficeCommunicationsOnline", "Intune", "Email"]
    patches = [c for c in state.calls if c.method == "PATCH"]
    assert (await api.post(f"{base}/{D}/verify")).status_code == 200  # again: Email is there, no PATCH
    assert [c for c in state.calls if c.method == "PATCH"] == patches


async def test_service_records_are_read_again_after_verification(api, service, tenant_id):
    state = service.runtime.sandbox.state
    base = f"/v1/tenants/{tenant_id}/domains"
    assert (await api.post(base, json={"domain": D})).status_code == 201
    # What Microsoft answers once Email is on is not what it answered at add time.
    state.tenants[tenant_id].domains[D].mx_target = "mail-acme-corp-com01c.mail.protection.outlook.com"
    await api.post(f"{base}/{D}/dns/publish")
    assert (await api.post(f"{base}/{D}/verify")).status_code == 200
    records = (await api.get(f"{base}/{D}/dns")).json()["service_configuration_records"]
    assert [r["mailExchange"] for r in records if r["recordType"] == "domainDnsMxRecord"] == [
        "mail-acme-corp-com01c.mail.protection.outlook.com"
    ]
    assert (
        "mail-acme-corp-com01c.mail.protection.outlook.com"
        in (await api.get(f"{base}/{D}/dns/export", params={"format": "bind"})).text
    )


async def test_sync_never_adopts_microsofts_own_domains(api, service, tenant_id):
    state = service.runtime.sandbox.state
    tenant = state.tenants[tenant_id]
    mail = f"{tenant.prefix.lower()}.mail.onmicrosoft.com"
    tenant.domains[mail] = dataclasses.replace(state.new_domain(mail), is_verified=True, supported_services=["Email"])
    result = (await api.post(f"/v1/tenants/{tenant_id}/sync")).json()
    assert mail not in result["added"] and result["domain_count"] == 0
    assert (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()["count"] == 0


async def test_dkim_keys_are_read_before_any_are_created(api, service, tenant_id):
    state = service.runtime.sandbox.state
    base = f"/v1/tenants/{tenant_id}/domains"
    assert (await api.post(base, json={"domain": D})).status_code == 201
    await api.post(f"{base}/{D}/dns/publish")
    # Exchange listed the domain already (Enabled false, CnameMissing), as it does for many.
    existing = state.new_dkim(state.tenants[tenant_id], D)
    state.tenants[tenant_id].dkim[D] = existing
    assert (await api.post(f"{base}/{D}/verify")).status_code == 200
    assert not [c for c in state.calls if c.target == "New-DkimSigningConfig"]
    records = (await api.get(f"{base}/{D}/dns")).json()["service_configuration_records"]
    assert existing.selector1_cname.lower() in {(r.get("canonicalName") or "").lower() for r in records}


async def test_exchange_readiness_is_asked_again_and_dkim_resumes(tmp_path):
    from ..running import Service

    running = Service(tmp_path / "data", check_interval=0.3, worker_idle=0.05, exchange_probe_interval=0.2)
    try:
        async with running.client(running.keys["test"]) as api:
            state = running.runtime.sandbox.state
            tenant = state.create_tenant("NoRole")
            # Consent never grants the Exchange Administrator role.
            state.consent(tenant.id, running.runtime.sandbox.client_id, Consent(exchange_admin_role=False))
            connected = await api.post("/v1/tenants", json={"tenant_id": tenant.id})
            assert connected.json()["exchange_bootstrap_status"] == "failed"
            base = f"/v1/tenants/{tenant.id}/domains"
            assert (await api.post(base, json={"domain": D})).status_code == 201
            await api.post(f"{base}/{D}/dns/publish")
            await wait_for_event(api, "domain.verified")
            # The admin assigns the role: TenantCore notices by itself and DKIM goes on.
            state.tenants[tenant.id].consents[running.runtime.sandbox.client_id].exchange_admin_role = True
            ready = await wait_for_event(api, "tenant.exchange_ready")
            assert ready["tenant_id"] == tenant.id
            assert (await api.get(f"/v1/tenants/{tenant.id}")).json()["exchange_bootstrap_status"] == "ready"
            deadline = time.monotonic() + 15
            while "selector1._domainkey" not in (await api.get(f"{base}/{D}/dns")).text:
                assert time.monotonic() < deadline, "the DKIM keys never came after the role was granted"
                await asyncio.sleep(0.1)
            await api.post(f"{base}/{D}/dns/publish")  # the CNAMEs; nobody calls enable-dkim
            await wait_for_event(api, "domain.dkim_enabled", within=15)
    finally:
        running.stop()


async def test_sync_asks_exchange_again(api, service):
    state = service.runtime.sandbox.state
    tenant = state.create_tenant("Later")
    state.consent(tenant.id, service.runtime.sandbox.client_id, Consent(exchange_admin_role=False))
    await api.post("/v1/tenants", json={"tenant_id": tenant.id})
    state.tenants[tenant.id].consents[service.runtime.sandbox.client_id].exchange_admin_role = True
    assert (await api.post(f"/v1/tenants/{tenant.id}/sync")).status_code == 200
    assert (await api.get(f"/v1/tenants/{tenant.id}")).json()["exchange_bootstrap_status"] == "ready"


async def test_the_consent_error_redirect_without_state_is_understood(service):
    async with service.client(None) as anonymous:
        declined = await anonymous.get(
            "/v1/tenants/callback",
            params={"error": "access_denied", "error_description": "AADSTS65004: User declined to consent."},
        )
        assert declined.status_code == 400 and declined.json()["detail"]["code"] == "consent_declined"
        assert "declined" in declined.json()["detail"]["message"]
        odd = await anonymous.get("/v1/tenants/callback", params={"state": "ünïcode.∂", "tenant": "x"})
        assert odd.status_code == 400 and odd.json()["detail"]["code"] == "invalid_consent_state"
        bare = await anonymous.get("/v1/tenants/callback")
        assert bare.status_code == 400 and bare.json()["detail"]["code"] == "invalid_consent_state"
        refused = await anonymous.get("/v1/tenants/callback", params={"admin_consent": "False", "state": "x.y"})
        assert refused.json()["detail"] == {
            "code": "consent_declined",
            "message": "Admin consent was not granted (admin_consent=False).",
        }


async def test_reads_right_after_a_write_wait_for_replication(tmp_path):
    from ..running import Service

    # Graph answers 404 (or refuses the PATCH as if unverified) for a while after each write.
    lagging = Service(tmp_path / "data", sandbox_replication_lag=0.6, worker=False)
    try:
        async with lagging.client(lagging.keys["test"]) as api:
            tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Lag"})).json()["tenant_id"]
            base = f"/v1/tenants/{tenant_id}/domains"
            added = await api.post(base, json={"domain": D})
            assert added.status_code == 201, added.text
            assert added.json()["verification_dns_records"]  # read once the create replicated
            await api.post(f"{base}/{D}/dns/publish")
            verified = await api.post(f"{base}/{D}/verify")
            assert verified.status_code == 200, verified.text
            emulated = lagging.runtime.sandbox.state.tenants[tenant_id].domains[D]
            assert emulated.is_verified and "Email" in emulated.supported_services
    finally:
        lagging.stop()


async def test_a_connect_right_after_consent_waits_for_it_to_replicate(tmp_path):
    from ..running import Service

    lagging = Service(tmp_path / "data", sandbox_consent_lag=1.0, worker=False)
    try:
        async with lagging.client(lagging.keys["test"]) as api:
            connected = await api.post("/v1/tenants", json={"tenant_name": "Fresh"})  # consented just now
            assert connected.status_code == 201, connected.text
    finally:
        lagging.stop()
