"""The data directory a fresh `tenantcore serve` writes: the database with the encrypted tenant
credentials and the keys' HMACs, and the server's secret, readable by their owner only."""

from __future__ import annotations

from pathlib import Path

from tenantcore.config import Settings
from tenantcore.runtime import Runtime


async def test_a_fresh_data_dir_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with Runtime.opened(Settings(data_dir=data, sandbox=False), bootstrap=True):
        # Migrations ran and the first account was written: the WAL and its index exist now.
        files = [data / "tenantcore.db", data / "secret.key", *data.glob("tenantcore.db-*")]
        assert len(files) >= 3, sorted(p.name for p in data.iterdir())
        assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: "0o600" for f in files}
    assert data.stat().st_mode & 0o777 == 0o700


async def test_an_existing_database_is_kept_and_made_private(tmp_path: Path, caplog) -> None:
    data = tmp_path / "data"
    async with Runtime.opened(Settings(data_dir=data, sandbox=False), bootstrap=True) as runtime:
        first = runtime.first_keys
    (data / "tenantcore.db").chmod(0o644)  # as an older version left it
    async with Runtime.opened(Settings(data_dir=data, sandbox=False), bootstrap=True) as runtime:
        assert runtime.first_keys == {}  # the same database: its account is there already
    assert first
    assert (data / "tenantcore.db").stat().st_mode & 0o777 == 0o600
    assert "was readable by other users; it is now private" in caplog.text
