from __future__ import annotations

import re

import pytest

from tenantcore.dnshealth.names import (
    MAX_DOMAIN_LENGTH,
    InvalidDomain,
    parse_domain,
    registrable_zone,
    relative_to,
)


def _long_name(length: int, tld: str = "com") -> str:
    """A name of exactly `length` characters: 50-character labels under `tld`."""
    labels: list[str] = []
    while sum(len(x) + 1 for x in labels) + len(tld) < length:
        room = length - sum(len(x) + 1 for x in labels) - len(tld) - 1
        labels.append("a" * min(50, room))
    return ".".join([*labels, tld])


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Mail.AcmeCorp.com.", "mail.acmecorp.com"),
        ("  acmecorp.com ", "acmecorp.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("acme-corp.co.uk", "acme-corp.co.uk"),
        ("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),  # an IDN top-level domain
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("acme.museum", "acme.museum"),
        ("mail.o01.test", "mail.o01.test"),  # reserved for testing: the sandbox uses it
        ("nowhere.example", "nowhere.example"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
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
        "x.c_m",  # the top-level label must be letters (or xn--)
        "x.c0m",
        "x.co-m",
        "example.invalidtld",  # letters, but no such top-level domain
        "acme.invalid",
        "acme.local",
        "acme.localhost",
        "x.xn--notatld",
        "a_b.com",  # DNS takes it, Microsoft 365 does not
        "co.uk",  # public suffixes: nobody owns them
        "github.io",
        "mail.acmecorp.com:25",
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


def test_a_domain_leaves_room_for_its_dkim_and_dmarc_names():
    longest = _long_name(MAX_DOMAIN_LENGTH)
    assert parse_domain(longest) == longest
    assert len("selector1._domainkey." + longest) == 253
    assert len("_dmarc." + longest) <= 253
    for too_long in (_long_name(MAX_DOMAIN_LENGTH + 1), _long_name(253 - len("_dmarc.") + 1), _long_name(253)):
        with pytest.raises(InvalidDomain) as info:
            parse_domain(too_long)
        assert info.value.code == "invalid_domain"
        assert "selector1._domainkey." in info.value.message


def test_a_name_only_looked_up_need_not_meet_the_rules_for_new_names():
    """A domain stored before these rules (or adopted from Microsoft) stays reachable."""
    assert parse_domain("acme.invalidtld", new=False) == "acme.invalidtld"
    assert parse_domain(_long_name(240), new=False) == _long_name(240)
    with pytest.raises(InvalidDomain):
        parse_domain("acme..com", new=False)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("2001:db8::1", "is an IP address"),
        ("[2001:db8::1]", "is an IP address"),
        ("192.0.2.1", "is an IP address"),
        ("mail.acmecorp.com:25", "a port (like :25) is not part of a domain name"),
        ("a.com\r\nX-Injected: 1", "has characters a host name cannot use"),
        ("co.uk", "is a public suffix: names are registered under it (e.g. yourname.co.uk)"),
        ("send_mail.acmecorp.com", "Label 'send_mail' has an underscore"),
    ],
)
def test_each_refusal_says_what_is_wrong(typed, says):
    with pytest.raises(InvalidDomain, match=re.escape(says)):
        parse_domain(typed)
    assert parse_domain("acme.github.io") == "acme.github.io"  # a name under a public suffix is fine
