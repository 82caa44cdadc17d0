"""One place for how TenantCore talks to Microsoft over HTTP.

Every request carries a fresh `client-request-id` (kept across its retries) that is logged
with the outcome and Microsoft's own `request-id`, the ids Microsoft support asks for.
429, 503 and 504 are retried, waiting what `Retry-After` says when present and backing off
exponentially with full jitter otherwise, bounded in attempts and in total waiting time.
Connection failures are retried (the request never arrived); a timeout after sending is
retried only for idempotent methods. Calls for one tenant run concurrently up to a bound.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tenantcore.metrics.registry import count_microsoft, microsoft_outcome, transport_outcome
from tenantcore.microsoft.config import MicrosoftConfig, Resource
from tenantcore.microsoft.errors import MicrosoftError, MicrosoftUnavailable
from tenantcore.microsoft.tokens import TokenProvider, roles_of

log = logging.getLogger("tenantcore.microsoft")

RETRY_STATUSES = frozenset({429, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class CallStats:
    """Counts for benchmarks and tests: HTTP attempts and retries made."""

    attempts: int = 0
    retries: int = 0


class MicrosoftHttp:
    def __init__(
        self,
        config: MicrosoftConfig,
        tokens: TokenProvider,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.client = client or httpx.AsyncClient(timeout=config.timeout)
        self.sleep = sleep  # injectable: tests record the waits instead of sleeping
        self._limits: dict[str, asyncio.Semaphore] = {}
        self.stats = CallStats()

    def _limit(self, tenant: str) -> asyncio.Semaphore:
        limit = self._limits.get(tenant)
        if limit is None:
            limit = self._limits[tenant] = asyncio.Semaphore(self.config.per_tenant_concurrency)
        return limit

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.config.backoff_cap, self.config.backoff_base * 2**attempt)
        return random.uniform(0, ceiling)

    async def request(
        self,
        method: str,
        url: str,
        *,
        tenant: str,
        resource: Resource,
        json: Any = None,
        headers: dict[str, str] | None = None,
        error: Callable[[int, bytes, str], MicrosoftError],
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise the typed error `error` builds."""
        client_request_id = str(uuid.uuid4())
        deadline = time.monotonic() + self.config.max_retry_seconds
        last: MicrosoftError | None = None
        api = resource.name.lower()  # the metrics' label: graph or exchange
        async with self._limit(tenant):
            for attempt in range(self.config.max_attempts):
                token = await self.tokens.token(tenant, resource)
                send_headers = {
                    "Authorization": f"Bearer {token}",
                    "client-request-id": client_request_id,
                    "return-client-request-id": "true",
                    **(headers or {}),
                }
                started = time.monotonic()
                self.stats.attempts += 1
                wait: float | None
                try:
                    response = await self._send(api, method, url, json, send_headers)
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                    last = MicrosoftUnavailable(
                        f"Could not connect to Microsoft: {exc!r}", client_request_id=client_request_id
                    )
                    wait = self._backoff(attempt)
                    outcome = type(exc).__name__
                except httpx.TransportError as exc:
                    if method not in IDEMPOTENT:
                        # The request may have been processed: the caller must reconcile.
                        unknown = MicrosoftUnavailable(
                            f"Microsoft did not answer {method} in time: {exc!r}",
                            client_request_id=client_request_id,
                        )
                        unknown.maybe_done = True
                        raise unknown from exc
                    last = MicrosoftUnavailable(
                        f"Microsoft did not answer: {exc!r}", client_request_id=client_request_id
                    )
                    wait = self._backoff(attempt)
                    outcome = type(exc).__name__
                else:
                    outcome = str(response.status_code)
                    elapsed = (time.monotonic() - started) * 1000
                    log.info(
                        "%s %s -> %s in %.0f ms (attempt %d, client-request-id %s, request-id %s)",
                        method,
                        response.url.path,
                        response.status_code,
                        elapsed,
                        attempt + 1,
                        client_request_id,
                        response.headers.get("request-id", "-"),
                    )
                    if response.status_code < 400:
                        return response
                    body = await response.aread()
                    if response.status_code == 401 and attempt == 0 and _may_refresh(token, resource):
                        # A token revoked or rotated under us: fetch a fresh one, once. (A token
                        # without the API's app role would come back the same: consent is missing.)
                        self.tokens.forget(tenant)
                        continue
                    if response.status_code not in RETRY_STATUSES:
                        raise error(response.status_code, body, client_request_id)
                    last = error(response.status_code, body, client_request_id)
                    hinted = retry_after_seconds(response.headers.get("Retry-After"))
                    last.retry_after = hinted
                    wait = hinted if hinted is not None else self._backoff(attempt)
                if attempt + 1 >= self.config.max_attempts or time.monotonic() + wait > deadline:
                    break
                self.stats.retries += 1
                log.warning(
                    "retrying %s %s after %s in %.2f s (client-request-id %s)",
                    method,
                    httpx.URL(url).path,
                    outcome,
                    wait,
                    client_request_id,
                )
                await self.sleep(wait)
        assert last is not None  # the loop ran at least once and did not return
        raise last

    async def _send(self, api: str, method: str, url: str, json: Any, headers: dict[str, str]) -> httpx.Response:
        """One HTTP request, counted in the metrics by API and outcome (every retry counts)."""
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, json=json, headers=headers)
        except httpx.TransportError as exc:
            count_microsoft(api, transport_outcome(exc), time.perf_counter() - started)
            raise
        count_microsoft(api, microsoft_outcome(response.status_code), time.perf_counter() - started)
        return response

    async def aclose(self) -> None:
        await self.client.aclose()


def _may_refresh(token: str, resource: Resource) -> bool:
    roles = roles_of(token)
    return resource.app_role is None or roles is None or resource.app_role in roles
