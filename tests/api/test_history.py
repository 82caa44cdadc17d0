"""GET …/{domain}/history over HTTP: a real grade change (publishing the records) shows up as a
transition and in today's rollup; bad windows are 400."""

from __future__ import annotations

D = "mail.acme-corp.com"


async def up(api, base: str) -> None:
    """The quickstart: publish, verify, publish the DKIM CNAMEs, enable DKIM: error to ok."""
    for step in ("dns/publish", "verify", "dns/publish", "enable-dkim", "dns-check"):
        response = await api.post(f"{base}/{step}")
        assert response.status_code == 200, (step, response.text)


async def test_a_published_domain_has_its_grade_change_in_its_history(api, tenant_id):
    base = f"/v1/tenants/{tenant_id}/domains/{D}"
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
    before = (await api.get(f"{base}/health")).json()
    await up(api, base)
    after = (await api.get(f"{base}/health")).json()
    assert (before["grade"], after["grade"]) == ("error", "ok")

    response = await api.get(f"{base}/history")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["domain_name"] == D and body["days"] == 30 and len(body["daily"]) == 30
    assert body["grade"] == after["grade"]
    moves = body["transitions"]
    # Published before verification: only info (Microsoft has issued no DKIM keys yet); verified:
    # the two new DKIM CNAMEs are missing (error); published too: ok. Each move names its codes.
    assert [(m["from_grade"], m["to_grade"]) for m in moves] == [("error", "info"), ("info", "error"), ("error", "ok")]
    assert "spf_missing" in moves[0]["fixed"] and moves[1]["broke"] == ["dkim_selector_missing"]
    assert moves[2]["fixed"] == ["dkim_selector_missing"]
    today = body["daily"][-1]
    assert today["transitions"] == len(moves) and today["worst_grade"] == "error"
    assert body["daily"][0]["worst_grade"] is None  # before the domain was added: no data

    assert len((await api.get(f"{base}/history?days=400")).json()["daily"]) == 400


async def test_bad_history_requests(api, tenant_id):
    base = f"/v1/tenants/{tenant_id}/domains/{D}"
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
    for days in ("0", "401", "-3", "abc", "1.5", "", "+7", "٣", "99999999999999999999"):
        response = await api.get(f"{base}/history", params={"days": days})
        assert response.status_code == 400, (days, response.text)
        assert response.json()["detail"]["code"] == "invalid_days"  # its own code, as README lists
    assert len((await api.get(f"{base}/history", params={"days": "007"})).json()["daily"]) == 7
    missing = await api.get(f"/v1/tenants/{tenant_id}/domains/other.example.com/history")
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "domain_not_found"
