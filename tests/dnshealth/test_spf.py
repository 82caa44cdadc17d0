"""`parse_spf` against RFC 7208's grammar: each record a receiver rejects names the bad term,
and each record it accepts parses without a problem."""

from __future__ import annotations

import pytest

from tenantcore.dnshealth.spf import parse_spf

# (record, the term reported, a word the reason must contain)
INVALID = [
    # an argument or prefix length where none is allowed, or out of range
    ("v=spf1 -all:foobar", "-all:foobar", "no argument"),
    ("v=spf1 -all/8", "-all/8", "no argument"),
    ("v=spf1 -all.", "-all.", "no argument"),
    ("v=spf1 ptr/0 -all", "ptr/0", "prefix length"),
    ("v=spf1 a/33 -all", "a/33", "over 32"),
    ("v=spf1 a//129 -all", "a//129", "over 128"),
    ("v=spf1 a/24/64 -all", "a/24/64", "prefix length"),
    ("v=spf1 a/024 -all", "a/024", "leading zero"),
    ("v=spf1 mx/33 -all", "mx/33", "over 32"),
    ("v=spf1 mx//129 -all", "mx//129", "over 128"),
    ("v=spf1 include:ip5.example.com/24 -all", "include:ip5.example.com/24", "no prefix length"),
    ("v=spf1 exists:mail.example.com/24", "exists:mail.example.com/24", "no prefix length"),
    # ip4 / ip6
    ("v=spf1 ip4:1.2.3.4/33 -all", "ip4:1.2.3.4/33", "over 32"),
    ("v=spf1 ip4:1.2.3.4/032 -all", "ip4:1.2.3.4/032", "leading zero"),
    ("v=spf1 ip4:1.2.3.4:8080", "ip4:1.2.3.4:8080", "not an IPv4 address"),
    ("v=spf1 ip4:1.2.3", "ip4:1.2.3", "not an IPv4 address"),
    ("v=spf1 ip4:01.2.3.4", "ip4:01.2.3.4", "not an IPv4 address"),
    ("v=spf1 ip4:1.2.3.4//32", "ip4:1.2.3.4//32", "not a prefix length"),
    ("v=spf1 ip4", "ip4", "needs a network"),
    ("v=spf1 -all ip6", "ip6", "needs a network"),
    ("v=spf1 ip6:::1.1.1.1/129", "ip6:::1.1.1.1/129", "over 128"),
    ("v=spf1 ip6:::1.1.1.1//33", "ip6:::1.1.1.1//33", "not a prefix length"),
    ("v=spf1 ip6::CAFE::BABE", "ip6::CAFE::BABE", "not an IPv6 address"),
    ("v=spf1 ip6:fe80::1%eth0", "ip6:fe80::1%eth0", "not an IPv6 address"),
    # domain-spec
    ("v=spf1 a:foo-bar -all", "a:foo-bar", "not a full domain name"),
    ("v=spf1 a:example.com:8080", "a:example.com:8080", "top-level label"),
    ("v=spf1 a:abc.123", "a:abc.123", "all digits"),
    ("v=spf1 a:111.222.33.44", "a:111.222.33.44", "all digits"),
    ("v=spf1 a:example.-com", "a:example.-com", "top-level label"),
    ("v=spf1 a:museum", "a:museum", "not a full domain name"),
    ("v=spf1 a:museum.", "a:museum.", "not a full domain name"),
    ("v=spf1 mx:abc.123", "mx:abc.123", "all digits"),
    ("v=spf1 mx:example.-com", "mx:example.-com", "top-level label"),
    ("v=spf1 mx:example.com:8080", "mx:example.com:8080", "top-level label"),
    ("v=spf1 a:mail.example...com -all", "a:mail.example...com", "empty label"),
    # empty or missing domain-spec
    ("v=spf1 ptr:", "ptr:", "missing"),
    ("v=spf1 a:", "a:", "missing"),
    ("v=spf1 mx: -all", "mx:", "missing"),
    ("v=spf1 include: -all", "include:", "missing"),
    ("v=spf1 include +all", "include", "needs a domain"),
    ("v=spf1 exists:", "exists:", "missing"),
    ("v=spf1 exists", "exists", "needs a domain"),
    ("v=spf1 exp= -all", "exp=", "missing"),
    ("v=spf1 exp=-all", "exp=-all", "not a full domain name"),
    ("v=spf1 ?all redirect=", "redirect=", "missing"),
    ("v=spf1 redirect=-all ?all", "redirect=-all", "not a full domain name"),
    # macros
    ("v=spf1 a:%{a}.example.com -all", "a:%{a}.example.com", "not a macro letter"),
    ("v=spf1 -exists:%(ir).sbl.example.com ?all", "-exists:%(ir).sbl.example.com", "not a macro"),
    ("v=spf1 exists:foo%(ir).sbl.example.com ?all", "exists:foo%(ir).sbl.example.com", "not a macro"),
    ("v=spf1 exists:foo%.sbl.example.com ?all", "exists:foo%.sbl.example.com", "not a macro"),
    ("v=spf1 a:example.com% -all", "a:example.com%", "not a macro"),
    ("v=spf1 -all exp=%{r}.example.com", "exp=%{r}.example.com", "only allowed in an explanation"),
    ("v=spf1 -all foo=%abc", "foo=%abc", "not a macro"),
    # modifiers: duplicates, names
    ("v=spf1 exp=a.example.com -all exp=b.example.com", "exp=b.example.com", "more than once"),
    ("v=spf1 redirect=a.example.com -all redirect=a.example.com", "redirect=a.example.com", "more than once"),
    ("v=spf1 ip4:1.2.3.4 redirect:t2.example.com", "redirect:t2.example.com", "unknown mechanism"),
    ("v=spf1 1up=foo", "1up=foo", "unknown mechanism"),
    ("v=spf1 =all", "=all", "not a mechanism"),
    ("v=spf1 moo.cow/far_out=man:dog/cat ip4:1.2.3.4 -all", "moo.cow/far_out=man:dog/cat", "unknown mechanism"),
    ("v=spf1 ip4:1.2.3.4 -all moo", "moo", "unknown mechanism"),
    # characters and separators
    ("v=spf1 a:\u00ef\u00bb\u00bfgarbage.example.net -all", "a:\u00ef\u00bb\u00bfgarbage.example.net", "non-ASCII"),
    ("v=spf1 \x80a:example.net -all", "\x80a:example.net", "non-ASCII"),
    ("v=spf1 a:ctrl.example.com\rptr -all", "a:ctrl.example.com\rptr", "control character"),
    ("v=spf1 a:foo.example.com\x00", "a:foo.example.com\x00", "control character"),
    ("v=spf1 ip4:192.0.2.5\n include:spf.protection.outlook.com ~all", "ip4:192.0.2.5\n", "line break"),
    ("v=spf1 ip4:192.0.2.5\tinclude:spf.protection.outlook.com ~all", "ip4:192.0.2.5\tinclude:spf.protection.outlook.com", "only spaces"),
]  # fmt: skip

VALID = [
    "v=spf1 include:spf.protection.outlook.com -all",
    "v=spf1",
    "v=spf1 a  -all ",
    "V=SPF1 ~ALL",
    "v=spf1 all -all",
    "v=spf1 a//33 -all",
    "v=spf1 a/24//64 -all",
    "v=spf1 a/0 mx//0 -all",
    "v=spf1 a:foo.example.com/24",
    "v=spf1 a:foo:bar/baz.example.com",
    "v=spf1 a:foo.example.xn--zckzah -all",
    "v=spf1 a:mail.example.com. -all",
    "v=spf1 mx:foo.example.com/24 -all",
    "v=spf1 ptr:example.Com -all",
    "v=spf1 ip4:1.1.1.1/0 ip4:1.2.3.4/32 -all",
    "v=spf1 ip6:::1.1.1.1/0 ip6:Cafe:Babe:8000::/33 ip6:::FFFF:1.2.3.4 -all",
    "v=spf1 exists:mail.example.com",
    "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all",
    "v=spf1 default=pass",
    "v=spf1 exp=exp1.example.com redirect=e2.example.com",
    "v=spf1 redirect=%{d}.d.spf.example.com.",
    "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all",
    "v=spf1 -all exp=%{ir}.example.com",
    "v=spf1 -all exp=foobar.%{o}.%{o}.example.com",
    "v=spf1 -all exp=msg8.%{D2}",
    "v=spf1 a:%{H} -all",
    "v=spf1 exists:%{i}.%{l2r-}.user.%{d2}",
    "v=spf1 exists:%{l2r+-}.user.%{d2}",
    "v=spf1 -include:_spfh.%{d2} ip4:1.2.3.0/24 -all",
]


@pytest.mark.parametrize(("text", "term", "reason"), INVALID, ids=[t for _, t, _ in INVALID])
def test_a_record_receivers_reject_names_the_term(text: str, term: str, reason: str) -> None:
    record = parse_spf(text)
    assert [p.term for p in record.problems] == [term]
    problem = record.problems[0]
    assert reason in problem.problem
    assert problem.fix  # every problem says how to fix it
    assert term not in [t.mechanism for t in record.terms]


@pytest.mark.parametrize("text", VALID)
def test_a_valid_record_has_no_problem(text: str) -> None:
    assert parse_spf(text).problems == ()


def test_policy_qualifiers_are_not_syntax_errors() -> None:
    for text, qualifier in (("v=spf1 +all", "+"), ("v=spf1 ?all", "?"), ("v=spf1 all", "+")):
        record = parse_spf(text)
        assert (record.problems, record.all_qualifier) == ((), qualifier)


def test_lookups_names_and_queries() -> None:
    record = parse_spf(
        "v=spf1 a mx:Mail.Example.com/24 exists:%{i}.bl.example.com include:_spf.Vendor.example. "
        "ptr ip4:192.0.2.1 redirect=other.example.com"
    )
    assert record.lookup_terms == 6  # a, mx, exists, include, ptr, redirect
    assert record.includes == ("_spf.vendor.example",)
    assert record.followed == ("_spf.vendor.example", "other.example.com")
    # the terms that ask DNS without a sender: a bare a asks the record's own name ("")
    assert record.queries == (("a", "", "A"), ("mx:Mail.Example.com/24", "mail.example.com", "MX"))
    assert parse_spf("v=spf1 redirect=other.example.com -all").followed == ()  # all wins over redirect
