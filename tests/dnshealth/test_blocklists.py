"""Domain blocklists: every documented return code read right, from a table and from Knot
serving fake blocklist zones on loopback; refusals and timeouts are `unknown`, never `clean`;
a listing and a delisting raise `domain.blocklisted` and `domain.delisted`."""

from __future__ import annotations

from collections.abc import Iterator

import dns.query
import dns.tsigkeyring
import dns.update
import pytest

from tenantcore.config import Settings
from tenantcore.dnshealth import HealthChecker, ResolverConfig, Severity
from tenantcore.dnshealth.blocklists import (
    CLEAN,
    LISTED,
    UNKNOWN,
    Blocklist,
    ListKind,
    parse_blocklists,
    read_answers,
    read_code,
)
from tenantcore.dnshealth.lookup import Answer, Outcome
from tenantcore.domains.health import StoredHealth, changes
from tenantcore.sandbox.knot import KnotNotInstalled, KnotServer, running_knot

DQS_KEY = "k3ytest0123"
ENTRIES = ("spamhaus:dbl.test-bl", "surbl:multi.surbl.test-bl", "uribl:multi.uribl.test-bl")

# (kind, code) → (verdict, words the meaning contains)
CODES = [
    (ListKind.SPAMHAUS, "127.0.1.2", "listed", "spam"),
    (ListKind.SPAMHAUS, "127.0.1.4", "listed", "phishing"),
    (ListKind.SPAMHAUS, "127.0.1.5", "listed", "malware"),
    (ListKind.SPAMHAUS, "127.0.1.6", "listed", "botnet C&C"),
    (ListKind.SPAMHAUS, "127.0.1.102", "listed", "abused legitimate domain: spam"),
    (ListKind.SPAMHAUS, "127.0.1.103", "listed", "spammed redirector"),
    (ListKind.SPAMHAUS, "127.0.1.104", "listed", "abused legitimate domain: phishing"),
    (ListKind.SPAMHAUS, "127.0.1.105", "listed", "abused legitimate domain: malware"),
    (ListKind.SPAMHAUS, "127.0.1.106", "listed", "abused legitimate domain: botnet C&C"),
    (ListKind.SPAMHAUS, "127.255.255.252", "refused", "typo"),
    (ListKind.SPAMHAUS, "127.255.255.254", "refused", "public/open resolver"),
    (ListKind.SPAMHAUS, "127.255.255.255", "refused", "excessive number of queries"),
    (ListKind.SPAMHAUS, "127.255.255.250", "refused", "error range"),
    (ListKind.SPAMHAUS, "127.0.1.255", "refused", "IP queries"),
    (ListKind.SPAMHAUS, "127.0.0.1", "unexpected", "not a DBL return code"),
    (ListKind.SURBL, "127.0.0.8", "listed", "PH phishing"),
    (ListKind.SURBL, "127.0.0.16", "listed", "MW malware"),
    (ListKind.SURBL, "127.0.0.64", "listed", "ABUSE"),
    (ListKind.SURBL, "127.0.0.128", "listed", "CR cracked"),
    (ListKind.SURBL, "127.0.0.88", "listed", "PH phishing, MW malware, ABUSE"),
    (ListKind.SURBL, "127.0.0.1", "refused", "access blocked"),
    (ListKind.URIBL, "127.0.0.2", "listed", "black"),
    (ListKind.URIBL, "127.0.0.4", "listed", "grey"),
    (ListKind.URIBL, "127.0.0.8", "listed", "red"),
    (ListKind.URIBL, "127.0.0.14", "listed", "black, grey, red"),
    (ListKind.URIBL, "127.0.0.1", "refused", "query refused"),
    (ListKind.URIBL, "127.255.255.254", "refused", "error range"),
    (ListKind.RHSBL, "127.0.0.2", "listed", "code 127.0.0.2"),
    (ListKind.RHSBL, "127.255.255.255", "refused", "error range"),
    (ListKind.RHSBL, "10.1.2.3", "unexpected", "outside 127.0.0.0/8"),
]


@pytest.mark.parametrize(("kind", "code", "verdict", "meaning"), CODES)
def test_every_return_code_is_read_as_documented(kind, code, verdict, meaning):
    got, text = read_code(kind, code)
    assert got == verdict
    assert meaning in text


def _answer(outcome: Outcome, *values: str) -> Answer:
    return Answer("x", "A", outcome, tuple(values), detail="" if outcome is Outcome.OK else "why")


@pytest.mark.parametrize(
    ("answers", "status", "refused"),
    [
        ([_answer(Outcome.NXDOMAIN)], CLEAN, False),
        ([_answer(Outcome.NODATA)], CLEAN, False),
        ([_answer(Outcome.OK, "127.0.1.2")], LISTED, False),
        ([_answer(Outcome.OK, "127.255.255.254")], UNKNOWN, True),
        ([_answer(Outcome.TIMEOUT)], UNKNOWN, False),
        ([_answer(Outcome.SERVFAIL)], UNKNOWN, False),
        ([_answer(Outcome.REFUSED)], UNKNOWN, False),
        # the host is clean but its registrable domain is listed: listed
        ([_answer(Outcome.NXDOMAIN), _answer(Outcome.OK, "127.0.1.5")], LISTED, False),
        # one name unanswered and nothing listed: unknown, not clean
        ([_answer(Outcome.NXDOMAIN), _answer(Outcome.TIMEOUT)], UNKNOWN, False),
        # a listing outranks a timeout on the other name
        ([_answer(Outcome.TIMEOUT), _answer(Outcome.OK, "127.0.1.2")], LISTED, False),
    ],
)
def test_a_lists_answers_make_one_verdict(answers, status, refused):
    blocklist = Blocklist("dbl.spamhaus.org", ListKind.SPAMHAUS, "dbl.spamhaus.org")
    names = ("mail.acme-corp.com", "acme-corp.com")[: len(answers)]
    result = read_answers(blocklist, names, answers)
    assert (result.status, result.refused) == (status, refused)


def test_entries_kinds_and_the_dqs_key():
    lists = parse_blocklists(["dbl.spamhaus.org", "multi.surbl.org", "multi.uribl.com", "rhsbl:x.example"])
    assert [b.kind for b in lists] == [ListKind.SPAMHAUS, ListKind.SURBL, ListKind.URIBL, ListKind.RHSBL]
    dqs = parse_blocklists(["dbl.spamhaus.org", "multi.surbl.org"], "abc123")
    assert dqs[0].question("acme-corp.com") == "acme-corp.com.abc123.dbl.dq.spamhaus.net"
    assert dqs[1].question("acme-corp.com") == "acme-corp.com.multi.surbl.org"  # the key is Spamhaus's only
    assert "abc123" not in repr(dqs)  # the key stays out of logs
    assert parse_blocklists(["spamhaus:dbl.dq.test-bl"], "abc123")[0].query_zone == "abc123.dbl.dq.test-bl"
    for bad in (["nonsense"], ["bogus:dbl.test-bl"], ["spamhaus:"]):
        with pytest.raises(ValueError):
            parse_blocklists(bad)
    with pytest.raises(ValueError):
        parse_blocklists([], "not.one.label")


def test_settings_turn_lists_on_and_off(monkeypatch, tmp_path):
    assert [b.name for b in Settings(data_dir=tmp_path).blocklists_for("live")] == [
        "dbl.spamhaus.org",
        "multi.surbl.org",
        "multi.uribl.com",
    ]
    assert Settings(data_dir=tmp_path).blocklists_for("test") == ()  # the sandbox DNS has no such zones
    monkeypatch.setenv("TENANTCORE_BLOCKLISTS", "off")
    assert Settings(data_dir=tmp_path).blocklists_for("live") == ()
    monkeypatch.setenv("TENANTCORE_BLOCKLISTS", "spamhaus:dbl.test-bl, multi.uribl.com")
    monkeypatch.setenv("TENANTCORE_SPAMHAUS_DQS_KEY", DQS_KEY)
    lists = Settings(data_dir=tmp_path).blocklists_for("live")
    assert [(b.name, b.query_zone) for b in lists] == [
        ("dbl.test-bl", f"{DQS_KEY}.dbl.test-bl"),
        ("multi.uribl.com", "multi.uribl.com"),
    ]


# --- Knot serving fake blocklist zones ----------------------------------------------------

DBL = {  # domain → code, in dbl.test-bl
    "spam-example.com": "127.0.1.2",
    "phish-example.com": "127.0.1.4",
    "malware-example.com": "127.0.1.5",
    "botnet-example.com": "127.0.1.6",
    "abused-spam-example.com": "127.0.1.102",
    "redirector-example.com": "127.0.1.103",
    "abused-phish-example.com": "127.0.1.104",
    "abused-malware-example.com": "127.0.1.105",
    "abused-botnet-example.com": "127.0.1.106",
    "typo-example.com": "127.255.255.252",
    "public-resolver-example.com": "127.255.255.254",
    "rate-limited-example.com": "127.255.255.255",
    "mail.host-listed-example.com": "127.0.1.2",  # a host name listed, not its domain
}
SURBL = {
    "surbl-ph-example.com": "127.0.0.8",
    "surbl-mw-example.com": "127.0.0.16",
    "surbl-abuse-example.com": "127.0.0.64",
    "surbl-cr-example.com": "127.0.0.128",
    "surbl-many-example.com": "127.0.0.24",
    "surbl-blocked-example.com": "127.0.0.1",
}
URIBL = {
    "uribl-black-example.com": "127.0.0.2",
    "uribl-grey-example.com": "127.0.0.4",
    "uribl-red-example.com": "127.0.0.8",
    "uribl-all-example.com": "127.0.0.14",
    "uribl-refused-example.com": "127.0.0.1",
}
DQS = {"dqs-listed-example.com": "127.0.1.2"}  # under <key>.dbl.dq.test-bl


def _zone(zone: str, listed: dict[str, str], prefix: str = "") -> str:
    lines = ["$TTL 0", f"@ SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 0", f"@ NS ns.{zone}."]
    lines += [f"{name}{prefix} A {code}" for name, code in listed.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def blocklist_knot() -> Iterator[KnotServer]:
    zones = {
        "dbl.test-bl": _zone("dbl.test-bl", DBL),
        "multi.surbl.test-bl": _zone("multi.surbl.test-bl", SURBL),
        "multi.uribl.test-bl": _zone("multi.uribl.test-bl", URIBL),
        "dbl.dq.test-bl": _zone("dbl.dq.test-bl", DQS, f".{DQS_KEY}"),
    }
    try:
        with running_knot(zones, key_name="tenantcore-bl") as server:
            yield server
    except KnotNotInstalled as exc:
        pytest.skip(f"{exc}: run ./dev test as root, it installs Debian's knot")


def _checker(server: KnotServer, entries=ENTRIES, key: str | None = None) -> HealthChecker:
    config = ResolverConfig(nameservers=(server.address,), timeout=1.0, tries=2)
    return HealthChecker(config, parse_blocklists(entries, key))


def _by_list(report):
    return {b.blocklist: b for b in report.blocklists}


async def test_every_code_from_knot(blocklist_knot):
    checker = _checker(blocklist_knot)
    domains = [*DBL, *SURBL, *URIBL, "clean-example.com", "mail.clean-example.com"]
    reports = {r.domain: r for r in await checker.check_many(domains)}
    for domain, code in DBL.items():
        got = _by_list(reports[domain])["dbl.test-bl"]
        verdict, _ = read_code(ListKind.SPAMHAUS, code)
        assert got.status == (LISTED if verdict == "listed" else UNKNOWN), domain
        if verdict == "listed":
            assert got.codes == (code,) and got.listed_name == domain
            assert reports[domain].blocklist_status == LISTED
            assert any(f.code == "blocklisted" and f.severity is Severity.ERROR for f in reports[domain].findings)
        else:  # the list's error codes: not a listing, and not clean either
            assert got.refused and code in got.problem
            assert reports[domain].blocklist_status == UNKNOWN
            refused = [f for f in reports[domain].findings if f.code == "blocklist_refused"]
            assert refused and refused[0].severity is Severity.INFO and "TENANTCORE_SPAMHAUS_DQS_KEY" in refused[0].fix
            assert "blocklisted" not in {f.code for f in reports[domain].findings}
    for domain, code in SURBL.items():
        got = _by_list(reports[domain])["multi.surbl.test-bl"]
        assert got.status == (UNKNOWN if code == "127.0.0.1" else LISTED), domain
    assert _by_list(reports["surbl-many-example.com"])["multi.surbl.test-bl"].reasons == ("PH phishing, MW malware",)
    for domain, code in URIBL.items():
        got = _by_list(reports[domain])["multi.uribl.test-bl"]
        assert got.status == (UNKNOWN if code == "127.0.0.1" else LISTED), domain
    assert _by_list(reports["uribl-all-example.com"])["multi.uribl.test-bl"].reasons == ("black, grey, red",)
    clean = reports["clean-example.com"]
    assert clean.blocklist_status == CLEAN and {b.status for b in clean.blocklists} == {CLEAN}
    assert [f.code for f in clean.findings if f.area == "blocklist"] == ["blocklist_ok"]
    # a listed host name is found although its registrable domain is not listed
    host = _by_list(reports["mail.host-listed-example.com"])["dbl.test-bl"]
    assert host.status == LISTED and host.listed_name == "mail.host-listed-example.com"
    # listings stay out of the records' fingerprint (they have events of their own)
    assert "blocklists" not in clean.observed and "blocklists" in clean.to_dict()


async def test_a_dqs_key_asks_the_keyed_zone(blocklist_knot):
    keyed = await _checker(blocklist_knot, ["spamhaus:dbl.dq.test-bl"], DQS_KEY).check("dqs-listed-example.com")
    assert keyed.blocklist_status == LISTED
    finding = next(f for f in keyed.findings if f.code == "blocklisted")
    assert DQS_KEY not in finding.message + (finding.fix or "") + str(keyed.to_dict())
    # without the key the same name is not in the zone: NXDOMAIN, clean
    plain = await _checker(blocklist_knot, ["spamhaus:dbl.dq.test-bl"]).check("dqs-listed-example.com")
    assert plain.blocklist_status == CLEAN


async def test_a_timeout_is_unknown_never_clean(blackhole):
    config = ResolverConfig(nameservers=(blackhole,), timeout=0.1, tries=1)
    report = await HealthChecker(config, parse_blocklists(ENTRIES)).check("acme-corp.com")
    assert report.blocklist_status == UNKNOWN
    assert {b.status for b in report.blocklists} == {UNKNOWN}
    unknown = [f for f in report.findings if f.code == "blocklist_unknown"]
    assert len(unknown) == 3 and all("timeout" in f.message and f.severity is Severity.INFO for f in unknown)


def _set_listing(server: KnotServer, zone: str, name: str, code: str | None) -> None:
    keyring = dns.tsigkeyring.from_text({server.key_name: (server.algorithm, server.key_secret)})
    update = dns.update.UpdateMessage(zone + ".", keyring=keyring)
    if code is None:
        update.delete(name)
    else:
        update.replace(name, 0, "A", code)
    response = dns.query.tcp(update, server.host, port=server.port, timeout=5)
    assert response.rcode() == 0


async def test_listed_then_removed_raises_blocklisted_then_delisted(blocklist_knot):
    checker = _checker(blocklist_knot)
    domain = "events-example.com"

    def check_and_keep(stored: StoredHealth | None, report):
        # (The listing is an error finding, so the grade events fire too: not what this tests.)
        raised = changes(None, None, report, stored.last_known() if stored else None)
        return StoredHealth.from_report(report, stored), [event for event, _, _ in raised]

    stored, raised = check_and_keep(None, await checker.check(domain))
    assert stored.blocklist_status == CLEAN and raised == []

    _set_listing(blocklist_knot, "dbl.test-bl", domain, "127.0.1.4")
    try:
        report = await checker.check(domain)
        stored, raised = check_and_keep(stored, report)
        assert raised == ["domain.blocklisted"]
        event = changes(None, None, report, None)[0]
        assert event[2]["blocklist"] == "dbl.test-bl" and event[2]["codes"] == ["127.0.1.4"]
        assert "phishing" in event[1]
        assert stored.blocklist_status == LISTED

        # still listed: nothing new; the stored health round-trips through JSON
        stored = StoredHealth.from_json(stored.to_json())
        stored, raised = check_and_keep(stored, await checker.check(domain))
        assert raised == []
    finally:
        _set_listing(blocklist_knot, "dbl.test-bl", domain, None)

    stored, raised = check_and_keep(stored, await checker.check(domain))
    assert raised == ["domain.delisted"] and stored.blocklist_status == CLEAN


async def test_an_unknown_in_between_raises_nothing_twice(blocklist_knot, blackhole):
    """listed → no answer → listed: one domain.blocklisted; listed → no answer → clean: delisted."""
    listed = await _checker(blocklist_knot).check("spam-example.com")
    dead = HealthChecker(ResolverConfig(nameservers=(blackhole,), timeout=0.1, tries=1), parse_blocklists(ENTRIES))
    unknown = await dead.check("spam-example.com")
    stored = StoredHealth.from_report(listed)
    assert [e for e, _, _ in changes(None, None, unknown, stored.last_known())] == []
    stored = StoredHealth.from_report(unknown, stored)
    assert stored.blocklist_status == UNKNOWN and stored.last_known()["dbl.test-bl"] == LISTED
    assert [e for e, _, _ in changes(None, None, listed, stored.last_known())] == []
    clean = await _checker(blocklist_knot).check("clean-example.com")
    assert [e for e, _, _ in changes(None, None, clean, stored.last_known())] == ["domain.delisted"]


async def test_the_reconciler_reuses_a_verdict_until_the_interval_is_up(blocklist_knot):
    """Lists are asked at most once per `blocklist_interval`: in between, the last verdict is
    carried (same grade, no event), and a listing made meanwhile shows once the interval is up."""
    from datetime import timedelta

    from tenantcore.dnshealth import CheckTarget

    checker = _checker(blocklist_knot)
    domain = "interval-example.com"
    first = await checker.check(domain)
    stored = StoredHealth.from_report(first)
    assert stored.blocklist_status == CLEAN and stored.blocklists_asked_at is not None
    _set_listing(blocklist_knot, "dbl.test-bl", domain, "127.0.1.2")
    try:
        reuse = stored.reusable_blocklists(3600, first.checked_at + timedelta(minutes=15))
        assert reuse is not None
        [carried] = await checker.check_many([CheckTarget(domain, blocklists=reuse)])
        assert carried.blocklists_reused and carried.blocklist_status == CLEAN  # not asked: the list is not hit
        assert carried.grade == first.grade
        kept = StoredHealth.from_report(carried, stored)
        assert kept.blocklists_asked_at == stored.blocklists_asked_at  # the clock is not reset by a reuse
        assert kept.reusable_blocklists(3600, first.checked_at + timedelta(minutes=61)) is None
        [asked] = await checker.check_many([CheckTarget(domain, blocklists=None)])
        assert asked.blocklist_status == LISTED
        assert [e for e, _, _ in changes(None, None, asked, kept.last_known())] == ["domain.blocklisted"]
    finally:
        _set_listing(blocklist_knot, "dbl.test-bl", domain, None)


async def test_authoritative_checks_still_ask_the_lists_through_the_resolvers():
    """`--authoritative` asks a domain's own servers; a list is a zone delegated below its
    owner's domain (dbl.spamhaus.org under spamhaus.org), whose servers only refer onwards:
    asked there, a listed domain would read "clean"."""
    domain = "listed-example.com"
    head = "$TTL 0\n@ SOA ns.{z}. h.{z}. 1 3600 600 86400 0\n@ NS ns.{z}.\nns A 127.0.0.1\n"
    owner = head.format(z="bl-owner.com") + "dbl NS ns.list-operator.invalid.\n"  # only a referral
    served = {
        domain: head.format(z=domain) + '@ TXT "v=spf1 -all"\n',
        "bl-owner.com": head.format(z="bl-owner.com"),
        "dbl.bl-owner.com": head.format(z="dbl.bl-owner.com") + f"{domain} A 127.0.1.2\n",
    }
    try:
        # The resolvers know every zone; the domain's own servers (port of `own`) know only
        # the domain and the list owner's parent zone, as on the internet.
        with running_knot(served) as resolver, running_knot({domain: served[domain], "bl-owner.com": owner}) as own:
            config = ResolverConfig(
                nameservers=(resolver.address,), authoritative=True, authoritative_port=own.port, timeout=1.0, tries=1
            )
            report = await HealthChecker(config, parse_blocklists(["spamhaus:dbl.bl-owner.com"])).check(domain)
    except KnotNotInstalled as exc:
        pytest.skip(f"{exc}: run ./dev test as root, it installs Debian's knot")
    assert report.spf_status == "v=spf1 -all"  # the domain itself came from its own servers
    assert report.blocklist_status == "listed"
    assert "blocklisted" in {f.code for f in report.findings}
