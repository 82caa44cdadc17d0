"""`tenantcore keys create`: another key for the account, shown once, usable at once."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tenantcore import aio
from tenantcore.accounts import repository
from tenantcore.accounts.keys import KEY_FORMAT, digest
from tenantcore.cli import app
from tenantcore.config import Settings
from tenantcore.runtime import Runtime


def test_keys_create_makes_a_working_key(tmp_path: Path):
    data = tmp_path / "data"
    runner = CliRunner()
    first = runner.invoke(app, ["keys", "create", "--mode", "live", "--data-dir", str(data)])
    assert first.exit_code == 2  # no account yet: nothing to attach a key to
    assert "no such account" in first.output

    async def bootstrap_and_check(key: str | None) -> bool:
        runtime = Runtime(Settings(data_dir=data, sandbox=False))
        await runtime.start()  # first start: creates the account
        try:
            if key is None:
                return True
            async with runtime.sessions() as session:
                return await repository.active_key(session, digest(runtime.secret, key)) is not None
        finally:
            await runtime.close()

    aio.run(bootstrap_and_check(None))
    created = runner.invoke(app, ["keys", "create", "--mode", "test", "--data-dir", str(data)])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert KEY_FORMAT.match(key) and key.startswith("tc_test_")
    assert aio.run(bootstrap_and_check(key))
    assert key not in (data / "tenantcore.db").read_text(errors="ignore")
    assert runner.invoke(app, ["keys", "create", "--mode", "root", "--data-dir", str(data)]).exit_code == 2
