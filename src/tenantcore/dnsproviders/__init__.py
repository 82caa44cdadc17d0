"""DNS providers: one small async interface (`DnsProvider`) to publish record sets at the
sandbox, at any RFC 2136 server, or at an HTTP API through dns-lexicon."""

from tenantcore.dnsproviders.base import RTYPES, DnsProvider, ProviderError, RecordSet
from tenantcore.dnsproviders.registry import KINDS, ConfigField, KindSpec, open_provider
from tenantcore.dnsproviders.sandbox import SandboxProvider, ZoneStoreLike

__all__ = [
    "KINDS",
    "RTYPES",
    "ConfigField",
    "DnsProvider",
    "KindSpec",
    "ProviderError",
    "RecordSet",
    "SandboxProvider",
    "ZoneStoreLike",
    "open_provider",
]
