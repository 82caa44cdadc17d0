"""Typed errors for what Microsoft refuses or fails at, with messages an operator can act on.

Each error carries our stable `code` (what TenantCore's API and logs use), Microsoft's own
code and message, the HTTP status, and the request ids Microsoft support asks for.
"""

from __future__ import annotations

import json
import re
from typing import Any


class MicrosoftError(Exception):
    code = "microsoft_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        ms_code: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.ms_code = ms_code
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.retry_after = retry_after
        # True when the request may have been carried out all the same (it timed out after
        # being sent): the caller must find out from Microsoft, not assume a "no".
        self.maybe_done = False


# --- tokens ------------------------------------------------------------------------------


class TokenError(MicrosoftError):
    code = "token_error"


class ConsentRequired(TokenError):
    code = "consent_required"


class InvalidClientCredential(TokenError):
    code = "invalid_client_credential"


class MicrosoftTenantNotFound(TokenError):
    code = "microsoft_tenant_not_found"


class AppNotFound(TokenError):
    code = "app_not_found"


# --- transport-level ---------------------------------------------------------------------


class Unauthorized(MicrosoftError):
    code = "microsoft_unauthorized"


class InsufficientPrivileges(MicrosoftError):
    code = "insufficient_privileges"


class Throttled(MicrosoftError):
    code = "microsoft_throttled"


class MicrosoftUnavailable(MicrosoftError):
    code = "microsoft_unavailable"


# --- Graph domains -----------------------------------------------------------------------


class DomainAlreadyExists(MicrosoftError):
    code = "domain_already_exists"


class DomainNotFound(MicrosoftError):
    code = "domain_not_found"


class DomainNotReplicated(MicrosoftError):
    """Graph answered from a replica that has not seen a write yet (e.g. a PATCH right after
    verify refused as if the domain were unverified): wait and retry."""

    code = "domain_not_replicated"


class DomainInUse(MicrosoftError):
    """Verified in another tenant: only that tenant can release it."""

    code = "domain_in_use"


class DnsVerificationPending(MicrosoftError):
    """Microsoft did not find the verification TXT yet: publish it, wait, retry."""

    code = "dns_verification_pending"


class DomainHasReferences(MicrosoftError):
    code = "domain_has_references"


# --- Exchange ----------------------------------------------------------------------------


class ExchangeCommandError(MicrosoftError):
    code = "exchange_command_failed"


class DkimCnameMissing(ExchangeCommandError):
    code = "dkim_cname_missing"


class DomainNotAccepted(ExchangeCommandError):
    """Exchange does not know the domain yet (it lags behind Graph verification)."""

    code = "domain_not_accepted"


class DkimConfigNotFound(ExchangeCommandError):
    code = "dkim_config_not_found"


class DkimConfigExists(ExchangeCommandError):
    code = "dkim_config_exists"


class ExchangeAccessDenied(ExchangeCommandError):
    code = "exchange_access_denied"


# --- parsing -----------------------------------------------------------------------------

_AADSTS = re.compile(r"AADSTS(\d+)")
_TOKEN_ERRORS: dict[str, tuple[type[TokenError], str]] = {
    "7000229": (
        ConsentRequired,
        "The app has no service principal in this tenant: an admin must grant consent.",
    ),
    "65001": (ConsentRequired, "An admin has not consented to the app's permissions in this tenant."),
    "500011": (ConsentRequired, "The resource is not consented in this tenant: grant admin consent again."),
    "7000215": (InvalidClientCredential, "The client secret is wrong: check TENANTCORE_MS_CLIENT_SECRET."),
    "7000222": (InvalidClientCredential, "The client secret has expired: create a new one in Entra."),
    "700027": (InvalidClientCredential, "The certificate assertion was rejected: check the certificate."),
    "90002": (MicrosoftTenantNotFound, "No such Microsoft tenant: check the tenant id or domain."),
    "700016": (AppNotFound, "The app (client id) is not found in the directory: check the client id."),
}


def token_error(error: dict[str, Any] | str, tenant: str) -> TokenError:
    """A typed error from msal's error dict (or from a discovery failure's text)."""
    if isinstance(error, dict):
        text = f"{error.get('error', '')}: {error.get('error_description', '')}"
        codes = [str(c) for c in error.get("error_codes") or []]
        correlation = error.get("correlation_id")
    else:
        text, codes, correlation = error, [], None
    codes += _AADSTS.findall(text)
    for aadsts in codes:
        if aadsts in _TOKEN_ERRORS:
            cls, advice = _TOKEN_ERRORS[aadsts]
            return cls(
                f"{advice} (tenant {tenant}, AADSTS{aadsts})",
                ms_code=f"AADSTS{aadsts}",
                request_id=correlation,
            )
    first_line = text.splitlines()[0] if text else "unknown error"
    return TokenError(f"Could not get a token for tenant {tenant}: {first_line}", request_id=correlation)


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def graph_error(status: int, body: bytes, client_request_id: str, subject: str = "") -> MicrosoftError:
    """Map a Graph error response (OData envelope) to a typed error. Branch on codes first,
    then on the few messages Microsoft uses instead of codes (verification failures)."""
    error = _json(body).get("error") or {}
    ms_code = str(error.get("code") or "")
    message = str(error.get("message") or f"HTTP {status}")
    details = error.get("details") or []
    detail_codes = {str(d.get("code")) for d in details if isinstance(d, dict)}
    inner = error.get("innerError") or error.get("innererror") or {}
    ids = {
        "status": status,
        "ms_code": ms_code or None,
        "request_id": inner.get("request-id"),
        "client_request_id": inner.get("client-request-id") or client_request_id,
    }
    what = f" ({subject})" if subject else ""
    if status == 404 or ms_code == "Request_ResourceNotFound":
        return DomainNotFound(f"Microsoft has no such domain in this tenant{what}.", **ids)
    if status == 401:
        return Unauthorized(f"Microsoft rejected the access token: {message}", **ids)
    if status == 403 or ms_code == "Authorization_RequestDenied":
        return InsufficientPrivileges(
            f"Insufficient privileges{what}: the app needs Domain.ReadWrite.All with admin consent. ({message})",
            **ids,
        )
    if "ObjectConflict" in detail_codes or "same value for property id already exists" in message:
        return DomainAlreadyExists(f"The domain is already in this tenant{what}.", **ids)
    if "DomainInUse" in detail_codes or "being used by an active tenant" in message:
        return DomainInUse(
            f"The domain is verified in another Microsoft 365 tenant{what}; remove it there first.", **ids
        )
    if "only verified domains" in message.lower() or "unverified domain" in message.lower():
        return DomainNotReplicated(f"Microsoft has not replicated the verification yet{what}: {message}", **ids)
    if "Error in DNS verification" in message:
        return DnsVerificationPending(
            f"Microsoft did not find the verification TXT record yet{what}; publish it and retry.", **ids
        )
    if "referenced" in message.lower() or "ObjectInUse" in detail_codes:
        return DomainHasReferences(
            f"Microsoft still has objects using the domain{what} (users, groups, mailboxes): {message}", **ids
        )
    if status == 429:
        return Throttled(f"Microsoft throttled the request{what}.", **ids)
    if status >= 500:
        return MicrosoftUnavailable(f"Microsoft Graph is unavailable (HTTP {status}){what}.", **ids)
    return MicrosoftError(f"Microsoft Graph refused the request{what}: {message}", **ids)


_EXCHANGE_TYPE = re.compile(r"^\|([^|]+)\|")


def exchange_message(body: bytes) -> tuple[str, str | None]:
    """The real error text and exception type, read where Exchange puts them: details[0],
    then innererror.internalexception, then error.message ("Invalid Operation")."""
    error = _json(body).get("error") or {}
    details = error.get("details") or []
    inner = (error.get("innererror") or {}).get("internalexception") or {}
    text = ""
    if details and isinstance(details[0], dict):
        text = str(details[0].get("message") or "")
    kind = inner.get("type") if not text else None
    text = text or str(inner.get("message") or "") or str(error.get("message") or "")
    match = _EXCHANGE_TYPE.match(text)
    if match:  # "|Type|message": the type that goes with this text
        kind = match.group(1)
        text = text[match.end() :]
    return text.strip(), kind


def exchange_error(status: int, body: bytes, client_request_id: str, cmdlet: str) -> MicrosoftError:
    ids = {"status": status, "client_request_id": client_request_id}
    if status == 403:
        # Exchange answers 403 with a non-JSON body when the app lacks its directory role.
        return ExchangeAccessDenied(
            "Exchange refused the app: it needs the Exchange.ManageAsApp permission and the "
            "Exchange Administrator role in this tenant.",
            **ids,
        )
    if status == 401:
        # What a token without the Exchange.ManageAsApp role gets (live captures): consent,
        # not the token, is what is missing.
        return ExchangeAccessDenied(
            "Exchange refused the app's token: the app lacks the Exchange.ManageAsApp application "
            "permission with admin consent (Entra → App registrations → API permissions → Office 365 "
            "Exchange Online → Exchange.ManageAsApp, then grant admin consent for the tenant).",
            **ids,
        )
    if status == 429:
        return Throttled(f"Exchange throttled {cmdlet}.", **ids)
    if status >= 500:
        return MicrosoftUnavailable(f"Exchange Online is unavailable (HTTP {status}) for {cmdlet}.", **ids)
    text, kind = exchange_message(body)
    ids["ms_code"] = kind
    lower = text.lower()
    if "cname record does not exist" in lower:
        return DkimCnameMissing(
            "Exchange cannot see the DKIM CNAME records yet; publish both selectors and retry "
            f"(DNS can take minutes to days). Exchange said: {text}",
            **ids,
        )
    if "valid accepted domain" in lower or "not an accepted domain" in lower:
        return DomainNotAccepted(
            f"Exchange does not know the domain yet (it follows Graph verification with a lag). {text}", **ids
        )
    if "couldn't be found" in lower or "could not be found" in lower:
        return DkimConfigNotFound(f"No DKIM signing config for the domain. {text}", **ids)
    if "already exists" in lower:
        return DkimConfigExists(f"A DKIM signing config already exists. {text}", **ids)
    return ExchangeCommandError(f"{cmdlet} failed: {text or 'HTTP ' + str(status)}", **ids)
