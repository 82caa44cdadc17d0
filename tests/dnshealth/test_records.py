"""Expected records from Microsoft's shapes, and their exports."""

from __future__ import annotations

import csv
import io

import dns.zone
import pytest

from tenantcore.dnshealth import api_records, build_expected_records, to_bind, to_csv
from tenantcore.dnshealth.records import Purpose, parse_graph_record

from .m365 import dkim_config, expected_for, service_records, verification_records

D = "mail.acmecorp.com"


def test_records_come_from_graph_and_exchange_not_from_patterns():
    expected = build_expected_records(
        D,
        verification=verification_records(D, "ms87654321"),
        service=[
            {**service_records(D)[0], "mailExchange": "mail-acmecorp-com01c.mail.protection.outlook.com"},
            *service_records(D)[1:],
        ],
        dkim_config=dkim_config(D, tenant="AnhLe267", partition="q"),
    )
    assert expected.verification_text == "MS=ms87654321"
    # Microsoft's token carries a suffix no dashes-rule would produce: we copy, never derive.
    assert expected.mx_hosts == {"mail-acmecorp-com01c.mail.protection.outlook.com"}
    assert expected.dkim_targets == {
        "selector1": "selector1-mail-acmecorp-com._domainkey.anhle267.q-v1.dkim.mail.microsoft",
        "selector2": "selector2-mail-acmecorp-com._domainkey.anhle267.q-v1.dkim.mail.microsoft",
    }
    assert expected.text_of(Purpose.DMARC) == "v=DMARC1; p=quarantine"  # no made-up report mailbox
    # The msv1.invalid MX is an alternative way to verify, not something to publish.
    assert all("msv1.invalid" not in r.value for r in expected.records)


def test_the_recommended_dmarc_sends_reports_only_where_the_operator_said():
    from tenantcore.dnshealth.records import configure_dmarc_rua, recommended_dmarc

    try:
        configure_dmarc_rua("mailto:reports@agency.example")
        assert recommended_dmarc(D).value == "v=DMARC1; p=quarantine; rua=mailto:reports@agency.example"
        assert recommended_dmarc(D, rua="x@y.example").value.endswith("rua=mailto:x@y.example")
    finally:
        configure_dmarc_rua(None)
    assert recommended_dmarc(D).value == "v=DMARC1; p=quarantine"


@pytest.mark.parametrize(
    "raw",
    [
        {
            "@odata.type": "#microsoft.graph.domainDnsMxRecord",
            "label": D,
            "mailExchange": "X.example",
            "preference": 5,
        },
        {
            "@odata.type": "microsoft.graph.domainDnsMxRecord",
            "label": D,
            "mailExchange": "x.example",
            "preference": 5,
        },
        {"recordType": "mx", "label": "@", "mailExchange": "x.example.", "preference": 5},
        {"recordType": "Mx", "label": D + ".", "mailExchange": "x.example", "preference": 5},
    ],
    ids=["odata-hash", "odata-bare", "lowercase-type-at-label", "fqdn-dot"],
)
def test_graph_record_shapes(raw):
    record = parse_graph_record(raw, D)
    assert (record.rtype, record.name, record.value, record.preference) == ("MX", D, "x.example", 5)


def test_cname_type_is_case_insensitive_and_other_services_are_left_out():
    raw = [
        *service_records(D),
        {
            "@odata.type": "#microsoft.graph.domainDnsCnameRecord",
            "recordType": "CName",
            "label": f"enterpriseregistration.{D}",
            "canonicalName": "enterpriseregistration.windows.net",
            "supportedService": "Intune",
        },
        {
            "@odata.type": "#microsoft.graph.domainDnsSrvRecord",
            "recordType": "Srv",
            "label": f"_sip._tls.{D}",
        },
    ]
    expected = build_expected_records(D, service=raw)
    assert [r.purpose for r in expected.records] == [
        Purpose.MX,
        Purpose.SPF,
        Purpose.AUTODISCOVER,
        Purpose.DMARC,
    ]


def test_api_shape_matches_the_spec():
    shaped = api_records(expected_for(D))
    assert shaped["verification_dns_records"] == [
        {"recordType": "domainDnsTxtRecord", "label": "@", "text": "MS=ms12345678", "ttl": 3600}
    ]
    service = shaped["service_configuration_records"]
    assert service[0] == {
        "recordType": "domainDnsMxRecord",
        "label": "@",
        "mailExchange": "mail-acmecorp-com.mail.protection.outlook.com",
        "preference": 0,
        "ttl": 3600,
    }
    labels = [r["label"] for r in service]
    assert labels == ["@", "@", "autodiscover", "selector1._domainkey", "selector2._domainkey", "_dmarc"]
    assert service[3]["recordType"] == "domainDnsCnameRecord"
    assert service[3]["canonicalName"].startswith("selector1-mail-acmecorp-com._domainkey.")


def test_bind_snippet_parses_as_a_zone_relative_to_the_registrable_domain():
    expected = build_expected_records(
        D,
        verification=verification_records(D),
        service=[*service_records(D), {"recordType": "Txt", "label": D, "text": "k=" + "a" * 400}],
        dkim_config=dkim_config(D),
    )
    text = to_bind(expected.records)
    assert text.startswith("$ORIGIN acmecorp.com.\n")
    assert "\nmail\t3600\tIN\tMX\t0 mail-acmecorp-com.mail.protection.outlook.com.\n" in text
    assert "\nselector1._domainkey.mail\t3600\tIN\tCNAME\t" in text
    zone_text = "@ 3600 IN SOA ns. host. 1 3600 600 86400 60\n@ 3600 IN NS ns.\n" + text.split("\n", 1)[1]
    zone = dns.zone.from_text(zone_text, origin="acmecorp.com.", relativize=False)
    txt = {b"".join(r.strings).decode() for r in zone.find_rdataset(D + ".", "TXT")}
    assert txt == {"MS=ms12345678", "v=spf1 include:spf.protection.outlook.com -all", "k=" + "a" * 400}
    dmarc = zone.find_rdataset(f"_dmarc.{D}.", "TXT")
    assert b"".join(next(iter(dmarc)).strings).decode().startswith("v=DMARC1; p=quarantine")


def test_csv_for_registrar_import():
    rows = list(csv.DictReader(io.StringIO(to_csv(expected_for(D).records))))
    assert rows[0] == {"host": "mail", "type": "TXT", "value": "MS=ms12345678", "ttl": "3600", "priority": ""}
    mx = next(r for r in rows if r["type"] == "MX")
    assert (mx["host"], mx["value"], mx["priority"]) == (
        "mail",
        "mail-acmecorp-com.mail.protection.outlook.com",
        "0",
    )
    assert {r["host"] for r in rows} >= {"_dmarc.mail", "selector1._domainkey.mail", "autodiscover.mail"}
    apex = list(csv.DictReader(io.StringIO(to_csv(expected_for("acmecorp.com").records))))
    assert apex[0]["host"] == "@"
