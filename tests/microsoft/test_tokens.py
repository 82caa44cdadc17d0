"""App-only tokens through msal against the emulator's login endpoints."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tenantcore.emulator import Consent
from tenantcore.microsoft import Certificate
from tenantcore.microsoft.errors import (
    AppNotFound,
    ConsentRequired,
    InsufficientPrivileges,
    InvalidClientCredential,
    MicrosoftTenantNotFound,
)
from tenantcore.microsoft.transport import RoutedTransport

from .conftest import CLIENT_ID, make_clients


async def test_many_calls_cost_one_token_per_resource(ms, tenant):
    await asyncio.gather(*(ms.graph.list_domains(tenant.id) for _ in range(20)))
    for _ in range(5):
        await ms.graph.list_domains(tenant.id)
    assert tenant.token_requests == 1
    await ms.exchange.accepted_domains(tenant.id)
    await ms.exchange.accepted_domains(tenant.id)
    assert tenant.token_requests == 2  # Exchange needs its own token
    assert ms.tokens.requests == 2


async def test_a_tenant_can_be_named_by_its_initial_domain(ms, tenant):
    domains = await ms.graph.list_domains(tenant.initial_domain)
    assert [d.id for d in domains] == [tenant.initial_domain.lower()]


@pytest.mark.parametrize(
    ("setup", "error", "words"),
    [
        ("unknown_tenant", MicrosoftTenantNotFound, "tenant id"),
        ("wrong_secret", InvalidClientCredential, "secret"),
        ("no_consent", ConsentRequired, "consent"),
        ("unknown_app", AppNotFound, "client id"),
    ],
)
async def test_token_failures_are_typed_and_actionable(emulator, state, setup, error, words):
    tenant = state.create_tenant("Contoso", consent_app=None if setup == "no_consent" else CLIENT_ID)
    overrides = {"client_secret": "wrong"} if setup == "wrong_secret" else {}
    clients = make_clients(emulator, **overrides)
    if setup == "unknown_app":
        clients.tokens.config = clients.tokens.config.__class__(
            "00000000-0000-0000-0000-000000000000", client_secret="x"
        )
    target = "00000000-1111-2222-3333-444444444444" if setup == "unknown_tenant" else tenant.id
    try:
        with pytest.raises(error) as raised:
            await clients.graph.list_domains(target)
        assert words in raised.value.message
        assert raised.value.ms_code and raised.value.ms_code.startswith("AADSTS")
    finally:
        await clients.aclose()


async def test_missing_graph_permission_is_insufficient_privileges(ms, state, tenant):
    state.consent(tenant.id, CLIENT_ID, Consent(graph_roles={"Domain.Read.All"}))
    assert await ms.graph.list_domains(tenant.id)
    with pytest.raises(InsufficientPrivileges) as raised:
        await ms.graph.create_domain(tenant.id, "acmecorp.com")
    assert "Domain.ReadWrite.All" in raised.value.message


def _certificate() -> tuple[Certificate, str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenantcore-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    sha1 = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest()
    x5t = base64.urlsafe_b64encode(sha1).decode().rstrip("=")
    return Certificate(key_pem, sha1.hex().upper()), x5t, pem


async def test_certificate_credential(emulator, state):
    credential, x5t, pem = _certificate()
    state.add_app(CLIENT_ID, certificate=(x5t, pem))
    tenant = state.create_tenant("Contoso", consent_app=CLIENT_ID)
    clients = make_clients(emulator, client_secret=None, certificate=credential)
    try:
        assert await clients.graph.list_domains(tenant.id)
    finally:
        await clients.aclose()

    other, _, _ = _certificate()  # a certificate the app does not know
    clients = make_clients(emulator, client_secret=None, certificate=other)
    try:
        with pytest.raises(InvalidClientCredential):
            await clients.graph.list_domains(tenant.id)
    finally:
        await clients.aclose()


async def test_tokens_carry_an_audience(ms, emulator, tenant):
    """A Graph token sent to Exchange is refused, and no token at all is refused everywhere."""
    from tenantcore.microsoft.config import Resource

    graph_token = await ms.tokens.token(tenant.id, Resource.GRAPH)
    async with httpx.AsyncClient(transport=RoutedTransport(emulator.url)) as client:
        body = {"CmdletInput": {"CmdletName": "Get-AcceptedDomain", "Parameters": {}}}
        url = f"https://outlook.office365.com/adminapi/beta/{tenant.id}/InvokeCommand"
        wrong = await client.post(url, json=body, headers={"Authorization": f"Bearer {graph_token}"})
        assert wrong.status_code == 401
        none = await client.get("https://graph.microsoft.com/v1.0/domains")
        assert none.status_code == 401
        assert none.json()["error"]["code"] == "InvalidAuthenticationToken"
        right = await client.get(
            "https://graph.microsoft.com/v1.0/domains", headers={"Authorization": f"Bearer {graph_token}"}
        )
        assert right.status_code == 200
