"""Health checks: the queries each domain needs, run concurrently, judged by `evaluate`.

Per domain: apex TXT (SPF, verification, apex CNAME), MX, `_dmarc` TXT, both DKIM selector
CNAMEs and, when Microsoft lists it, the autodiscover CNAME: six queries, all in parallel.
With blocklists configured, one A query per list more (two for a subdomain on Spamhaus DBL),
asked in the same batch. Follow-up probes run only when something is absent (DMARC at a wrong name, a TXT where a
selector CNAME belongs). SPF includes are followed once per run and shared by every domain
that includes them, so 10,000 domains including spf.protection.outlook.com cost one lookup.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from tenantcore.dnshealth.blocklists import Blocklist, BlocklistResult, read_answers
from tenantcore.dnshealth.evaluate import HealthReport, Observations, SpfWalk, evaluate
from tenantcore.dnshealth.lookup import Answer, DnsSession, ResolverConfig
from tenantcore.dnshealth.names import normalize, registrable_zone
from tenantcore.dnshealth.records import DKIM_SELECTORS, ExpectedRecords, Purpose
from tenantcore.dnshealth.spf import MAX_LOOKUPS, is_spf, parse_spf
from tenantcore.metrics.registry import count_dns_check

QUERIES_PER_DOMAIN = 6

# While any check run is open, the cyclic GC's youngest generation waits for this many new
# objects instead of CPython's 700.
RUN_GC_THRESHOLD = 20_000
_open_runs = 0
_gc_lock = threading.Lock()
_saved_thresholds: tuple[int, int, int] | None = None


@contextmanager
def fewer_full_collections() -> Iterator[None]:
    """Raise the GC's first threshold for the length of the check runs open in this process.

    A run allocates some thirty tracked objects per domain and keeps every report until it
    ends, so the heap grows by a quarter again and again, and each growth triggers a full
    collection that rescans all of it: six of them, ~130 ms each, took a fifth of a 10,000-
    domain run (bench/README.md). Young collections still run, every 20,000 allocations, so
    cyclic garbage is still freed. Runs may overlap (the worker's pipelines, an API check):
    the first to open raises the threshold and the last to close restores it.
    """
    global _open_runs, _saved_thresholds
    with _gc_lock:  # runs may also open on other threads' loops (the in-process sandbox)
        if _open_runs == 0:
            _saved_thresholds = gc.get_threshold()
            gc.set_threshold(max(RUN_GC_THRESHOLD, _saved_thresholds[0]), *_saved_thresholds[1:])
        _open_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _open_runs -= 1
            if _open_runs == 0 and _saved_thresholds is not None:
                gc.set_threshold(*_saved_thresholds)
                _saved_thresholds = None


@dataclass(frozen=True, slots=True)
class CheckTarget:
    domain: str
    expected: ExpectedRecords | None = None
    is_verified: bool | None = None
    # The lists' last verdicts, reused instead of asking again (the reconciler asks the lists
    # less often than it checks records: their answers change slowly, and Spamhaus limits
    # free use to about 100k queries a day). None: ask them.
    blocklists: tuple[BlocklistResult, ...] | None = None


class CheckRun:
    """One pass over any number of domains with one DNS session and one SPF-include cache."""

    def __init__(self, session: DnsSession, blocklists: tuple[Blocklist, ...] = ()) -> None:
        self.session = session
        self.blocklists = blocklists
        self._spf_cache: dict[str, asyncio.Future[Answer]] = {}

    async def check(self, target: CheckTarget) -> HealthReport:
        domain = normalize(target.domain)
        expected = target.expected
        want_autodiscover = expected is None or expected.first(Purpose.AUTODISCOVER) is not None
        autodiscover_name = (
            expected.first(Purpose.AUTODISCOVER).name  # type: ignore[union-attr]
            if expected is not None and want_autodiscover
            else f"autodiscover.{domain}"
        )
        questions = [
            (domain, "TXT"),
            (domain, "MX"),
            (f"_dmarc.{domain}", "TXT"),
            *((f"{s}._domainkey.{domain}", "CNAME") for s in DKIM_SELECTORS),
        ]
        if want_autodiscover:
            questions.append((autodiscover_name, "CNAME"))
        listed_names = []
        for blocklist in self.blocklists if target.blocklists is None else ():
            names = blocklist.names_for(domain)
            listed_names.append(names)
            questions.extend((blocklist.question(name), "A") for name in names)
        answers = await self.session.query_all(questions)
        apex_txt, mx, dmarc, s1, s2 = answers[:5]
        obs = Observations(
            domain=domain,
            apex_txt=apex_txt,
            mx=mx,
            dmarc=dmarc,
            selectors=dict(zip(DKIM_SELECTORS, (s1, s2), strict=True)),
            autodiscover=answers[5] if want_autodiscover else None,
        )
        if target.blocklists is not None:
            obs.blocklists.extend(target.blocklists)
            obs.blocklists_reused = True
        elif listed_names:
            at = 6 if want_autodiscover else 5
            for blocklist, names in zip(self.blocklists, listed_names, strict=True):
                obs.blocklists.append(read_answers(blocklist, names, answers[at : at + len(names)]))
                at += len(names)
        await self._probe(obs)
        report = evaluate(obs, expected, target.is_verified, datetime.now(UTC))
        count_dns_check(report.grade)  # every check gets its grade here, whoever runs it
        return report

    async def _probe(self, obs: Observations) -> None:
        """The extra lookups that only a problem calls for, plus the SPF include walk."""
        probes = []
        dmarc_texts = [t.replace(" ", "").lower() for t in obs.dmarc.values]
        if obs.dmarc.absent or (obs.dmarc.found and not any(t.startswith("v=dmarc1") for t in dmarc_texts)):
            probes.append(self._dmarc_elsewhere(obs))
        for selector, answer in obs.selectors.items():
            if answer.absent:
                probes.append(self._selector_txt(obs, selector))
        spf = [t for t in obs.apex_txt.values if is_spf(t)] if obs.apex_txt.definite else []
        if spf:
            probes.append(self._walk_into(obs, spf[0]))
        if len(probes) == 1:
            await probes[0]  # the usual case: no task or gather overhead
        elif probes:
            await asyncio.gather(*probes)

    async def _walk_into(self, obs: Observations, spf: str) -> None:
        obs.spf_walk = await self.walk_spf(spf, obs.domain)

    async def _dmarc_elsewhere(self, obs: Observations) -> None:
        domain = obs.domain
        zone = registrable_zone(domain)
        names = {f"_dmarc.{domain}.{zone}", f"_dmarc.{domain}.{domain}", f"dmarc.{domain}"}
        found = await asyncio.gather(*(self.session.query(n, "TXT") for n in sorted(names)))
        obs.dmarc_elsewhere = list(found)
        if any("v=dmarc1" in t.replace(" ", "").lower() for t in obs.apex_txt.values):
            obs.dmarc_elsewhere.append(obs.apex_txt)

    async def _selector_txt(self, obs: Observations, selector: str) -> None:
        obs.selector_txt[selector] = await self.session.query(f"{selector}._domainkey.{obs.domain}", "TXT")

    async def _spf_answer(self, name: str) -> Answer:
        pending = self._spf_cache.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self.session.query(name, "TXT"))
            self._spf_cache[name] = pending
        return await asyncio.shield(pending)

    async def walk_spf(self, text: str, domain: str) -> SpfWalk:
        """Count the DNS lookups and void lookups of an SPF record, following includes and
        redirect breadth-first, stopping once the limit is exceeded (receivers stop there too)."""
        walk = SpfWalk()
        root = parse_spf(text)
        walk.lookups = root.lookup_terms
        frontier = [(name, (domain,)) for name in root.followed]
        while frontier and walk.lookups <= MAX_LOOKUPS:
            cached = [self._spf_cache.get(n) for n, _ in frontier]
            if all(f is not None and f.done() for f in cached):
                answers = [f.result() for f in cached]  # type: ignore[union-attr]
            else:
                answers = await asyncio.gather(*(self._spf_answer(n) for n, _ in frontier))
            next_frontier = []
            for (name, path), answer in zip(frontier, answers, strict=True):
                if not answer.definite:
                    walk.unknown.append(name)
                    continue
                records = [t for t in answer.values if is_spf(t)]
                if not records:
                    walk.void_lookups += 1
                    walk.broken.append(name)
                    continue
                if len(records) > 1:
                    walk.broken.append(name)
                record = parse_spf(records[0])
                walk.lookups += record.lookup_terms
                for child in record.followed:
                    if child in path or child == name:
                        walk.loop = True
                    else:
                        next_frontier.append((child, (*path, name)))
            frontier = next_frontier
        return walk


class HealthChecker:
    """Checks domains with one configuration. Each `run()` (or `check`/`check_many` call)
    gets one fresh DNS session, so answers are never older than the run. `blocklists`: the
    domain blocklists every domain is looked up on (`blocklists.parse_blocklists`); none by
    default."""

    def __init__(self, config: ResolverConfig | None = None, blocklists: tuple[Blocklist, ...] = ()) -> None:
        self.config = config or ResolverConfig()
        self.blocklists = tuple(blocklists)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[CheckRun]:
        with fewer_full_collections():
            session = DnsSession(self.config)
            try:
                yield CheckRun(session, self.blocklists)
            finally:
                await session.close()

    async def check(
        self, domain: str, expected: ExpectedRecords | None = None, is_verified: bool | None = None
    ) -> HealthReport:
        async with self.run() as run:
            return await run.check(CheckTarget(domain, expected, is_verified))

    async def check_many(
        self,
        targets: Iterable[CheckTarget | str],
        on_result: Callable[[HealthReport], None] | None = None,
    ) -> list[HealthReport]:
        """Check every target, `concurrency / 6` domains in flight, results in input order.
        (With blocklists a domain asks more, so some queries wait for a slot: measured, that is
        faster than fewer domains in flight, bench/README.md.)"""
        items = [t if isinstance(t, CheckTarget) else CheckTarget(t) for t in targets]
        results: list[HealthReport | None] = [None] * len(items)
        position = iter(range(len(items)))
        width = max(1, min(len(items), self.config.concurrency // QUERIES_PER_DOMAIN))

        async with self.run() as run:

            async def worker() -> None:
                for index in position:
                    report = await run.check(items[index])
                    results[index] = report
                    if on_result is not None:
                        on_result(report)

            await asyncio.gather(*(worker() for _ in range(width)))
        return [r for r in results if r is not None]
