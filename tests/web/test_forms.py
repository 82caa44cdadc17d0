"""The app's form parsing, without HTTP: domain lists, CSV files, provider settings, and the
bulk-add summary that has to fit in the session cookie."""

from __future__ import annotations

import json

import pytest

from tenantcore.domains.schemas import BulkItem, BulkResult
from tenantcore.errors import TenantCoreError
from tenantcore.web import forms


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
