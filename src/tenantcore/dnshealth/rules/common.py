"""What the SPF and DMARC rules share: both are one TXT policy record, and both fail the same
ways when more than one is published or the one used does not parse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from tenantcore.dnshealth.catalogue import FindingKind
from tenantcore.dnshealth.findings import Finding


class Parsed(Protocol):
    @property
    def errors(self) -> tuple[str, ...]: ...


P = TypeVar("P", bound=Parsed)


def first_record(
    records: list[str], parse: Callable[[str], P], multiple: FindingKind, syntax: FindingKind, name: str
) -> tuple[str, P, list[Finding]]:
    """The record a receiver uses (the first of `records`, at least one), parsed, with a
    `multiple` finding when there are several and a `syntax` finding per parse error."""
    findings = [multiple(count=len(records), name=name)] if len(records) > 1 else []
    text = records[0]
    record = parse(text)
    for error in record.errors:
        findings.append(syntax(error=error))
    return text, record, findings
