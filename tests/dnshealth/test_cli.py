"""`tenantcore check` as a user runs it."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from tenantcore.cli import app

runner = CliRunner(env={"COLUMNS": "160"})


def test_check_prints_a_table_and_exits_0_when_healthy(dns_server, publish):
    publish("acme-corp.com")
    result = runner.invoke(app, ["check", "acme-corp.com", "-n", dns_server.address])
    assert result.exit_code == 0, result.output
    assert "acme-corp.com" in result.output and "healthy" in result.output


def test_check_exits_1_and_explains_errors(dns_server, publish, store):
    publish("acme-corp.com")
    store.delete("_dmarc.acme-corp.com")
    result = runner.invoke(app, ["check", "acme-corp.com", "-n", dns_server.address])
    assert result.exit_code == 1
    assert "dmarc_missing" in result.output and "fix:" in result.output


def test_json_and_csv_for_machines(dns_server, publish, store, tmp_path):
    publish("acme-corp.com")
    store.add_zone("bare-example.com")
    listing = tmp_path / "domains.csv"
    listing.write_text("domain\nacme-corp.com\n# a comment\nBARE-example.com.\nacme-corp.com\n")
    result = runner.invoke(app, ["check", "--file", str(listing), "--json", "-n", dns_server.address])
    assert result.exit_code == 1  # bare-example.com has nothing published
    reports = json.loads(result.stdout)
    assert [r["domain"] for r in reports] == ["acme-corp.com", "bare-example.com"]
    assert reports[0]["dkim_status"] == "healthy" and reports[1]["mx_status"] == "missing"
    assert {"spf_status", "dkim_status", "dmarc_status", "mx_status", "last_checked", "findings"} <= set(reports[0])

    result = runner.invoke(app, ["check", "acme-corp.com", "--csv", "-n", dns_server.address, "--no-blocklists"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["domain"] == "acme-corp.com" and rows[0]["grade"] == "ok"
    assert rows[0]["blocklist_status"] == ""  # none asked


def test_blocklists_on_by_default_unknown_where_the_lists_are_not_served(dns_server, publish):
    """The sandbox DNS serves no blocklist zone: the three public lists are asked and answer
    nothing useful, which is `unknown` (info), never clean and never an error."""
    publish("acme-corp.com")
    result = runner.invoke(app, ["check", "acme-corp.com", "--json", "-n", dns_server.address])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)[0]
    assert [b["blocklist"] for b in report["blocklists"]] == ["dbl.spamhaus.org", "multi.surbl.org", "multi.uribl.com"]
    assert report["blocklist_status"] == "unknown"  # REFUSED by a server that has no such zone
    assert {b["status"] for b in report["blocklists"]} == {"unknown"}
    result = runner.invoke(app, ["check", "acme-corp.com", "-n", dns_server.address])
    assert "Blocklists" in result.output
    result = runner.invoke(app, ["check", "acme-corp.com", "-n", dns_server.address, "--no-blocklists"])
    assert "Blocklists" not in result.output and "blocklist" not in result.output
    assert runner.invoke(app, ["check", "acme-corp.com", "--blocklist", "bogus:x.y"]).exit_code == 2


def test_a_listed_domain_is_shown_with_its_reason_and_exits_1():
    from tenantcore.sandbox.knot import KnotNotInstalled, running_knot

    head = "$TTL 0\n@ SOA ns.dbl.test-bl. h.dbl.test-bl. 1 3600 600 86400 0\n@ NS ns.dbl.test-bl.\n"
    zone = head + "spam-example.com A 127.0.1.2\nlimited-example.com A 127.255.255.255\n"
    args = ["--blocklist", "spamhaus:dbl.test-bl", "--timeout", "0.5", "--tries", "1"]
    try:
        with running_knot({"dbl.test-bl": zone}, key_name="tc-cli-bl") as lists:
            listed = runner.invoke(app, ["check", "spam-example.com", "-n", lists.address, *args])
            limited = runner.invoke(app, ["check", "limited-example.com", "--json", "-n", lists.address, *args])
    except KnotNotInstalled as exc:
        pytest.skip(f"{exc}: run ./dev test as root, it installs Debian's knot")
    assert listed.exit_code == 1, listed.output
    assert "blocklisted" in listed.output and "spam" in listed.output.lower()
    report = json.loads(limited.stdout)[0]  # rate limited by the list: unknown, not listed, not clean
    assert report["blocklist_status"] == "unknown"
    assert "blocklisted" not in {f["code"] for f in report["findings"]}


def test_bad_input_exits_2(dns_server):
    assert runner.invoke(app, ["check", "bob@acme-corp.com"]).exit_code == 2
    assert runner.invoke(app, ["check"]).exit_code == 2


def test_output_reaches_a_pipe_whole_under_pythonunbuffered(blackhole, tmp_path):
    """Under PYTHONUNBUFFERED (many container images) a large --json used to lose its tail when
    the kernel took a write only in part: here the process is stopped and continued (Ctrl-Z,
    fg) while it is blocked writing into a full pipe."""
    import os
    import shutil
    import signal
    import subprocess
    import sys

    listing = tmp_path / "domains.txt"
    listing.write_text("\n".join(f"d{i:04d}-example.com" for i in range(300)))
    command = shutil.which("tenantcore", path=os.path.dirname(sys.executable))
    assert command is not None
    child = subprocess.Popen(
        [command, "check", "--file", str(listing), "--json", "-n", blackhole, "--timeout", "0.05", "--tries", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    first = os.read(child.stdout.fileno(), 1)  # from here on the child is inside its big write
    os.kill(child.pid, signal.SIGSTOP)
    os.kill(child.pid, signal.SIGCONT)
    rest = child.stdout.read()
    child.wait(timeout=30)
    reports = json.loads(first + rest)  # a truncated document would not parse
    assert len(reports) == 300 and all(r["grade"] == "unknown" for r in reports)
