"""Error texts read where Microsoft puts them, on the captured shapes."""

from __future__ import annotations

import json

from tenantcore.microsoft.errors import (
    DkimCnameMissing,
    DnsVerificationPending,
    DomainAlreadyExists,
    DomainInUse,
    DomainNotAccepted,
    ExchangeCommandError,
    exchange_error,
    exchange_message,
    graph_error,
    token_error,
)


def body(data) -> bytes:
    return json.dumps(data).encode()


def test_graph_conflict_capture():
    captured = {
        "error": {
            "code": "Request_BadRequest",
            "message": "Another object with the same value for property id already exists.",
            "details": [{"code": "ObjectConflict", "message": "...", "target": "id"}],
            "innerError": {"date": "2024-08-20T04:25:57", "request-id": "r-1", "client-request-id": "c-1"},
        }
    }
    error = graph_error(400, body(captured), "mine", "acme.com")
    assert isinstance(error, DomainAlreadyExists)
    assert (error.request_id, error.client_request_id, error.ms_code) == ("r-1", "c-1", "Request_BadRequest")


def test_graph_verify_failures():
    in_use = {
        "error": {
            "code": "Request_BadRequest",
            "message": "Domain verification failed with the following "
            "error: 'Domain is being used by an active tenant'.",
            "details": [{"code": "DomainInUse", "target": "Name.Conflict"}],
        }
    }
    assert isinstance(graph_error(400, body(in_use), "c"), DomainInUse)
    dns = {
        "error": {
            "code": "Request_BadRequest",
            "message": "Domain verification failed with the following "
            "error: 'Error in DNS verification. code=InternalError'.",
        }
    }
    assert isinstance(graph_error(400, body(dns), "c"), DnsVerificationPending)


def test_exchange_text_comes_from_details_then_innererror():
    captured = {
        "error": {
            "code": "BadRequest",
            "message": "Invalid Operation",
            "details": [
                {
                    "code": "Client",
                    "target": "",
                    "message": "|Microsoft.Exchange.Management.Tasks.ValidationException|CNAME record does "
                    "not exist for this config.",
                }
            ],
            "innererror": {"internalexception": {"message": "other", "type": "T"}},
        }
    }
    text, kind = exchange_message(body(captured))
    assert text == "CNAME record does not exist for this config."
    assert kind == "Microsoft.Exchange.Management.Tasks.ValidationException"
    assert isinstance(exchange_error(400, body(captured), "c", "Set-DkimSigningConfig"), DkimCnameMissing)
    inner_only = {
        "error": {
            "code": "BadRequest",
            "message": "Invalid Operation",
            "innererror": {
                "internalexception": {
                    "message": 'Invalid domain name specified "x.com". Please specify tenant name or '
                    "valid accepted domain.",
                    "type": "Microsoft.Exchange.Management.Tasks.ValidationException",
                }
            },
        }
    }
    error = exchange_error(400, body(inner_only), "c", "Set-DkimSigningConfig")
    assert isinstance(error, DomainNotAccepted)
    assert error.ms_code == "Microsoft.Exchange.Management.Tasks.ValidationException"
    plain = exchange_error(400, body({"error": {"message": "Invalid Operation"}}), "c", "Get-X")
    assert type(plain) is ExchangeCommandError and "Invalid Operation" in plain.message


def test_non_json_bodies_do_not_break_parsing():
    assert exchange_message(b"\x00\x00\x00") == ("", None)
    assert graph_error(502, b"<html>bad gateway</html>", "c").code == "microsoft_unavailable"


def test_token_error_from_discovery_text():
    text = (
        "OIDC Discovery failed on https://login.microsoftonline.com/x/v2.0/.well-known/openid-configuration. "
        'HTTP status: 400, Error: {"error":"invalid_tenant","error_description":"AADSTS90002: Tenant \'x\' not found."}'
    )
    assert token_error(text, "x").code == "microsoft_tenant_not_found"
