"""Which providers exist, what each needs, and `open_provider` to build one from stored settings.

Settings come in two parts: `config` (plain, may be shown and logged) and `credentials`
(secrets: validated by name here, never echoed back in a message).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tenantcore.dnsproviders.base import DnsProvider, ProviderError
from tenantcore.dnsproviders.sandbox import SandboxProvider, ZoneStoreLike
from tenantcore.netguard import Policy


@dataclass(frozen=True, slots=True)
class ConfigField:
    name: str
    type: type
    required: bool
    default: Any = None
    help: str = ""


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: str
    description: str
    config: tuple[ConfigField, ...]
    credentials: tuple[str, ...]
    # Lexicon's credentials depend on the provider behind it (auth_token, auth_username...):
    # they are checked against that provider's own option list instead of this tuple.
    open_credentials: bool = False


KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            "sandbox",
            "The sandbox's own authoritative DNS server (no settings; test and demo use).",
            (),
            (),
        ),
        KindSpec(
            "rfc2136",
            "Any DNS server taking RFC 2136 dynamic updates signed with a TSIG key (BIND, Knot, PowerDNS...).",
            (
                ConfigField("server", str, True, help="address of the primary server"),
                ConfigField("port", int, False, 53),
                ConfigField("key_name", str, True, help="TSIG key name"),
                ConfigField("algorithm", str, False, "hmac-sha256", "TSIG algorithm"),
                ConfigField("timeout", float, False, 5.0, "seconds per DNS exchange"),
            ),
            ("key_secret",),
        ),
        KindSpec(
            "lexicon",
            "A DNS provider's HTTP API through dns-lexicon (PowerDNS, Cloudflare, Route 53, Gandi...).",
            (
                ConfigField("provider_name", str, True, help="lexicon's provider name, e.g. powerdns"),
                ConfigField("options", dict, False, None, "the provider's non-secret options, e.g. pdns_server"),
                ConfigField("concurrency", int, False, 4, "API calls in flight at once"),
            ),
            (),
            open_credentials=True,
        ),
    )
}


def _config(spec: KindSpec, config: Mapping[str, Any]) -> dict[str, Any]:
    known = {f.name: f for f in spec.config}
    for key in config:
        if key not in known:
            raise ProviderError("provider_config_invalid", f"{spec.kind}: unknown config field {key!r}")
    values: dict[str, Any] = {}
    for f in spec.config:
        if f.name not in config or config[f.name] is None:
            if f.required:
                raise ProviderError("provider_config_invalid", f"{spec.kind}: missing config field {f.name!r}")
            values[f.name] = f.default
            continue
        value = config[f.name]
        if f.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, f.type) or isinstance(value, bool):
            raise ProviderError(
                "provider_config_invalid", f"{spec.kind}: config field {f.name!r} must be {f.type.__name__}"
            )
        values[f.name] = value
    return values


def _credentials(spec: KindSpec, credentials: Mapping[str, str]) -> dict[str, str]:
    if not spec.open_credentials:
        for key in credentials:
            if key not in spec.credentials:
                raise ProviderError("provider_config_invalid", f"{spec.kind}: unknown credential field {key!r}")
        for key in spec.credentials:
            if not credentials.get(key):
                raise ProviderError("provider_config_invalid", f"{spec.kind}: missing credential field {key!r}")
    for key, value in credentials.items():
        if not isinstance(value, str):  # the message names the field only, never the value
            raise ProviderError("provider_config_invalid", f"{spec.kind}: credential field {key!r} must be a string")
    return dict(credentials)


def open_provider(
    kind: str,
    config: Mapping[str, Any],
    credentials: Mapping[str, str],
    *,
    sandbox: ZoneStoreLike | None = None,
    policy: Policy = "public",
) -> DnsProvider:
    """Build the provider `kind` from its settings; ProviderError("provider_config_invalid")
    names the missing or unknown field."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ProviderError("provider_config_invalid", f"unknown provider kind {kind!r} (known: {', '.join(KINDS)})")
    values = _config(spec, config)
    secrets = _credentials(spec, credentials)
    _bounded(values)
    if kind == "sandbox":
        if sandbox is None:
            raise ProviderError("provider_config_invalid", "sandbox: no sandbox zone store is running here")
        return SandboxProvider(sandbox)
    if kind == "rfc2136":
        from tenantcore.dnsproviders.rfc2136 import Rfc2136Provider

        return Rfc2136Provider(
            values["server"],
            values["port"],
            key_name=values["key_name"],
            key_secret=secrets["key_secret"],
            algorithm=values["algorithm"],
            timeout=values["timeout"],
            policy=policy,
        )
    from tenantcore.dnsproviders.lexicon import LexiconProvider

    return LexiconProvider(
        values["provider_name"], secrets, values["concurrency"], options=values["options"] or {}, policy=policy
    )


# Bounds on what an account may set: a timeout of hours or no concurrency at all would let one
# account's provider hold the reconciler that serves every account.
_BOUNDS = {"timeout": (0.5, 30.0), "concurrency": (1, 16), "port": (1, 65535)}


def _bounded(values: Mapping[str, Any]) -> None:
    for name, (low, high) in _BOUNDS.items():
        value = values.get(name)
        if value is not None and not low <= value <= high:
            raise ProviderError("provider_config_invalid", f"config field {name!r} must be between {low} and {high}")
