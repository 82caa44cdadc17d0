"""Graph- and Exchange-shaped records as Microsoft returns them (reference §1.3, §3.1)."""

from __future__ import annotations

import uuid
from typing import Any

from tenantcore.dnshealth.records import ExpectedRecords, build_expected_records


def _base(odata: str, label: str, record_type: str) -> dict[str, Any]:
    return {
        "@odata.type": f"#microsoft.graph.{odata}",
        "id": str(uuid.uuid4()),
        "isOptional": False,
        "label": label,
        "recordType": record_type,
        "supportedService": "Email",
        "ttl": 3600,
    }


def verification_records(domain: str, code: str = "ms12345678") -> list[dict[str, Any]]:
    return [
        {**_base("domainDnsTxtRecord", domain, "Txt"), "text": f"MS={code}"},
        {
            **_base("domainDnsMxRecord", domain, "Mx"),
            "mailExchange": f"{code}.msv1.invalid",
            "preference": 32767,
        },
    ]


def service_records(domain: str) -> list[dict[str, Any]]:
    token = domain.replace(".", "-")
    return [
        {
            **_base("domainDnsMxRecord", domain, "Mx"),
            "mailExchange": f"{token}.mail.protection.outlook.com",
            "preference": 0,
        },
        {
            **_base("domainDnsTxtRecord", domain, "Txt"),
            "text": "v=spf1 include:spf.protection.outlook.com -all",
        },
        {
            **_base("domainDnsCnameRecord", f"autodiscover.{domain}", "CName"),
            "canonicalName": "autodiscover.outlook.com",
        },
    ]


def dkim_config(domain: str, tenant: str = "contoso", partition: str = "n") -> dict[str, Any]:
    token = domain.replace(".", "-")
    return {
        "Domain": domain,
        "Selector1CNAME": f"selector1-{token}._domainkey.{tenant}.{partition}-v1.dkim.mail.microsoft",
        "Selector2CNAME": f"selector2-{token}._domainkey.{tenant}.{partition}-v1.dkim.mail.microsoft",
        "Enabled": False,
        "Status": "CnameMissing",
    }


def expected_for(domain: str) -> ExpectedRecords:
    """What Microsoft issues for `domain`, with the DMARC record recommended to an operator who
    set a report address (`dmarc@<domain>`): the healthy fixture then grades ok."""
    return build_expected_records(
        domain,
        verification=verification_records(domain),
        service=service_records(domain),
        dkim_config=dkim_config(domain),
        dmarc_rua=f"dmarc@{domain}",
    )
