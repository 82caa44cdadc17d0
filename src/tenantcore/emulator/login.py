"""The identity endpoints msal needs: OpenID discovery, client-credentials tokens, and the
admin-consent redirect the service's "connect a tenant" flow uses."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import jwt
from cryptography import x509
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tenantcore.emulator import tokens
from tenantcore.emulator.common import injected_fault
from tenantcore.emulator.responses import aad_error
from tenantcore.emulator.state import EXCHANGE_AUDIENCE, GRAPH_AUDIENCE, App, EmulatorState, Tenant

LOGIN = "https://login.microsoftonline.com"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


def _tenant_not_found(key: str) -> Response:
    return aad_error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{key}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud.",
    )


async def openid_configuration(request: Request) -> Response:
    key = request.path_params["tenant"]
    tenant = _state(request).find_tenant(key)
    if tenant is None:
        return _tenant_not_found(key)
    base = f"{LOGIN}/{tenant.id}"
    return JSONResponse(
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{LOGIN}/{tenant.id}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }
    )


def _check_assertion(app: App, assertion: str) -> bool:
    """A private_key_jwt: signed by a certificate registered on the app, issued by the app."""
    try:
        header = jwt.get_unverified_header(assertion)
        pem = app.certificates.get(str(header.get("x5t", "")).rstrip("="))  # msal keeps the padding
        if pem is None:
            return False
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"], options={"verify_aud": False})
    except (jwt.PyJWTError, ValueError):
        return False
    return (
        claims.get("iss") == app.client_id
        and claims.get("sub") == app.client_id
        and str(claims.get("aud", "")).endswith("/oauth2/v2.0/token")
        and claims.get("exp", 0) > time.time()
    )


async def token(request: Request) -> Response:
    state = _state(request)
    fault = await injected_fault(request, "login", "/oauth2/v2.0/token")
    if fault is not None:
        return fault
    form = await request.form()
    key = request.path_params["tenant"]
    client_id = str(form.get("client_id", ""))
    tenant = state.find_tenant(key)
    if tenant is None:
        return _tenant_not_found(key)
    if form.get("grant_type") != "client_credentials":
        return aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    app = state.apps.get(client_id)
    if app is None:
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'.",
        )
    if "client_secret" in form:
        valid = str(form["client_secret"]) in app.secrets
    elif form.get("client_assertion_type") == ASSERTION_TYPE:
        valid = _check_assertion(app, str(form.get("client_assertion", "")))
        if not valid:
            return aad_error(401, "invalid_client", 700027, "Client assertion failed signature validation.")
    else:
        valid = False
    if not valid:
        return aad_error(
            401,
            "invalid_client",
            7000215,
            f"Invalid client secret provided. Ensure the secret being sent in the request is the "
            f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
        )
    consent = tenant.consents.get(client_id)
    # Not consented, revoked, or consented so recently that the token service has not seen the
    # service principal yet (Entra replication): all the same 7000229 to the client.
    if consent is None or not state.consent_effective(consent):
        return aad_error(
            401,
            "invalid_client",
            7000229,
            f"The client application {client_id} is missing service principal in the tenant {tenant.id}.",
        )
    scopes = str(form.get("scope", "")).split()
    resources = {s.removesuffix("/.default").rstrip("/") for s in scopes if s.endswith("/.default")}
    if len(resources) != 1 or len(scopes) != 1 or next(iter(resources)) not in (GRAPH_AUDIENCE, EXCHANGE_AUDIENCE):
        return aad_error(
            400,
            "invalid_scope",
            70011,
            f"The provided request must include a 'scope' input parameter. The provided value "
            f"for the input parameter 'scope' is not valid: '{' '.join(scopes)}'.",
        )
    audience = next(iter(resources))
    if audience == GRAPH_AUDIENCE:
        roles = sorted(consent.graph_roles)
    else:
        roles = ["Exchange.ManageAsApp"] if consent.exchange_manage_as_app else []
    with state.lock:
        tenant.token_requests += 1
    access_token = tokens.issue(state, tenant, client_id, audience, roles)
    lifetime = state.token_lifetime
    state.record("login", "POST", "/oauth2/v2.0/token", tenant.id, 200)
    return JSONResponse(
        {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access_token}
    )


async def admin_consent(request: Request) -> Response:
    """`/{tenant}/adminconsent`: the emulator's admin always says yes and is redirected back
    with the tenant id, as Entra does (tenant=…&admin_consent=True&state=…)."""
    state = _state(request)
    params = request.query_params
    redirect = params.get("redirect_uri", "")
    client_id = params.get("client_id", "")
    key = request.path_params["tenant"]
    tenant: Tenant | None = state.find_tenant(key)
    if tenant is None and key in ("organizations", "common") and client_id in state.apps:
        # The multi-tenant consent URL: the emulated admin signs into a brand-new tenant.
        tenant = state.create_tenant(f"Sandbox{len(state.tenants) + 1}")
    query: dict[str, str] = {"state": params.get("state", "")}
    if tenant is None or client_id not in state.apps:
        query |= {
            "error": "invalid_request",
            "error_description": "AADSTS90002: tenant not found"
            if tenant is None
            else f"AADSTS700016: Application with identifier '{client_id}' was not found",
        }
    else:
        state.consent(tenant.id, client_id)
        query |= {"tenant": tenant.id, "admin_consent": "True"}
    return RedirectResponse(f"{redirect}?{urlencode(query)}", 302)


async def instance_discovery(request: Request) -> Response:
    """`/common/discovery/instance`: the cloud's host aliases, which msal asks for before it
    looks tokens up in its cache."""
    endpoint = request.query_params.get("authorization_endpoint", f"{LOGIN}/common/oauth2/authorize")
    return JSONResponse(
        {
            "tenant_discovery_endpoint": endpoint.replace(
                "/oauth2/authorize", "/v2.0/.well-known/openid-configuration"
            ),
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": "login.microsoftonline.com",
                    "preferred_cache": "login.windows.net",
                    "aliases": [
                        "login.microsoftonline.com",
                        "login.windows.net",
                        "login.microsoft.com",
                        "sts.windows.net",
                    ],
                }
            ],
        }
    )


routes = [
    Route("/common/discovery/instance", instance_discovery),
    Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
    Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    Route("/{tenant}/adminconsent", admin_consent),
    Route("/{tenant}/v2.0/adminconsent", admin_consent),
]
