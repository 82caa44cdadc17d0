"""DNS providers' HTTP APIs through dns-lexicon (PowerDNS, Cloudflare, Route 53, Gandi...).

Lexicon is synchronous (requests): every call runs in a worker thread, at most `concurrency`
at a time per instance. Two things we do not take from lexicon, both on purpose:

* Its `Client` guesses the zone from the public-suffix list (tldextract, which also fetches the
  list over the network). A zone under a suffix it does not know (`p01.test`) becomes `test.`,
  and even its `delegated` option then yields `p01.test.test.`. We always know the zone (from
  `find_zone`), so we build lexicon's provider class ourselves with `domain` = that zone.
* Its powerdns provider appends the zone to CNAME targets outside the zone, even fully
  qualified ones (`_fqdn_name` strips the final dot before its check; upstream AnalogJ/lexicon#862):
  `autodiscover.outlook.com.` was written as `autodiscover.outlook.com.p01.test.`. A small
  subclass keeps fully qualified targets as they are, on write and on read.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from lexicon._private.discovery import find_providers, load_provider_module  # how lexicon's Client loads them
from lexicon.config import ConfigResolver
from lexicon.exceptions import AuthenticationError
from lexicon.interfaces import Provider as LexiconApi

from tenantcore import netguard
from tenantcore.dnshealth.names import normalize
from tenantcore.dnsproviders.base import RTYPES, ProviderError, RecordSet, check_rtype, normalize_value, scrub
from tenantcore.dnsproviders.rdata import from_text, to_text
from tenantcore.netguard import Policy

T = TypeVar("T")

# Providers whose API takes record content as zone-file text: TXT quoted (and split into
# 255-byte strings), host names fully qualified. Others take the bare text.
_ZONEFILE_CONTENT = {"powerdns"}

# Some providers (Namecheap, ...) take their API key in the query string, and urllib3 logs
# every request line at DEBUG: keep it quiet so a debug log never holds a credential.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)


def _keep_fully_qualified_cnames(base: type[LexiconApi]) -> type[LexiconApi]:
    """lexicon's powerdns provider with CNAME targets left alone when fully qualified (#862)."""

    class Fixed(base):  # type: ignore[valid-type,misc]
        def _clean_content(self, rtype: str | None, content: str) -> str:
            if rtype == "CNAME" and content.endswith("."):
                return content
            return super()._clean_content(rtype, content)  # type: ignore[no-any-return]

        def _unclean_content(self, rtype: str | None, content: str) -> str:
            if rtype == "CNAME" and content.endswith("."):
                return content  # PowerDNS stores targets fully qualified: nothing to add
            return super()._unclean_content(rtype, content)  # type: ignore[no-any-return]

    return Fixed


_RETRY_DELAYS = (0.2, 0.5, 1.0)  # seconds before each retry of a call the API answered 5xx


def _server_error(exc: Exception) -> bool:
    return isinstance(exc, requests.HTTPError) and exc.response is not None and exc.response.status_code >= 500


_FIXUPS: dict[str, Callable[[type[LexiconApi]], type[LexiconApi]]] = {"powerdns": _keep_fully_qualified_cnames}


def _option_names(api: type[LexiconApi]) -> set[str]:
    """The options the provider declares (its CLI flags: `--auth-token` → auth_token)."""
    parser = argparse.ArgumentParser(add_help=False)
    api.configure_parser(parser)
    return {action.dest for action in parser._actions}


class LexiconProvider:
    kind = "lexicon"

    def __init__(
        self,
        provider_name: str,
        credentials: Mapping[str, str],
        concurrency: int = 4,
        *,
        options: Mapping[str, Any] | None = None,
        policy: Policy = "public",
        timeout: float = 30,
    ) -> None:
        available = find_providers()
        if provider_name not in available:
            raise ProviderError("provider_config_invalid", f"lexicon has no provider {provider_name!r}")
        if not available[provider_name]:
            raise ProviderError(
                "provider_config_invalid",
                f"lexicon provider {provider_name!r} needs extra packages: dns-lexicon[{provider_name}]",
            )
        api: type[LexiconApi] = load_provider_module(provider_name).Provider
        known = _option_names(api)
        for source, names in (("credential", credentials), ("option", options or {})):
            for key in names:
                if key not in known:
                    raise ProviderError(
                        "provider_config_invalid", f"lexicon provider {provider_name!r} has no {source} field {key!r}"
                    )
        for source, values in (("credential", credentials), ("option", options or {})):
            for key, value in values.items():
                text = str(value).strip().lower()
                # Lexicon reads some values as files (`file::…`) or talks HTTP over a path
                # given as a URL (a unix socket): an account must not reach this machine's files.
                if text.startswith(("/", "file:", "\\")) or "file::" in text or text.startswith(("http+unix", "unix:")):
                    raise ProviderError(
                        "provider_config_invalid", f"lexicon {source} {key!r}: files and sockets are not allowed"
                    )
        self.policy = policy
        self._checked_urls = False
        self.provider_name = provider_name
        self._api = _FIXUPS[provider_name](api) if provider_name in _FIXUPS else api
        self._options = dict(options or {})
        self._credentials = dict(credentials)
        self._timeout = timeout
        self._limit = asyncio.Semaphore(concurrency)
        self._zones: dict[str, bool] = {}  # candidate zone → does the provider hold it

    def __repr__(self) -> str:  # credentials stay out
        return f"LexiconProvider(provider_name={self.provider_name!r}, options={self._options!r})"

    # --- the interface ----------------------------------------------------------------------
    async def find_zone(self, name: str) -> str | None:
        """Try each suffix of `name`, longest first; the first zone the provider knows wins."""
        labels = normalize(name).split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate not in self._zones:
                self._zones[candidate] = await self._call(candidate, None, _holds_zone, authenticate=False)
            if self._zones[candidate]:
                return candidate
        return None

    async def read(self, zone: str, name: str) -> list[RecordSet]:
        name = normalize(name)
        listed = await self._call(zone, None, lambda api: api.list_records(None, name))
        result = []
        for rtype in RTYPES:
            records = [r for r in listed if r.get("type") == rtype and normalize(str(r.get("name", ""))) == name]
            if records:
                values = tuple(self._value(rtype, r) for r in records)
                result.append(RecordSet(name, rtype, values, int(records[0].get("ttl") or 3600)))
        return result

    async def replace(self, zone: str, rrset: RecordSet) -> None:
        rtype = check_rtype(rrset.rtype, rrset.label)
        wanted = {normalize_value(rtype, v) for v in rrset.values}

        def apply(api: LexiconApi) -> None:
            # Lexicon has no "replace a record set": delete what is not wanted, add what is missing.
            have = {self._value(rtype, record): record for record in api.list_records(rtype, rrset.name)}
            for value, record in have.items():
                if value not in wanted:
                    _delete_one(api, rtype, record)
            for value in rrset.values:
                if normalize_value(rtype, value) not in have:
                    api.create_record(rtype, rrset.name, self._content(rtype, value))

        await self._call(zone, rrset.label, apply, ttl=rrset.ttl)

    async def change(self, zone: str, rrset: RecordSet, before: tuple[str, ...]) -> None:
        rtype = check_rtype(rrset.rtype, rrset.label)
        after = {normalize_value(rtype, v) for v in rrset.values}
        gone = {normalize_value(rtype, v) for v in before} - after

        def apply(api: LexiconApi) -> None:
            have = {self._value(rtype, record): record for record in api.list_records(rtype, rrset.name)}
            for value, record in have.items():
                if value in gone:
                    _delete_one(api, rtype, record)
            for value in rrset.values:
                if normalize_value(rtype, value) not in have:
                    api.create_record(rtype, rrset.name, self._content(rtype, value))

        await self._call(zone, rrset.label, apply, ttl=rrset.ttl)

    async def delete(self, zone: str, name: str, rtype: str) -> None:
        name = normalize(name)
        record = f"{name} {rtype.upper()}"
        rtype = check_rtype(rtype, record)

        def remove(api: LexiconApi) -> None:
            for listed in api.list_records(rtype, name):
                _delete_one(api, rtype, listed)

        await self._call(zone, record, remove)

    async def check_write(self, zone: str) -> None:
        return None  # every API call authenticates: reading the zone proved the credentials

    async def aclose(self) -> None:
        return None  # lexicon opens a connection per request

    # --- values -----------------------------------------------------------------------------
    def _content(self, rtype: str, value: str) -> str:
        if rtype == "TXT" and self.provider_name not in _ZONEFILE_CONTENT:
            return value
        # Host names fully qualified, so no provider takes them as relative to the zone.
        return to_text(rtype, value)

    def _value(self, rtype: str, record: Mapping[str, Any]) -> str:
        content = str(record.get("content", ""))
        if rtype == "TXT":
            if self.provider_name in _ZONEFILE_CONTENT:
                # lexicon strips the outer quotes only: `a" "b` for two strings; parse it whole.
                return from_text("TXT", f'"{content}"')
            return content
        if rtype == "MX" and not content.split(" ", 1)[0].isdigit():
            # Providers that keep the preference apart put it in the record's options.
            preference = record.get("options", {}).get("mx", {}).get("priority", 0)
            content = f"{preference} {content}"
        return normalize_value(rtype, content)

    async def _check_urls(self, record: str | None) -> None:
        """Every option that is a URL (a self-hosted API's address) must pass the address policy.
        (Lexicon resolves the name again itself: a DNS answer changed after this check is not
        caught here; the operator's network policy is the second line.)"""
        for key, value in self._options.items():
            text = str(value).strip()
            if "://" not in text:
                continue
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ProviderError("provider_config_invalid", f"lexicon option {key!r}: only http(s) URLs", record)
            try:
                _ = parts.port  # reading it refuses a port out of range (ValueError)
                await netguard.checked_address(parts.hostname, self.policy)
            except (netguard.AddressRefused, ValueError) as exc:
                raise ProviderError("provider_config_invalid", f"lexicon option {key!r}: {exc}", record) from None
        self._checked_urls = True

    # --- running lexicon --------------------------------------------------------------------
    def _open(self, zone: str, ttl: int | None) -> LexiconApi:
        settings: dict[str, Any] = {
            "provider_name": self.provider_name,
            "domain": normalize(zone),  # the zone, given: never guessed (see the module doc)
            self.provider_name: {**self._options, **self._credentials},
        }
        if ttl is not None:
            settings["ttl"] = ttl
        return self._api(ConfigResolver().with_dict(settings))

    async def _call(
        self,
        zone: str,
        record: str | None,
        work: Callable[[LexiconApi], T],
        ttl: int | None = None,
        *,
        authenticate: bool = True,
    ) -> T:
        def run() -> T:
            # A fresh provider object per call: they cache zone data and are not thread-safe.
            api = self._open(zone, ttl)
            if authenticate:  # lexicon's providers look the zone up here (its id, its records)
                api.authenticate()
            try:
                return work(api)
            finally:
                api.cleanup()

        if not self._checked_urls:
            await self._check_urls(record)
        async with self._limit:
            for delay in (*_RETRY_DELAYS, None):
                try:
                    # requests has no default timeout; a hung API must not hang the caller. The
                    # thread itself cannot be cancelled and finishes (or fails) on its own.
                    return await asyncio.wait_for(asyncio.to_thread(run), self._timeout)
                except ProviderError:
                    raise
                except Exception as exc:
                    if delay is not None and _server_error(exc):
                        # Every call re-reads the provider's state first, so running it again
                        # converges; PowerDNS on SQLite answers 500 "database is locked" when
                        # writes to different zones overlap.
                        await asyncio.sleep(delay)
                        continue
                    raise self._error(exc, zone, record) from None
            raise AssertionError("unreachable")

    def _error(self, exc: Exception, zone: str, record: str | None) -> ProviderError:
        where = f"{self.provider_name} API"
        subject = f" ({record})" if record else f" (zone {zone})"
        if isinstance(exc, TimeoutError):
            return ProviderError("provider_unreachable", f"{where} did not answer within {self._timeout:g} s", record)
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            status = exc.response.status_code
            reason = self._reason(exc.response)
            if status in (401, 403):
                return ProviderError(
                    "provider_auth_failed", f"{where} rejected the credentials{subject}: HTTP {status}", record
                )
            if status == 404:
                return ProviderError("zone_not_found", f"{where} has no zone {zone}: HTTP 404", record)
            if status >= 500:
                return ProviderError("provider_unreachable", f"{where} failed{subject}: HTTP {status} {reason}", record)
            return ProviderError("provider_refused", f"{where} refused{subject}: HTTP {status} {reason}", record)
        if isinstance(exc, requests.ConnectionError | requests.Timeout):
            return ProviderError("provider_unreachable", f"{where} could not be reached ({type(exc).__name__})", record)
        if isinstance(exc, AuthenticationError):
            return ProviderError("provider_auth_failed", f"{where} rejected the credentials{subject}", record)
        message = scrub(str(exc), self._credentials.values())[:300]
        return ProviderError("provider_refused", f"{where} failed{subject}: {type(exc).__name__}: {message}", record)

    def _reason(self, response: requests.Response) -> str:
        try:
            text = str(response.json().get("error", ""))
        except ValueError:
            text = response.reason or ""
        return scrub(text, self._credentials.values())[:300]


def _holds_zone(api: LexiconApi) -> bool:
    """Does the provider hold the zone `api` was opened for? Authentication is lexicon's own
    "look the zone up": a 404 or lexicon's AuthenticationError ("domain not found" for many
    providers) means no; a 401/403 or a network failure is an error, not a no."""
    try:
        api.authenticate()
    except AuthenticationError:
        return False
    except requests.HTTPError as exc:
        if exc.response is not None and exc.response.status_code in (404, 422):
            return False
        raise
    return True


def _delete_one(api: LexiconApi, rtype: str, record: Mapping[str, Any]) -> None:
    # By type, name and content, not by the listed "id": powerdns's ids are "TYPE/name=content"
    # split on "/", so a TXT value holding a "/" (any DKIM key) would delete nothing.
    api.delete_record(None, rtype, str(record["name"]), str(record["content"]))
