"""Every metric the process counts, defined once (prometheus-client's default registry).

A leaf module: it imports nothing of TenantCore, so the Microsoft clients and the DNS checks,
which import nothing of the service, can count here too. Label values are always from small
fixed sets (route templates, status codes, outcome classes, grades): never a path, a domain or
a tenant, so the number of series stays bounded whatever the traffic.
"""

from __future__ import annotations

from typing import Final

import httpx
from prometheus_client import Counter, Histogram, disable_created_metrics

# No `_created` series beside every counter and histogram: they double what a scrape carries and
# Prometheus does not need them to see a restart (a counter going down says so).
disable_created_metrics()

# Sub-millisecond buckets too: the domain list's fast path answers in well under one.
HTTP_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MICROSOFT_BUCKETS: Final = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS: Final = Counter(
    "tenantcore_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION: Final = Histogram(
    "tenantcore_http_request_duration_seconds",
    "Time from a request's arrival at the metrics middleware until its response was sent.",
    ["method", "route"],
    buckets=HTTP_BUCKETS,
)
MICROSOFT_REQUESTS: Final = Counter(
    "tenantcore_microsoft_requests",
    "HTTP requests sent to Microsoft (each retry counts), by API (graph, exchange, token) and outcome "
    "(ok, throttled, unavailable, not_found, denied, client_error, server_error, connect_error, timeout, "
    "transport_error).",
    ["api", "outcome"],
)
MICROSOFT_DURATION: Final = Histogram(
    "tenantcore_microsoft_request_duration_seconds",
    "Time one HTTP request to Microsoft took, by API.",
    ["api"],
    buckets=MICROSOFT_BUCKETS,
)
DNS_CHECKS: Final = Counter(
    "tenantcore_dns_checks",
    "Domain DNS health checks run, by the grade they gave (ok, info, warning, error, unknown).",
    ["grade"],
)

WEBHOOK_ATTEMPTS: Final = Counter(
    "tenantcore_webhook_delivery_attempts",
    "Webhook delivery attempts, by what came of the delivery: delivered, retry (it will be tried again) "
    "or failed (given up).",
    ["outcome"],
)
RECONCILER_BATCHES: Final = Counter("tenantcore_reconciler_batches", "Batches of due domains the reconciler ran.")
RECONCILER_CHECKED: Final = Counter(
    "tenantcore_reconciler_checked_domains", "Domains the reconciler checked and wrote back."
)


def microsoft_outcome(status: int) -> str:
    """The outcome class of a Microsoft answer: a handful of values, never the raw code."""
    if status < 400:
        return "ok"
    if status == 429:
        return "throttled"
    if status in (503, 504):
        return "unavailable"
    if status == 404:
        return "not_found"
    if status in (401, 403):
        return "denied"
    return "client_error" if status < 500 else "server_error"


def transport_outcome(exc: Exception) -> str:
    """The outcome class of a request that got no answer."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return "connect_error"  # never arrived
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "transport_error"


def count_microsoft(api: str, outcome: str, seconds: float) -> None:
    MICROSOFT_REQUESTS.labels(api, outcome).inc()
    MICROSOFT_DURATION.labels(api).observe(seconds)


# Each grade's child counter, looked up once: `labels()` takes a lock and builds a key on every
# call, and a check run counts thousands of checks a second.
_DNS_CHECKS_BY_GRADE: dict[str, Counter] = {}


def count_dns_check(grade: str) -> None:
    child = _DNS_CHECKS_BY_GRADE.get(grade)
    if child is None:
        child = _DNS_CHECKS_BY_GRADE[grade] = DNS_CHECKS.labels(grade)
    child.inc()
