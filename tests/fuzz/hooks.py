"""Schemathesis checks and hooks of our own, loaded by the fuzz run through SCHEMATHESIS_HOOKS."""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis

# Schema-valid requests the API may still refuse, for reasons no JSON Schema can say: the
# state of things (a key already used, a limit reached, DNS not yet published), the world
# outside (a host that does not resolve, a tenant Microsoft does not know) or a rule beyond
# the document (a top-level domain missing from the public suffix list). schemathesis's
# positive_data_acceptance check holds every other refusal to account: a 400
# `invalid_request` for a request the document allows means the two disagree.
REFUSED_BY_STATE_OR_WORLD = frozenset(
    {
        "idempotency_key_reused",
        "invalid_domain",
        "invalid_zone",
        "invalid_cursor",
        "verification_failed",
        "dkim_not_ready",
        "domain_limit_reached",
        "tenant_limit_reached",
        "webhook_limit_reached",
        "consent_declined",
        "invalid_consent_state",
        "consent_required",
        "microsoft_tenant_not_found",
        "zone_required",
        "no_dns_provider",
        "sandbox_provider_test_only",
        "dns_provider_zone_not_found",
        "dns_provider_auth_failed",
        "dns_provider_unreachable",
        "dns_provider_refused",
        "dns_provider_config_invalid",
        "dns_zone_not_found",
        "webhook_url_not_allowed",
    }
)


def _code(response: Any) -> str | None:
    try:
        detail = response.json()["detail"]
    except Exception:
        return None
    return detail.get("code") if isinstance(detail, dict) else None


@schemathesis.check
def error_has_code(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx is the API's error body: `{"detail": {"code": str, "message": str}}`."""
    if not 400 <= response.status_code < 500:
        return None
    code = _code(response)
    if not isinstance(code, str) or not code:
        raise AssertionError(f"{response.status_code} without detail.code: {response.text[:200]!r}")
    return None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but a schema-valid request refused for a reason in REFUSED_BY_STATE_OR_WORLD."""
    if getattr(failure, "code", None) != "ST202":
        return True
    return _code(response) not in REFUSED_BY_STATE_OR_WORLD


_calls = itertools.count()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """In the stateful phase (create, read, delete, create again…) each request gets its own
    Idempotency-Key, as a client's distinct requests do. A generated key repeats often; a repeat
    with the same request is rightly a replay of the first answer, so a POST after a DELETE
    would give back the deleted resource and the run would call it vanished. The other phases
    keep repeats: they test the 422 and 409 of a reused key."""
    phase = getattr(getattr(case.meta, "phase", None), "name", None)
    headers = case.headers or {}
    if phase == "stateful" and "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = f"{headers['Idempotency-Key']}-{next(_calls)}"[:255]
