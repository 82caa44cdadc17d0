from __future__ import annotations

import pytest

from tenantcore.dnshealth.names import InvalidDomain, parse_domain, registrable_zone, relative_to


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Mail.AcmeCorp.com.", "mail.acmecorp.com"),
        ("  acmecorp.com ", "acmecorp.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("acme-corp.co.uk", "acme-corp.co.uk"),
    ],
)
def test_domains_are_normalised(typed, stored):
    assert parse_domain(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "https://acmecorp.com",
        "acmecorp.com/path",
        "bob@acmecorp.com",
        "192.0.2.1",
        "2001:db8::1",
        "*.acmecorp.com",
        "localhost",
        "acme corp.com",
        "-acme.com",
        "acme..com",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "acme.123",
    ],
)
def test_bad_domains_are_refused_with_a_code(typed):
    with pytest.raises(InvalidDomain) as info:
        parse_domain(typed)
    assert info.value.code == "invalid_domain"
    assert info.value.message


def test_registrable_zone_and_relative_hosts():
    assert registrable_zone("selector1._domainkey.mail.acmecorp.co.uk") == "acmecorp.co.uk"
    assert relative_to("_dmarc.mail.acmecorp.com.", "acmecorp.com") == "_dmarc.mail"
    assert relative_to("acmecorp.com", "acmecorp.com") == "@"
