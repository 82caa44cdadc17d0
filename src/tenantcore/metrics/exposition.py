"""What a scrape returns: the process's counters (or, under several processes, all of theirs)
and gauges read from the database at scrape time."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, values
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tenantcore.db import now
from tenantcore.domains.states import DomainState
from tenantcore.metrics import repository
from tenantcore.runtime import Runtime

log = logging.getLogger("tenantcore.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
QUEUES_TIMEOUT = 5.0  # a database that hangs costs the scrape its gauges, not the counters


def prepare_multiprocess_dir(default: Path | None = None) -> None:
    """Call once in the parent, before the server's processes start. prometheus-client's
    multiprocess mode keeps each process's counters in files in PROMETHEUS_MULTIPROC_DIR, which
    must start empty (an earlier run's files would be added in). `default`: the directory to
    use when the variable is unset (`serve --workers N` passes one under the data dir); the
    processes started afterwards (uvicorn spawns fresh interpreters) inherit it and pick the
    mode up when they import prometheus-client."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        if default is None:
            return
        directory = os.environ[MULTIPROC_ENV] = str(default)
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    # This process's own files stay: its unlabelled counters were created (and their file
    # opened) when the metrics were imported, and a deleted file would swallow their counts.
    own = f"_{os.getpid()}.db"
    for stale in path.glob("*.db"):
        if not stale.name.endswith(own):
            stale.unlink()


def _counters() -> CollectorRegistry:
    # The mode prometheus-client chose when it was imported (from the variable as it was then),
    # not the variable now: a process that imported it first counts in memory.
    if getattr(values.ValueClass, "_multiprocess", False):
        # Every process's files, summed (the per-process default registry would show only the
        # process that happened to take the scrape).
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


class Scraper:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._counters = _counters()

    async def render(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Fixed(await self._read()))
        # Two expositions in a row are one valid text-format document (no name is in both).
        return generate_latest(self._counters) + generate_latest(registry)

    async def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("tenantcore_metrics_database_up", "1 when the scrape could read the queue depths.")
        at = now()
        try:
            async with asyncio.timeout(QUEUES_TIMEOUT), self.runtime.sessions() as session:
                queues = await repository.queues(session, at)
        except Exception as exc:  # a scrape still answers with the counters
            log.warning("metrics: could not read the queue depths: %r", exc)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        lag = GaugeMetricFamily(
            "tenantcore_reconciler_lag_seconds",
            "Age of the oldest due domain check (0 when none is due), by mode: how far the reconciler is behind.",
            labels=["mode"],
        )
        due = GaugeMetricFamily(
            "tenantcore_domains_due", "Domains whose DNS check is due now, by mode.", labels=["mode"]
        )
        for mode in ("live", "test"):
            waiting = queues.due.get(mode)
            lag.add_metric([mode], max(0.0, (at - waiting.oldest).total_seconds()) if waiting else 0.0)
            due.add_metric([mode], waiting.count if waiting else 0)
        domains = GaugeMetricFamily(
            "tenantcore_domains",
            "Domains by state; pending, added and verified are onboarding in progress.",
            labels=["state"],
        )
        for state in DomainState:
            domains.add_metric([state.value], queues.domains.get(state.value, 0))
        outbox = GaugeMetricFamily(
            "tenantcore_webhook_outbox_pending", "Webhook deliveries waiting to be delivered (or retried)."
        )
        outbox.add_metric([], queues.outbox_pending)
        return [up, lag, due, domains, outbox]
