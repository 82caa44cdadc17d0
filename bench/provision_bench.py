"""Provision 12 domains on one tenant through the real clients against the emulator, with
100 ms added to every Microsoft call (login, Graph, Exchange): wall time sequential vs the
concurrent path, and the Microsoft calls each domain costs.

    ./dev bench provision_bench [--domains 12] [--latency 0.1]

Each domain goes the whole way: add, read verification and service records, publish them
to the sandbox DNS server, verify, enable Email, create DKIM keys, publish the CNAMEs, enable
DKIM. "Sequential" provisions one domain after another; "concurrent" provisions all at once,
bounded by the clients' per-tenant concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from tenantcore.dnshealth import build_expected_records
from tenantcore.dnshealth.lookup import ResolverConfig
from tenantcore.emulator import EmulatorState, Fault, ThreadedServer, create_app
from tenantcore.microsoft import MicrosoftClients, MicrosoftConfig
from tenantcore.sandbox.dns_server import SandboxDnsServer, ZoneStore

CLIENT_ID, SECRET = "bench-app", "bench-secret"


async def provision(ms: MicrosoftClients, store: ZoneStore, tenant: str, domain: str) -> None:
    await ms.graph.create_domain(tenant, domain)
    verification, service = await asyncio.gather(
        ms.graph.verification_records(tenant, domain), ms.graph.service_configuration_records(tenant, domain)
    )
    store.publish(build_expected_records(domain, verification=verification, service=service).records)
    await ms.graph.verify_domain(tenant, domain)
    await ms.graph.enable_email(tenant, domain)
    config = await ms.exchange.new_dkim_signing_config(tenant, domain)
    store.publish(build_expected_records(domain, dkim_config=config).records)
    await ms.exchange.enable_dkim(tenant, domain)


async def run(mode: str, count: int, latency: float, bound: int) -> tuple[float, int, int]:
    store = ZoneStore()
    with SandboxDnsServer(store) as dns:
        state = EmulatorState()
        state.add_app(CLIENT_ID, secret=SECRET)
        tenant = state.create_tenant("Bench", consent_app=CLIENT_ID)
        state.inject(Fault("latency", "*", count=-1, latency=latency))
        app = create_app(state, ResolverConfig(nameservers=(dns.address,), timeout=1, tries=2))
        with ThreadedServer(app) as emulator:
            ms = MicrosoftClients.create(
                MicrosoftConfig(CLIENT_ID, client_secret=SECRET, per_tenant_concurrency=bound), emulator=emulator.url
            )
            domains = [f"d{i:02d}-bench.com" for i in range(count)]
            start = time.perf_counter()
            if mode == "sequential":
                for domain in domains:
                    await provision(ms, store, tenant.id, domain)
            else:
                await asyncio.gather(*(provision(ms, store, tenant.id, d) for d in domains))
            elapsed = time.perf_counter() - start
            await ms.aclose()
            enabled = sum(c.enabled for c in tenant.dkim.values())
            assert enabled == count, f"only {enabled} of {count} domains got DKIM enabled"
            api_calls = len([c for c in state.calls if c.service in ("graph", "exchange")])
            return elapsed, api_calls, tenant.token_requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=12)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    n = args.domains
    rows = []
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        for mode, bound in (("sequential", 4), ("concurrent", 4), ("concurrent", 12)):
            elapsed, calls, tokens = runner.run(run(mode, n, args.latency, bound))
            rows.append((f"{mode}, {bound} per tenant" if mode == "concurrent" else mode, elapsed, calls, tokens))
    print(f"{n} domains on one tenant, {args.latency * 1000:.0f} ms added to every Microsoft call\n")
    print(f"{'':28}{'wall s':>8}{'API calls/domain':>18}{'token requests':>16}")
    for name, elapsed, calls, tokens in rows:
        print(f"{name:28}{elapsed:>8.2f}{calls / n:>18.1f}{tokens:>16}")
    print(
        f"\nconcurrent (4 per tenant) is {rows[0][1] / rows[1][1]:.1f}x faster than sequential; "
        f"12 per tenant {rows[0][1] / rows[2][1]:.1f}x"
    )


if __name__ == "__main__":
    main()
