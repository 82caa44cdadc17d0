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
from tenantcore.dnshealth.dmarc import (
    MAX_REPORT_AUTH_LOOKUPS,
    external_report_hosts,
    is_dmarc,
    parse_dmarc,
    report_auth_name,
)
from tenantcore.dnshealth.evaluate import HealthReport, Observations, SpfWalk, evaluate
from tenantcore.dnshealth.lookup import Answer, DnsSession, ResolverConfig
from tenantcore.dnshealth.names import normalize, registrable_zone
from tenantcore.dnshealth.records import DKIM_SELECTORS, ExpectedRecords, Purpose
from tenantcore.dnshealth.spf import MAX_LOOKUPS, MAX_MX_NAMES, SpfRecord, is_spf, parse_spf
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
        list_questions = []
        for blocklist in self.blocklists if target.blocklists is None else ():
            names = blocklist.names_for(domain)
            listed_names.append(names)
            list_questions.extend((blocklist.question(name), "A") for name in names)
        answers = await self.session.query_all(questions, list_questions)
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
        elif obs.dmarc.found:
            records = [t for t in obs.dmarc.values if is_dmarc(t)]
            # Several records: receivers ignore DMARC altogether, so no report goes anywhere.
            hosts = external_report_hosts(parse_dmarc(records[0]), obs.domain) if len(records) == 1 else []
            if hosts:
                probes.append(self._dmarc_report_auth(obs, [h for _, h in hosts[:MAX_REPORT_AUTH_LOOKUPS]]))
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
        obs.spf_walk = await self.walk_spf(spf, obs.domain, obs.mx)

    async def _dmarc_elsewhere(self, obs: Observations) -> None:
        domain = obs.domain
        zone = registrable_zone(domain)
        names = sorted({f"_dmarc.{domain}.{zone}", f"_dmarc.{domain}.{domain}", f"dmarc.{domain}"})
        probes = len(names)
        if zone != domain:  # a subdomain: receivers fall back to the organizational domain's record
            names.append(f"_dmarc.{zone}")
        found = await asyncio.gather(*(self.session.query(n, "TXT") for n in names))
        obs.dmarc_elsewhere = list(found[:probes])
        if zone != domain:
            obs.dmarc_org = found[probes]
        if any("v=dmarc1" in t.replace(" ", "").lower() for t in obs.apex_txt.values):
            obs.dmarc_elsewhere.append(obs.apex_txt)

    async def _dmarc_report_auth(self, obs: Observations, hosts: list[str]) -> None:
        """Whether each external rua/ruf host agreed to receive this domain's reports."""
        found = await asyncio.gather(*(self.session.query(report_auth_name(obs.domain, h), "TXT") for h in hosts))
        obs.dmarc_report_auth = dict(zip(hosts, found, strict=True))

    async def _selector_txt(self, obs: Observations, selector: str) -> None:
        obs.selector_txt[selector] = await self.session.query(f"{selector}._domainkey.{obs.domain}", "TXT")

    def _cached(self, name: str, rtype: str) -> asyncio.Future[Answer]:
        """One query per (name, type) per run, shared by every domain whose SPF asks it."""
        key = name if rtype == "TXT" else f"{rtype} {name}"
        pending = self._spf_cache.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self.session.query(name, rtype))
            self._spf_cache[key] = pending
        return pending

    async def _answers(self, questions: list[tuple[str, str]]) -> list[Answer]:
        cached = [self._spf_cache.get(n if t == "TXT" else f"{t} {n}") for n, t in questions]
        if all(f is not None and f.done() for f in cached):
            return [f.result() for f in cached]  # type: ignore[union-attr]  # the usual case: no gather
        return list(await asyncio.gather(*(asyncio.shield(self._cached(n, t)) for n, t in questions)))

    @staticmethod
    def _judge_terms(
        walk: SpfWalk, terms: list[tuple[str, str, str]], answers: Iterator[Answer], mx: Answer | None, domain: str
    ) -> None:
        """Count the void answers of a/mx/exists terms, and mx terms naming too many hosts."""
        for term, name, rtype in terms:
            answer = mx if (mx is not None and rtype == "MX" and name == domain) else next(answers)
            if not answer.definite:
                continue
            if answer.absent:
                walk.void_lookups += 1
                walk.void_names.append(name)
            elif rtype == "MX" and len(answer.values) > MAX_MX_NAMES:
                walk.mx_too_many.append((term, name, len(answer.values)))

    async def walk_spf(self, text: str, domain: str, mx: Answer | None = None) -> SpfWalk:
        """Count the DNS lookups and void lookups of an SPF record, following includes and
        redirect breadth-first, stopping once the limit is exceeded (receivers stop there too).

        Every record reached is parsed (a syntax error in an included one is a permerror for
        this domain too), and the names its a, mx and exists terms ask are asked as well, in
        the same round trip as the next level's records: they count towards the void-lookup
        limit, and an mx term naming more than 10 hosts is a permerror. `mx`, the domain's own
        MX answer, is reused for a bare `mx` term. An a term is asked for A only (the view of an
        IPv4 sender, the usual one: a name with only AAAA is a void lookup for it). Terms with
        macros, and ptr (its names come from the sender's IP), need a sender and are skipped."""
        walk = SpfWalk()
        root = parse_spf(text)
        walk.lookups = root.lookup_terms
        level: list[tuple[str, SpfRecord, tuple[str, ...]]] = [(domain, root, ())]
        while level and walk.lookups <= MAX_LOOKUPS:
            # The next records to read, and the names this level's a/mx/exists terms ask.
            frontier: list[tuple[str, tuple[str, ...], SpfRecord]] = []
            terms: list[tuple[str, str, str]] = []
            for owner, record, path in level:
                if record.followed:
                    reached = (*path, owner)
                    for child in record.followed:
                        if child in reached:
                            walk.loop = True
                        else:
                            frontier.append((child, reached, record))
                for term, name, rtype in record.queries:
                    terms.append((term, name or owner, rtype))
            questions = [(name, "TXT") for name, _, _ in frontier]
            if terms:
                questions += [(n, t) for _, n, t in terms if not (mx is not None and t == "MX" and n == domain)]
            if not questions and not terms:
                break
            answers = await self._answers(questions) if questions else []
            if terms:
                self._judge_terms(walk, terms, iter(answers[len(frontier) :]), mx, domain)
            level = []
            for (name, path, parent), answer in zip(frontier, answers, strict=False):
                if not answer.definite:
                    walk.unknown.append(name)
                    continue
                records = [t for t in answer.values if is_spf(t)]
                if not records:
                    if answer.absent:
                        walk.void_lookups += 1
                        walk.void_names.append(name)
                    walk.broken.append(name)
                    continue
                if len(records) > 1:
                    walk.broken.append(name)
                record = parse_spf(records[0])
                walk.lookups += record.lookup_terms
                if record.problems:
                    is_redirect = name not in parent.includes
                    via = f"{'redirect=' if is_redirect else 'include:'}{name}"
                    walk.include_problems.extend((name, via, problem) for problem in record.problems)
                level.append((name, record, path))
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
