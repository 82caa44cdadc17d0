"""The realistic profile, one behaviour at a time, driven over HTTP with the real clients.

Every test starts from the realistic profile with every delay and random rate at zero
(`QUIET`) and turns on the knob it is about, with delays of tenths of a second.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tenantcore.dnshealth import build_expected_records
from tenantcore.emulator import Consent, EmulatorProfile, EmulatorState, Fault
from tenantcore.emulator.profile import NEVER
from tenantcore.emulator.server import ThreadedServer
from tenantcore.emulator.state import Domain, Tenant
from tenantcore.microsoft import MicrosoftClients
from tenantcore.microsoft.config import Resource
from tenantcore.microsoft.errors import (
    ConsentRequired,
    DkimCnameMissing,
    DkimConfigExists,
    DkimConfigNotFound,
    DomainNotAccepted,
    DomainNotFound,
    ExchangeAccessDenied,
    InsufficientPrivileges,
    MicrosoftError,
    MicrosoftUnavailable,
    Throttled,
)
from tenantcore.microsoft.transport import RoutedTransport
from tenantcore.sandbox.dns_server import ZoneStore

from .conftest import CLIENT_ID, CONTROL, SECRET, make_clients

D = "mail.acmecorp.com"
GRAPH = "https://graph.microsoft.com/v1.0"
QUIET = EmulatorProfile.realistic().with_(
    replication_lag=0,
    consent_lag=0,
    exchange_role_lag=0,
    accepted_lag=0,
    takeover_accepted_lag=0,
    takeover_rate=0,
    dkim_key_delay=0,
    cname_sync_lag=0,
    throttle_ru_per_10s=0,
    throttle_no_retry_after=0,
    throttle_503=0,
)


@pytest.fixture
def state() -> EmulatorState:
    """Overrides conftest's: the same app, the realistic profile made quiet."""
    state = EmulatorState(seed=7, profile=QUIET)
    state.add_app(CLIENT_ID, secret=SECRET)
    return state


def tune(state: EmulatorState, **knobs: Any) -> None:
    state.profile = state.profile.with_(**knobs)


@asynccontextmanager
async def raw(emulator: ThreadedServer) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to Microsoft's URLs (routed to the emulator), for wire details."""
    async with httpx.AsyncClient(transport=RoutedTransport(emulator.url), timeout=5.0) as client:
        yield client


async def auth(ms: MicrosoftClients, tenant: Tenant, resource: Resource = Resource.GRAPH) -> dict[str, str]:
    return {"Authorization": f"Bearer {await ms.tokens.token(tenant.id, resource)}"}


def invoke_body(cmdlet: str, **parameters: Any) -> dict[str, Any]:
    return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}


async def verified(ms: MicrosoftClients, tenant: Tenant, store: ZoneStore, name: str = D) -> None:
    """Add, publish the TXT, verify and enable Email."""
    await ms.graph.create_domain(tenant.id, name)
    store.publish(
        build_expected_records(name, verification=await ms.graph.verification_records(tenant.id, name)).records
    )
    await ms.graph.verify_domain(tenant.id, name)
    await ms.graph.enable_email(tenant.id, name)


# --- 1. replication and consent lag ---------------------------------------------------------


async def test_a_new_domain_reads_as_missing_until_replicated(ms, state, tenant):
    tune(state, replication_lag=0.4)
    created = await ms.graph.create_domain(tenant.id, D)
    assert created.id == D  # the write itself answers from the primary
    with pytest.raises(DomainNotFound) as missing:
        await ms.graph.get_domain(tenant.id, D)
    assert missing.value.ms_code == "Request_ResourceNotFound"
    with pytest.raises(DomainNotFound):
        await ms.graph.verification_records(tenant.id, D)
    assert D not in {d.id for d in await ms.graph.list_domains(tenant.id)}
    await asyncio.sleep(0.5)
    assert (await ms.graph.get_domain(tenant.id, D)).id == D
    assert D in {d.id for d in await ms.graph.list_domains(tenant.id)}


async def test_a_patch_right_after_verify_sees_the_domain_unverified(ms, state, tenant, store):
    tune(state, replication_lag=0.4)
    await ms.graph.create_domain(tenant.id, D)
    await asyncio.sleep(0.5)
    store.publish(build_expected_records(D, verification=await ms.graph.verification_records(tenant.id, D)).records)
    assert (await ms.graph.verify_domain(tenant.id, D)).is_verified
    assert not (await ms.graph.get_domain(tenant.id, D)).is_verified  # a replica's stale copy
    with pytest.raises(MicrosoftError) as stale:
        await ms.graph.enable_email(tenant.id, D)
    assert stale.value.status == 400 and "Only verified domains can be updated" in stale.value.message
    await asyncio.sleep(0.5)
    await ms.graph.enable_email(tenant.id, D)
    assert (await ms.graph.get_domain(tenant.id, D)).supported_services == ()  # that write lags too
    await asyncio.sleep(0.5)
    assert (await ms.graph.get_domain(tenant.id, D)).supported_services == ("Email",)


async def test_tokens_fail_with_7000229_right_after_consent(ms, state):
    tune(state, consent_lag=0.4)
    tenant = state.create_tenant("Fabrikam", consent_app=CLIENT_ID)
    with pytest.raises(ConsentRequired) as raised:
        await ms.graph.list_domains(tenant.id)
    assert raised.value.ms_code == "AADSTS7000229"
    await asyncio.sleep(0.5)
    assert await ms.graph.list_domains(tenant.id)


# --- 2. accepted-domain lag -------------------------------------------------------------------


async def test_exchange_accepts_a_domain_after_the_accepted_lag(ms, state, tenant, store):
    assert EmulatorProfile.realistic().accepted_lag > 0
    tune(state, accepted_lag=0.4)
    await verified(ms, tenant, store)
    with pytest.raises(DomainNotAccepted):
        await ms.exchange.new_dkim_signing_config(tenant.id, D)
    await asyncio.sleep(0.5)
    assert D in {d["DomainName"] for d in await ms.exchange.accepted_domains(tenant.id)}


# --- 3. <prefix>.mail.onmicrosoft.com ---------------------------------------------------------


async def test_every_tenant_lists_its_mail_onmicrosoft_domain(ms, emulator, tenant):
    mail = f"{tenant.prefix.lower()}.mail.onmicrosoft.com"
    listed = {d.id: d for d in await ms.graph.list_domains(tenant.id)}
    assert set(listed) == {tenant.initial_domain.lower(), mail}
    found = listed[mail]
    assert (found.is_verified, found.is_initial, found.is_default) == (True, False, False)
    assert found.supported_services == ("Email",)
    assert mail in {d["DomainName"] for d in await ms.exchange.accepted_domains(tenant.id)}


# --- 4. subdomains ----------------------------------------------------------------------------


async def test_a_subdomain_of_a_verified_domain_is_verified_on_create(ms, emulator, tenant, store):
    await verified(ms, tenant, store, "acmecorp.com")
    sub = await ms.graph.create_domain(tenant.id, "news.acmecorp.com")
    assert sub.is_verified
    async with raw(emulator) as client:
        headers = await auth(ms, tenant)
        root = (await client.get(f"{GRAPH}/domains/acmecorp.com", headers=headers)).json()
        child = (await client.get(f"{GRAPH}/domains/news.acmecorp.com", headers=headers)).json()
    assert (root["isRoot"], child["isRoot"], child["isVerified"]) == (True, False, True)
    assert not (await ms.graph.create_domain(tenant.id, "other.example.org")).is_verified


# --- 5. pre-existing services and the records that follow them --------------------------------


async def test_a_domain_added_elsewhere_keeps_intune(ms, emulator, state, tenant):
    existing = state.add_existing_domain(tenant.id, "legacy.acmecorp.com")
    name = existing.name
    got = await ms.graph.get_domain(tenant.id, name)
    assert got.supported_services == ("Email", "OfficeCommunicationsOnline", "Intune")
    async with raw(emulator) as client:  # a client that overwrites the collection is refused
        refused = await client.patch(
            f"{GRAPH}/domains/{name}", json={"supportedServices": ["Email"]}, headers=await auth(ms, tenant)
        )
    assert refused.status_code == 400 and "Intune cannot be removed" in refused.text
    assert await ms.graph.enable_email(tenant.id, name) is False  # ours reads first: Email is there

    records = await ms.graph.service_configuration_records(tenant.id, name)
    by_service = {(r["supportedService"], r["recordType"], r["label"]) for r in records}
    assert ("OfficeCommunicationsOnline", "CName", f"sip.{name}") in by_service
    assert ("OfficeCommunicationsOnline", "CName", f"lyncdiscover.{name}") in by_service
    srv = {r["label"]: r for r in records if r["recordType"] == "Srv"}
    assert (
        srv[f"_sip._tls.{name}"]["nameTarget"] == "sipdir.online.lync.com" and srv[f"_sip._tls.{name}"]["port"] == 443
    )
    assert srv[f"_sipfederationtls._tcp.{name}"]["port"] == 5061
    assert srv[f"_sip._tls.{name}"]["@odata.type"] == "#microsoft.graph.domainDnsSrvRecord"
    assert {r["recordType"] for r in records if r["supportedService"] == "Email"} == {"Mx", "Txt", "CName"}

    async with raw(emulator) as client:  # the union a careful client sends, minus Teams: allowed
        patched = await client.patch(
            f"{GRAPH}/domains/{name}", json={"supportedServices": ["Email", "Intune"]}, headers=await auth(ms, tenant)
        )
    assert patched.status_code == 204
    records = await ms.graph.service_configuration_records(tenant.id, name)
    assert {r["supportedService"] for r in records} == {"Email", "Intune"}


async def test_service_records_follow_verification_and_services(ms, tenant, store):
    await ms.graph.create_domain(tenant.id, D)
    assert await ms.graph.service_configuration_records(tenant.id, D) == []  # unverified: none yet
    store.publish(build_expected_records(D, verification=await ms.graph.verification_records(tenant.id, D)).records)
    await ms.graph.verify_domain(tenant.id, D)
    assert await ms.graph.service_configuration_records(tenant.id, D) == []  # no services yet
    await ms.graph.enable_email(tenant.id, D)
    records = await ms.graph.service_configuration_records(tenant.id, D)
    assert {(r["recordType"], r["label"]) for r in records} == {("Mx", D), ("Txt", D), ("CName", f"autodiscover.{D}")}


# --- 6. takeover --------------------------------------------------------------------------------


async def test_verify_can_schedule_a_takeover_and_exchange_then_waits_longer(ms, state, tenant, store):
    tune(state, takeover_domains={D}, takeover_accepted_lag=0.4)
    await ms.graph.create_domain(tenant.id, D)
    store.publish(build_expected_records(D, verification=await ms.graph.verification_records(tenant.id, D)).records)
    assert (await ms.graph.verify_domain(tenant.id, D)).availability_status == "EmailVerifiedDomainTakeoverScheduled"
    await ms.graph.enable_email(tenant.id, D)
    with pytest.raises(DomainNotAccepted):
        await ms.exchange.new_dkim_signing_config(tenant.id, D)
    await asyncio.sleep(0.5)
    assert (await ms.exchange.new_dkim_signing_config(tenant.id, D))["Domain"] == D


def test_takeover_by_probability_uses_the_seeded_rng():
    picks = []
    for _ in range(2):
        state = EmulatorState(seed=3, profile=QUIET.with_(takeover_rate=0.5))
        picks.append([state.chance(0.5) for _ in range(20)])
    assert picks[0] == picks[1] and any(picks[0]) and not all(picks[0])


# --- 7. DKIM ----------------------------------------------------------------------------------


async def test_exchange_already_has_a_dkim_config_when_it_accepts_a_domain(ms, emulator, tenant, store):
    await verified(ms, tenant, store)
    config = await ms.exchange.get_dkim_signing_config(tenant.id, D)  # no New needed
    assert (config["Enabled"], config["Status"]) == (False, "CnameMissing")
    with pytest.raises(DkimConfigExists) as exists:
        await ms.exchange.invoke(tenant.id, "New-DkimSigningConfig", {"DomainName": D, "Enabled": False})
    assert "already exists" in exists.value.message
    # The client's New falls back to the config that is there.
    assert (await ms.exchange.new_dkim_signing_config(tenant.id, D))["Selector1CNAME"] == config["Selector1CNAME"]
    assert not any(
        c["Domain"].endswith(".onmicrosoft.com") for c in await ms.exchange.list_dkim_signing_configs(tenant.id)
    )


async def test_dkim_keys_are_made_asynchronously(ms, state, tenant, store):
    tune(state, dkim_preexisting=False, dkim_key_delay=0.4)
    await verified(ms, tenant, store)
    created = await ms.exchange.new_dkim_signing_config(tenant.id, D)  # New answers at once
    assert created["Selector1CNAME"]
    with pytest.raises(DkimConfigNotFound):
        await ms.exchange.get_dkim_signing_config(tenant.id, D)
    assert await ms.exchange.list_dkim_signing_configs(tenant.id) == []
    await asyncio.sleep(0.5)
    assert (await ms.exchange.get_dkim_signing_config(tenant.id, D))["Domain"] == D


async def test_exchange_sees_the_dkim_cnames_after_public_dns(ms, state, tenant, store):
    tune(state, cname_sync_lag=0.4)
    await verified(ms, tenant, store)
    config = await ms.exchange.get_dkim_signing_config(tenant.id, D)
    store.publish(build_expected_records(D, dkim_config=config).records)
    with pytest.raises(DkimCnameMissing):
        await ms.exchange.enable_dkim(tenant.id, D)  # in public DNS, not yet in Exchange's view
    await asyncio.sleep(0.5)
    await ms.exchange.enable_dkim(tenant.id, D)
    assert (await ms.exchange.get_dkim_signing_config(tenant.id, D))["Status"] == "Valid"


async def test_a_cname_removed_after_enabling_makes_the_status_invalid(ms, tenant, store):
    await verified(ms, tenant, store)
    config = await ms.exchange.get_dkim_signing_config(tenant.id, D)
    store.publish(build_expected_records(D, dkim_config=config).records)
    await ms.exchange.enable_dkim(tenant.id, D)
    store.delete(f"selector2._domainkey.{D}")
    after = await ms.exchange.get_dkim_signing_config(tenant.id, D)
    assert (after["Enabled"], after["Status"]) == (True, "CnameMissing")


# --- 8. tokens ----------------------------------------------------------------------------------


async def test_revoked_consent_refuses_new_tokens_but_issued_ones_live_on(ms, emulator, state, tenant):
    headers = await auth(ms, tenant)
    async with httpx.AsyncClient(base_url=emulator.url, headers=CONTROL) as control:
        revoked = await control.request(
            "DELETE", "/_emulator/consents", json={"tenant_id": tenant.id, "client_id": CLIENT_ID}
        )
    assert revoked.status_code == 200
    async with raw(emulator) as client:
        assert (await client.get(f"{GRAPH}/domains", headers=headers)).status_code == 200
    assert await ms.graph.list_domains(tenant.id)  # msal's cached token: still valid
    ms.tokens.forget(tenant.id)
    with pytest.raises(ConsentRequired):
        await ms.graph.list_domains(tenant.id)
    state.restore_consent(tenant.id, CLIENT_ID)
    assert await ms.graph.list_domains(tenant.id)


async def test_a_token_without_roles_gets_403_from_graph_and_401_from_exchange(ms, emulator, state, tenant):
    state.consent(tenant.id, CLIENT_ID, Consent(graph_roles=set(), exchange_manage_as_app=False))
    with pytest.raises(InsufficientPrivileges):
        await ms.graph.list_domains(tenant.id)
    requests = tenant.token_requests
    with pytest.raises(ExchangeAccessDenied) as denied:
        await ms.exchange.accepted_domains(tenant.id)
    assert "Exchange.ManageAsApp" in denied.value.message  # says what consent lacks ...
    assert tenant.token_requests == requests + 1  # ... after one token, not a refetch loop
    async with raw(emulator) as client:
        answer = await client.post(
            f"https://outlook.office365.com/adminapi/beta/{tenant.id}/InvokeCommand",
            json=invoke_body("Get-AcceptedDomain"),
            headers=await auth(ms, tenant, Resource.EXCHANGE),
        )
    assert answer.status_code == 401


async def test_consent_gives_no_exchange_role_until_an_admin_assigns_it(ms, emulator, state, tenant):
    tune(state, exchange_role_lag=NEVER)
    state.consent(tenant.id, CLIENT_ID)  # consent again, as the admin consent page does
    with pytest.raises(ExchangeAccessDenied):  # the app role alone: the NUL-byte 403
        await ms.exchange.accepted_domains(tenant.id)
    async with httpx.AsyncClient(base_url=emulator.url, headers=CONTROL) as control:
        granted = await control.post("/_emulator/roles", json={"tenant_id": tenant.id, "client_id": CLIENT_ID})
    assert granted.status_code == 201
    assert await ms.exchange.accepted_domains(tenant.id)


async def test_short_token_lifetimes_expire(ms, emulator, state, tenant):
    tune(state, token_lifetime=1)
    headers = await auth(ms, tenant)
    await asyncio.sleep(1.2)
    async with raw(emulator) as client:
        expired = await client.get(f"{GRAPH}/domains", headers=headers)
    assert expired.status_code == 401
    before = tenant.token_requests
    assert await ms.graph.list_domains(tenant.id)  # msal renews the token
    assert tenant.token_requests > before


# --- 9. throttling ------------------------------------------------------------------------------


async def test_graph_throttles_an_app_per_tenant_by_resource_units(ms, emulator, state, tenant):
    tune(state, throttle_ru_per_10s=3)
    headers = await auth(ms, tenant)
    async with raw(emulator) as client:
        answers = [await client.get(f"{GRAPH}/domains", headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["x-ms-resource-unit"] == "1"
    throttled = answers[-1]
    assert throttled.headers["x-ms-throttle-scope"] == f"Tenant_Application/ReadWrite/{CLIENT_ID}/{tenant.id}"
    assert throttled.headers["Retry-After"] == "4"  # 1 RU at 0.3 RU/s
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    other = state.create_tenant("Fabrikam", consent_app=CLIENT_ID)  # another tenant: its own bucket
    assert await ms.graph.list_domains(other.id)
    with pytest.raises(Throttled):
        await ms.graph.list_domains(tenant.id)
    assert set(ms.waits) == {4.0}  # the client waited what Retry-After said


async def test_throttled_answers_may_lack_retry_after_or_be_503(ms, emulator, state, tenant):
    tune(state, throttle_ru_per_10s=1, throttle_no_retry_after=1.0)
    headers = await auth(ms, tenant)
    async with raw(emulator) as client:
        await client.get(f"{GRAPH}/domains", headers=headers)
        bare = await client.get(f"{GRAPH}/domains", headers=headers)
        tune(state, throttle_no_retry_after=0.0, throttle_503=1.0)
        unavailable = await client.get(f"{GRAPH}/domains", headers=headers)
    assert bare.status_code == 429 and "Retry-After" not in bare.headers and "x-ms-throttle-scope" in bare.headers
    assert unavailable.status_code == 503
    assert unavailable.json()["error"]["code"] == "Request_ThrottledTemporarily"


async def test_exchange_truncates_long_results_with_a_warning(ms, emulator, state, tenant):
    tune(state, exchange_result_size=2)
    for i in range(3):
        state.add_existing_domain(tenant.id, f"d{i}.acmecorp.com", services=["Email"])
    url = f"https://outlook.office365.com/adminapi/beta/{tenant.id}/InvokeCommand"
    async with raw(emulator) as client:
        headers = await auth(ms, tenant, Resource.EXCHANGE)
        page = (await client.post(url, json=invoke_body("Get-AcceptedDomain"), headers=headers)).json()
        replay = await client.post(page["@odata.nextLink"], json=invoke_body("Get-AcceptedDomain"), headers=headers)
    assert len(page["value"]) == 2
    assert "more results available" in page["@adminapi.warnings"][0]
    assert replay.status_code == 400 and "pagination" in replay.json()["error"]["message"]


# --- 10. names in the wild ------------------------------------------------------------------------


async def test_names_as_in_the_wild(ms, state, tenant):
    prefix = tenant.prefix
    assert prefix.lower() == "contoso" and prefix not in (prefix.lower(), prefix.upper())
    names = [f"news-{i}.acme-corp.com" for i in range(12)]
    for name in names:
        state.add_existing_domain(tenant.id, name, services=["Email"])
    mx = [
        next(
            r["mailExchange"]
            for r in await ms.graph.service_configuration_records(tenant.id, n)
            if r["recordType"] == "Mx"
        )
        for n in names
    ]
    token = re.compile(r"news\d+-acmecorp-com0\d([a-z]|[0-9a-f]{4})")
    assert all(token.match(target) for target in mx), mx
    assert any(t.endswith(".mail.protection.outlook.com") for t in mx)
    assert any(re.search(r"\.[a-z]-v1\.mx\.microsoft$", t) for t in mx)

    configs = await ms.exchange.list_dkim_signing_configs(tenant.id)
    targets = [c["Selector1CNAME"] for c in configs]
    assert len(targets) == len(names)
    assert any(t.endswith(f"._domainkey.{tenant.initial_domain}") for t in targets)  # old format
    assert any(f"._domainkey.{prefix}." in t and t.endswith("-v1.dkim.mail.microsoft") for t in targets)
    assert all(re.match(r"selector1-news\d+-acmecorp-com0\d", t) for t in targets)


# --- 11. directory limit ------------------------------------------------------------------------


async def test_a_tenant_holds_at_most_5000_domains(ms, state, tenant):
    assert state.profile.domain_quota == 5000
    for i in range(5000 - len(tenant.domains)):
        name = f"d{i}.example.com"
        tenant.domains[name] = Domain(name, "ms00000000", f"d{i}-example-com.mail.protection.outlook.com")
    with pytest.raises(MicrosoftError) as refused:
        await ms.graph.create_domain(tenant.id, "one-too-many.example.com")
    assert refused.value.status == 400 and "maximum number of domains" in refused.value.message
    await ms.graph.delete_domain(tenant.id, "d0.example.com")
    assert (await ms.graph.create_domain(tenant.id, "one-too-many.example.com")).id == "one-too-many.example.com"


# --- 12. a timeout is not a no ------------------------------------------------------------------


async def test_writes_whose_client_gave_up_still_complete(emulator, state, tenant, store):
    tune(state, dkim_preexisting=False)
    clients = make_clients(emulator, timeout=0.3, max_attempts=1)
    try:
        await clients.graph.list_domains(tenant.id)  # the token, before the slow calls
        state.inject(Fault("latency", "graph", "/domains", count=1, latency=0.6))
        with pytest.raises(MicrosoftUnavailable):
            await clients.graph.create_domain(tenant.id, D)
        assert D in tenant.domains  # created although the client saw a timeout

        store.publish(
            build_expected_records(D, verification=await clients.graph.verification_records(tenant.id, D)).records
        )
        state.inject(Fault("latency", "graph", "/verify", count=1, latency=0.6))
        with pytest.raises(MicrosoftUnavailable):
            await clients.graph.verify_domain(tenant.id, D)
        assert tenant.domains[D].is_verified

        state.inject(Fault("latency", "graph", "/domains", count=1, latency=0.6))
        async with raw(emulator) as client:  # a PATCH whose client gives up after 0.3 s
            with pytest.raises(httpx.TimeoutException):
                await client.patch(
                    f"{GRAPH}/domains/{D}",
                    json={"supportedServices": ["Email"]},
                    headers=await auth(clients, tenant),
                    timeout=0.3,
                )
        await asyncio.sleep(0.5)
        assert tenant.domains[D].supported_services == ["Email"]

        state.inject(Fault("latency", "exchange", "New-DkimSigningConfig", count=1, latency=0.6))
        with pytest.raises(MicrosoftUnavailable):
            await clients.exchange.new_dkim_signing_config(tenant.id, D)
        assert D in tenant.dkim
    finally:
        await clients.aclose()
