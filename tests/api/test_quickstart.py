"""The README quick start, step by step, over HTTP: a newcomer's whole sandbox flow."""

from __future__ import annotations

import re

D = "mail.acme-corp.com"


async def test_quickstart(api, tenant_id):
    added = await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    assert added.status_code == 201, added.text
    body = added.json()
    assert set(body) == {
        "status",
        "tenant_id",
        "domain",
        "verification_dns_records",
        "service_configuration_records",
        "live_dns_status",
        "dkim_verification_state",
    }
    assert body["status"] == "success" and body["tenant_id"] == tenant_id
    assert body["domain"] == {"domain_name": D, "is_default": False, "is_verified": False}
    [txt] = body["verification_dns_records"]
    assert (
        txt["recordType"] == "domainDnsTxtRecord" and txt["label"] == "@" and re.fullmatch(r"MS=ms\d{8}", txt["text"])
    )
    mx = body["service_configuration_records"][0]
    assert mx["recordType"] == "domainDnsMxRecord" and mx["label"] == "@" and mx["preference"] == 0
    assert body["live_dns_status"] == {
        "spf_status": "missing",
        "dkim_status": "missing",
        "dmarc_status": "missing",
        "mx_status": "missing",
    }
    assert body["dkim_verification_state"] == {"status": "missing", "message": "missing (selector1, selector2)"}

    base = f"/v1/tenants/{tenant_id}/domains/{D}"
    refused = await api.post(f"{base}/verify")
    assert refused.status_code == 400 and refused.json()["detail"]["code"] == "verification_failed"

    published = await api.post(f"{base}/dns/publish")
    assert published.status_code == 200, published.text
    verified = await api.post(f"{base}/verify")
    assert verified.status_code == 200, verified.text
    assert verified.json() == {
        "status": "success",
        "domain_name": D,
        "is_verified": True,
        "message": "Domain successfully verified in Microsoft 365",
    }

    status = (await api.get(f"{base}/dkim-status")).json()
    assert status["dkim_status"] == "pending" and status["ready_to_enable"] is False
    assert status["selectors"] == {"selector1": "missing", "selector2": "missing"}
    not_ready = await api.post(f"{base}/enable-dkim")
    assert not_ready.status_code == 400 and not_ready.json()["detail"]["code"] == "dkim_not_ready"

    dns = (await api.get(f"{base}/dns")).json()
    assert dns["verification_dns_records"] == []  # verified: nothing left to prove
    labels = [r["label"] for r in dns["service_configuration_records"]]
    assert "selector1._domainkey.mail" not in labels and "selector1._domainkey" in labels

    await api.post(f"{base}/dns/publish")  # now with the DKIM CNAMEs
    status = (await api.get(f"{base}/dkim-status")).json()
    assert status == {
        "domain_name": D,
        "dkim_status": "ready",
        "selectors": {"selector1": "propagated", "selector2": "propagated"},
        "ready_to_enable": True,
        "last_checked": status["last_checked"],
    }
    enabled = await api.post(f"{base}/enable-dkim")
    assert enabled.json() == {
        "status": "success",
        "domain_name": D,
        "dkim_status": "enabled",
        "message": "DKIM successfully enabled",
    }
    assert (await api.get(f"{base}/dkim-status")).json()["dkim_status"] == "enabled"

    listing = (await api.get(f"/v1/tenants/{tenant_id}/domains")).json()
    assert listing["tenant_id"] == tenant_id and listing["count"] == 1
    [item] = listing["domains"]
    assert set(item) == {
        "id",
        "domain_name",
        "is_default",
        "is_verified",
        "spf_status",
        "dkim_status",
        "dmarc_status",
        "mx_status",
        "last_checked",
        "blocklist_status",  # ours, beside the spec's fields
    }
    assert item["blocklist_status"] is None  # test mode asks no blocklist unless configured
    assert item["spf_status"] == "v=spf1 include:spf.protection.outlook.com -all"
    assert item["dkim_status"] == "healthy"
    assert item["dmarc_status"].startswith("v=DMARC1; p=quarantine")
    assert re.fullmatch(r"mail-acme-corp-com\.[a-z]-v1\.mx\.microsoft\.", item["mx_status"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["last_checked"])
    health = (await api.get(f"{base}/health")).json()
    assert health["grade"] == "ok" and health["ready_to_enable"] is True


async def test_exports(api, tenant_id):
    await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})
    bind = await api.get(f"/v1/tenants/{tenant_id}/domains/{D}/dns/export", params={"format": "bind"})
    assert bind.status_code == 200 and bind.text.startswith("$ORIGIN acme-corp.com.\n")
    assert f'filename="{D}.zone"' in bind.headers["content-disposition"]
    csv = await api.get(f"/v1/tenants/{tenant_id}/domains/{D}/dns/export", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "host,type,value,ttl,priority"
    assert (
        await api.get(f"/v1/tenants/{tenant_id}/domains/{D}/dns/export", params={"format": "xml"})
    ).status_code == 400
