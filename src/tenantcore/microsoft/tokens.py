"""App-only tokens per tenant and resource, through msal's client-credentials flow.

One msal application per tenant (msal wants a tenant-specific authority), holding its own
token cache: a token is reused until less than five minutes remain, so many calls cost one
token request. msal is synchronous, so requests run in a thread, behind a lock per tenant and
resource that makes concurrent callers wait for one request instead of sending several.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import msal

from tenantcore.metrics.registry import count_microsoft, microsoft_outcome, transport_outcome
from tenantcore.microsoft.config import MicrosoftConfig, Resource
from tenantcore.microsoft.errors import MicrosoftUnavailable, TokenError, token_error

log = logging.getLogger(__name__)


class _MsalHttpClient:
    """msal expects a requests.Session-like client. httpx form-encodes a bytes value as the
    text "b'...'", and msal passes the certificate's client assertion as bytes, so decode
    such values first (a client secret is a str and passes unchanged)."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return _counted(self._client.post, url, params=params, data=data, headers=headers, **kwargs)

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        return _counted(self._client.get, url, params=params, headers=headers, **kwargs)

    def close(self) -> None:
        self._client.close()


def _counted(call: Callable[..., httpx.Response], url: str, **kwargs: Any) -> httpx.Response:
    """Every request msal makes (tokens, discovery) counted in the metrics as the `token` API."""
    started = time.perf_counter()
    try:
        response = call(url, **kwargs)
    except httpx.TransportError as exc:
        count_microsoft("token", transport_outcome(exc), time.perf_counter() - started)
        raise
    count_microsoft("token", microsoft_outcome(response.status_code), time.perf_counter() - started)
    return response


class TokenProvider:
    def __init__(self, config: MicrosoftConfig, http_client: httpx.Client | None = None) -> None:
        self.config = config
        self._http = _MsalHttpClient(http_client or httpx.Client(timeout=config.timeout))
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        self._locks: dict[tuple[str, Resource], asyncio.Lock] = {}
        self.requests = 0  # tokens fetched from the identity provider (not from cache)

    def _credential(self) -> Any:
        certificate = self.config.certificate
        if certificate is None:
            return self.config.client_secret
        credential = {"private_key": certificate.private_key_pem, "thumbprint": certificate.thumbprint}
        if certificate.public_certificate_pem:
            credential["public_certificate"] = certificate.public_certificate_pem
        return credential

    def _app(self, tenant: str) -> msal.ConfidentialClientApplication:
        app = self._apps.get(tenant)
        if app is None:
            try:
                app = msal.ConfidentialClientApplication(
                    self.config.client_id,
                    authority=f"{self.config.endpoints.login}/{tenant}",
                    client_credential=self._credential(),
                    http_client=self._http,
                    token_cache=msal.TokenCache(),
                )
            except ValueError as exc:
                # msal wraps the discovery failure; the AADSTS text is in the chained error.
                chain, cause = [], exc
                while cause is not None:
                    chain.append(str(cause))
                    cause = cause.__cause__ or cause.__context__
                raise token_error(" | ".join(reversed(chain)), tenant) from exc
            self._apps[tenant] = app
        return app

    def _acquire(self, tenant: str, resource: Resource) -> str:
        try:
            result = self._app(tenant).acquire_token_for_client(scopes=[resource.scope])
        except httpx.HTTPError as exc:
            raise MicrosoftUnavailable(f"Could not reach Microsoft's login service: {exc}") from exc
        if "access_token" not in result:
            raise token_error(result, tenant)
        if result.get("token_source") == "identity_provider":
            self.requests += 1
            log.info(
                "token issued for tenant %s, %s, expires in %ss",
                tenant,
                resource.name,
                result.get("expires_in"),
            )
        return str(result["access_token"])

    async def token(self, tenant: str, resource: Resource) -> str:
        lock = self._locks.setdefault((tenant, resource), asyncio.Lock())
        async with lock:
            return await asyncio.to_thread(self._acquire, tenant, resource)

    def forget(self, tenant: str) -> None:
        """Drop a tenant's app and tokens (after a 401, or when the tenant is disconnected)."""
        self._apps.pop(tenant, None)

    def close(self) -> None:
        self._http.close()


__all__ = ["TokenError", "TokenProvider"]


def roles_of(token: str) -> set[str] | None:
    """The application roles an access token carries, read without checking its signature
    (Microsoft checks it; we only want to know what consent gave). None: not a readable JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return {str(r) for r in roles} if isinstance(roles, list) else set()
