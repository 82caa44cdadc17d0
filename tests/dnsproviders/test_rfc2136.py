"""Rfc2136Provider against Knot on loopback: TSIG-signed updates, read back over DNS."""

from __future__ import annotations

import base64

import pytest

from tenantcore.dnsproviders import ProviderError, RecordSet, open_provider
from tenantcore.dnsproviders.rfc2136 import Rfc2136Provider

from ..dnsservers import KnotServer, closed_port
from .contract import (
    check_change_keeps_what_others_added,
    check_cname_outside_zone,
    check_find_zone,
    check_lifecycle,
    check_txt_forms,
    served,
)


def provider(knot: KnotServer, **overrides: object) -> Rfc2136Provider:
    args: dict[str, object] = {
        "key_name": knot.key_name,
        "key_secret": knot.key_secret,
        "algorithm": knot.algorithm,
        "timeout": 3,
        "policy": "loopback",  # the test server is on this machine
    }
    args.update(overrides)
    return Rfc2136Provider(knot.host, knot.port, **args)  # type: ignore[arg-type]


async def test_find_zone(knot_server: KnotServer) -> None:
    p = provider(knot_server)
    await check_find_zone(p, "k03.test")
    assert await p.find_zone("mail.k03.test") == "k03.test"
    assert await p.find_zone("k14.test") == "k14.test"


async def test_replace_update_delete(knot_server: KnotServer) -> None:
    await check_lifecycle(provider(knot_server), "k01.test", knot_server.host, knot_server.port)


async def test_txt_with_spaces_and_300_bytes(knot_server: KnotServer) -> None:
    await check_txt_forms(provider(knot_server), "k02.test", knot_server.host, knot_server.port)


async def test_cname_outside_the_zone(knot_server: KnotServer) -> None:
    await check_cname_outside_zone(provider(knot_server), "k04.test", knot_server.host, knot_server.port)


async def test_open_provider_builds_it(knot_server: KnotServer) -> None:
    p = open_provider(
        "rfc2136",
        {"server": knot_server.host, "port": knot_server.port, "key_name": knot_server.key_name},
        {"key_secret": knot_server.key_secret},
        policy="loopback",
    )
    assert p.kind == "rfc2136"
    await p.replace("k05.test", RecordSet("k05.test", "MX", ("0 k05-test.mail.protection.outlook.com",)))
    assert await served(knot_server.host, knot_server.port, "k05.test", "MX") == [
        "0 k05-test.mail.protection.outlook.com"
    ]
    await p.aclose()


async def test_wrong_secret_is_auth_failed(knot_server: KnotServer) -> None:
    wrong = base64.b64encode(b"not the key, not the key, not it").decode()
    p = provider(knot_server, key_secret=wrong)
    with pytest.raises(ProviderError) as caught:
        await p.replace("k06.test", RecordSet("x.k06.test", "TXT", ("hello",)))
    assert caught.value.code == "provider_auth_failed"
    assert caught.value.record == "x.k06.test TXT"
    assert "x.k06.test TXT" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), repr(p)):
        assert wrong not in text and knot_server.key_secret not in text
    assert await served(knot_server.host, knot_server.port, "x.k06.test", "TXT") == []


async def test_unknown_key_name_is_auth_failed(knot_server: KnotServer) -> None:
    p = provider(knot_server, key_name="someone-else")
    with pytest.raises(ProviderError) as caught:
        await p.delete("k06.test", "x.k06.test", "TXT")
    assert caught.value.code == "provider_auth_failed"


async def test_zone_not_served_is_zone_not_found(knot_server: KnotServer) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider(knot_server).replace("elsewhere.test", RecordSet("a.elsewhere.test", "TXT", ("x",)))
    assert caught.value.code == "zone_not_found"


async def test_server_down_is_unreachable(knot_server: KnotServer) -> None:
    p = Rfc2136Provider(
        "127.0.0.1", closed_port(), key_name="k", key_secret=knot_server.key_secret, timeout=2, policy="loopback"
    )
    with pytest.raises(ProviderError) as caught:
        await p.replace("k07.test", RecordSet("k07.test", "TXT", ("x",)))
    assert caught.value.code == "provider_unreachable"
    assert knot_server.key_secret not in str(caught.value) + repr(p)
    with pytest.raises(ProviderError) as caught:
        await p.find_zone("k07.test")
    assert caught.value.code == "provider_unreachable"


def test_bad_secret_is_config_invalid() -> None:
    with pytest.raises(ProviderError) as caught:
        Rfc2136Provider("127.0.0.1", key_name="k", key_secret="%%%not-base64%%%")
    assert caught.value.code == "provider_config_invalid"
    assert "%%%not-base64%%%" not in str(caught.value)


async def test_a_change_keeps_what_others_added(knot_server: KnotServer) -> None:
    await check_change_keeps_what_others_added(provider(knot_server), "k08.test", knot_server.host, knot_server.port)
