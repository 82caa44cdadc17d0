"""DNS health for Microsoft 365 sending domains: expected records, live lookups, findings.

Usable on its own (`tenantcore check`, or as a library) and by the service::

    checker = HealthChecker(ResolverConfig(nameservers=("127.0.0.1:5353",)))
    report = await checker.check("mail.acmecorp.com", expected)
    report.status_fields()   # spf_status, dkim_status, dmarc_status, mx_status, last_checked
"""

from tenantcore.dnshealth.check import CheckRun, CheckTarget, HealthChecker
from tenantcore.dnshealth.exports import api_records, to_bind, to_csv
from tenantcore.dnshealth.findings import HEALTHY, PROBLEMS, SEVERITY_RANK, Finding, Severity, severity_rank
from tenantcore.dnshealth.lookup import Answer, Outcome, ResolverConfig
from tenantcore.dnshealth.records import DnsRecord, ExpectedRecords, Purpose, build_expected_records
from tenantcore.dnshealth.report import STATUS_FIELDS, HealthReport

__all__ = [
    "HEALTHY",
    "PROBLEMS",
    "SEVERITY_RANK",
    "STATUS_FIELDS",
    "Answer",
    "CheckRun",
    "CheckTarget",
    "DnsRecord",
    "ExpectedRecords",
    "Finding",
    "HealthChecker",
    "HealthReport",
    "Outcome",
    "Purpose",
    "ResolverConfig",
    "Severity",
    "api_records",
    "build_expected_records",
    "severity_rank",
    "to_bind",
    "to_csv",
]
