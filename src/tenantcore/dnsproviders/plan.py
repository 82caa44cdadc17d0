"""Plan, then apply: what publishing a domain's records would change at its DNS provider,
judged record by record against what the provider holds now, under rules that never break a
record the user had:

- SPF: one SPF record per name, always. An existing one gets Microsoft's include merged in
  (its other mechanisms and its `all` kept), refused as a conflict past 10 DNS lookups.
- DMARC: an existing policy is never touched (p=reject stays reject); only a missing one is made.
- MX: replacing MX hosts that are not Microsoft's is a conflict unless asked for (`replace_mx`).
- CNAME: a name already pointing elsewhere, or holding other records, is a conflict, unless the
  CNAME there is one TenantCore wrote (DKIM keys Microsoft rotated, say).
- Nothing TenantCore did not create is ever deleted; a removal takes back only what it created
  and what is still as it created it (an SPF merge is undone to the record it found).

Planning is pure: the caller reads the provider, counts SPF lookups over DNS, and hands both in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from tenantcore.dnshealth.records import DnsRecord, Purpose
from tenantcore.dnshealth.spf import MAX_LOOKUPS, is_spf, parse_spf
from tenantcore.dnsproviders.base import RecordSet

Key = tuple[str, str]  # (name, rtype)
CountLookups = Callable[[str], Awaitable[int]]


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class Owned:
    """A value TenantCore wrote. `before`: what it replaced (an SPF record it merged into, the
    MX hosts `replace_mx` replaced, one per line), restored on removal if the record is still
    as TenantCore left it."""

    name: str
    rtype: str
    value: str
    before: str | None = None

    @property
    def key(self) -> Key:
        return (self.name, self.rtype)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Owned:
        return cls(data["name"], data["rtype"], data["value"], data.get("before"))


@dataclass(frozen=True, slots=True)
class PlannedRecord:
    purpose: str
    name: str
    rtype: str
    wanted: str  # the record TenantCore wants there (MX as "preference host")
    action: Action
    current: tuple[str, ...]  # what the provider holds at (name, rtype) now
    after: tuple[str, ...]  # what it will hold once applied (unchanged for conflicts)
    reason: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["action"], data["current"], data["after"] = self.action.value, list(self.current), list(self.after)
        return data


@dataclass
class Plan:
    domain: str
    zone: str
    records: list[PlannedRecord]
    writes: list[RecordSet]  # record sets to change, in order (to no value: their values go)
    owned: dict[Key, list[Owned]]  # what TenantCore will own per record set once a write lands
    before: dict[Key, tuple[str, ...]] = field(default_factory=dict)  # what each was when read

    @property
    def conflicts(self) -> list[PlannedRecord]:
        return [r for r in self.records if r.action is Action.CONFLICT]

    @property
    def changes(self) -> list[PlannedRecord]:
        return [r for r in self.records if r.action in (Action.CREATE, Action.UPDATE)]


@dataclass
class _Decision:
    action: Action
    reason: str
    values: list[str]
    own: list[Owned] = field(default_factory=list)


def mx_value(record: DnsRecord) -> str:
    return f"{record.preference or 0} {record.value.lower()}"


def wanted_value(record: DnsRecord) -> str:
    return mx_value(record) if record.rtype == "MX" else record.value


def _mx_host(value: str) -> str:
    return value.split()[-1].rstrip(".").lower()


def digest(records: Iterable[DnsRecord]) -> str:
    """What a set of wanted records is, in 16 hex characters: the reconciler applies again
    when Microsoft's records change (new DKIM keys), not on every check."""
    text = "\n".join(sorted(f"{r.name} {r.rtype} {wanted_value(r)}" for r in records))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def merge_spf(existing: str, wanted: str) -> str:
    """`existing` with the include terms of `wanted` it lacks, placed before its `all` (or its
    redirect), everything else kept as it was."""
    have = {i.lower() for i in parse_spf(existing).includes}
    missing = [f"include:{i}" for i in parse_spf(wanted).includes if i.lower() not in have]
    terms = existing.split()
    ends = [
        i for i, t in enumerate(terms) if i and (t.lstrip("+-~?").lower() == "all" or t.lower().startswith("redirect="))
    ]
    at = ends[0] if ends else len(terms)
    return " ".join(terms[:at] + missing + terms[at:])


async def make_plan(
    domain: str,
    zone: str,
    wanted: Sequence[DnsRecord],
    current: Mapping[Key, RecordSet],
    owned: Sequence[Owned],
    count_lookups: CountLookups,
    *,
    replace_mx: bool = False,
) -> Plan:
    """Every wanted record judged against `current` (the provider's record sets at the wanted
    names); `owned`: what TenantCore wrote before."""
    after: dict[Key, list[str]] = {k: list(v.values) for k, v in current.items()}
    ttl: dict[Key, int] = {}
    owned_by_key: dict[Key, list[Owned]] = {}
    for item in owned:
        owned_by_key.setdefault(item.key, []).append(item)
    records: list[PlannedRecord] = []
    for record in wanted:
        key = (record.name, record.rtype)
        values = after.setdefault(key, [])
        # What the provider serves now: a second record at the same name and type (the SPF
        # beside the MS= TXT) is decided against the running `values`, but shown against this.
        before = tuple(current[key].values) if key in current else ()
        other_types = sorted(t for (n, t), v in after.items() if n == record.name and t != record.rtype and v)
        mine = {o.value for o in owned_by_key.get(key, [])}
        decision = await _decide(record, values, other_types, mine, count_lookups, replace_mx)
        if decision.action in (Action.CREATE, Action.UPDATE):
            after[key] = decision.values
            ttl[key] = record.ttl
            kept = [o for o in owned_by_key.get(key, []) if o.value in decision.values]
            owned_by_key[key] = kept + decision.own
        records.append(
            PlannedRecord(
                purpose=record.purpose.value,
                name=record.name,
                rtype=record.rtype,
                wanted=wanted_value(record),
                action=decision.action,
                current=before,
                after=tuple(after[key]),
                reason=decision.reason,
            )
        )
    writes = []
    for key, values in after.items():
        old = current.get(key)
        if key in ttl and sorted(values) != sorted(old.values if old else ()):
            writes.append(RecordSet(key[0], key[1], tuple(values), ttl[key]))
    before = {k: tuple(v.values) for k, v in current.items()}
    return Plan(domain, zone, records, writes, owned_by_key, before)


async def _decide(
    record: DnsRecord,
    values: list[str],
    other_types: list[str],
    mine: set[str],
    count_lookups: CountLookups,
    replace_mx: bool,
) -> _Decision:
    if record.rtype == "CNAME":
        return _cname(record, values, other_types, mine)
    if "CNAME" in other_types:
        if record.purpose is Purpose.DMARC:
            return _Decision(Action.UNCHANGED, "a CNAME delegates DMARC to another service; kept", values)
        reason = f"a CNAME stands at {record.name}; no other record may live beside it"
        return _Decision(Action.CONFLICT, reason, values)
    if record.rtype == "MX":
        return _mx(record, values, mine, replace_mx)
    if record.purpose is Purpose.SPF:
        return await _spf(record, values, mine, count_lookups)
    if record.purpose is Purpose.DMARC:
        return _dmarc(record, values)
    return _txt(record, values)


def _created(record: DnsRecord, values: list[str], reason: str) -> _Decision:
    value = wanted_value(record)
    return _Decision(Action.CREATE, reason, [*values, value], [Owned(record.name, record.rtype, value)])


def _cname(record: DnsRecord, values: list[str], other_types: list[str], mine: set[str]) -> _Decision:
    target = record.value.lower()
    if [v.rstrip(".").lower() for v in values] == [target]:
        return _Decision(Action.UNCHANGED, "already points there", values)
    if other_types:
        return _Decision(
            Action.CONFLICT,
            f"{record.name} holds {', '.join(other_types)} record(s); a CNAME cannot live beside them",
            values,
        )
    if not values:
        return _created(record, values, "missing")
    if set(values) <= mine:
        return _Decision(
            Action.UPDATE,
            f"TenantCore's CNAME points to {values[0]}; Microsoft now wants {target}",
            [target],
            [Owned(record.name, "CNAME", target)],
        )
    return _Decision(
        Action.CONFLICT, f"points to {values[0]}, which TenantCore did not write; change or delete it first", values
    )


def _mx(record: DnsRecord, values: list[str], mine: set[str], replace_mx: bool) -> _Decision:
    value = mx_value(record)
    host = _mx_host(value)
    hosts = {_mx_host(v) for v in values}
    if hosts == {host}:
        return _Decision(Action.UNCHANGED, "Microsoft's MX is the only one", values)
    if not values:
        return _created(record, values, "missing")
    foreign = sorted(h for h in hosts if h != host and not any(_mx_host(m) == h for m in mine))
    if foreign and not replace_mx:
        return _Decision(
            Action.CONFLICT,
            f"mail for this domain goes to {', '.join(foreign)}; replacing it needs replace_mx",
            values,
        )
    reason = f"replaces {', '.join(foreign)} (replace_mx)" if foreign else "replaces TenantCore's earlier MX"
    # What it replaced comes back on removal (unless it was TenantCore's own).
    before = "\n".join(v for v in values if v not in mine) or None
    return _Decision(Action.UPDATE, reason, [value], [Owned(record.name, "MX", value, before)])


async def _spf(record: DnsRecord, values: list[str], mine: set[str], count_lookups: CountLookups) -> _Decision:
    spf = [v for v in values if is_spf(v)]
    if not spf:
        return _created(record, values, "missing")
    if len(spf) > 1:
        return _Decision(
            Action.CONFLICT,
            f"{len(spf)} SPF records: receivers reject all of them (permerror); merge them into one first",
            values,
        )
    existing = spf[0]
    merged = merge_spf(existing, record.value)
    if merged == existing:
        return _Decision(Action.UNCHANGED, "already includes Microsoft's SPF", values)
    lookups = await count_lookups(merged)
    if lookups > MAX_LOOKUPS:
        return _Decision(
            Action.CONFLICT,
            f"merging Microsoft's include would take SPF to {lookups} DNS lookups (limit {MAX_LOOKUPS}); "
            "flatten or drop an include first",
            values,
        )
    before = existing if existing not in mine else None
    return _Decision(
        Action.UPDATE,
        "Microsoft's include merged into the existing SPF record (its other terms and `all` kept)",
        [merged if v == existing else v for v in values],
        [Owned(record.name, "TXT", merged, before)],
    )


def _dmarc(record: DnsRecord, values: list[str]) -> _Decision:
    policies = [v for v in values if v.replace(" ", "").lower().startswith("v=dmarc1")]
    if policies:
        return _Decision(Action.UNCHANGED, "an existing DMARC policy is never changed", values)
    return _created(record, values, "missing")


def _txt(record: DnsRecord, values: list[str]) -> _Decision:
    if record.value in values:
        return _Decision(Action.UNCHANGED, "present", values)
    return _created(record, values, "missing")


# --- taking back what TenantCore wrote -------------------------------------------------------


def removal(current: Mapping[Key, RecordSet], owned: Sequence[Owned]) -> list[RecordSet]:
    """The writes that take back what TenantCore created and is still as it created it; a
    merged SPF record goes back to what it was. Everything else stays."""
    after = {k: list(v.values) for k, v in current.items()}
    touched: list[Key] = []
    for item in owned:
        values = after.get(item.key, [])
        if item.value not in values:
            continue  # changed or removed since: no longer ours to take back
        at = values.index(item.value)
        if item.before is not None:  # several values (a replaced MX set) are kept one per line
            values[at : at + 1] = item.before.split("\n")
        else:
            del values[at]
        if item.key not in touched:
            touched.append(item.key)
    return [RecordSet(k[0], k[1], tuple(after[k]), current[k].ttl) for k in touched]
