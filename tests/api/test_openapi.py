"""/openapi.json says what the API answers (tests/fuzz holds it to that at random), and the
methods a resource takes are told by OPTIONS and by every 405."""

from __future__ import annotations

import re
from pathlib import Path

from tenantcore.api.openapi import STATUS_OF

SRC = Path(__file__).resolve().parents[2] / "src" / "tenantcore"
WEB_ONLY = {"csrf_failed", "invalid_form", "not_found"}  # the app's pages, not the API


async def _document(service) -> dict:
    async with service.client(None) as anonymous:
        response = await anonymous.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


async def test_errors_are_documented_as_they_are_sent(service):
    document = await _document(service)
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "tc_live_… or tc_test_…",
        "description": "An API key: `tc_live_…` for real tenants, `tc_test_…` for the sandbox.",
    }
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["detail"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in _operations(document):
        label = f"{method.upper()} {path}"
        names = {p["name"].lower() for p in operation.get("parameters", [])}
        assert "authorization" not in names, label
        responses = operation["responses"]
        for status, answer in responses.items():
            if int(status) >= 400:
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if path != "/v1/tenants/callback":
            assert operation["security"] == [{"ApiKey": []}], label
            assert "`invalid_api_key`" in responses["401"]["description"], label
            assert "`rate_limited`" in responses["429"]["description"], label
        idempotent = method == "post" and path != "/v1/api-key/rotate"
        assert ("422" in responses) == idempotent, label  # only idempotency_key_reused is a 422
        assert ("idempotency-key" in names) == idempotent, label
        if "tenant_id" in names and "{tenant_id}" in path:
            parameter = next(p for p in operation["parameters"] if p["name"] == "tenant_id")
            assert parameter["schema"]["format"] == "uuid", label
            assert "`invalid_tenant_id`" in responses["400"]["description"], label
            assert "`tenant_not_found`" in responses["404"]["description"], label
    add = document["paths"]["/v1/tenants/{tenant_id}/domains"]["post"]["responses"]
    for code in ("invalid_domain", "domain_limit_reached", "invalid_request", "invalid_json"):
        assert f"`{code}`" in add["400"]["description"]
    assert "`payload_too_large`" in add["413"]["description"]
    assert "`domain_already_exists`" in add["409"]["description"]
    assert "`microsoft_unavailable`" in add["503"]["description"]


def test_every_code_the_code_raises_is_in_the_table_with_its_status():
    raised = set()
    for source in SRC.rglob("*.py"):
        text = source.read_text()
        for status, code in re.findall(r'TenantCoreError\(\s*(\d{3}),\s*"([a-z_]+)"', text):
            raised.add((code, int(status)))
    assert len(raised) > 40
    for code, status in sorted(raised):
        if code not in WEB_ONLY:
            assert STATUS_OF.get(code) == status, code


async def test_options_and_405_name_every_method_of_the_resource(api, tenant_id):
    for path, allowed in [
        ("/v1/tenants", "GET, POST"),
        (f"/v1/tenants/{tenant_id}", "GET, DELETE"),
        (f"/v1/tenants/{tenant_id}/domains", "GET, POST"),
        (f"/v1/tenants/{tenant_id}/domains/mail.acme-corp.com", "DELETE"),
        ("/v1/tenants/connect", "GET"),
        ("/v1/webhooks/abc", "GET, PATCH, DELETE"),
    ]:
        options = await api.options(path)
        assert options.status_code == 204, path
        assert options.headers["allow"] == f"{allowed}, OPTIONS", path
        refused = await api.put(path) if "PUT" not in allowed else await api.patch(path)
        assert refused.status_code == 405, path
        assert refused.headers["allow"] == allowed, path
        assert refused.json()["detail"]["code"] == "method_not_allowed"
    # `connect` is a resource of its own, not a tenant called "connect".
    delete = await api.delete("/v1/tenants/connect")
    assert delete.status_code == 405 and delete.headers["allow"] == "GET"
    malformed = await api.get("/v1/tenants/not-a-guid/domains")
    assert malformed.status_code == 400 and malformed.json()["detail"]["code"] == "invalid_tenant_id"


async def test_domains_must_leave_room_for_their_records_and_end_in_a_real_tld(api, tenant_id):
    base = f"/v1/tenants/{tenant_id}/domains"
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 36, "com"])  # 232: selector1._domainkey. fits in 253
    for bad in ["x.c_m", "example.invalidtld", "acme.local", "e" + longest]:
        refused = await api.post(base, json={"domain": bad})
        assert refused.status_code == 400 and refused.json()["detail"]["code"] == "invalid_domain", bad
    added = await api.post(base, json={"domain": longest})
    assert added.status_code == 201, added.text
    # Its records are names DNS can hold: the sandbox serves them and the export writes them.
    assert (await api.post(f"{base}/{longest}/dns/publish")).status_code == 200
    assert (await api.post(f"{base}/{longest}/verify")).status_code == 200
    export = await api.get(f"{base}/{longest}/dns/export", params={"format": "bind"})
    assert export.status_code == 200 and "\tMX\t" in export.text
    for line in export.text.splitlines()[1:]:
        value = line.split("\t")[-1].split(" ")[-1]
        assert all(len(label) <= 63 for label in value.rstrip(".").split(".")), line


def test_the_readme_lists_every_error_code_the_api_answers():
    from pathlib import Path

    from tenantcore.api.openapi import STATUS_OF

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert [code for code in STATUS_OF if f"`{code}`" not in readme] == []
