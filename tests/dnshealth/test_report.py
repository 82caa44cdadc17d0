"""The report's shape and its formats (JSON, CSV, table) as a library user gets them, and the
one severity ranking the service compares grades with."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from rich.console import Console

from tenantcore.dnshealth import HEALTHY, PROBLEMS, STATUS_FIELDS, Severity, severity_rank
from tenantcore.dnshealth.evaluate import evaluate
from tenantcore.dnshealth.formats import CSV_COLUMNS, print_reports, reports_to_csv, reports_to_json
from tenantcore.dnshealth.lookup import Outcome

from .answers import EXPECTED, D, dmarc, failed, healthy, mx

AT = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def reports():
    return [
        evaluate(healthy(), EXPECTED, True, AT),
        evaluate(healthy(dmarc=dmarc(), mx=failed(D, "MX", Outcome.TIMEOUT)), EXPECTED, True, AT),
        evaluate(healthy(mx=mx("mx1.mailhost.example")), EXPECTED, True, AT),
    ]


def test_status_fields_follow_one_list():
    report = reports()[0]
    assert tuple(report.status_fields()) == STATUS_FIELDS
    assert tuple(report.to_dict())[1:6] == STATUS_FIELDS
    assert report.status_fields()["last_checked"] == "2026-11-24T08:30:00Z"


def test_csv_has_a_row_per_domain_with_its_problem_codes():
    rows = list(csv.DictReader(io.StringIO(reports_to_csv(reports()))))
    assert ("domain", "grade", *STATUS_FIELDS, "problems", "blocklist_status") == CSV_COLUMNS
    assert [(r["grade"], r["mx_status"], r["problems"]) for r in rows] == [
        ("ok", "acme-corp-com.mail.protection.outlook.com.", ""),
        ("error", "unknown", "dmarc_missing mx_unknown"),
        ("error", "mx1.mailhost.example.", "mx_not_microsoft"),
    ]


def test_json_is_the_reports_dicts():
    checked = reports()
    assert json.loads(reports_to_json(checked)) == [r.to_dict() for r in checked]


def test_table_lists_the_findings_worth_a_look_with_their_fixes():
    console = Console(record=True, width=200)
    print_reports(reports(), console)
    text = console.export_text()
    assert "dmarc_missing: No DMARC record" in text
    assert (
        f'fix: At host "_dmarc" of zone {D}, publish a TXT record: v=DMARC1; p=quarantine; rua=mailto:dmarc@{D}' in text
    )
    assert "spf_ok" not in text and "mx_ok" not in text  # ok findings are not listed


def test_one_severity_ranking():
    assert [severity_rank(s) for s in Severity] == [0, 1, 2, 3, None]
    assert severity_rank("warning") == severity_rank(Severity.WARNING)  # grades stored as text
    assert severity_rank(None) is None and severity_rank("no such grade") is None
    healthy_ranks = [severity_rank(s, info_is_ok=True) for s in ("ok", "info", "warning", "error")]
    assert healthy_ranks[0] == healthy_ranks[1] < healthy_ranks[2] < healthy_ranks[3]
    assert set(HEALTHY) | set(PROBLEMS) == set(Severity) - {Severity.UNKNOWN}
    assert "info" in HEALTHY and "error" in PROBLEMS
