"""The app's form parsing, without HTTP: domain lists, CSV files, provider settings, and the
bulk-add summary that has to fit in the session cookie."""

from __future__ import annotations

import json
import re

import pytest

from tenantcore.domains.schemas import BulkItem, BulkResult
from tenantcore.errors import TenantCoreError
from tenantcore.web import forms, redirects


def test_names_split_on_lines_commas_and_spaces_but_a_phrase_stays_whole():
    text = "a.example.com, b.example.com;c.example.com\n d.example.com e.example.com \n\nnot a domain\n"
    assert forms.split_names(text) == [
        "a.example.com",
        "b.example.com",
        "c.example.com",
        "d.example.com",
        "e.example.com",
        "not a domain",
    ]


def test_csv_first_column_with_or_without_a_header():
    assert forms.csv_names(b"domain,owner\na.example.com,x\n\nb.example.com\n") == ["a.example.com", "b.example.com"]
    assert forms.csv_names(b"a.example.com;x\nb.example.com\n") == ["a.example.com;x", "b.example.com"]
    assert forms.csv_names(b"") == []
    # Old Mac line endings (CR only) and Windows ones, as registrar exports have them.
    assert forms.csv_names(b"cr-one.com\rcr-two.com\r") == ["cr-one.com", "cr-two.com"]
    assert forms.csv_names(b"domain\r\ncrlf.com\r\n") == ["crlf.com"]
    with pytest.raises(forms.UnreadableCsv, match="not a CSV file"):
        forms.csv_names(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(forms.UnreadableCsv, match="not a CSV file"):  # a quote never closed swallows the rest
        forms.csv_names(b'domain\n"a.example.com\nb.example.com\n')
    assert forms.csv_names(b'domain,note\n"a.example.com","x, y"\n') == ["a.example.com"]


def test_pasted_lists_skip_comment_lines():
    assert forms.split_names("# client 7\na.example.com\n  # b.example.com is not ours\nc.example.com") == [
        "a.example.com",
        "c.example.com",
    ]
    assert forms.unique(["A.example.com", "a.example.com.", "b.example.com"]) == ["A.example.com", "b.example.com"]


def test_connect_form_reads_only_the_chosen_kind():
    body = forms.connect_body(
        {
            "name": " office ",
            "kind": "rfc2136",
            "config-rfc2136-server": "ns1.example.net",
            "config-rfc2136-port": "5353",
            "config-rfc2136-timeout": "",
            "config-rfc2136-key_name": "k",
            "cred-rfc2136-key_secret": "s3cret",
            "config-lexicon-provider_name": "ignored",
            "zone": "example.com",
        }
    )
    assert body.name == "office" and body.config == {"server": "ns1.example.net", "port": 5353, "key_name": "k"}
    assert body.credentials == {"key_secret": "s3cret"} and body.zone == "example.com"
    lexicon = forms.connect_body(
        {
            "name": "pdns",
            "kind": "lexicon",
            "config-lexicon-provider_name": "powerdns",
            "config-lexicon-options": "pdns_server = http://127.0.0.1:8081\n# a comment\n",
            "cred-lexicon-pairs": "auth_token=abc=def",
        }
    )
    assert lexicon.config == {"provider_name": "powerdns", "options": {"pdns_server": "http://127.0.0.1:8081"}}
    assert lexicon.credentials == {"auth_token": "abc=def"} and lexicon.zone is None
    with pytest.raises(TenantCoreError, match="Choose a kind"):
        forms.connect_body({"name": "x", "kind": "bind9"})
    with pytest.raises(TenantCoreError, match=r"^name: "):
        forms.connect_body({"name": "", "kind": "sandbox"})
    kept = forms.kept_values({"csrf": "t", "name": "n", "cred-rfc2136-key_secret": "s", "zone": "z"})
    assert kept == {"name": "n", "zone": "z"}


def test_a_hundred_results_fit_in_the_session_cookie():
    items = [BulkItem(domain=f"d{i:03}.some-long-customer-name.example.com", status="added") for i in range(60)]
    items += [
        BulkItem(domain=f"x{i:03}.example.com", status="failed", error={"code": "c", "message": "m" * 400})
        for i in range(40)
    ]
    result = BulkResult(tenant_id="t", added=60, failed=40, results=items)
    small = forms.summary(result)
    assert len(json.dumps(small)) < 2200
    shown = forms.expand(small)
    assert shown["added"] == 60 and shown["failed"] == 40
    assert shown["more"] == 100 - len(shown["rows"]) > 0
    # Failures come first: what does not fit is only domains that were added.
    assert shown["rows"][0] == ("x000.example.com", False, "m" * 300)
    assert [ok for _, ok, _ in shown["rows"]].count(False) == 40


def test_pasted_urls_and_addresses_are_reduced_to_their_host():
    assert forms.clean_name("https://www.acme.com/path") == "www.acme.com"  # www. is kept: it may be meant
    assert forms.clean_name(" HTTP://User:pw@Mail.Acme.COM:8443/x?y#z ") == "mail.acme.com"
    assert forms.clean_name("acme.com.") == "acme.com"
    assert forms.clean_name("mailto:bob@acme.com") == "acme.com"
    assert forms.clean_name("acme.com:25") == "acme.com"
    assert forms.clean_name("https://") == "https://"  # no host left: kept as typed, for its error
    names, cleaned = forms.clean_names(["https://a.example.com/x", " b.example.com ", "Not A Domain", "C.example.com"])
    assert names == ["a.example.com", "b.example.com", "Not A Domain", "c.example.com"]
    assert cleaned == [("https://a.example.com/x", "a.example.com"), ("C.example.com", "c.example.com")]


def test_a_pasted_list_of_urls_is_split_then_cleaned():
    text = "https://a.example.com/x, b.example.com; https://c.example.com:443 d.example.com\nnot a domain"
    names, cleaned = forms.clean_names(forms.split_names(text))
    assert names == ["a.example.com", "b.example.com", "c.example.com", "d.example.com", "not a domain"]
    assert [typed for typed, _ in cleaned] == ["https://a.example.com/x", "https://c.example.com:443"]


def test_the_cleaning_is_reported_briefly():
    assert forms.cleaned_message([("https://x.com/", "x.com")]) == "Cleaned 1 name: https://x.com/ → x.com."
    many = [(f"https://d{i}.example.com/", f"d{i}.example.com") for i in range(12)]
    message = forms.cleaned_message(many)
    assert message.startswith("Cleaned 12 names: https://d0.example.com/ → d0.example.com; ")
    assert "d4.example.com" in message and "d5.example.com" not in message and message.endswith("and 7 more.")


def test_what_goes_back_into_a_form_stays_within_the_cookie_budget():
    names = [f"refused-{i:03}.some-long-customer-name.example.com" for i in range(100)]
    text, dropped = forms.kept_text(names)
    assert len(text) <= forms.KEPT_BUDGET and dropped > 0
    assert text.splitlines() == names[: 100 - dropped]
    assert forms.kept_text(["a.example.com", "b.example.com"]) == ("a.example.com\nb.example.com", 0)
    kept = forms.kept_values(
        {"csrf": "t", "name": "n", "config-lexicon-options": "x" * 5000, "cred-x-pairs": "secret", "zone": ""}
    )
    assert kept == {"name": "n"}  # the oversized field is typed again, the secret never comes back
    shown = forms.expand(
        forms.summary(
            BulkResult(
                tenant_id="t",
                added=1,
                failed=1,
                results=[
                    BulkItem(domain="ok.example.com", status="added"),
                    BulkItem(domain="bad..example.com", status="failed", error={"code": "c", "message": "no"}),
                ],
            )
        )
    )
    assert forms.refused_names(shown) == ["bad..example.com"] and forms.refused_names(None) == []


def test_a_form_url_belongs_to_the_nearest_page_above_it():
    pages = {"/app", "/app/tenants/{tenant_id}", "/app/tenants/{tenant_id}/domains/{name}", "/app/dns-providers"}
    assert redirects.page_of("/app/tenants/{tenant_id}/domains", pages) == "/app/tenants/{tenant_id}"
    assert redirects.page_of("/app/tenants/{tenant_id}/domains/{name}/dns/apply", pages) == (
        "/app/tenants/{tenant_id}/domains/{name}"
    )
    assert redirects.page_of("/app/dns-providers/{provider_id}/test", pages) == "/app/dns-providers"
    assert redirects.page_of("/app/logout", pages) == "/app" and redirects.page_of("/app/tenants", pages) == "/app"


def test_a_bulk_failure_gives_the_first_reasons_then_names_the_rest():
    from tenantcore.web.problems import FAILURE_BUDGET, failure_message

    failures = [(f"d{i}.example.com", f"The TXT record is not visible at d{i}.example.com yet.") for i in range(5)]
    text = failure_message(failures)
    assert text.startswith("5 failed. d0.example.com: The TXT record is not visible at d0.example.com yet; d1.")
    assert "d3.example.com: The" not in text
    assert text.endswith(" Also d3.example.com, d4.example.com (reasons on their pages).")
    assert (
        failure_message(failures[:1])
        == "1 failed. d0.example.com: The TXT record is not visible at d0.example.com yet."
    )
    many = failure_message([(f"domain-number-{i:03d}.example.com", "Refused by Microsoft.") for i in range(100)])
    assert len(many) <= FAILURE_BUDGET and many.startswith("100 failed. domain-number-000.example.com: Refused")
    assert re.search(r" and \d+ more \(reasons on their pages\)\.$", many)
