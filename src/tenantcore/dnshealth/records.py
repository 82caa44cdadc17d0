"""The records a Microsoft 365 sending domain needs, built from what Microsoft returns.

Nothing here invents a Microsoft host name: the verification TXT, MX, SPF and autodiscover
records come from Graph (`verificationDnsRecords`, `serviceConfigurationRecords`), the DKIM
CNAMEs from Exchange's `Get-DkimSigningConfig`. Only the DMARC record is ours: Microsoft does
not issue one, and mail without it is rejected by Outlook.com, Gmail and Yahoo at volume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from tenantcore.dnshealth.names import normalize

DKIM_SELECTORS = ("selector1", "selector2")
DEFAULT_TTL = 3600


class Purpose(StrEnum):
    VERIFICATION = "verification"
    MX = "mx"
    SPF = "spf"
    AUTODISCOVER = "autodiscover"
    DKIM = "dkim"
    DMARC = "dmarc"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One record to publish. `name` and `value` are absolute names without the trailing dot."""

    purpose: Purpose
    rtype: str  # TXT, MX, CNAME
    name: str
    value: str
    ttl: int = DEFAULT_TTL
    preference: int | None = None  # MX only
    selector: str | None = None  # DKIM only

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.rtype, self.value.lower() if self.rtype != "TXT" else self.value)


@dataclass(frozen=True)
class ExpectedRecords:
    """Everything a domain should publish, with accessors for what the evaluator compares."""

    domain: str
    records: tuple[DnsRecord, ...] = field(default_factory=tuple)

    def of(self, purpose: Purpose) -> list[DnsRecord]:
        return list(self._by_purpose.get(purpose, ()))

    def first(self, purpose: Purpose) -> DnsRecord | None:
        found = self._by_purpose.get(purpose)
        return found[0] if found else None

    @cached_property
    def _by_purpose(self) -> dict[Purpose, tuple[DnsRecord, ...]]:
        grouped: dict[Purpose, list[DnsRecord]] = {}
        for record in self.records:
            grouped.setdefault(record.purpose, []).append(record)
        return {purpose: tuple(records) for purpose, records in grouped.items()}

    def text_of(self, purpose: Purpose) -> str | None:
        record = self.first(purpose)
        return record.value if record else None

    @cached_property
    def mx_hosts(self) -> set[str]:
        return {r.value.lower() for r in self.of(Purpose.MX)}

    @cached_property
    def dkim_targets(self) -> dict[str, str]:
        return {r.selector: r.value.lower() for r in self.of(Purpose.DKIM) if r.selector}

    @cached_property
    def spf_includes(self) -> set[str]:
        spf = self.first(Purpose.SPF)
        if spf is None:
            return set()
        return {
            term.split(":", 1)[1].lower()
            for term in spf.value.split()
            if term.lower().lstrip("+").startswith("include:")
        }

    @property
    def verification_text(self) -> str | None:
        return self.text_of(Purpose.VERIFICATION)


# --- Graph domainDnsRecord shapes -------------------------------------------------------

_ODATA_TO_TYPE = {
    "microsoft.graph.domaindnstxtrecord": "TXT",
    "microsoft.graph.domaindnsmxrecord": "MX",
    "microsoft.graph.domaindnscnamerecord": "CNAME",
    "microsoft.graph.domaindnssrvrecord": "SRV",
    "microsoft.graph.domaindnsunavailablerecord": "UNAVAILABLE",
}


def graph_record_type(raw: Mapping[str, Any]) -> str | None:
    """TXT/MX/CNAME/SRV from `recordType` (any case) or `@odata.type` (with or without '#')."""
    record_type = str(raw.get("recordType") or "").strip().upper()
    if record_type:
        return record_type
    odata = str(raw.get("@odata.type") or "").lstrip("#").lower()
    return _ODATA_TO_TYPE.get(odata)


def parse_graph_record(raw: Mapping[str, Any], domain: str) -> DnsRecord | None:
    """One Graph record as a `DnsRecord`, or None for types we do not publish (SRV, unavailable).

    Graph labels are FQDNs (`autodiscover.contoso.com`); `@` and relative labels are accepted
    too, since the doc examples and some tools use them.
    """
    domain = normalize(domain)
    rtype = graph_record_type(raw)
    name = _absolute_label(str(raw.get("label") or "@"), domain)
    ttl = int(raw.get("ttl") or DEFAULT_TTL)
    if rtype == "TXT":
        text = str(raw.get("text") or "")
        purpose = Purpose.SPF if text.lower().startswith("v=spf1") else Purpose.OTHER
        if text.startswith("MS="):
            purpose = Purpose.VERIFICATION
        return DnsRecord(purpose, "TXT", name, text, ttl)
    if rtype == "MX":
        exchange = normalize(str(raw.get("mailExchange") or ""))
        preference = int(raw.get("preference") or 0)
        return DnsRecord(Purpose.MX, "MX", name, exchange, ttl, preference=preference)
    if rtype == "CNAME":
        target = normalize(str(raw.get("canonicalName") or ""))
        purpose = Purpose.AUTODISCOVER if name.startswith("autodiscover.") else Purpose.OTHER
        return DnsRecord(purpose, "CNAME", name, target, ttl)
    return None


def _absolute_label(label: str, domain: str) -> str:
    label = label.strip().rstrip(".").lower()
    if label in ("", "@"):
        return domain
    if label == domain or label.endswith("." + domain):
        return label
    return f"{label}.{domain}"


def verification_records(raw_records: Iterable[Mapping[str, Any]], domain: str) -> list[DnsRecord]:
    """The TXT Microsoft checks on verify.

    Graph also offers an MX alternative (`ms########.msv1.invalid`, preference 32767): publishing
    it as well would be pointless, and publishing it instead would break nothing but adds a
    bogus MX to a sending domain, so only the TXT is kept.
    """
    out = []
    for raw in raw_records:
        record = parse_graph_record(raw, domain)
        if record is not None and record.rtype == "TXT":
            out.append(DnsRecord(Purpose.VERIFICATION, "TXT", record.name, record.value, record.ttl))
    return out


def service_records(raw_records: Iterable[Mapping[str, Any]], domain: str) -> list[DnsRecord]:
    """The Email service records (MX, SPF, autodiscover) from `serviceConfigurationRecords`.

    Records for other services (Intune, Teams/Skype SRV) are left out: a sending domain does
    not need them, and Graph lists them only when those services are enabled on the domain.
    """
    out = []
    for raw in raw_records:
        service = str(raw.get("supportedService") or "Email")
        if service.lower() != "email":
            continue
        record = parse_graph_record(raw, domain)
        if record is not None:
            out.append(record)
    return out


def dkim_records(config: Mapping[str, Any] | None, domain: str) -> list[DnsRecord]:
    """The two selector CNAMEs from a `Get-DkimSigningConfig` row (`Selector1CNAME`, ...)."""
    if not config:
        return []
    domain = normalize(domain)
    out = []
    for index, selector in enumerate(DKIM_SELECTORS, start=1):
        target = config.get(f"Selector{index}CNAME")
        if target:
            out.append(
                DnsRecord(
                    Purpose.DKIM,
                    "CNAME",
                    f"{selector}._domainkey.{domain}",
                    normalize(str(target)),
                    DEFAULT_TTL,
                    selector=selector,
                )
            )
    return out


# Where the DMARC records TenantCore recommends send aggregate reports (TENANTCORE_DMARC_RUA),
# set once by the runtime. None: no rua= at all. A made-up mailbox at the domain itself (the old
# `dmarc@<domain>`) does not exist on a fresh sending domain, so the reports would bounce.
_dmarc_rua: str | None = None


def configure_dmarc_rua(address: str | None) -> None:
    global _dmarc_rua
    _dmarc_rua = address.strip().removeprefix("mailto:") if address and address.strip() else None


def recommended_dmarc(domain: str, rua: str | None = None, policy: str = "quarantine") -> DnsRecord:
    """Our DMARC recommendation: enforcement (`quarantine`), with aggregate reports to `rua`
    (default: the configured address) when there is one.

    `p=none` protects nothing; cold-email domains that send as the tenant itself pass SPF and
    DKIM aligned once M365 signs, so quarantine is safe from day one.
    """
    domain = normalize(domain)
    rua = rua or _dmarc_rua
    reports = f"; rua=mailto:{rua}" if rua else ""
    return DnsRecord(Purpose.DMARC, "TXT", f"_dmarc.{domain}", f"v=DMARC1; p={policy}{reports}")


def build_expected_records(
    domain: str,
    *,
    verification: Iterable[Mapping[str, Any]] = (),
    service: Iterable[Mapping[str, Any]] = (),
    dkim_config: Mapping[str, Any] | None = None,
    dmarc_rua: str | None = None,
    dmarc_policy: str = "quarantine",
) -> ExpectedRecords:
    """All records for `domain`: Graph's verification and Email records, Exchange's DKIM
    CNAMEs, and our DMARC recommendation. Duplicates (same name, type, value) are dropped."""
    domain = normalize(domain)
    records: list[DnsRecord] = [
        *verification_records(verification, domain),
        *service_records(service, domain),
        *dkim_records(dkim_config, domain),
        recommended_dmarc(domain, dmarc_rua, dmarc_policy),
    ]
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for record in records:
        if record.key not in seen:
            seen.add(record.key)
            unique.append(record)
    return ExpectedRecords(domain, tuple(unique))
