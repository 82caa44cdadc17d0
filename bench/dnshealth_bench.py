"""Full health check of generated M365 zones served by Knot, side by side with checkdmarc and
with the raw query rate of the resolver we use (c-ares, `dnshealth/cares.py`) as the ceiling.

    ./dev bench dnshealth_bench [--domains 10000] [--checkdmarc-sample 300] [--no-blocklists]

checkdmarc is synchronous and makes ~28 queries per domain, so it runs on a sample of the
same zones (its rate does not depend on N); TenantCore and the raw resolver run on all of
them. knotd (2 UDP workers) shares the machine's cores with the client. TenantCore also asks
three fake domain blocklists (three more queries a domain, almost all NXDOMAIN) unless
--no-blocklists; the raw ceiling asks the same six names either way.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import time

import uvloop

from tenantcore.dnshealth import CheckTarget, HealthChecker, HealthReport, ResolverConfig, build_expected_records
from tenantcore.dnshealth.blocklists import parse_blocklists
from tenantcore.dnshealth.cares import LoopChannel
from zones import BLOCKLISTS, FAULTS, blocklisted, domain_name, graph_records, knot

# The six lookups a check makes for every domain.
MIX = [
    ("", "TXT"),
    ("", "MX"),
    ("_dmarc.", "TXT"),
    ("selector1._domainkey.", "CNAME"),
    ("selector2._domainkey.", "CNAME"),
    ("autodiscover.", "CNAME"),
]


async def raw_rate(port: int, count: int, concurrency: int) -> float:
    """Queries/s of the bare c-ares channel TenantCore drives (`LoopChannel`), asking the same
    names and types with `concurrency` in flight and doing nothing with the answers it reads:
    the ceiling no checker built on it can pass in one process."""
    channel = LoopChannel((f"127.0.0.1:{port}",), timeout=2.0, tries=3)
    names = iter([(prefix + domain_name(i), rtype) for i in range(count) for prefix, rtype in MIX])
    total = count * len(MIX)
    left = total
    done = asyncio.get_running_loop().create_future()

    def answered(answer: object) -> None:
        nonlocal left
        left -= 1
        if left == 0:
            done.set_result(None)
        elif (following := next(names, None)) is not None:
            channel.query(*following, answered)

    start = time.perf_counter()
    for name, rtype in itertools.islice(names, concurrency):
        channel.query(name, rtype, answered)
    await done
    elapsed = time.perf_counter() - start
    channel.close()
    return total / elapsed


async def tenantcore_rate(
    port: int, count: int, concurrency: int, blocklists: bool, reuse: list[HealthReport] | None = None
) -> tuple[float, collections.Counter[str], int, list[HealthReport]]:
    """Domains/s of the full check: expected records from Graph-shaped input, all lookups,
    findings, grade and fingerprint, and (`blocklists`) the three blocklist lookups, or
    (`reuse`) those reports' blocklist verdicts carried, as the reconciler does between list
    refreshes (`TENANTCORE_BLOCKLIST_INTERVAL`)."""
    targets = [
        CheckTarget(
            domain_name(i),
            build_expected_records(domain_name(i), **graph_records(i)),
            True,
            tuple(reuse[i].blocklists) if reuse is not None else None,
        )
        for i in range(count)
    ]
    config = ResolverConfig(nameservers=(f"127.0.0.1:{port}",), concurrency=concurrency)
    start = time.perf_counter()
    lists = parse_blocklists(BLOCKLISTS) if blocklists else ()
    reports = await HealthChecker(config, lists).check_many(targets)
    elapsed = time.perf_counter() - start
    found: collections.Counter[str] = collections.Counter()
    wrong = 0
    for i, report in enumerate(reports):
        errors = {f.code for f in report.findings if f.severity.value == "error"}
        found.update(errors)
        fault = FAULTS.get(i % 10)
        seeded = {fault} if fault else set()
        if blocklists and blocklisted(i):
            seeded.add("blocklisted")
        if not seeded <= errors or (fault is None and errors - seeded):
            wrong += 1
    return count / elapsed, found, wrong, reports


def checkdmarc_rate(port: int, sample: int) -> float:
    import checkdmarc
    from dns.nameserver import Do53Nameserver

    domains = [domain_name(i) for i in range(sample)]
    start = time.perf_counter()
    checkdmarc.check_domains(domains, nameservers=[Do53Nameserver("127.0.0.1", port)], timeout=2.0)
    return sample / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--checkdmarc-sample", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--no-blocklists", action="store_true", help="Check without the blocklist lookups.")
    args = parser.parse_args()
    n = args.domains
    print(f"generating {n} zones and starting knotd ...", flush=True)
    with knot(n) as port:
        print(f"knotd on 127.0.0.1:{port}; cores: {os.cpu_count()}", flush=True)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(raw_rate(port, min(n, 2000), args.concurrency))  # warm-up
            raw = runner.run(raw_rate(port, n, args.concurrency))
            lists_on = not args.no_blocklists
            one, found, wrong, reports = runner.run(tenantcore_rate(port, n, args.concurrency, lists_on))
            reused = runner.run(tenantcore_rate(port, n, args.concurrency, lists_on, reports))[0] if lists_on else None
        theirs = checkdmarc_rate(port, args.checkdmarc_sample)
    per = len(MIX)
    rows = [
        ("c-ares raw ceiling, 1 process", raw / per, f"{raw:,.0f} q/s at {per} q/domain, no evaluation"),
        ("TenantCore, 1 process", one, f"{one / theirs:.0f}x checkdmarc"),
        *(
            [
                ("TenantCore, lists' verdicts reused", reused, "the reconciler's check between list refreshes"),
                (
                    "TenantCore, reconciler mix",
                    1 / (0.25 / one + 0.75 / reused),
                    "defaults: 1 check in 4 asks the lists",
                ),
            ]
            if reused
            else []
        ),
        ("checkdmarc check_domains", theirs, f"1 process, sample of {args.checkdmarc_sample}"),
    ]
    print(f"\n{'':32}{'domains/s':>10}")
    for name, rate, note in rows:
        print(f"{name:32}{rate:>10,.0f}   {note}")
    print(f"\n{n} domains in {n / one:.1f} s, {one / (raw / per):.0%} of the raw ceiling")
    print(f"blocklists: {'off' if args.no_blocklists else ', '.join(BLOCKLISTS)}")
    print(f"errors found: {dict(found)}")
    print(f"domains judged wrongly vs the seeded faults: {wrong}")


if __name__ == "__main__":
    main()
