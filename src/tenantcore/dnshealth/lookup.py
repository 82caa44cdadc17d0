"""Asynchronous DNS lookups that keep NXDOMAIN, no data, SERVFAIL and timeout apart.

Built on c-ares (pycares): its C parser answers 3-4x faster than dnspython's
(`../shared/reference/dns-health.md` §4), which is what lets one process check thousands of
domains a second. EDNS is on (2048-bit DKIM keys do not fit in 512 bytes), lost datagrams
are retried (`tries`), in-flight queries are bounded, and the UDP receive buffer is raised so
that hundreds of answers in flight are not dropped by the kernel.

c-ares keeps a TTL-respecting answer cache that pycares 5 gives no way to turn off. A health
check must see what DNS says now, so a `DnsSession` (one c-ares channel) lives for one check
run, however many thousand domains that run covers, and the next run starts a fresh one.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import pycares

from tenantcore.dnshealth.names import registrable_zone

RECEIVE_BUFFER = 4 * 1024 * 1024


class Outcome(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    ERROR = "error"


# The outcomes that are DNS's verdict; any other means "unknown", never "missing".
_DEFINITE = (Outcome.OK, Outcome.NXDOMAIN, Outcome.NODATA)

_ERRORS = {
    pycares.errno.ARES_ENOTFOUND: Outcome.NXDOMAIN,
    pycares.errno.ARES_ENODATA: Outcome.NODATA,
    pycares.errno.ARES_ESERVFAIL: Outcome.SERVFAIL,
    pycares.errno.ARES_ETIMEOUT: Outcome.TIMEOUT,
    pycares.errno.ARES_EREFUSED: Outcome.REFUSED,
    pycares.errno.ARES_ECONNREFUSED: Outcome.UNREACHABLE,
}

_TYPE_CNAME = 5


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of one query. `values` holds TXT texts, CNAME targets or MX hosts (lower
    case, no trailing dot); `mx` keeps MX preferences; `alias` is set when the name turned out
    to be a CNAME while another type was asked for."""

    name: str
    rtype: str
    outcome: Outcome
    values: tuple[str, ...] = ()
    mx: tuple[tuple[int, str], ...] = ()
    alias: str | None = None
    detail: str = ""

    @property
    def definite(self) -> bool:
        return self.outcome in _DEFINITE

    @property
    def found(self) -> bool:
        return self.outcome is Outcome.OK and bool(self.values)

    @property
    def absent(self) -> bool:
        """Definitely not there: NXDOMAIN, or the name exists without this type."""
        return self.outcome in (Outcome.NXDOMAIN, Outcome.NODATA) or (self.outcome is Outcome.OK and not self.values)


@dataclass(frozen=True)
class ResolverConfig:
    """How to reach DNS. `nameservers` are "ip" or "ip:port"; empty means the system's
    resolvers (resolv.conf). `authoritative` asks each domain's own nameservers (found through
    the configured resolvers) instead, as Microsoft's admin center does."""

    nameservers: tuple[str, ...] = ()
    timeout: float = 2.0
    tries: int = 3
    concurrency: int = 500
    authoritative: bool = False
    authoritative_port: int = 53


class LoopChannel:
    """A c-ares channel whose sockets and timeouts are watched by the running asyncio loop.

    pycares is used directly, with plain callbacks: aiodns would add an asyncio future, a
    context manager and a partial per query, and its default mode runs c-ares in a thread
    whose channel lock every query waits on. Measured on 60k queries against Knot
    (bench/README.md), the bare channel answers ~30k queries/s this way against ~17k through
    aiodns, and that per-query overhead is what bounds a check run.
    """

    def __init__(self, servers: tuple[str, ...], config: ResolverConfig) -> None:
        self._loop = asyncio.get_running_loop()
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        this = weakref.ref(self)

        def on_socket_state(fd: int, readable: bool, writable: bool) -> None:
            channel = this()  # a weak reference: c-ares must not keep its owner alive
            if channel is not None:
                channel._watch(fd, readable, writable)

        self._channel = pycares.Channel(
            servers=list(servers) or None,
            timeout=config.timeout,
            tries=config.tries,
            flags=pycares.ARES_FLAG_EDNS | pycares.ARES_FLAG_NOSEARCH,
            socket_receive_buffer_size=RECEIVE_BUFFER,
            sock_state_cb=on_socket_state,
        )
        self.query = self._channel.query
        """`query(name, qtype, callback=cb)`: cb(result, errno) runs on the loop."""

    def _watch(self, fd: int, readable: bool, writable: bool) -> None:
        if self._closed:  # pycares destroys channels on its own thread, which calls back here
            return
        loop = self._loop
        if readable and fd not in self._readers:
            loop.add_reader(fd, self._channel.process_read_fd, fd)
            self._readers.add(fd)
        elif not readable and fd in self._readers:
            loop.remove_reader(fd)
            self._readers.discard(fd)
        if writable and fd not in self._writers:
            loop.add_writer(fd, self._channel.process_write_fd, fd)
            self._writers.add(fd)
        elif not writable and fd in self._writers:
            loop.remove_writer(fd)
            self._writers.discard(fd)
        if self._readers or self._writers:
            if self._timer is None:
                self._arm_timer()
        elif self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_timer(self) -> None:
        # One timer at most: c-ares may open or close sockets while the timer itself runs
        # (`_watch` then arms one), and a second, untracked timer would outlive `close()`.
        if self._timer is not None:
            self._timer.cancel()
        # c-ares says when its next retry or timeout falls due; never sleep past a second so a
        # query sent after the timer was armed is not retried late.
        delay = min(self._channel.timeout(1.0), 1.0)
        self._timer = self._loop.call_later(max(delay, 0.005), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._channel.process_fd(pycares.ARES_SOCKET_BAD, pycares.ARES_SOCKET_BAD)
        if (self._readers or self._writers) and self._timer is None:
            self._arm_timer()

    def close(self) -> None:
        """Fail what is still in flight (callbacks get ARES_ECANCELLED) and free the sockets."""
        if self._closed:
            return
        self._channel.cancel()
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fd in self._readers:
            self._loop.remove_reader(fd)
        for fd in self._writers:
            self._loop.remove_writer(fd)
        self._readers.clear()
        self._writers.clear()
        self._channel.close()


_QTYPES = {name: getattr(pycares, f"QUERY_TYPE_{name}") for name in ("A", "AAAA", "CNAME", "MX", "NS", "TXT")}


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _name(value: str) -> str:
    return value.rstrip(".").lower()


def _to_answer(name: str, rtype: str, result: pycares.DNSResult) -> Answer:
    values: list[str] = []
    mx: list[tuple[int, str]] = []
    alias = None
    for record in result.answer:
        data = record.data
        if record.type == _TYPE_CNAME and rtype != "CNAME":
            alias = alias or _name(data.cname)
            continue
        if rtype == "TXT":
            values.append(_text(data.data))
        elif rtype == "MX":
            host = _name(data.exchange)
            mx.append((data.priority, host))
            values.append(host)
        elif rtype == "CNAME":
            values.append(_name(data.cname))
        elif rtype == "NS":
            values.append(_name(data.nsdname))
        elif rtype in ("A", "AAAA"):
            values.append(data.addr)
    return Answer(name, rtype, Outcome.OK, tuple(values), tuple(sorted(mx)), alias)


class DnsSession:
    """One check run's view of DNS: a c-ares channel (or, in authoritative mode, one per zone's
    nameserver set) shared by every query of the run, behind one concurrency bound.

    Must be created inside the running loop that will use it. Queries over the bound wait in
    a FIFO and start as earlier ones finish (no semaphore: a deque and a counter cost a
    fraction of an asyncio wake-up per query)."""

    def __init__(self, config: ResolverConfig) -> None:
        self.config = config
        self.queries = 0
        self._loop = asyncio.get_running_loop()
        self._base = LoopChannel(config.nameservers, config)
        self._limit = max(1, config.concurrency)
        self._in_flight = 0
        self._waiting: deque[tuple[LoopChannel, str, str, Callable[[Answer], None]]] = deque()
        self._draining = False
        self._zone_channels: dict[str, asyncio.Future[LoopChannel | None]] = {}
        self._closed = False

    def query(self, name: str, rtype: str) -> Awaitable[Answer]:
        """Ask for `rtype` at `name`. Never raises for DNS trouble: the outcome says what happened."""
        if self.config.authoritative:
            return self._query_authoritative(name, rtype)
        return self._ask(self._base, name, rtype)

    def query_all(self, questions: Sequence[tuple[str, str]]) -> Awaitable[list[Answer]]:
        """Several (name, type) questions at once; the answers in the same order.

        One future for the lot: a domain's six lookups then wake its check once, not six times
        through six futures and a gather, which is most of what a check costs beyond c-ares."""
        if self.config.authoritative or not questions:
            return asyncio.gather(*(self.query(name, rtype) for name, rtype in questions))
        future: asyncio.Future[list[Answer]] = self._loop.create_future()
        answers: list[Answer] = [_PENDING] * len(questions)
        left = len(questions)

        def deliver_to(slot: int) -> Callable[[Answer], None]:
            def deliver(answer: Answer) -> None:
                nonlocal left
                answers[slot] = answer
                left -= 1
                if left == 0 and not future.done():
                    future.set_result(answers)

            return deliver

        for slot, (name, rtype) in enumerate(questions):
            self._submit(self._base, name, rtype, deliver_to(slot))
        return future

    async def _query_authoritative(self, name: str, rtype: str) -> Answer:
        channel = await self._authoritative_channel(name)
        if channel is None:
            return Answer(name, rtype, Outcome.UNREACHABLE, detail="no authoritative server")
        return await self._ask(channel, name, rtype)

    def _ask(self, channel: LoopChannel, name: str, rtype: str) -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = self._loop.create_future()

        def deliver(answer: Answer) -> None:
            if not future.done():  # the caller may have given up (cancelled) meanwhile
                future.set_result(answer)

        self._submit(channel, name, rtype, deliver)
        return future

    def _submit(self, channel: LoopChannel, name: str, rtype: str, deliver: Callable[[Answer], None]) -> None:
        if self._closed:
            deliver(Answer(name, rtype, Outcome.ERROR, detail="session closed"))
        elif self._in_flight < self._limit:
            self._start(channel, name, rtype, deliver)
        else:
            self._waiting.append((channel, name, rtype, deliver))

    def _start(self, channel: LoopChannel, name: str, rtype: str, deliver: Callable[[Answer], None]) -> None:
        self._in_flight += 1
        self.queries += 1
        called = False

        def finished(result: pycares.DNSResult | None, errno: int | None) -> None:
            nonlocal called
            if called:  # c-ares may both call back and report a synchronous failure
                return
            called = True
            self._in_flight -= 1
            try:
                answer = _to_answer(name, rtype, result) if errno is None and result is not None else None
            except Exception as exc:
                # Raised inside c-ares's callback, it would be printed and dropped, and the
                # check would wait for ever on an answer that never comes.
                answer = Answer(name, rtype, Outcome.ERROR, detail=f"unreadable answer: {exc!r}")
            deliver(answer or _failure(name, rtype, errno))
            if self._waiting:
                self._drain()

        try:
            channel.query(name, _QTYPES[rtype], callback=finished)
        except pycares.AresError as exc:  # e.g. a name c-ares refuses to encode
            finished(None, exc.args[0] if exc.args else None)
        except (ValueError, UnicodeError):
            finished(None, pycares.errno.ARES_EBADNAME)

    def _drain(self) -> None:
        # c-ares may answer inside `query` (its cache), which would recurse through here; one
        # loop drains the queue instead.
        if self._draining:
            return
        self._draining = True
        try:
            while self._waiting and self._in_flight < self._limit:
                self._start(*self._waiting.popleft())
        finally:
            self._draining = False

    async def _authoritative_channel(self, name: str) -> LoopChannel | None:
        zone = registrable_zone(name)
        pending = self._zone_channels.get(zone)
        if pending is None:
            # One discovery per zone per run, shared by all the zone's concurrent queries.
            pending = self._loop.create_future()
            self._zone_channels[zone] = pending
            try:
                pending.set_result(await self._discover(zone))
            except BaseException as exc:  # keep waiters from hanging, then re-raise
                pending.set_exception(exc)
                raise
        return await pending

    async def _discover(self, zone: str) -> LoopChannel | None:
        ns = await self._ask(self._base, zone, "NS")
        if not ns.found:
            return None
        addresses: list[str] = []
        for answer in await asyncio.gather(*(self._ask(self._base, h, "A") for h in ns.values)):
            addresses.extend(answer.values)
        if not addresses:
            return None
        port = self.config.authoritative_port
        servers = tuple(a if port == 53 else f"{a}:{port}" for a in addresses)
        return LoopChannel(servers, self.config)

    async def close(self) -> None:
        """Close every channel; queries still waiting or in flight resolve as errors."""
        self._closed = True
        while self._waiting:
            _, name, rtype, deliver = self._waiting.popleft()
            deliver(Answer(name, rtype, Outcome.ERROR, detail="session closed"))
        channels = [self._base]
        for pending in self._zone_channels.values():
            if pending.done() and not pending.cancelled() and not pending.exception():
                channel = pending.result()
                if channel is not None:
                    channels.append(channel)
        for channel in channels:
            channel.close()


_PENDING = Answer("", "", Outcome.ERROR, detail="no answer yet")


def _failure(name: str, rtype: str, errno: int | None) -> Answer:
    outcome = _ERRORS.get(errno, Outcome.ERROR) if errno is not None else Outcome.ERROR
    detail = pycares.errno.strerror(errno) if errno is not None else "no result"
    return Answer(name, rtype, outcome, detail=detail)
