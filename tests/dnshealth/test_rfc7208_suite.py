"""The RFC 7208 (SPF) test suite, run against TenantCore's real check.

Each scenario's zone data is served by a DNS server on loopback (dnslib, the records exactly
as the suite writes them), and `HealthChecker` checks the domain each case evaluates, with
its real resolver pointed at that server. The suite judges an SPF evaluation for one client
IP; a health check judges the record. So the cases split in two:

- the record itself is broken (`permerror`) or absent (`none`): the check must report an
  error finding saying so (`RECORD_ERRORS`, or `spf_missing` for `none`);
- the record is valid (any other result, including `temperror`, where DNS failed but the
  record is fine): the check must not report any of those findings.

`OUT_OF_SCOPE` lists the cases left out, each with its reason. The served data follows the
suite's own driver (pyspf's `testspf.py`): type SPF records are served as TXT unless the name
has TXT records of its own, a TXT of `NONE` means none, and `TIMEOUT` (or a missing name
under `error.`) answers SERVFAIL at once (the check reports it as unknown, as it would a
timeout, without waiting one out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from tenantcore.dnshealth import HealthChecker, ResolverConfig, Severity

SUITE = Path(__file__).parent / "rfc7208" / "rfc7208-tests.yml"

# The findings that mean "receivers return permerror for this record".
RECORD_ERRORS = frozenset(
    {
        "spf_syntax",
        "spf_include_syntax",
        "spf_multiple",
        "spf_too_many_lookups",
        "spf_too_many_void_lookups",
        "spf_include_broken",
        "spf_include_loop",
        "spf_mx_too_many_names",
    }
)

_NOT_A_DOMAIN = "the sender's name is not a valid domain (a property of the message, not of a record)"
_EITHER = "the suite accepts permerror or another result: receivers differ, so no verdict to assert"
OUT_OF_SCOPE: dict[str, str] = {
    "toolonglabel": _NOT_A_DOMAIN,
    "emptylabel": _NOT_A_DOMAIN,
    "helo-not-fqdn": _NOT_A_DOMAIN,
    "helo-domain-literal": _NOT_A_DOMAIN,
    "domain-literal": _NOT_A_DOMAIN,
    "include-at-limit": (
        "the result depends on the client: 1.2.3.4 matches ip4: before the 11th lookup; for any other client "
        "the record exceeds the limit of 10, which the check reports (spf_too_many_lookups)"
    ),
    "multispf1": _EITHER,
    "invalid-domain-empty-label": _EITHER,
    "invalid-domain-long": _EITHER,
    "invalid-domain-long-via-macro": _EITHER + "; the name comes from the client's HELO",
}


@dataclass(frozen=True)
class SuiteCase:
    scenario: int
    name: str
    domain: str
    result: str  # "permerror", "none" or "valid"


def _load() -> tuple[list[dict[str, Any]], list[SuiteCase]]:
    scenarios = list(yaml.safe_load_all(SUITE.read_text(encoding="utf-8")))
    cases = []
    for index, scenario in enumerate(scenarios):
        for name, test in scenario["tests"].items():
            result = test["result"]
            results = set(result) if isinstance(result, list) else {result}
            if name in OUT_OF_SCOPE:
                continue
            assert len(results) == 1 or "permerror" not in results, f"{name}: ambiguous, not in OUT_OF_SCOPE"
            kind = "permerror" if results == {"permerror"} else "none" if results == {"none"} else "valid"
            mailfrom = test.get("mailfrom") or ""
            domain = mailfrom.rpartition("@")[2] or test["helo"]
            cases.append(SuiteCase(index, name, domain, kind))
    return scenarios, cases


SCENARIOS, CASES = _load()


def _zone(scenario: dict[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    """Names (lower case) → (type, value) as the suite's driver serves them."""
    zone: dict[str, list[tuple[str, Any]]] = {}
    for name, records in (scenario.get("zonedata") or {}).items():
        served: list[tuple[str, Any]] = []
        generated: list[tuple[str, Any]] = []
        has_txt = any(isinstance(r, dict) and "TXT" in r for r in records)
        for record in records:
            if record == "TIMEOUT":
                served.append(("TIMEOUT", None))
                continue
            ((rtype, value),) = record.items()
            if rtype in ("TXT", "SPF"):
                value = [value] if isinstance(value, str) else value
                if rtype == "SPF" and not has_txt:
                    generated.append(("TXT", value))
                if value == ["NONE"]:
                    continue
            served.append((rtype, value))
        zone[name.lower().rstrip(".")] = served + generated
    return zone


def _rdata(rtype: str, value: Any) -> Any:
    if rtype == "TXT":
        return TXT([s.encode("utf-8") for s in value])
    if rtype == "MX":
        return MX(value[1], value[0])
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "PTR":
        return PTR(value)
    return CNAME(value)


class SuiteResolver(BaseResolver):
    """Answers from the current scenario's zone data."""

    def __init__(self) -> None:
        self.zone: dict[str, list[tuple[str, Any]]] = {}

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE.get(request.q.qtype)
        name = qname
        for _ in range(2):  # one level of CNAME, as the suite's driver does
            records = self.zone.get(name)
            if records is None:
                rcode = RCODE.SERVFAIL if name.startswith("error.") else RCODE.NXDOMAIN
                if name == qname:
                    reply.header.rcode = rcode
                return reply
            if ("TIMEOUT", None) in records or any(r == (qtype, "TIMEOUT") for r in records):
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            cname = next((v for t, v in records if t == "CNAME"), None)
            if cname is not None and qtype != "CNAME":
                reply.add_answer(RR(name + ".", QTYPE.CNAME, rdata=CNAME(cname), ttl=0))
                name = cname.rstrip(".").lower()
                continue
            for rtype, value in records:
                if rtype == qtype:
                    reply.add_answer(RR(name + ".", getattr(QTYPE, rtype), rdata=_rdata(rtype, value), ttl=0))
            return reply
        return reply


@pytest.fixture(scope="module")
def suite_server() -> Iterator[tuple[SuiteResolver, str]]:
    resolver = SuiteResolver()
    quiet = DNSLogger(log="-request,-reply,-truncated,-recv,-send,-data", prefix=False)
    server = DNSServer(resolver, "127.0.0.1", 0, logger=quiet)
    server.start_thread()
    yield resolver, f"127.0.0.1:{server.server.server_address[1]}"
    server.stop()
    server.server.server_close()


def _check(resolver: SuiteResolver, address: str, case: SuiteCase) -> set[str]:
    resolver.zone = _zone(SCENARIOS[case.scenario])
    config = ResolverConfig(nameservers=(address,), timeout=1.0, tries=2)
    report = asyncio.run(HealthChecker(config).check(case.domain))
    return {f.code for f in report.findings if f.area == "spf" and f.severity is Severity.ERROR}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rfc7208_case(suite_server: tuple[SuiteResolver, str], case: SuiteCase) -> None:
    errors = _check(*suite_server, case)
    if case.result == "permerror":
        assert errors & RECORD_ERRORS, f"{case.domain}: a record receivers reject, not reported ({errors})"
    elif case.result == "none":
        assert "spf_missing" in errors
    else:
        assert not errors & (RECORD_ERRORS | {"spf_missing"}), f"{case.domain}: a valid record flagged"


def test_the_selection_covers_the_suite(capsys: pytest.CaptureFixture[str]) -> None:
    """Every case of the suite is either run above or left out with a reason."""
    names = [name for s in SCENARIOS for name in s["tests"]]
    assert set(OUT_OF_SCOPE) <= set(names)
    assert len(CASES) + len(OUT_OF_SCOPE) == len(names)
    rejected = sum(1 for c in CASES if c.result != "valid")
    with capsys.disabled():
        print(
            f"\nRFC 7208 suite: {len(CASES)} of {len(names)} cases selected "
            f"({rejected} permerror/none, {len(CASES) - rejected} valid), {len(OUT_OF_SCOPE)} out of scope"
        )
