"""The chaos tests' service: the whole service on SQLite and on PostgreSQL, with short clocks
(checks every 0.5 s, short backoffs and leases, reservations settled after 1 s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..running import Service


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    running = Service(
        tmp_path / "data",
        database_url=database_url,
        check_interval=0.5,
        worker_idle=0.05,
        followup_backoff=0.2,
        reservation_timeout=1,
        worker_lease=3,
    )
    yield running
    running.stop()
