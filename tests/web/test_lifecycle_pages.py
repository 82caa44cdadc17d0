"""The app's lifecycle and post/redirect/get, in Debian's Chromium and over plain HTTP: adding
domains (URLs cleaned, refused lines kept, reload safe), delete a domain (what goes at Microsoft
and at the DNS provider), sync, disconnect, connect by tenant ID, live mode's missing settings,
and every form URL answering 303 — or, opened by GET, landing on its page."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from playwright.async_api import expect

from tenantcore.web import lifecycle_pages, pages, problems

from ..running import Service
from .test_app import browser, shot, sign_in  # noqa: F401  (the browser fixture)
from .test_dns_pages import App, app, flashes  # noqa: F401  (the signed-in HTTP visitor)

D = "mail.acme-corp.com"


async def phone_shot(page, name: str) -> None:
    """The page at a phone's width too (390 by 844), then back to the desktop's."""
    await page.set_viewport_size({"width": 390, "height": 844})
    await shot(page, f"{name}-phone")
    await page.set_viewport_size({"width": 1366, "height": 900})


async def connect_sandbox_tenant(page, name: str = "Acme") -> str:
    await page.get_by_label("Sandbox tenant name").fill(name)
    await page.get_by_role("button", name="Connect sandbox tenant").click()
    await expect(page.get_by_role("heading", name=name)).to_be_visible()
    return page.url


async def test_adding_domains_cleans_urls_keeps_refused_lines_and_lands_on_the_tenant_page(browser, service):  # noqa: F811
    page = await sign_in(browser, service, service.keys["test"])
    tenant_url = await connect_sandbox_tenant(page)
    await page.get_by_label("One domain per line").fill("https://www.acme-corp.com/contact\nnot a domain\n")
    await page.get_by_role("button", name="Add").click()

    await expect(page).to_have_url(tenant_url)  # the result is a GET of the tenant page
    status = page.get_by_role("status")
    await expect(status.first).to_have_text("Cleaned 1 name: https://www.acme-corp.com/contact → www.acme-corp.com.")
    await expect(page.get_by_role("alert")).to_have_text("1 added, 1 failed.")  # a failure is an alert
    results = page.get_by_role("table", name="Results")
    await expect(results.get_by_role("row", name="www.acme-corp.com")).to_contain_text("added")
    await expect(page.get_by_label("One domain per line")).to_have_value("not a domain")  # refused: kept
    await shot(page, "20-add-domains-cleaned")

    dialogs: list[str] = []

    async def refuse(dialog) -> None:  # a "resubmit the form?" prompt would land here
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", refuse)
    response = await page.reload()
    assert response is not None and response.request.method == "GET" and dialogs == []
    await expect(page.get_by_role("table", name="Results")).to_have_count(0)  # shown once, never added again
    await expect(page.get_by_role("link", name="www.acme-corp.com")).to_have_count(1)
    await expect(page.get_by_label("One domain per line")).to_have_value("")

    # The form's URL opened by GET (a reload of an old tab, a copied address) lands on its page.
    await page.goto(f"{tenant_url}/domains")
    await expect(page).to_have_url(tenant_url)
    await expect(page.get_by_role("heading", name="Acme")).to_be_visible()
    await page.goto(f"{tenant_url}/domains/www.acme-corp.com/verify")
    await expect(page).to_have_url(f"{tenant_url}/domains/www.acme-corp.com")
    assert page.elsewhere == [] and page.blocked == []


async def test_delete_a_domain_says_what_goes_then_does_it(browser, service, api, tenant_id):  # noqa: F811
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/dns/apply", json={})).status_code == 200
    store = service.runtime.sandbox.store
    spf = next(v for v in store.values(D, "TXT") if v.startswith("v=spf1"))
    verification = next(v for v in store.values(D, "TXT") if v.startswith("MS="))

    page = await sign_in(browser, service, service.keys["test"])
    domain_url = f"{service.url}/app/tenants/{tenant_id}/domains/{D}"
    await page.goto(domain_url)
    await page.get_by_role("link", name="Delete domain…").click()
    await expect(page.get_by_role("heading", name=f"Delete {D}?")).to_be_visible()
    taken_back = page.get_by_role("table", name="Records taken back")
    rows = await taken_back.locator("tbody tr").count()
    assert rows >= 4  # verification TXT, SPF, MX, autodiscover CNAME (and DMARC when it was missing)
    await expect(taken_back.get_by_role("row", name=verification)).to_contain_text("deleted")
    await expect(
        page.get_by_text("Microsoft refuses while users, groups or mailboxes still use the domain")
    ).to_be_visible()

    # Someone edits the SPF record at the provider: it is no longer TenantCore's to take back.
    edited = spf.replace(" -all", " ip4:192.0.2.1 -all")
    store.set(D, "TXT", [verification, edited])
    await page.reload()
    await expect(taken_back.locator("tbody tr")).to_have_count(rows - 1)
    # Values and the record sets they make (the flash after deleting counts record sets).
    await expect(page.get_by_text(re.compile(rf"that is {rows - 1} values in \d+ record sets"))).to_be_visible()
    await expect(page.get_by_text("1 value TenantCore wrote was changed or removed since")).to_contain_text("mail TXT")
    await shot(page, "21-delete-domain-confirm")
    await phone_shot(page, "21-delete-domain-confirm")

    emulated = service.runtime.sandbox.state.tenants[tenant_id]
    emulated.domains[D].references = 2  # a mailbox uses it: Microsoft refuses
    await page.get_by_role("button", name=f"Delete {D}").click()
    await expect(page).to_have_url(domain_url)
    await expect(page.get_by_role("alert")).to_contain_text("Nothing was deleted: Microsoft still has objects using")
    assert D in emulated.domains and store.values(D, "TXT")

    emulated.domains[D].references = 0
    await page.get_by_role("link", name="Delete domain…").click()
    await page.get_by_role("button", name=f"Delete {D}").click()
    await expect(page).to_have_url(f"{service.url}/app/tenants/{tenant_id}")
    await expect(page.get_by_role("status")).to_contain_text(
        re.compile(rf"Deleted {D} from Microsoft 365 and TenantCore; \d+ record sets? TenantCore wrote taken back")
    )
    await expect(page.get_by_role("link", name=D)).to_have_count(0)
    assert D not in emulated.domains
    assert store.values(D, "TXT") == [edited]  # ours went, the edited one stayed
    assert store.values(D, "MX") == []
    await shot(page, "22-domain-deleted")


async def test_sync_disconnect_and_connect_by_tenant_id(browser, service):  # noqa: F811
    page = await sign_in(browser, service, service.keys["test"])
    tenant_url = await connect_sandbox_tenant(page)
    guid = tenant_url.rsplit("/", 1)[1]
    state = service.runtime.sandbox.state
    state.tenants[guid].domains["elsewhere.acme-corp.com"] = state.new_domain("elsewhere.acme-corp.com")

    await expect(page.get_by_text("Reads the tenant's domain list in Microsoft 365 again")).to_be_visible()
    await page.get_by_role("button", name="Sync now").click()
    await expect(page).to_have_url(tenant_url)
    await expect(page.get_by_role("status")).to_have_text("Synced with Microsoft 365: added elsewhere.acme-corp.com.")
    await expect(page.get_by_role("link", name="elsewhere.acme-corp.com")).to_be_visible()
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.get_by_role("status")).to_have_text("Synced with Microsoft 365: no change (1 domain).")

    # What disconnecting does is said before the click, and asked again.
    await expect(page.get_by_text("Nothing is deleted in Microsoft 365")).to_be_visible()
    await shot(page, "25-tenant-sync-disconnect")
    await phone_shot(page, "25-tenant-sync-disconnect")
    asked: list[str] = []

    async def confirm(dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.once("dialog", confirm)
    await page.get_by_role("button", name="Disconnect Acme").click()
    await expect(page).to_have_url(f"{service.url}/app")
    await expect(page.get_by_role("status")).to_contain_text("Disconnected Acme: TenantCore forgot it and its 1 domain")
    assert asked and "nothing changes in Microsoft 365" in asked[0]
    await expect(page.get_by_text("No tenant connected yet.")).to_be_visible()
    assert "elsewhere.acme-corp.com" in state.tenants[guid].domains  # Microsoft keeps it

    field = page.get_by_label("Or an existing sandbox tenant's ID")
    await field.fill("acme.onmicrosoft.com")
    await page.get_by_role("button", name="Connect by tenant ID").click()
    await expect(page.get_by_role("alert")).to_contain_text("'acme.onmicrosoft.com' is not a tenant GUID")
    await expect(field).to_have_value("acme.onmicrosoft.com")  # kept for correcting
    await shot(page, "23-connect-by-id-refused")
    await field.fill(guid.upper())
    await page.get_by_role("button", name="Connect by tenant ID").click()
    await expect(page).to_have_url(tenant_url)
    await expect(page.get_by_role("status")).to_contain_text("(1 domain found)")
    await expect(page.get_by_role("link", name="elsewhere.acme-corp.com")).to_be_visible()
    await page.goto("/app/tenants/by-id")  # the form's URL by GET: the fleet's connect card
    await expect(page).to_have_url(f"{service.url}/app#connect")


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[Service]:
    """A server with the Entra app's id and secret, but no public URL."""
    running = Service(
        tmp_path / "configured", ms_client_id="11111111-2222-3333-4444-555555555555", ms_client_secret="s"
    )
    yield running
    running.stop()


async def test_live_mode_says_which_settings_the_server_lacks_before_any_click(browser, service, configured):  # noqa: F811
    page = await sign_in(browser, service, service.keys["live"])
    card = page.get_by_role("note")
    await expect(card).to_contain_text("This server cannot connect Microsoft 365 tenants yet.")
    for env_var in ("TENANTCORE_MS_CLIENT_ID", "TENANTCORE_MS_CLIENT_SECRET", "TENANTCORE_PUBLIC_URL"):
        await expect(card.get_by_text(env_var)).to_be_visible()
    await expect(page.get_by_role("link", name="Open the admin-consent page")).to_have_count(0)
    await expect(page.get_by_role("button", name="Connect by tenant ID")).to_have_count(0)
    await shot(page, "24-live-not-configured")
    await phone_shot(page, "24-live-not-configured")

    ready = await sign_in(browser, configured, configured.keys["live"])
    await expect(ready.get_by_text("This server cannot connect")).to_have_count(0)
    await expect(ready.get_by_role("note")).to_contain_text("TENANTCORE_PUBLIC_URL is not set")
    consent = ready.get_by_role("link", name="Open the admin-consent page")
    await expect(consent).to_be_visible()
    answer = await ready.request.get(await consent.get_attribute("href"), max_redirects=0)
    assert answer.status == 303 and answer.headers["location"].startswith("https://login.microsoftonline.com/")
    await expect(ready.get_by_label("Or, when the admin has already consented, its tenant ID")).to_be_visible()


# --- post/redirect/get, every form ---------------------------------------------------------------


def app_routes(method: str) -> list[str]:
    return [
        r.path
        for router in (lifecycle_pages.router, pages.router, problems.router)
        for r in router.routes
        if isinstance(r, APIRoute) and method in r.methods
    ]


def destructive_last(path: str) -> int:
    return sum(path.endswith(end) for end in ("/delete", "/disconnect")) + 2 * path.endswith("/logout")


async def test_every_form_answers_a_redirect_and_its_url_by_get_lands_on_a_page(app, api, service, tenant_id):  # noqa: F811
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
    await app.get("/app")
    params = {"tenant_id": tenant_id, "name": D, "action": "check", "provider_id": "nope"}
    forms = sorted(app_routes("POST"), key=destructive_last)
    pages_too = set(app_routes("GET"))  # a form posted to its own page's URL (sign-in, providers)
    urls = [path.format(**params) for path in forms]
    assert len(urls) >= 14

    raw = app.client
    for path, url in zip(forms, urls, strict=True):
        forged = await raw.post(url, data={"csrf": "forged"}, follow_redirects=False)
        assert forged.status_code == 403, (url, forged.status_code)
        assert forged.headers["content-type"].startswith("text/html") and "nothing was done" in forged.text
        landed = await raw.get(url)  # never a 405: the page, or a redirect to the page it belongs to
        assert landed.status_code == 200 and landed.headers["content-type"].startswith("text/html"), url
        if path not in pages_too:
            assert [r.status_code for r in landed.history] == [303] and str(landed.url) != f"{service.url}{url}"
    for url in urls:
        answer = await raw.post(url, data={"csrf": app.csrf}, follow_redirects=False)
        assert answer.status_code == 303, (url, answer.status_code, answer.text[:300])


async def test_a_hundred_refused_long_names_still_fit_the_session_cookie(app, tenant_id):  # noqa: F811
    typed = "\n".join(f"https://bad!{i:03}!name.some-very-long-customer-name.example.com/p" for i in range(100))
    answer = await app.client.post(
        f"/app/tenants/{tenant_id}/domains", data={"csrf": app.csrf, "domains": typed}, follow_redirects=False
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert len(cookie) < 4096, len(cookie)
    page = await app.get(f"/app/tenants/{tenant_id}")
    assert flashes(page)[0].startswith("Cleaned 100 names: https://bad!000!name.") and "and 95 more" in flashes(page)[0]
    assert flashes(page)[1] == "0 added, 100 failed."
    kept = re.search(r'<textarea id="domains" name="domains" rows="4">(.*?)</textarea>', page.text, re.S)
    assert kept is not None and kept.group(1).startswith("bad!000!name.some-very-long-customer-name.example.com\n")


async def test_too_many_names_go_back_into_the_form(app, tenant_id):  # noqa: F811
    typed = "\n".join(f"d{i}.acme-corp.com" for i in range(120))
    page = await app.post(f"/app/tenants/{tenant_id}/domains", {"domains": typed})
    assert str(page.url).endswith(f"/app/tenants/{tenant_id}")
    said = flashes(page)
    assert said[0] == "120 names: add at most 100 at a time." and said[1].endswith(
        "did not fit in the form again: paste them back."
    )
    kept = re.search(r'<textarea id="domains" name="domains" rows="4">(.*?)</textarea>', page.text, re.S)
    assert kept is not None and kept.group(1).splitlines()[:2] == ["d0.acme-corp.com", "d1.acme-corp.com"]
    assert [r.status_code for r in page.history] == [303]


async def test_a_provider_that_cannot_be_read_is_said_and_the_delete_still_goes_ahead(app, api, service, tenant_id):  # noqa: F811
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains", json={"domain": D})).status_code == 201
    linked = await api.post("/v1/dns-providers", json={"name": "sandbox-dns", "kind": "sandbox"})
    assert linked.status_code == 201 and linked.json()["domains"] == 1, linked.text
    assert (await api.post(f"/v1/tenants/{tenant_id}/domains/{D}/dns/apply", json={})).status_code == 200
    service.runtime.sandbox.store.remove_zone("acme-corp.com")  # the provider lost the zone meanwhile

    page = await app.get(f"/app/tenants/{tenant_id}/domains/{D}/delete")
    assert page.status_code == 200
    said = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.text))
    assert "not readable sandbox-dns (zone acme-corp.com): the sandbox holds no zone acme-corp.com" in said
    assert "The delete still goes ahead; the records TenantCore wrote stay there" in said
    assert 'aria-label="Records taken back"' not in page.text

    done = await app.post(f"/app/tenants/{tenant_id}/domains/{D}/delete", {})
    assert str(done.url).endswith(f"/app/tenants/{tenant_id}")
    assert flashes(done) == [f"Deleted {D} from Microsoft 365 and TenantCore; nothing changed at the DNS provider."]


@pytest.fixture
def own_address_service(tmp_path: Path) -> Iterator[Service]:
    """A service listening at the address its settings name, so Microsoft's (the sandbox's)
    consent redirect comes back to it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = Service(tmp_path / "data", port=port)
    try:
        yield running
    finally:
        running.stop()


async def test_the_admin_back_from_consent_sees_the_outcome_and_a_way_into_the_app(browser, own_address_service):  # noqa: F811
    service = own_address_service
    page = await sign_in(browser, service, service.keys["test"])
    # The consent link goes to Microsoft (here the sandbox's), which sends the browser back to
    # /v1/tenants/callback: a browser gets a page, not the API's JSON.
    answer = await page.goto(f"{service.url}/app/connect")
    assert answer is not None and answer.ok and "text/html" in answer.headers["content-type"]
    await expect(page.get_by_role("heading", name="Tenant connected")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("is connected to TenantCore")
    await shot(page, "25-consent-connected")
    reloaded = await page.reload()  # or the back button: connected is still the news
    assert reloaded is not None and reloaded.ok
    await expect(page.get_by_role("heading", name="Tenant connected already")).to_be_visible()
    await page.get_by_role("link", name=re.compile(r"^Open .+ in TenantCore$")).click()
    await expect(page.get_by_role("heading", name="Add domains")).to_be_visible()  # still signed in
    assert "/app/tenants/" in page.url

    declined = await page.goto(
        f"{service.url}/v1/tenants/callback?error=access_denied&error_description=AADSTS65004%3A+User+declined"
    )
    assert declined is not None and declined.status == 400
    headers = await declined.all_headers()  # a page like the app's: no framing, no script but its own
    assert "default-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"
    await expect(page.get_by_role("heading", name="Tenant not connected")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("AADSTS65004: User declined")
    await expect(page.get_by_text("consent_declined")).to_be_visible()
    await page.get_by_role("link", name="Back to TenantCore").click()
    await expect(page.get_by_role("heading", name="Fleet")).to_be_visible()  # the session survived


async def test_an_unreadable_csv_upload_is_a_message_not_a_crash(app: App, api):  # noqa: F811
    tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    page = await app.post(
        f"/app/tenants/{tenant_id}/domains", {"domains": "typed.acme-corp.com"}, files={"csv": ("x.csv", png)}
    )
    assert page.status_code == 200 and page.url.path == f"/app/tenants/{tenant_id}"
    assert any("not a CSV file this form can read" in f for f in flashes(page))
    assert "typed.acme-corp.com" in page.text  # what was typed is kept in the textarea
    cr_only = await app.post(
        f"/app/tenants/{tenant_id}/domains", {"domains": ""}, files={"csv": ("mac.csv", b"cr-one.com\rcr-two.com\r")}
    )
    assert "2 added, 0 failed." in flashes(cr_only)


async def test_app_errors_are_pages_not_the_apis_json(app: App, api):  # noqa: F811
    missing = await app.get("/app/no/such/page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "There is no page at /app/no/such/page." in missing.text
    assert "Sign out" in missing.text  # the app's header, for the signed-in operator
    tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
    export = b"domain\n" + b"".join(b"name-%05d.example.com\n" % i for i in range(4000))  # ~90 KB
    too_large = await app.client.post(
        f"/app/tenants/{tenant_id}/domains", data={"csrf": app.csrf}, files={"csv": ("export.csv", export)}
    )
    assert too_large.status_code == 413 and too_large.headers["content-type"].startswith("text/html")
    assert "over 64 KiB" in too_large.text and "at most 100 domains" in too_large.text
    # API clients keep the JSON.
    assert (await api.get("/v1/no/such/route")).json()["detail"]["code"] == "not_found"


async def test_a_link_opened_while_signed_out_is_where_signing_in_lands(browser, service):  # noqa: F811
    async with service.client(service.keys["test"]) as api:
        tenant_id = (await api.post("/v1/tenants", json={"tenant_name": "Acme"})).json()["tenant_id"]
    page = await (await browser.new_context(base_url=service.url)).new_page()
    await page.goto(f"/app/problems?tenant={tenant_id}")  # e.g. a link in a webhook's message
    await expect(page).to_have_url(re.compile(r"/app/login\?next="))
    await page.get_by_label("API key").fill("tc_test_" + "0" * 48)  # a wrong key first: the link is kept
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await page.get_by_label("API key").fill(service.keys["test"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{service.url}/app/problems?tenant={tenant_id}")
    await expect(page.get_by_role("heading", name="Problems")).to_be_visible()
    # Another site named in ?next= is ignored: the fleet, as always.
    await page.context.clear_cookies()
    await page.goto("/app/login?next=//evil.example/app/")
    await page.get_by_label("API key").fill(service.keys["test"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Fleet")).to_be_visible()


async def test_a_crash_on_an_app_page_is_a_page_with_the_request_id(app: App, monkeypatch):  # noqa: F811
    async def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(pages.tenants, "fleet", broken)
    crashed = await app.get("/app")
    assert crashed.status_code == 500 and crashed.headers["content-type"].startswith("text/html")
    request_id = crashed.headers["x-request-id"]
    assert f"Something went wrong on our side (request {request_id})." in crashed.text
    assert "a bug" not in crashed.text  # the exception stays in the log
    assert "default-src 'self'" in crashed.headers["content-security-policy"]
