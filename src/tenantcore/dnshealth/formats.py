"""Health reports for machines and people: JSON, CSV (one row a domain) and a rich table.

This is what `tenantcore check` prints, here so that a library user gets the same output
without the command line. Expected records (what to publish) have their own formats in
`exports.py`. Not re-exported from the package: it is the one dnshealth module that needs
rich, which the service does not otherwise import.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from rich.console import Console
from rich.table import Table

from tenantcore.dnshealth.findings import HEALTHY, Severity
from tenantcore.dnshealth.report import MISSING, STATUS_FIELDS, UNKNOWN, HealthReport

CSV_COLUMNS: Final = ("domain", "grade", *STATUS_FIELDS, "problems", "blocklist_status")

SEVERITY_STYLE: Final[Mapping[Severity, str]] = {
    Severity.OK: "green",
    Severity.INFO: "green",
    Severity.WARNING: "yellow",
    Severity.ERROR: "bold red",
    Severity.UNKNOWN: "magenta",
}


def problem_codes(report: HealthReport) -> list[str]:
    """The codes of the findings worth a look: warnings, errors and answers DNS did not give."""
    return [f.code for f in report.findings if f.severity not in HEALTHY]


def reports_to_json(reports: Iterable[HealthReport]) -> str:
    """A JSON array of `HealthReport.to_dict()`, indented, ending in a newline."""
    return json.dumps([r.to_dict() for r in reports], indent=2) + "\n"


def reports_to_csv(reports: Iterable[HealthReport]) -> str:
    """One row a domain (`CSV_COLUMNS`): grade, the status fields, the problem codes separated
    by spaces, and the blocklist verdict (listed, clean, unknown; empty when none was asked)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in reports:
        writer.writerow(
            (
                r.domain,
                r.grade.value,
                *r.status_fields().values(),
                " ".join(problem_codes(r)),
                r.blocklist_status or "",
            )
        )
    return buffer.getvalue()


def _presence(status: str) -> str:
    # The SPF and DMARC statuses are whole records, too long for a column: say only whether
    # one is there.
    return status if status in (MISSING, UNKNOWN) else "present"


_BLOCKLIST_STYLE: Final = {"listed": "bold red", "clean": "green", "unknown": "magenta"}


def _blocklists(report: HealthReport) -> str:
    status = report.blocklist_status
    if status is None:
        return "-"
    listed = [b.blocklist for b in report.blocklists if b.status == "listed"]
    shown = f"{status}: {', '.join(listed)}" if listed else status
    return f"[{_BLOCKLIST_STYLE.get(status, '')}]{shown}[/]"


def reports_table(reports: Sequence[HealthReport]) -> Table:
    """One row a domain: grade, the status of each protocol, the problem codes and, when any
    blocklist was asked, the blocklist verdict."""
    table = Table(show_lines=False, header_style="bold")
    table.add_column("Domain", no_wrap=True)
    blocklists = any(r.blocklist_status is not None for r in reports)
    columns = ("Grade", "SPF", "DKIM", "DMARC", "MX", "Problems", *(("Blocklists",) if blocklists else ()))
    for column in columns:
        table.add_column(column, overflow="fold")
    for r in reports:
        table.add_row(
            r.domain,
            f"[{SEVERITY_STYLE[r.grade]}]{r.grade.value}[/]",
            _presence(r.spf_status),
            r.dkim_status,
            _presence(r.dmarc_status),
            r.mx_status,
            " ".join(problem_codes(r)),
            *((_blocklists(r),) if blocklists else ()),
        )
    return table


def print_reports(reports: Sequence[HealthReport], console: Console) -> None:
    """The table, then every domain's findings other than ok, each with its fix."""
    console.print(reports_table(reports))
    for r in reports:
        shown = [f for f in r.findings if f.severity is not Severity.OK]
        if not shown:
            continue
        console.print(f"\n[bold]{r.domain}[/]")
        for f in shown:
            console.print(f"  [{SEVERITY_STYLE[f.severity]}]{f.severity.value:7}[/] {f.code}: {f.message}")
            if f.fix:
                console.print(f"          fix: {f.fix}")
