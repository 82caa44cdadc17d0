"""The whole life of a domain against the emulator and a real DNS server on loopback."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from tenantcore.dnshealth import build_expected_records
from tenantcore.dnshealth.records import Purpose
from tenantcore.microsoft.errors import (
    DkimCnameMissing,
    DnsVerificationPending,
    DomainAlreadyExists,
    DomainHasReferences,
    DomainInUse,
    DomainNotAccepted,
    DomainNotFound,
)

D = "mail.acmecorp.com"


async def test_domain_life_from_add_to_dkim_valid(ms, tenant, store):
    created = await ms.graph.create_domain(tenant.id, D)
    assert (created.id, created.is_verified) == (D, False)

    verification = await ms.graph.verification_records(tenant.id, D)
    service = await ms.graph.service_configuration_records(tenant.id, D)
    txt = next(r for r in verification if r["recordType"] == "Txt")
    assert txt["@odata.type"] == "#microsoft.graph.domainDnsTxtRecord" and txt["label"] == D
    assert re.fullmatch(r"MS=ms\d{8}", txt["text"])
    assert uuid.UUID(txt["id"])
    mx_alt = next(r for r in verification if r["recordType"] == "Mx")
    assert (mx_alt["mailExchange"], mx_alt["preference"]) == (f"{txt['text'][3:]}.msv1.invalid", 32767)
    assert re.fullmatch(r"mail-acmecorp-com\.[a-z]-v1\.mx\.microsoft", service[0]["mailExchange"])
    assert {r["label"] for r in service} == {D, f"autodiscover.{D}"}

    with pytest.raises(DnsVerificationPending) as pending:
        await ms.graph.verify_domain(tenant.id, D)
    assert "publish" in pending.value.message

    expected = build_expected_records(D, verification=verification, service=service)
    store.publish(expected.of(Purpose.VERIFICATION))
    verified = await ms.graph.verify_domain(tenant.id, D)
    assert verified.is_verified and verified.availability_status == "AvailableImmediately"
    await ms.graph.enable_email(tenant.id, D)

    config = await ms.exchange.new_dkim_signing_config(tenant.id, D)
    assert config["Enabled"] is False and config["Selector1KeySize"] == 2048
    assert config["Status"] == "CnameMissing"
    s1, s2 = config["Selector1CNAME"], config["Selector2CNAME"]
    assert re.fullmatch(r"selector1-mail-acmecorp-com\._domainkey\.Contoso\.([a-z])-v1\.dkim\.mail\.microsoft", s1)
    assert s2 == s1.replace("selector1-", "selector2-", 1)  # same partition character for both

    with pytest.raises(DkimCnameMissing) as missing:
        await ms.exchange.enable_dkim(tenant.id, D)
    assert "CNAME" in missing.value.message

    expected = build_expected_records(D, verification=verification, service=service, dkim_config=config)
    store.publish(expected.records)
    await ms.exchange.enable_dkim(tenant.id, D)
    final = await ms.exchange.get_dkim_signing_config(tenant.id, D)
    assert (final["Enabled"], final["Status"]) == (True, "Valid")
    # New- again is harmless: the existing config comes back.
    assert (await ms.exchange.new_dkim_signing_config(tenant.id, D))["Selector1CNAME"] == s1


async def test_exchange_lags_behind_graph_verification(ms, state, tenant, store):
    state.accepted_lag = 0.5
    await ms.graph.create_domain(tenant.id, D)
    store.publish(build_expected_records(D, verification=await ms.graph.verification_records(tenant.id, D)).records)
    await ms.graph.verify_domain(tenant.id, D)
    await ms.graph.enable_email(tenant.id, D)
    with pytest.raises(DomainNotAccepted):
        await ms.exchange.new_dkim_signing_config(tenant.id, D)
    assert D not in {d["DomainName"] for d in await ms.exchange.accepted_domains(tenant.id)}
    await asyncio.sleep(0.6)
    assert D in {d["DomainName"] for d in await ms.exchange.accepted_domains(tenant.id)}
    assert (await ms.exchange.new_dkim_signing_config(tenant.id, D))["Domain"] == D


async def test_duplicate_add_get_and_delete(ms, tenant):
    await ms.graph.create_domain(tenant.id, D)
    with pytest.raises(DomainAlreadyExists):
        await ms.graph.create_domain(tenant.id, D.upper())
    assert (await ms.graph.get_domain(tenant.id, D)).id == D
    await ms.graph.delete_domain(tenant.id, D)
    with pytest.raises(DomainNotFound):
        await ms.graph.get_domain(tenant.id, D)
    with pytest.raises(DomainNotFound):
        await ms.graph.delete_domain(tenant.id, D)


async def test_delete_refused_while_objects_use_the_domain(ms, tenant):
    await ms.graph.create_domain(tenant.id, D)
    tenant.domains[D].references = 3
    with pytest.raises(DomainHasReferences) as refused:
        await ms.graph.delete_domain(tenant.id, D)
    assert "3 object" in refused.value.message


async def test_domain_verified_in_another_tenant_is_in_use(ms, state, tenant, store):
    other = state.create_tenant("Fabrikam", consent_app=tenant.consents and next(iter(tenant.consents)))
    await ms.graph.create_domain(other.id, D)
    store.publish(build_expected_records(D, verification=await ms.graph.verification_records(other.id, D)).records)
    await ms.graph.verify_domain(other.id, D)

    added = await ms.graph.create_domain(tenant.id, D)  # Microsoft lets it be added, unverified
    assert not added.is_verified
    with pytest.raises(DomainInUse):
        await ms.graph.verify_domain(tenant.id, D)


async def test_listing_follows_next_links(ms, state, tenant):
    state.page_size = 2
    names = [f"d{i}.acmecorp.com" for i in range(5)]
    for name in names:
        await ms.graph.create_domain(tenant.id, name)
    state.calls.clear()
    listed = await ms.graph.list_domains(tenant.id)
    assert sorted(d.id for d in listed) == sorted([*names, tenant.initial_domain.lower()])
    assert [c.target for c in state.calls if c.service == "graph"] == ["/v1.0/domains"] * 3
