"""The sandbox's stand-in for a registrar: a real authoritative DNS server on loopback.

`ZoneStore` holds the zones; the program writes them (publishing a domain's records, or a
test breaking one), and `SandboxDnsServer` answers for them over UDP and TCP, built on
dnslib. Answers behave like a real authoritative server's: AA set, NXDOMAIN vs no-data with
the zone's SOA, CNAMEs returned (and chased inside the store) for other types, REFUSED for
zones it does not hold, and UDP answers truncated to the client's EDNS size (512 without
EDNS) so resolvers fall back to TCP as they would on the Internet.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from dnslib import CNAME, EDNS0, MX, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSHeader, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from tenantcore.dnshealth.names import normalize, registrable_zone
from tenantcore.dnshealth.records import DnsRecord

log = logging.getLogger(__name__)

SUPPORTED_TYPES = ("TXT", "MX", "CNAME", "A", "NS")
EDNS_PAYLOAD = 1232  # the DNS-flag-day size: no IP fragmentation
NEGATIVE_TTL = 60  # SOA minimum: how long resolvers may cache "not there"


@dataclass(frozen=True, slots=True)
class StoredRecord:
    rtype: str
    value: str  # TXT text; MX "preference host"; CNAME/NS host; A address
    ttl: int


class ZoneStore:
    """Zones by name → {owner name → [records]}. Thread-safe: DNS server threads read while
    the program writes. Names are stored normalised (lower case, no trailing dot)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._zones: dict[str, dict[str, list[StoredRecord]]] = {}
        # Zones served by another DNS server (Knot, PowerDNS...): the sandbox plays the
        # Internet's resolution and passes their questions on, as a delegation would.
        self.delegations: dict[str, tuple[str, int]] = {}
        self.serial = 1

    # --- writing -------------------------------------------------------------------------
    def add_zone(self, zone: str) -> str:
        zone = normalize(zone)
        with self._lock:
            self._zones.setdefault(zone, {})
            self.serial += 1
        return zone

    def remove_zone(self, zone: str) -> None:
        with self._lock:
            self._zones.pop(normalize(zone), None)
            self.serial += 1

    def _zone_for_write(self, name: str) -> dict[str, list[StoredRecord]]:
        zone = self.zone_of(name) or self.add_zone(registrable_zone(name))
        return self._zones[zone]

    def add(self, name: str, rtype: str, value: str, ttl: int = 3600) -> None:
        """Add one record (a duplicate of an existing one is ignored), creating the zone."""
        name, rtype = normalize(name), rtype.upper()
        if rtype not in SUPPORTED_TYPES:
            raise ValueError(f"unsupported record type {rtype}")
        record = StoredRecord(rtype, _stored_value(rtype, value), ttl)
        with self._lock:
            rrsets = self._zone_for_write(name).setdefault(name, [])
            if record not in rrsets:
                rrsets.append(record)
            self.serial += 1

    def set(self, name: str, rtype: str, values: Iterable[str], ttl: int = 3600) -> None:
        """Replace every `rtype` record at `name` with `values` (none: delete them)."""
        self.delete(name, rtype)
        for value in values:
            self.add(name, rtype, value, ttl)

    def delete(self, name: str, rtype: str | None = None) -> None:
        name = normalize(name)
        with self._lock:
            zone = self.zone_of(name)
            if zone is None:
                return
            owners = self._zones[zone]
            if rtype is None:
                owners.pop(name, None)
            elif name in owners:
                owners[name] = [r for r in owners[name] if r.rtype != rtype.upper()]
                if not owners[name]:
                    del owners[name]
            self.serial += 1

    def publish(self, records: Iterable[DnsRecord]) -> None:
        """Publish expected records as an operator would at the registrar. A CNAME replaces
        whatever stood at its name, and an SPF TXT replaces an older SPF record (a name may
        hold only one of each); everything else is added beside what is there."""
        for record in records:
            if record.rtype == "CNAME":
                self.delete(record.name)
            elif record.rtype == "TXT" and record.value.lower().startswith("v=spf1"):
                with self._lock:
                    for old in self.values(record.name, "TXT"):
                        if old.lower().startswith("v=spf1"):
                            self._remove_value(record.name, "TXT", old)
            value = f"{record.preference or 0} {record.value}" if record.rtype == "MX" else record.value
            self.add(record.name, record.rtype, value, record.ttl)

    def _remove_value(self, name: str, rtype: str, value: str) -> None:
        name = normalize(name)
        zone = self.zone_of(name)
        if zone is None:
            return
        with self._lock:
            kept = [r for r in self._zones[zone].get(name, []) if not (r.rtype == rtype and r.value == value)]
            self._zones[zone][name] = kept

    def delegate(self, zone: str, address: str) -> None:
        """Serve `zone` from the DNS server at `address` ("host:port")."""
        host, _, port = address.rpartition(":")
        with self._lock:
            self.delegations[normalize(zone)] = (host or "127.0.0.1", int(port or 53))

    def delegation_of(self, name: str) -> tuple[str, int] | None:
        """The server a delegated zone containing `name` lives on (None: not delegated)."""
        labels = normalize(name).split(".")
        with self._lock:
            for i in range(len(labels)):
                found = self.delegations.get(".".join(labels[i:]))
                if found is not None:
                    return found
        return None

    # --- reading -------------------------------------------------------------------------
    def zone_of(self, name: str) -> str | None:
        """The longest zone held that contains `name`."""
        labels = normalize(name).split(".")
        with self._lock:
            for i in range(len(labels)):
                candidate = ".".join(labels[i:])
                if candidate in self._zones:
                    return candidate
        return None

    def zones(self) -> list[str]:
        with self._lock:
            return sorted(self._zones)

    def records(self, name: str) -> list[StoredRecord]:
        name = normalize(name)
        with self._lock:
            zone = self.zone_of(name)
            return list(self._zones[zone].get(name, [])) if zone else []

    def values(self, name: str, rtype: str) -> list[str]:
        return [r.value for r in self.records(name) if r.rtype == rtype.upper()]

    def has_descendants(self, zone: str, name: str) -> bool:
        suffix = "." + name
        with self._lock:
            return any(owner.endswith(suffix) for owner in self._zones.get(zone, {}))


def _stored_value(rtype: str, value: str) -> str:
    if rtype in ("CNAME", "NS"):
        return normalize(value)
    if rtype == "MX":
        preference, _, host = value.strip().partition(" ")
        return f"{int(preference)} {normalize(host) if host.strip('.') else ''}"
    return value


def _rdata(record: StoredRecord) -> object:
    if record.rtype == "TXT":
        data = record.value.encode()
        return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])
    if record.rtype == "MX":
        preference, _, host = record.value.partition(" ")
        return MX(host + "." if host else ".", int(preference))
    if record.rtype == "CNAME":
        return CNAME(record.value + ".")
    if record.rtype == "NS":
        return NS(record.value + ".")
    return A(record.value)


class ZoneResolver(BaseResolver):
    """Answers authoritatively from a `ZoneStore`."""

    def __init__(self, store: ZoneStore, ns_address: str = "127.0.0.1") -> None:
        self.store = store
        self.ns_address = ns_address

    def _soa(self, zone: str) -> RR:
        return RR(
            zone + ".",
            QTYPE.SOA,
            ttl=NEGATIVE_TTL,
            rdata=SOA(f"ns.{zone}.", f"hostmaster.{zone}.", (self.store.serial, 3600, 600, 86400, NEGATIVE_TTL)),
        )

    def _synthetic(self, zone: str, name: str, qtype: str) -> list[RR]:
        # Every zone gets SOA and NS at its apex and an address for its nameserver, so
        # "ask the authoritative servers" works against the sandbox as it does live.
        if name == zone and qtype == "SOA":
            return [self._soa(zone)]
        if name == zone and qtype == "NS" and not self.store.values(name, "NS"):
            return [RR(zone + ".", QTYPE.NS, ttl=3600, rdata=NS(f"ns.{zone}."))]
        if name == f"ns.{zone}" and qtype == "A" and not self.store.values(name, "A"):
            return [RR(name + ".", QTYPE.A, ttl=3600, rdata=A(self.ns_address))]
        return []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE.get(request.q.qtype)
        upstream = self.store.delegation_of(qname) if qname and self.store.delegations else None
        if upstream is not None:
            return self._forward(request, upstream)
        zone = self.store.zone_of(qname) if qname else None
        if zone is None:
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        synthetic = self._synthetic(zone, qname, qtype)
        if synthetic:
            for rr in synthetic:
                reply.add_answer(rr)
            return reply
        name = qname
        for _ in range(8):  # follow CNAMEs within the store, as authoritative servers do
            records = self.store.records(name)
            cname = next((r for r in records if r.rtype == "CNAME"), None)
            if cname is not None and qtype != "CNAME":
                reply.add_answer(RR(name + ".", QTYPE.CNAME, ttl=cname.ttl, rdata=_rdata(cname)))
                if self.store.zone_of(cname.value) is None:
                    return reply
                name = cname.value
                continue
            matching = [r for r in records if r.rtype == qtype]
            for record in matching:
                reply.add_answer(RR(name + ".", getattr(QTYPE, record.rtype), ttl=record.ttl, rdata=_rdata(record)))
            if not matching and name == qname:
                exists = bool(records) or name == zone or self.store.has_descendants(zone, name)
                if not exists:
                    reply.header.rcode = RCODE.NXDOMAIN
                reply.add_auth(self._soa(zone))
            return reply
        return reply

    @staticmethod
    def _forward(request: DNSRecord, upstream: tuple[str, int]) -> DNSRecord:
        try:  # over TCP: the answer comes back whole, and our handler truncates for UDP clients
            return DNSRecord.parse(request.send(upstream[0], upstream[1], tcp=True, timeout=2.0))
        except (OSError, ValueError) as exc:
            log.warning("sandbox DNS: %s:%d did not answer for %s: %s", *upstream, request.q.qname, exc)
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return reply


class _EdnsAwareHandler(DNSHandler):
    """Echoes EDNS and truncates UDP answers to the client's advertised size (512 without
    EDNS), keeping the question section as real servers do (dnslib's own truncate drops it)."""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        opt = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        if opt and not any(rr.rtype == QTYPE.OPT for rr in reply.ar):  # a forwarded answer has its own
            reply.add_ar(EDNS0(udp_len=EDNS_PAYLOAD))
        packed = reply.pack()
        if self.server.socket_type == socket.SOCK_DGRAM:
            limit = min(max(512, opt[0].rclass), EDNS_PAYLOAD) if opt else 512
            if len(packed) > limit:
                header = DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, q=1)
                header.tc = 1
                truncated = DNSRecord(header, q=request.q)
                if opt:
                    truncated.add_ar(EDNS0(udp_len=EDNS_PAYLOAD))
                packed = truncated.pack()
        return packed


class _Logger(DNSLogger):
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-recv,-send,-data,-error", prefix=False)

    def log_error(self, handler: DNSHandler, e: Exception) -> None:
        log.warning("sandbox DNS: bad request from %s: %s", handler.client_address[0], e)


class _UDPServer(socketserver.UDPServer):
    # One thread answers every datagram: an answer is microseconds of work, and a thread per
    # packet (ThreadingMixIn) capped the server near 1k queries/s and dropped bursts.
    allow_reuse_address = True
    max_packet_size = 65535


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SandboxDnsServer:
    """Serve a `ZoneStore` on `host:port` over UDP and TCP (port 0 picks a free port)."""

    def __init__(self, store: ZoneStore | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store or ZoneStore()
        self.host = host
        self._requested_port = port
        self._servers: list[DNSServer] = []
        self.port = port

    def start(self) -> SandboxDnsServer:
        resolver = ZoneResolver(self.store, self.host)
        self._servers = self._bind(resolver)
        for server in self._servers:
            # A short poll interval keeps stop() quick (socketserver checks for shutdown
            # only between polls; the default 0.5 s made every stop cost a second).
            thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
        log.info("sandbox DNS serving on %s:%d (udp+tcp)", self.host, self.port)
        return self

    def _bind(self, resolver: ZoneResolver) -> list[DNSServer]:
        """UDP and TCP on one port. With port 0 the kernel picks a free UDP port, which may
        be taken on TCP; then try another."""
        attempts = 1 if self._requested_port else 20
        for attempt in range(attempts):
            udp = DNSServer(
                resolver,
                self.host,
                self._requested_port,
                logger=_Logger(),
                handler=_EdnsAwareHandler,
                server=_UDPServer,
            )
            self.port = udp.server.server_address[1]
            try:
                tcp = DNSServer(
                    resolver,
                    self.host,
                    self.port,
                    logger=_Logger(),
                    handler=_EdnsAwareHandler,
                    server=_TCPServer,
                )
            except OSError:
                udp.server.server_close()
                if attempt == attempts - 1:
                    raise
                continue
            return [udp, tcp]
        raise AssertionError("unreachable")

    @property
    def address(self) -> str:
        """The `ip:port` a resolver is configured with."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers = []

    def __enter__(self) -> SandboxDnsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def load_zone_file(store: ZoneStore, path: str | Path) -> str:
    """Load a BIND zone file (parsed by dnspython) into the store; returns the zone name.

    The origin comes from `$ORIGIN`, or from the file name (`example.com.zone`)."""
    import dns.zone

    path = Path(path)
    origin = path.name.removesuffix(".zone")
    zone = dns.zone.from_file(str(path), origin=origin, relativize=False, check_origin=False)
    name = store.add_zone(zone.origin.to_text())
    for owner, ttl, rdata in zone.iterate_rdatas():
        rtype = dns.rdatatype.to_text(rdata.rdtype)
        if rtype == "TXT":
            value = b"".join(rdata.strings).decode()
        elif rtype == "MX":
            value = f"{rdata.preference} {rdata.exchange.to_text()}"
        elif rtype in ("CNAME", "NS", "A"):
            value = rdata.to_text()
        else:
            continue
        store.add(owner.to_text(), rtype, value, ttl)
    return name


def snapshot(store: ZoneStore) -> dict[str, dict[str, list[list[object]]]]:
    """The store as plain JSON-able data: {zone: {owner: [[type, value, ttl], ...]}}."""
    with store._lock:
        return {
            zone: {owner: [[r.rtype, r.value, r.ttl] for r in records] for owner, records in owners.items()}
            for zone, owners in store._zones.items()
        }


def restore(store: ZoneStore, data: dict[str, dict[str, list[list[object]]]]) -> None:
    for zone, owners in data.items():
        store.add_zone(zone)
        for owner, records in owners.items():
            for rtype, value, ttl in records:
                store.add(owner, str(rtype), str(value), int(ttl))  # type: ignore[call-overload]
