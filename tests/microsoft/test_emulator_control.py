"""Driving the emulator over HTTP, as `tenantcore emulator` users do: register an app, create a
tenant, inject a fault, read stats, and get a 400 for bad control requests."""

from __future__ import annotations

import httpx

from tenantcore.emulator.state import EmulatorState
from tenantcore.microsoft import MicrosoftClients, MicrosoftConfig
from tenantcore.microsoft.errors import MicrosoftUnavailable

from .conftest import CONTROL


async def test_control_endpoints_set_up_a_usable_emulator(emulator, state: EmulatorState):
    async with httpx.AsyncClient(base_url=emulator.url, headers=CONTROL) as control:
        app = (await control.post("/_emulator/apps", json={"client_id": "ctl-app", "secret": "s3"})).json()
        tenant = (await control.post("/_emulator/tenants", json={"name": "Ctl", "consent_app": "ctl-app"})).json()
        assert tenant["initial_domain"] == "Ctl.onmicrosoft.com"
        clients = MicrosoftClients.create(
            MicrosoftConfig(app["client_id"], client_secret="s3", max_attempts=2, backoff_base=0.01),
            emulator=emulator.url,
        )
        try:
            assert [d.id for d in await clients.graph.list_domains(tenant["id"])] == ["ctl.onmicrosoft.com"]
            stats = (await control.get("/_emulator/stats")).json()
            assert stats[tenant["id"]]["token_requests"] == 1

            assert (
                await control.post(
                    "/_emulator/faults", json={"kind": "unavailable", "service": "graph", "count": -1, "retry_after": 0}
                )
            ).status_code == 201
            try:
                await clients.graph.list_domains(tenant["id"])
                raise AssertionError("the injected 503 was not seen")
            except MicrosoftUnavailable:
                pass
            assert (await control.delete("/_emulator/faults")).status_code == 200
            assert await clients.graph.list_domains(tenant["id"])
        finally:
            await clients.aclose()

        for bad in (b"{not json", b"[1, 2]", b'{"kind": "explode"}', b'{"tenant_id": "x"}'):
            what = "consents" if b"tenant_id" in bad else "faults"
            response = await control.post(f"/_emulator/{what}", content=bad)
            assert response.status_code == 400, bad
        assert (await control.get("/_emulator/nothing")).status_code == 404


async def test_control_endpoints_take_the_token_and_microsofts_do_not(emulator, state: EmulatorState, tenant):
    async with httpx.AsyncClient(base_url=emulator.url) as anyone:
        for headers in ({}, {"X-Emulator-Token": "guess"}):
            for method, what in (("POST", "tenants"), ("POST", "faults"), ("GET", "stats"), ("DELETE", "consents")):
                refused = await anyone.request(method, f"/_emulator/{what}", json={"name": "Evil"}, headers=headers)
                assert refused.status_code == 401, (method, what, headers)
                assert "X-Emulator-Token" in refused.json()["error"]
        assert [t.display_name for t in state.tenants.values()] == ["Contoso"]  # nothing was created
        # Microsoft's own endpoints answer as Microsoft's, without the emulator's token.
        discovery = await anyone.get(f"/{tenant.id}/v2.0/.well-known/openid-configuration")
        assert discovery.status_code == 200
