"""`tenantcore domains add` as a user runs it: over HTTP against the whole service on loopback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tenantcore.cli import _domain_lines
from tenantcore.cli import app as cli

from .running import Service

runner = CliRunner(env={"COLUMNS": "200"})


def add(service: Service, tenant: str, listing: Path | str, key: str | None = None, stdin: str | None = None):
    args = ["domains", "add", "--tenant", tenant, "--file", str(listing), "--api", service.url]
    return runner.invoke(cli, [*args, "--key", key or service.keys["test"]], input=stdin)


def test_the_listing_takes_lines_comments_and_csv():
    assert _domain_lines("# mine\nacme-mail.com\n\n  ACME-send.com  # the new one\n") == [
        "acme-mail.com",
        "ACME-send.com",
    ]
    csv = 'domain,owner\nacme-mail.com,alice\n# skipped\n"acme-send.com","bob, jr"\n'
    assert _domain_lines(csv) == ["acme-mail.com", "acme-send.com"]
    assert _domain_lines("acme-mail.com,alice\nacme-send.com,bob\n") == ["acme-mail.com", "acme-send.com"]
    # a plain list's first line is a name like any other: the API judges it
    assert _domain_lines("not a domain\nacme-mail.com\n") == ["not a domain", "acme-mail.com"]


async def test_adds_a_listing_and_reports_a_partial_failure(service: Service, tenant_id: str, tmp_path: Path):
    listing = tmp_path / "domains.csv"
    listing.write_text("domain,owner\nacme-mail.com,alice\n# next quarter\nbad_name..com,bob\nacme-send.com,carol\n")
    result = add(service, tenant_id, listing)
    assert result.exit_code == 1, result.output
    assert "2 added, 1 failed (of 3)" in result.stdout
    assert "acme-mail.com" in result.stdout and "acme-send.com" in result.stdout
    assert "bad_name..com" in result.stdout and "invalid_domain" in result.stdout
    async with service.client(service.keys["test"]) as api:
        listed = (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()["domains"]
    assert sorted(d["domain_name"] for d in listed) == ["acme-mail.com", "acme-send.com"]

    # from stdin, all good: exit 0
    result = add(service, tenant_id, "-", stdin="acme-news.com\n")
    assert result.exit_code == 0, result.output
    assert "1 added, 0 failed (of 1)" in result.stdout


async def test_a_bad_key_is_a_clear_message_and_exit_2(service: Service, tenant_id: str, tmp_path: Path):
    listing = tmp_path / "domains.txt"
    listing.write_text("acme-mail.com\n")
    result = add(service, tenant_id, listing, key="tc_test_not_a_key")
    assert result.exit_code == 2, result.output
    assert "HTTP 401" in result.stderr and "Traceback" not in result.output
    assert "0 added, 0 failed, 1 not sent (of 1)" in result.stdout
    async with service.client(service.keys["test"]) as api:
        assert (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()["domains"] == []

    unknown = add(service, "00000000-0000-0000-0000-000000000000", listing)
    assert unknown.exit_code == 2 and "HTTP 404" in unknown.stderr

    unreachable = runner.invoke(
        cli,
        ["domains", "add", "--tenant", tenant_id, "--file", str(listing), "--api", "http://127.0.0.1:9", "--key", "k"],
    )
    assert unreachable.exit_code == 2 and "could not reach" in unreachable.stderr


def test_no_key_is_a_usage_error(tmp_path: Path):
    listing = tmp_path / "domains.txt"
    listing.write_text("acme-mail.com\n")
    result = runner.invoke(
        cli, ["domains", "add", "--tenant", "t", "--file", str(listing)], env={"TENANTCORE_API_KEY": ""}
    )
    assert result.exit_code == 2 and "--key" in result.output
