"""Asynchronous DNS lookups that keep NXDOMAIN, no data, SERVFAIL and timeout apart.

Built on c-ares (aiodns/pycares): its C parser answers 3-4x faster than dnspython's
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
from dataclasses import dataclass, field
from enum import StrEnum

import aiodns
import aiodns.error
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

    @property
    def definite(self) -> bool:
        """True when DNS gave an authoritative-looking verdict; False means "unknown"."""
        return self in (Outcome.OK, Outcome.NXDOMAIN, Outcome.NODATA)


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
        return self.outcome.definite

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


class _LoopDrivenResolver(aiodns.DNSResolver):
    """aiodns in the mode where the asyncio loop itself watches c-ares's sockets.

    By default aiodns 4 lets c-ares run its own event thread: every answer then crosses
    threads, and every new query waits for that thread to release the channel lock. Profiled
    on 18k queries that cost ~60 µs per query submission and a quarter of the throughput
    (bench/README.md). aiodns keeps the loop-driven mode as its fallback; this selects it.
    Relies on aiodns 4.0's `_make_channel`/`_sock_state_cb`, hence the exact pin.
    """

    def _make_channel(self, **kwargs: object) -> tuple[bool, pycares.Channel]:
        this = weakref.ref(self)

        def on_socket_state(fd: int, readable: bool, writable: bool) -> None:
            resolver = this()
            if resolver is not None:
                resolver._sock_state_cb(fd, readable, writable)

        return False, pycares.Channel(sock_state_cb=on_socket_state, timeout=self._timeout, **kwargs)


def open_channel(servers: tuple[str, ...], config: ResolverConfig) -> aiodns.DNSResolver:
    """A c-ares channel as every check uses it: EDNS, retries, large receive buffer."""
    return _LoopDrivenResolver(
        nameservers=list(servers) or None,
        timeout=config.timeout,
        tries=config.tries,
        flags=pycares.ARES_FLAG_EDNS | pycares.ARES_FLAG_NOSEARCH,
        socket_receive_buffer_size=RECEIVE_BUFFER,
    )


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


@dataclass
class DnsSession:
    """One check run's view of DNS: a c-ares channel (or, in authoritative mode, one per zone's
    nameserver set) shared by every query of the run, behind one concurrency bound."""

    config: ResolverConfig
    _base: aiodns.DNSResolver | None = None
    _limit: asyncio.Semaphore | None = None
    _zone_channels: dict[str, asyncio.Future[aiodns.DNSResolver | None]] = field(default_factory=dict)
    queries: int = 0

    def __post_init__(self) -> None:
        self._base = open_channel(self.config.nameservers, self.config)
        self._limit = asyncio.Semaphore(self.config.concurrency)

    async def query(self, name: str, rtype: str) -> Answer:
        """Ask for `rtype` at `name`. Never raises for DNS trouble: the outcome says what happened."""
        channel = self._base
        if self.config.authoritative:
            channel = await self._authoritative_channel(name)
            if channel is None:
                return Answer(name, rtype, Outcome.UNREACHABLE, detail="no authoritative server")
        return await self._ask(channel, name, rtype)

    async def _ask(self, channel: aiodns.DNSResolver | None, name: str, rtype: str) -> Answer:
        assert channel is not None and self._limit is not None
        async with self._limit:
            self.queries += 1
            try:
                result = await channel.query_dns(name, rtype)
            except aiodns.error.DNSError as exc:
                code = exc.args[0] if exc.args else None
                detail = str(exc.args[1]) if len(exc.args) > 1 else ""
                return Answer(name, rtype, _ERRORS.get(code, Outcome.ERROR), detail=detail)
        return _to_answer(name, rtype, result)

    async def _authoritative_channel(self, name: str) -> aiodns.DNSResolver | None:
        zone = registrable_zone(name)
        pending = self._zone_channels.get(zone)
        if pending is None:
            # One discovery per zone per run, shared by all the zone's concurrent queries.
            pending = asyncio.get_running_loop().create_future()
            self._zone_channels[zone] = pending
            try:
                pending.set_result(await self._discover(zone))
            except BaseException as exc:  # keep waiters from hanging, then re-raise
                pending.set_exception(exc)
                raise
        return await pending

    async def _discover(self, zone: str) -> aiodns.DNSResolver | None:
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
        return open_channel(servers, self.config)

    async def close(self) -> None:
        channels = [self._base]
        for pending in self._zone_channels.values():
            if pending.done() and not pending.exception():
                channels.append(pending.result())
        for channel in channels:
            if channel is not None:
                await channel.close()
