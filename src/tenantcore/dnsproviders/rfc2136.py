"""Any DNS server that takes RFC 2136 dynamic updates signed with TSIG (BIND, Knot, PowerDNS,
Windows DNS with a key...), spoken directly with dnspython over TCP.

Reads and zone discovery query the server itself (not a resolver): it is the source of truth,
and a resolver's cache would hide a write we just made.
"""

from __future__ import annotations

import asyncio
import binascii

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update

from tenantcore import netguard
from tenantcore.dnshealth.names import normalize
from tenantcore.dnsproviders.base import RTYPES, ProviderError, RecordSet, check_rtype, normalize_value
from tenantcore.dnsproviders.rdata import from_rdata, to_rdata
from tenantcore.netguard import Policy

# Rcodes a server answers an update with when the key is not accepted or not allowed.
_AUTH_RCODES = {dns.rcode.NOTAUTH, dns.rcode.BADKEY, dns.rcode.BADSIG, dns.rcode.BADTIME}
_TSIG_ERRORS = (dns.tsig.PeerError, dns.tsig.BadSignature, dns.message.UnknownTSIGKey, dns.tsig.BadTime)


_ALGORITHMS = frozenset(
    {dns.tsig.HMAC_SHA1, dns.tsig.HMAC_SHA224, dns.tsig.HMAC_SHA256, dns.tsig.HMAC_SHA384, dns.tsig.HMAC_SHA512}
)


class Rfc2136Provider:
    kind = "rfc2136"

    def __init__(
        self,
        server: str,
        port: int = 53,
        *,
        key_name: str,
        key_secret: str,
        algorithm: str = "hmac-sha256",
        timeout: float = 5,
        policy: Policy = "public",
    ) -> None:
        if not 0 < port < 65536:
            raise ProviderError("provider_config_invalid", f"rfc2136: port {port} is not a TCP/UDP port")
        try:
            known_algorithm = dns.name.from_text(algorithm) in _ALGORITHMS
        except dns.exception.DNSException:
            known_algorithm = False
        if not known_algorithm:
            known = ", ".join(sorted(a.to_text(omit_final_dot=True) for a in _ALGORITHMS))
            raise ProviderError("provider_config_invalid", f"rfc2136: unknown TSIG algorithm {algorithm!r} ({known})")
        self.server = server
        self.port = port
        self.policy = policy
        self.key_name = key_name
        self.algorithm = algorithm
        self.timeout = timeout
        try:
            keyring = dns.tsigkeyring.from_text({key_name: (algorithm, key_secret)})
        except (binascii.Error, ValueError, dns.exception.DNSException) as exc:
            # Say which field is wrong, never echo its value (the secret).
            raise ProviderError(
                "provider_config_invalid", f"TSIG key {key_name!r} ({algorithm}): {type(exc).__name__}"
            ) from None
        self._key: dns.tsig.Key = keyring[dns.name.from_text(key_name)]

    def __repr__(self) -> str:  # the key's secret stays out
        return f"Rfc2136Provider(server={self.server!r}, port={self.port}, key_name={self.key_name!r})"

    # --- reading ----------------------------------------------------------------------------
    async def find_zone(self, name: str) -> str | None:
        """Ask for the SOA at the name, then at each parent: an authoritative answer names the
        zone, either as the SOA itself (the apex) or in the authority section (NXDOMAIN or no
        data below the apex). REFUSED means "not a zone of mine": go up a label."""
        labels = normalize(name).split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            response = await self._query(candidate, "SOA", None)
            if response.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
                continue
            if not response.flags & dns.flags.AA:
                return None  # a referral: the name lives in a zone served elsewhere
            for section in (response.answer, response.authority):
                for rrset in section:
                    if rrset.rdtype == dns.rdatatype.SOA:
                        return normalize(rrset.name.to_text())
        return None

    async def read(self, zone: str, name: str) -> list[RecordSet]:
        name = normalize(name)
        responses = await asyncio.gather(*(self._query(name, rtype, f"{name} {rtype}") for rtype in RTYPES))
        owner = dns.name.from_text(name)
        result = []
        for rtype, response in zip(RTYPES, responses, strict=True):
            if response.rcode() == dns.rcode.REFUSED:
                raise ProviderError("zone_not_found", f"{self._where} does not serve {name}", f"{name} {rtype}")
            # A TXT or MX query at a CNAME is answered with the CNAME: keep only the asked type.
            rrset = response.get_rrset(response.answer, owner, dns.rdataclass.IN, dns.rdatatype.from_text(rtype))
            if rrset:
                result.append(RecordSet(name, rtype, tuple(from_rdata(r) for r in rrset), rrset.ttl))
        return result

    # --- writing ----------------------------------------------------------------------------
    async def replace(self, zone: str, rrset: RecordSet) -> None:
        rtype = check_rtype(rrset.rtype, rrset.label)
        update = self._update(zone)
        # One message deletes the rrset and adds the values: the server applies it atomically.
        update.replace(dns.name.from_text(rrset.name), rrset.ttl, *(to_rdata(rtype, v) for v in rrset.values))
        await self._send(update, rrset.label)

    async def change(self, zone: str, rrset: RecordSet, before: tuple[str, ...]) -> None:
        rtype = check_rtype(rrset.rtype, rrset.label)
        old = {normalize_value(rtype, v): v for v in before}
        new = {normalize_value(rtype, v): v for v in rrset.values}
        update = self._update(zone)
        owner = dns.name.from_text(rrset.name)
        # One message removes exactly the values that went and adds the ones that came: the
        # server applies it atomically, and a value someone added meanwhile stays.
        for key in old.keys() - new.keys():
            update.delete(owner, to_rdata(rtype, old[key]))
        added = [to_rdata(rtype, new[key]) for key in new.keys() - old.keys()]
        if added:
            update.add(owner, rrset.ttl, *added)
        if old.keys() != new.keys():
            await self._send(update, rrset.label)

    async def delete(self, zone: str, name: str, rtype: str) -> None:
        record = f"{normalize(name)} {rtype.upper()}"
        rtype = check_rtype(rtype, record)
        update = self._update(zone)
        update.delete(dns.name.from_text(normalize(name)), rtype)  # absent: the server does nothing
        await self._send(update, record)

    async def check_write(self, zone: str) -> None:
        # Reads are unsigned, so only an update proves the key: one whose sole content is a
        # prerequisite that always holds (the zone has an SOA) is signed and checked, and changes nothing.
        update = self._update(zone)
        update.present(dns.name.from_text(normalize(zone)), dns.rdatatype.SOA)
        await self._send(update, f"{normalize(zone)} SOA")

    async def aclose(self) -> None:
        return None  # one TCP connection per message: nothing held open

    # --- plumbing ---------------------------------------------------------------------------
    @property
    def _where(self) -> str:
        return f"DNS server {self.server}:{self.port}"

    def _update(self, zone: str) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(normalize(zone) + ".", keyring=self._key)

    async def _query(self, name: str, rtype: str, record: str | None) -> dns.message.Message:
        return await self._exchange(dns.message.make_query(name + ".", rtype), record)

    async def _exchange(self, message: dns.message.Message, record: str | None) -> dns.message.Message:
        try:
            # A name or an address, checked against the address policy each time, and the
            # connection made to the address checked.
            address = await netguard.checked_address(self.server, self.policy)
        except netguard.AddressRefused as exc:
            raise ProviderError("provider_config_invalid", f"server: {exc}", record) from None
        try:
            return await dns.asyncquery.tcp(message, address, timeout=self.timeout, port=self.port)
        except dns.exception.Timeout:
            raise ProviderError(
                "provider_unreachable", f"{self._where} did not answer within {self.timeout:g} s", record
            ) from None
        except (OSError, EOFError) as exc:
            raise ProviderError(
                "provider_unreachable", f"{self._where} could not be reached ({type(exc).__name__})", record
            ) from None
        except _TSIG_ERRORS as exc:
            raise ProviderError(
                "provider_auth_failed",
                f"{self._where} rejected TSIG key {self.key_name!r}{f' updating {record}' if record else ''} "
                f"({type(exc).__name__}): check the key name and secret",
                record,
            ) from None
        except dns.exception.FormError:
            raise  # `_send` reads what it can of it
        except (dns.exception.DNSException, ValueError) as exc:
            raise ProviderError(
                "provider_refused", f"{self._where} answered something that is not DNS ({type(exc).__name__})", record
            ) from None

    async def _send(self, update: dns.update.UpdateMessage, record: str) -> None:
        zone = update.origin.to_text(omit_final_dot=True) if update.origin else "?"
        try:
            response = await self._exchange(update, record)
        except dns.exception.FormError:
            # dnspython drops an unsigned answer to a signed update before we see its rcode.
            # Knot answers so (NOTAUTH, unsigned) for a zone it does not serve: ask which it is.
            if await self.find_zone(zone) != zone:
                raise ProviderError("zone_not_found", f"{self._where} does not serve zone {zone}", record) from None
            raise ProviderError(
                "provider_refused", f"{self._where} answered the update of {record} without a TSIG signature", record
            ) from None
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        text = dns.rcode.to_text(rcode)
        if rcode == dns.rcode.NOTAUTH and response.tsig_error == dns.rcode.NOERROR and response.had_tsig:
            # Signed fine, but the server is not authoritative for the zone.
            raise ProviderError("zone_not_found", f"{self._where} is not authoritative for {zone} (NOTAUTH)", record)
        if rcode in _AUTH_RCODES:
            raise ProviderError(
                "provider_auth_failed",
                f"{self._where} refused the update of {record} with key {self.key_name!r} ({text}): "
                "check the key name and secret",
                record,
            )
        raise ProviderError(
            "provider_refused",
            f"{self._where} refused the update of {record} in zone {zone} ({text})",
            record,
        )
