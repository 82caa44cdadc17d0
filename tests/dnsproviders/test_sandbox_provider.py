"""SandboxProvider over the sandbox's ZoneStore, read back from SandboxDnsServer's DNS port."""

from __future__ import annotations

import pytest

from tenantcore.dnsproviders import ProviderError, RecordSet, SandboxProvider, open_provider
from tenantcore.sandbox.dns_server import SandboxDnsServer, ZoneStore

from .contract import check_cname_outside_zone, check_find_zone, check_lifecycle, check_txt_forms


@pytest.fixture
def sandbox(store: ZoneStore, dns_server: SandboxDnsServer) -> SandboxProvider:
    for zone in ("s01.test", "s02.test", "s03.test", "eu.s03.test", "s04.test"):
        store.add_zone(zone)
    return SandboxProvider(store)


async def test_find_zone(sandbox: SandboxProvider) -> None:
    await check_find_zone(sandbox, "s03.test")
    assert await sandbox.find_zone("mail.eu.s03.test") == "eu.s03.test"


async def test_replace_update_delete(sandbox: SandboxProvider, dns_server: SandboxDnsServer) -> None:
    await check_lifecycle(sandbox, "s01.test", dns_server.host, dns_server.port)


async def test_txt_with_spaces_and_300_bytes(sandbox: SandboxProvider, dns_server: SandboxDnsServer) -> None:
    await check_txt_forms(sandbox, "s02.test", dns_server.host, dns_server.port)


async def test_cname_outside_the_zone(sandbox: SandboxProvider, dns_server: SandboxDnsServer) -> None:
    await check_cname_outside_zone(sandbox, "s04.test", dns_server.host, dns_server.port)


async def test_writes_call_on_change(store: ZoneStore, sandbox: SandboxProvider) -> None:
    calls: list[int] = []
    p = open_provider("sandbox", {}, {}, sandbox=store)
    assert isinstance(p, SandboxProvider)
    p = SandboxProvider(store, on_change=lambda: calls.append(1))
    await p.replace("s01.test", RecordSet("s01.test", "TXT", ("x",)))
    await p.delete("s01.test", "s01.test", "TXT")
    assert len(calls) == 2


async def test_zone_it_does_not_hold(sandbox: SandboxProvider, store: ZoneStore) -> None:
    with pytest.raises(ProviderError) as caught:
        await sandbox.replace("elsewhere.test", RecordSet("a.elsewhere.test", "TXT", ("x",)))
    assert caught.value.code == "zone_not_found"
    assert caught.value.record == "a.elsewhere.test TXT"
    assert store.zone_of("a.elsewhere.test") is None  # no zone made up on the way


def test_open_provider_validates() -> None:
    for kind, config, credentials, named in (
        ("nope", {}, {}, "nope"),
        ("sandbox", {}, {}, "sandbox"),
        ("rfc2136", {"key_name": "k"}, {"key_secret": "c2VjcmV0"}, "server"),
        ("rfc2136", {"server": "127.0.0.1", "key_name": "k"}, {}, "key_secret"),
        ("rfc2136", {"server": "127.0.0.1", "key_name": "k", "colour": 1}, {"key_secret": "c2VjcmV0"}, "colour"),
        ("rfc2136", {"server": "127.0.0.1", "key_name": "k", "port": "53"}, {"key_secret": "c2VjcmV0"}, "port"),
        ("lexicon", {}, {}, "provider_name"),
    ):
        with pytest.raises(ProviderError) as caught:
            open_provider(kind, config, credentials)
        assert caught.value.code == "provider_config_invalid"
        assert named in str(caught.value)
        assert "c2VjcmV0" not in str(caught.value)
