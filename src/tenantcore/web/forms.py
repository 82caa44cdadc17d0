"""Turning the app's HTML forms into the services' inputs: domain lists (typed or a CSV file),
a DNS provider's settings per kind, and the compact bulk-add summary the tenant page shows after
its redirect. Parsing only: the rules stay in the services."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from tenantcore.dnsproviders.registry import KINDS, ConfigField
from tenantcore.dnsproviders.schemas import ConnectDnsProvider
from tenantcore.domains.schemas import BulkResult
from tenantcore.errors import TenantCoreError

_SMALL_NUMBER = re.compile(r"[0-9]{1,9}")


def small_number(raw: str | None) -> int | None:
    """A query value as a number: ASCII digits only (`"²".isdigit()` is true, `int("²")` fails),
    at most 9 of them; None for anything else."""
    return int(raw) if raw and _SMALL_NUMBER.fullmatch(raw) else None


MAX_NAMES = 100  # what one bulk add takes (BulkAdd.domains)
SUMMARY_BUDGET = 1500  # characters of results kept in the session cookie (browsers cap cookies at 4 KB)
_DOTTED = re.compile(r"^[^\s.]+(\.[^\s.]+)+\.?$")


def split_names(text: str) -> list[str]:
    """One name per line; commas, semicolons and whitespace also separate names, and lines
    starting with # are comments. A line whose words are not all dotted names ('not a domain')
    is kept whole, so its error names what was typed."""
    names: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):  # a comment in a pasted list, as in the provider forms
            continue
        for part in re.split(r"[,;]", line):
            part = part.strip()
            if not part:
                continue
            words = part.split()
            names.extend(words if len(words) > 1 and all(_DOTTED.match(w) for w in words) else [part])
    return names


_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_PORT = re.compile(r":\d*$")
CLEANED_SHOWN = 5  # cleanings named in the flash (the cookie holds it); the rest are counted


def clean_name(raw: str) -> str:
    """What was pasted, reduced to the host name a domain is: `https://user@WWW.Acme.com:443/x?y`
    → `www.acme.com` (scheme, `user@`, port, path, query, trailing dot and case go; a `www.` stays:
    it may be the name meant). Text with no host left is returned as typed, for its error."""
    text = raw.strip()
    host = _SCHEME.sub("", text)
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rpartition("@")[2]  # user@, user:password@, mailto:someone@
    host = _PORT.sub("", host).rstrip(".").lower()
    return host or text


def clean_names(names: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Each name cleaned (`clean_name`), and what changed as (typed, cleaned). A phrase with
    spaces ('not a domain') is left as typed: it is no host, and its error should say so."""
    out, changed = [], []
    for raw in names:
        name = raw if any(c.isspace() for c in raw.strip()) else clean_name(raw)
        if name != raw.strip():
            changed.append((raw.strip(), name))
        out.append(name)
    return out, changed


def cleaned_message(changed: list[tuple[str, str]]) -> str:
    """The flash that says how names were cleaned: the first few by name, the rest counted."""
    shown = "; ".join(f"{raw[:80]} → {name[:80]}" for raw, name in changed[:CLEANED_SHOWN])
    more = len(changed) - CLEANED_SHOWN
    count = f"{len(changed)} name{'' if len(changed) == 1 else 's'}"
    return f"Cleaned {count}: {shown}" + (f"; and {more} more." if more > 0 else ".")


KEPT_BUDGET = 1500  # characters of refused lines the textarea gets back through the session cookie


def kept_text(names: list[str]) -> tuple[str, int]:
    """Names for the textarea after the redirect, one per line, as many as fit the cookie's
    budget, and how many did not fit."""
    kept: list[str] = []
    size = 0
    for name in names:
        size += len(name) + 1
        if size > KEPT_BUDGET:
            break
        kept.append(name)
    return "\n".join(kept), len(names) - len(kept)


def refused_names(results: Mapping[str, Any] | None) -> list[str]:
    """The names a bulk add refused, from its expanded summary (failures come first in it, so
    they are the rows the budget kept)."""
    return [name for name, ok, _ in results["rows"] if not ok] if results else []


class UnreadableCsv(ValueError):
    """The upload is not a CSV file the form can read (binary data, a NUL byte)."""


def csv_names(data: bytes) -> list[str]:
    """The first column of a CSV file; the first row is skipped when it is not a dotted name (a header).
    Any line ending will do (registrar exports still use old Mac CRs); raises `UnreadableCsv`."""
    if b"\x00" in data:  # no text file holds NUL: a spreadsheet or an image chosen by mistake
        raise UnreadableCsv("The file is not a CSV file this form can read (it holds binary data).")
    text = data.decode("utf-8-sig", errors="replace")
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row and row[0].strip()]
    except csv.Error as exc:
        raise UnreadableCsv(f"The file is not a CSV file this form can read ({exc}).") from None
    names = [row[0].strip() for row in rows]
    if names and not _DOTTED.match(names[0]):
        names = names[1:]
    return names


def unique(names: list[str]) -> list[str]:
    """Names in order, each once (case and a trailing dot do not make a different name)."""
    seen: set[str] = set()
    out = []
    for name in names:
        key = name.lower().rstrip(".")
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


def summary(result: BulkResult) -> dict[str, Any]:
    """A bulk add's results, small enough for the session cookie: rows of [name, added, text],
    failures first, each distinct message stored once, and how many rows did not fit."""
    messages: list[str] = []
    rows: list[list[Any]] = []
    size = 0
    for item in sorted(result.results, key=lambda r: r.status == "added"):
        if item.status == "added":
            text = f"Linked to {item.dns_provider}." if item.dns_provider else "Publish its records, then verify."
        else:
            text = (item.error or {}).get("message", "failed")[:300]
        if text not in messages:
            messages.append(text)
            size += len(text)
        size += len(item.domain) + 8
        if size > SUMMARY_BUDGET:
            break
        rows.append([item.domain, item.status == "added", messages.index(text)])
    return {
        "added": result.added,
        "failed": result.failed,
        "m": messages,
        "r": rows,
        "more": len(result.results) - len(rows),
    }


def expand(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`summary` back into rows of (name, added, text) for the template."""
    if not data:
        return None
    rows = [(name, ok, data["m"][index]) for name, ok, index in data["r"]]
    return {"added": data["added"], "failed": data["failed"], "rows": rows, "more": data["more"]}


# --- DNS providers ----------------------------------------------------------------------------


def pairs(text: str, what: str) -> dict[str, str]:
    """`key=value` lines (blank lines and lines starting with # are skipped)."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise TenantCoreError(400, "invalid_form", f"{what}, line {number}: write key=value.")
        out[key.strip()] = value.strip()
    return out


def _field_value(kind: str, f: ConfigField, raw: str) -> Any:
    if f.type is dict:
        return pairs(raw, f"{kind} {f.name}") or None
    raw = raw.strip()
    if not raw:
        return None
    try:
        return f.type(raw)
    except ValueError:
        word = "a whole number" if f.type is int else "a number"
        raise TenantCoreError(400, "invalid_form", f"{kind}: {f.name} must be {word}.") from None


def field_id(part: str, kind: str, name: str) -> str:
    """The form field (and element id) of one setting: config-rfc2136-server, cred-rfc2136-key_secret."""
    return f"{part}-{kind}-{name}"


def connect_body(form: Mapping[str, Any]) -> ConnectDnsProvider:
    """The connect form as the API's body: only the chosen kind's fields are read."""
    kind = str(form.get("kind", ""))
    spec = KINDS.get(kind)
    if spec is None:
        raise TenantCoreError(400, "invalid_form", "Choose a kind of DNS provider.")
    config: dict[str, Any] = {}
    for f in spec.config:
        value = _field_value(kind, f, str(form.get(field_id("config", kind, f.name), "")))
        if value is not None:
            config[f.name] = value
    if spec.open_credentials:
        secrets = pairs(str(form.get(field_id("cred", kind, "pairs"), "")), f"{kind} credentials")
    else:
        secrets = {name: str(form.get(field_id("cred", kind, name), "")) for name in spec.credentials}
        secrets = {k: v for k, v in secrets.items() if v}
    zone = str(form.get("zone", "")).strip() or None
    try:
        return ConnectDnsProvider(
            name=str(form.get("name", "")).strip(), kind=kind, config=config, credentials=secrets, zone=zone
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TenantCoreError(400, "invalid_form", f"{where}: {first['msg']}") from None


def kept_values(form: Mapping[str, Any]) -> dict[str, str]:
    """What the connect form re-shows after an error, through the session cookie: every filled
    field but the credentials, as many as fit its budget."""
    kept: dict[str, str] = {}
    size = 0
    for key, value in form.items():
        if not isinstance(value, str) or not value or key.startswith("cred-") or key == "csrf":
            continue
        if size + len(key) + len(value) > KEPT_BUDGET:
            continue  # a huge field is typed again; the others still come back
        size += len(key) + len(value)
        kept[key] = value
    return kept
