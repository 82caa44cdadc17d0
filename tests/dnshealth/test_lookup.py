"""The c-ares driver under a check run: the in-flight bound, closing mid-run, names c-ares
refuses, answers too large for UDP, and `query_all`'s ordering. Real servers on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RR, TXT, DNSRecord

from tenantcore.dnshealth.lookup import DnsSession, Outcome, ResolverConfig


class HoldingServer:
    """A UDP DNS server that keeps every query unanswered until `release()`, then answers
    those and all later ones with one TXT record naming the question."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.received: list[str] = []
        self.held: list[tuple[DNSRecord, tuple[str, int]]] = []
        self.released = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _answer(self, query: DNSRecord, peer: tuple[str, int]) -> None:
        reply = query.reply()
        reply.add_answer(RR(query.q.qname, QTYPE.TXT, rdata=TXT(f"for {str(query.q.qname).rstrip('.')}"), ttl=0))
        self.sock.sendto(reply.pack(), peer)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            if self.released.is_set() and self.held:
                for query, peer in self.held:
                    self._answer(query, peer)
                self.held.clear()
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            query = DNSRecord.parse(data)
            self.received.append(str(query.q.qname).rstrip("."))
            if self.released.is_set():
                self._answer(query, peer)
            else:
                self.held.append((query, peer))

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def holding() -> Iterator[HoldingServer]:
    server = HoldingServer()
    yield server
    server.stop()


async def wait_until(condition, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_no_more_than_the_bound_is_in_flight_and_the_rest_follow_in_order(holding):
    session = DnsSession(ResolverConfig(nameservers=(holding.address,), timeout=5.0, tries=1, concurrency=3))
    try:
        names = [f"n{i}.example.com" for i in range(10)]
        pending = [session.query(name, "TXT") for name in names]
        await wait_until(lambda: len(holding.received) >= 3)
        await asyncio.sleep(0.2)  # time for any query over the bound to arrive, were one sent
        assert holding.received == names[:3]
        holding.release()
        answers = await asyncio.gather(*pending)
    finally:
        await session.close()
    assert [a.values for a in answers] == [(f"for {name}",) for name in names]
    assert holding.received == names  # the waiting ones were sent first come, first served
    assert session.queries == 10


async def test_closing_a_session_resolves_queries_in_flight_and_waiting(holding):
    session = DnsSession(ResolverConfig(nameservers=(holding.address,), timeout=5.0, tries=1, concurrency=2))
    pending = [session.query(f"n{i}.example.com", "TXT") for i in range(5)]
    await wait_until(lambda: len(holding.received) == 2)
    await session.close()
    answers = await asyncio.wait_for(asyncio.gather(*pending), 2.0)
    assert [a.outcome for a in answers] == [Outcome.ERROR] * 5
    assert not any(a.definite for a in answers)  # never taken for "missing"
    late = await session.query("late.example.com", "TXT")
    assert late.outcome is Outcome.ERROR and late.detail == "session closed"


async def test_a_name_c_ares_refuses_is_an_error_answer_and_the_session_goes_on(dns_server, store):
    store.add("acmecorp.com", "TXT", "hello")
    session = DnsSession(ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=1, concurrency=1))
    try:
        bad = await session.query("a" * 64 + ".acmecorp.com", "TXT")  # a label over 63 octets
        good = await session.query("acmecorp.com", "TXT")
    finally:
        await session.close()
    assert bad.outcome is Outcome.ERROR and not bad.definite
    assert good.values == ("hello",)


async def test_an_answer_too_large_for_udp_arrives_over_tcp(dns_server, store):
    key = "v=DKIM1; k=rsa; p=" + "A" * 4000  # past the 1,232-byte EDNS payload: truncated on UDP
    store.add("selector1._domainkey.acmecorp.com", "TXT", key)
    session = DnsSession(ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=2))
    try:
        answer = await session.query("selector1._domainkey.acmecorp.com", "TXT")
    finally:
        await session.close()
    assert answer.outcome is Outcome.OK
    assert answer.values == (key,)


async def test_query_all_keeps_the_order_of_the_questions(dns_server, store):
    store.add("acmecorp.com", "TXT", "v=spf1 -all")
    store.add("acmecorp.com", "MX", "0 mx.acmecorp.com")
    session = DnsSession(ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=1, concurrency=2))
    try:
        answers = await session.query_all(
            [("nope.acmecorp.com", "TXT"), ("acmecorp.com", "MX"), ("acmecorp.com", "CNAME"), ("acmecorp.com", "TXT")]
        )
    finally:
        await session.close()
    assert [a.outcome for a in answers] == [Outcome.NXDOMAIN, Outcome.OK, Outcome.NODATA, Outcome.OK]
    assert answers[1].values == ("mx.acmecorp.com",) and answers[3].values == ("v=spf1 -all",)


async def test_an_answer_that_cannot_be_read_is_an_error_not_a_hang(dns_server, store, monkeypatch):
    import tenantcore.dnshealth.cares as cares

    def broken(name, rtype, record):
        raise ValueError("unexpected record")

    store.add("acmecorp.com", "TXT", "hello")
    monkeypatch.setattr(cares, "read_answer", broken)  # as if c-ares handed back a shape we do not know
    session = DnsSession(ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=1))
    try:
        answer = await asyncio.wait_for(session.query("acmecorp.com", "TXT"), 2.0)
    finally:
        await session.close()
    assert answer.outcome is Outcome.ERROR and "unexpected record" in answer.detail


async def test_nothing_of_a_closed_session_fires_later(blackhole):
    """Retries and timeouts run from the channel's timer; once the session is closed, no timer
    or socket watch of it may fire (the channel is gone: it would raise in the loop)."""
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        for _ in range(5):
            session = DnsSession(ResolverConfig(nameservers=(blackhole,), timeout=0.05, tries=4, concurrency=50))
            pending = [session.query(f"n{i}.example.com", "TXT") for i in range(100)]
            await asyncio.sleep(0.3)  # the timer has fired and retried several times meanwhile
            await session.close()
            answers = await asyncio.gather(*pending)
            assert not any(a.definite for a in answers)
        await asyncio.sleep(1.2)  # past the longest a timer sleeps
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_lookup_outcomes_stay_distinct(dns_server, store, blackhole, servfail_server):
    store.add("acmecorp.com", "TXT", "x")
    store.add("acmecorp.com", "MX", "10 mx.acmecorp.com")
    session = DnsSession(ResolverConfig(nameservers=(dns_server.address,), timeout=0.3, tries=1))
    try:
        mx = await session.query("acmecorp.com", "MX")
        assert (mx.outcome, mx.mx) == (Outcome.OK, ((10, "mx.acmecorp.com"),))
        assert (await session.query("acmecorp.com", "CNAME")).outcome is Outcome.NODATA
        assert (await session.query("nope.acmecorp.com", "TXT")).outcome is Outcome.NXDOMAIN
        assert (await session.query("other.org", "TXT")).outcome is Outcome.REFUSED
    finally:
        await session.close()
    for server, outcome in ((blackhole, Outcome.TIMEOUT), (servfail_server, Outcome.SERVFAIL)):
        session = DnsSession(ResolverConfig(nameservers=(server,), timeout=0.2, tries=1))
        try:
            answer = await session.query("acmecorp.com", "TXT")
        finally:
            await session.close()
        assert answer.outcome is outcome and not answer.definite


async def test_a_session_sees_a_record_changed_since_it_last_asked(dns_server, store):
    """c-ares's answer cache is off: the server's answers carry an hour's TTL, and a reconciler
    pass that asks again within its run must still see the record the operator just fixed."""
    store.add("acmecorp.com", "TXT", "v=spf1 -all")
    session = DnsSession(ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=1))
    try:
        first = await session.query("acmecorp.com", "TXT")
        store.set("acmecorp.com", "TXT", ["v=spf1 include:spf.protection.outlook.com -all"])
        second = await session.query("acmecorp.com", "TXT")
    finally:
        await session.close()
    assert first.values == ("v=spf1 -all",)
    assert second.values == ("v=spf1 include:spf.protection.outlook.com -all",)


async def test_every_record_type_a_check_asks_is_read(dns_server, store):
    store.add("acmecorp.com", "NS", "ns1.acmecorp.com")
    store.add("ns1.acmecorp.com", "A", "192.0.2.53")
    store.add("acmecorp.com", "MX", "10 Mail.AcmeCorp.com.")
    store.add("acmecorp.com", "MX", "0 backup.acmecorp.com")
    store.add("autodiscover.acmecorp.com", "CNAME", "autodiscover.outlook.com")
    store.add("acmecorp.com", "TXT", "a" * 255 + "b" * 10)  # two character-strings, one text
    session = DnsSession(ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=1))
    try:
        ns, a, mx, cname, txt, aliased = await session.query_all(
            [
                ("acmecorp.com", "NS"),
                ("ns1.acmecorp.com", "A"),
                ("acmecorp.com", "MX"),
                ("autodiscover.acmecorp.com", "CNAME"),
                ("acmecorp.com", "TXT"),
                ("autodiscover.acmecorp.com", "TXT"),
            ]
        )
    finally:
        await session.close()
    assert ns.values == ("ns1.acmecorp.com",)
    assert a.values == ("192.0.2.53",)
    assert mx.mx == ((0, "backup.acmecorp.com"), (10, "mail.acmecorp.com"))
    assert cname.values == ("autodiscover.outlook.com",)
    assert txt.values == ("a" * 255 + "b" * 10,)
    assert aliased.alias == "autodiscover.outlook.com" and not aliased.found


async def test_a_channel_closed_from_an_answer_callback_answers_every_query_once(holding):
    """c-ares must not be destroyed while it is still calling back (ares_destroy(3), c-ares
    1.34): a consumer that gives up at its first answer, with 199 more read in the same pass,
    must neither crash the process nor lose or repeat an answer."""
    from tenantcore.dnshealth.cares import LoopChannel

    channel = LoopChannel((holding.address,), timeout=2.0, tries=1)
    got: list[str] = []

    def deliver(answer) -> None:
        got.append(answer.name)
        if len(got) == 1:
            channel.close()

    names = [f"n{i}.example.com" for i in range(200)]
    for name in names:
        channel.query(name, "TXT", deliver)
    await wait_until(lambda: len(holding.received) == 200)
    holding.release()  # all 200 answers arrive together: one read pass of c-ares
    await wait_until(lambda: len(got) == 200)
    await asyncio.sleep(0.1)
    assert sorted(got) == sorted(names)  # each once
    late: list = []
    channel.query("late.example.com", "TXT", late.append)
    assert [a.detail for a in late] == ["channel closed"]


async def test_a_channel_closed_again_by_the_cancellations_of_its_close_stays_sound(blackhole):
    from tenantcore.dnshealth.cares import LoopChannel

    channel = LoopChannel((blackhole,), timeout=5.0, tries=1)
    got: list = []

    def deliver(answer) -> None:  # "first failure: give up on this channel"
        got.append(answer)
        channel.close()

    for i in range(50):
        channel.query(f"n{i}.example.com", "TXT", deliver)
    await asyncio.sleep(0.1)
    channel.close()
    assert len(got) == 50 and {a.outcome for a in got} == {Outcome.ERROR}
    # The process goes on using c-ares: a fresh session still answers.
    session = DnsSession(ResolverConfig(nameservers=(blackhole,), timeout=0.1, tries=1))
    try:
        assert (await session.query("after.example.com", "TXT")).outcome is Outcome.TIMEOUT
    finally:
        await session.close()


async def test_a_name_c_ares_refuses_can_close_its_channel_from_the_failure(dns_server):
    from tenantcore.dnshealth.cares import LoopChannel

    channel = LoopChannel((dns_server.address,), timeout=1.0, tries=1)
    got: list = []

    def give_up(answer) -> None:
        got.append(answer)
        channel.close()

    channel.query("a" * 64 + ".acmecorp.com", "TXT", give_up)  # refused inside ares_query_dnsrec
    assert len(got) == 1 and got[0].outcome is Outcome.ERROR
    channel.query("acmecorp.com", "TXT", got.append)
    assert got[1].detail == "channel closed"


async def test_asking_for_a_type_the_checks_never_ask_is_refused_before_it_takes_a_slot(dns_server, store):
    store.add("acmecorp.com", "TXT", "hello")
    session = DnsSession(ResolverConfig(nameservers=(dns_server.address,), timeout=1.0, tries=1, concurrency=1))
    try:
        with pytest.raises(ValueError, match="AAAA"):
            session.query("acmecorp.com", "AAAA")
        answer = await asyncio.wait_for(session.query("nope.acmecorp.com", "TXT"), 2.0)
    finally:
        await session.close()
    assert answer.outcome is Outcome.NXDOMAIN  # the one slot is still free


async def test_host_addresses_follow_the_hosts_file_and_dns(dns_server, store):
    from tenantcore.dnshealth.cares import HostNotFound, host_addresses

    assert await host_addresses("127.0.0.1") == ("127.0.0.1",)
    assert (await host_addresses("localhost"))[0] == "127.0.0.1"  # IPv4 first: receivers listen there
    store.add("hooks.acmecorp.com", "A", "192.0.2.7")
    assert await host_addresses("hooks.acmecorp.com", servers=(dns_server.address,)) == ("192.0.2.7",)
    with pytest.raises(HostNotFound, match="not found"):
        await host_addresses("nope.acmecorp.com", servers=(dns_server.address,), per_try=1.0, tries=1)


async def test_a_host_whose_name_servers_never_answer_holds_up_no_other_lookup(blackhole):
    """Webhook receivers' names are looked up on the loop: with getaddrinfo(3) on the loop's
    four lookup threads, four names whose servers never answer held every other delivery."""
    from tenantcore.dnshealth.cares import HostNotFound, host_addresses

    loop = asyncio.get_running_loop()
    stuck = [
        asyncio.ensure_future(host_addresses(f"h{i}.slow.example", servers=(blackhole,), per_try=5.0, tries=2))
        for i in range(8)
    ]
    await asyncio.sleep(0.1)  # all eight are waiting on the silent server
    started = loop.time()
    assert await asyncio.wait_for(host_addresses("localhost"), 1.0)
    assert loop.time() - started < 0.5
    assert not any(task.done() for task in stuck)
    with pytest.raises(TimeoutError):  # the caller's bound ends a lookup at once
        async with asyncio.timeout(0.2):
            await stuck[0]
    for task in stuck[1:]:
        task.cancel()
    await asyncio.gather(*stuck, return_exceptions=True)
    quick = await asyncio.gather(
        host_addresses("h.slow.example", servers=(blackhole,), per_try=0.1, tries=1), return_exceptions=True
    )
    assert isinstance(quick[0], HostNotFound) and "timeout" in str(quick[0]).lower()
