"""Choosing the emulator's profile: in code, in settings (TENANTCORE_SANDBOX_*), on the command
line and over HTTP; and the sandbox keeping the realistic state across a restart."""

from __future__ import annotations

import json
import math
import time

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from tenantcore.cli import app as cli
from tenantcore.config import Settings
from tenantcore.emulator import EmulatorProfile, EmulatorState
from tenantcore.emulator.profile import NEVER
from tenantcore.sandbox.embedded import Sandbox, emulator_profile

from .conftest import CONTROL


def test_instant_is_everything_off_and_realistic_everything_on():
    instant, realistic = EmulatorProfile.instant(), EmulatorProfile.realistic()
    assert instant == EmulatorProfile() and instant.name == "instant"
    for knob in EmulatorProfile.knobs():
        value = getattr(instant, knob)
        if knob == "token_lifetime":
            assert value == 3599
            assert getattr(realistic, knob) < value
        elif knob == "latency":  # the network's, not Microsoft's: off in both, set on its own
            assert value == 0 and getattr(realistic, knob) == 0
        else:
            assert not value, knob
            if knob != "takeover_domains":  # a set of names to pick; realistic draws by rate
                assert getattr(realistic, knob), knob
    assert EmulatorProfile.named("realistic") == realistic
    with pytest.raises(ValueError, match="instant or realistic"):
        EmulatorProfile.named("chaotic")
    with pytest.raises(TypeError):
        instant.with_(no_such_knob=1)


def test_the_old_keyword_arguments_still_set_their_knobs():
    state = EmulatorState(accepted_lag=2.0, token_lifetime=60)
    assert (state.profile.accepted_lag, state.profile.token_lifetime, state.profile.name) == (2.0, 60, "instant")
    state.accepted_lag = 0.5
    assert state.profile.accepted_lag == 0.5 and state.accepted_lag == 0.5
    realistic = EmulatorState(profile=EmulatorProfile.realistic(), accepted_lag=1.0)
    assert realistic.profile.accepted_lag == 1.0 and realistic.profile.dkim_preexisting


def test_settings_name_the_profile_and_override_single_knobs():
    assert emulator_profile(Settings()) == EmulatorProfile.instant()
    chosen = emulator_profile(
        Settings(sandbox_profile="realistic", sandbox_replication_lag=0.2, sandbox_accepted_lag=0)
    )
    assert chosen == EmulatorProfile.realistic().with_(replication_lag=0.2, accepted_lag=0)


def test_the_embedded_sandbox_takes_its_profile_from_the_environment(tmp_path, monkeypatch):
    assert Sandbox(tmp_path).state.profile == EmulatorProfile.instant()
    assert Sandbox(tmp_path, accepted_lag=3).state.profile.accepted_lag == 3
    assert Sandbox.from_settings(Settings(data_dir=tmp_path)).state.profile == EmulatorProfile.instant()
    monkeypatch.setenv("TENANTCORE_SANDBOX_PROFILE", "realistic")
    monkeypatch.setenv("TENANTCORE_SANDBOX_CONSENT_LAG", "0.1")
    profile = Sandbox.from_settings(Settings(data_dir=tmp_path)).state.profile  # as `serve` builds it
    assert profile.name == "realistic" and profile.consent_lag == 0.1
    settings = Settings(data_dir=tmp_path, sandbox_profile="instant")
    assert Sandbox.from_settings(settings).state.profile.consent_lag == 0.1  # the env knob, on instant


def test_the_sandbox_keeps_realistic_state_across_a_restart(tmp_path):
    profile = EmulatorProfile.realistic().with_(exchange_role_lag=NEVER)
    sandbox = Sandbox(tmp_path, profile=profile).start()
    try:
        tenant = sandbox.create_tenant("Contoso")
        sandbox.state.add_existing_domain(tenant.id, "legacy.acmecorp.com")
        sandbox.state.revoke_consent(tenant.id, sandbox.client_id)
        sandbox.save()
    finally:
        sandbox.stop()
    saved = json.loads((tmp_path / "sandbox" / "emulator.json").read_text())
    again = Sandbox(tmp_path, profile=profile)
    again.state.restore(saved)
    restored = again.state.tenants[tenant.id]
    consent = restored.consents[sandbox.client_id]
    assert consent.revoked and math.isinf(consent.role_from)
    assert restored.domains["legacy.acmecorp.com"].locked_services == ["Intune"]
    assert f"{tenant.prefix.lower()}.mail.onmicrosoft.com" in restored.domains


def test_the_emulator_command_takes_a_profile(monkeypatch):
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    result = CliRunner().invoke(cli, ["emulator", "--profile", "realistic", "--accepted-lag", "1.5"])
    assert result.exit_code == 0, result.output
    profile = served[0].state.emulator.profile
    assert (profile.name, profile.accepted_lag, profile.replication_lag) == ("realistic", 1.5, 5.0)
    # The control endpoints' token: printed when generated, or the one given.
    assert f"X-Emulator-Token: {served[0].state.control_token}" in result.output
    given = CliRunner().invoke(cli, ["emulator", "--control-token", "chosen-token"])
    assert given.exit_code == 0 and served[-1].state.control_token == "chosen-token"
    assert "chosen-token" not in given.output
    assert CliRunner().invoke(cli, ["emulator", "--profile", "chaotic"]).exit_code == 2


async def test_the_profile_over_http(emulator, state):
    async with httpx.AsyncClient(base_url=emulator.url, headers=CONTROL) as control:
        assert (await control.get("/_emulator/profile")).json()["name"] == "instant"
        changed = await control.post("/_emulator/profile", json={"replication_lag": 0.3, "takeover_domains": ["A.com"]})
        assert changed.json()["replication_lag"] == 0.3 and changed.json()["takeover_domains"] == ["a.com"]
        assert state.profile.replication_lag == 0.3
        tenant = (await control.post("/_emulator/tenants", json={"name": "Ctl"})).json()
        seeded = await control.post("/_emulator/domains", json={"tenant_id": tenant["id"], "name": "old.example.com"})
        assert seeded.json()["supportedServices"] == ["Email", "OfficeCommunicationsOnline", "Intune"]
        bad = await control.post("/_emulator/profile", json={"no_such_knob": 1})
        assert bad.status_code == 400


async def test_latency_delays_every_microsoft_request_but_not_control(emulator, state, tenant, ms):
    assert emulator_profile(Settings(sandbox_latency=0.3)).latency == 0.3
    state.profile = state.profile.with_(latency=0.3)
    async with httpx.AsyncClient(base_url=emulator.url, headers=CONTROL) as client:
        started = time.monotonic()
        await ms.graph.list_domains(tenant.id)  # a token request, then a Graph request
        assert time.monotonic() - started >= 0.6
        started = time.monotonic()
        await client.get("/_emulator/profile")
        assert time.monotonic() - started < 0.3
        await client.post("/_emulator/profile", json={"latency": 0})
        started = time.monotonic()
        await ms.graph.list_domains(tenant.id)
        assert time.monotonic() - started < 0.3


def test_the_sandbox_emulator_takes_a_token_kept_private(tmp_path):
    sandbox = Sandbox(tmp_path).start()
    try:
        saved = tmp_path / "sandbox" / "emulator-token"
        assert saved.read_text() == sandbox.control_token and saved.stat().st_mode & 0o777 == 0o600
        assert sandbox.emulator is not None
        url = f"{sandbox.emulator.url}/_emulator/stats"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"X-Emulator-Token": sandbox.control_token}).status_code == 200
    finally:
        sandbox.stop()
    token = Sandbox.from_settings(Settings(data_dir=tmp_path, sandbox_emulator_token="set-here")).control_token
    assert token == "set-here"
