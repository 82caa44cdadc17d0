"""The `tenantcore` command line."""

from __future__ import annotations

import asyncio
import io
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tenantcore import aio
from tenantcore.dnshealth.blocklists import DEFAULT_BLOCKLISTS, parse_blocklists
from tenantcore.dnshealth.check import HealthChecker
from tenantcore.dnshealth.formats import print_reports, reports_to_csv, reports_to_json
from tenantcore.dnshealth.lookup import ResolverConfig
from tenantcore.dnshealth.names import InvalidDomain, parse_domain
from tenantcore.dnshealth.report import HealthReport

if TYPE_CHECKING:
    import httpx

app = typer.Typer(help="TenantCore: Microsoft 365 sending domains, set up and watched.", no_args_is_help=True)


@app.callback()
def _main() -> None:
    _whole_writes()


def _whole_writes() -> None:
    """Make sure what the commands print reaches the reader whole.

    Under PYTHONUNBUFFERED (`python -u`, set in many container images) stdout's binary layer
    is a bare FileIO. When the kernel takes only part of a large write (the pipe is full and
    the process is stopped and continued, e.g. Ctrl-Z/fg), the text layer drops the rest
    without a word: `tenantcore check --csv | ...` lost the tail of its output that way. A
    BufferedWriter retries partial writes; line buffering keeps the output prompt.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(getattr(stream, "buffer", None), io.RawIOBase):
            raw = io.FileIO(stream.fileno(), "w", closefd=False)  # the original keeps fd 1/2 open
            wrapped = io.TextIOWrapper(
                io.BufferedWriter(raw), encoding=stream.encoding, errors=stream.errors, line_buffering=True
            )
            setattr(sys, name, wrapped)


def _read_domains(domains: list[str], file: Path | None) -> list[str]:
    names = list(domains)
    if file is not None:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip().split(",", 1)[0].strip()
            if line and line.lower() != "domain":
                names.append(line)
    if not names:
        raise typer.BadParameter("give at least one domain, or --file")
    parsed, seen = [], set()
    for name in names:
        try:
            domain = parse_domain(name)
        except InvalidDomain as exc:
            raise typer.BadParameter(exc.message) from exc
        if domain not in seen:
            seen.add(domain)
            parsed.append(domain)
    return parsed


def _blocklists(zones: list[str] | None, dqs_key: str | None) -> tuple[Any, ...]:
    """--blocklist zones, else TENANTCORE_BLOCKLISTS (`off`: none), else the three public lists."""
    if zones is None:
        from pydantic import ValidationError

        from tenantcore.config import Settings

        try:
            zones = Settings().blocklists
        except ValidationError as exc:
            raise typer.BadParameter(str(exc), param_hint="TENANTCORE_BLOCKLISTS") from exc
    try:
        return parse_blocklists(zones, dqs_key)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--blocklist") from exc


@app.command()
def check(
    domains: Annotated[list[str] | None, typer.Argument(help="Domains to check.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="File with one domain per line (or CSV, first column); - for stdin."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON reports.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print one CSV row per domain.")] = False,
    nameserver: Annotated[
        list[str] | None,
        typer.Option("--nameserver", "-n", help="Resolver ip[:port] (repeatable); default: system."),
    ] = None,
    authoritative: Annotated[
        bool, typer.Option(help="Ask each domain's authoritative nameservers instead of a resolver.")
    ] = False,
    authoritative_port: Annotated[int, typer.Option(help="Port of the authoritative servers.")] = 53,
    timeout: Annotated[float, typer.Option(help="Seconds per try.")] = 2.0,
    tries: Annotated[int, typer.Option(help="Tries per query (lost packets are retried).")] = 3,
    concurrency: Annotated[int, typer.Option(help="Queries in flight at most.")] = 500,
    no_blocklists: Annotated[bool, typer.Option("--no-blocklists", help="Skip the domain blocklist lookups.")] = False,
    blocklist: Annotated[
        list[str] | None,
        typer.Option(
            "--blocklist",
            help="Blocklist zone, ZONE or KIND:ZONE (repeatable); default: "
            + ", ".join(DEFAULT_BLOCKLISTS)
            + ", or TENANTCORE_BLOCKLISTS.",
        ),
    ] = None,
    dqs_key: Annotated[
        str | None,
        typer.Option(
            "--spamhaus-dqs-key",
            envvar="TENANTCORE_SPAMHAUS_DQS_KEY",
            show_envvar=False,
            help="Spamhaus DQS key (or TENANTCORE_SPAMHAUS_DQS_KEY): ask <key>.dbl.dq.spamhaus.net.",
        ),
    ] = None,
) -> None:
    """Check SPF, DKIM, DMARC, MX and domain blocklists of any domains for Microsoft 365.

    Exits 1 when any domain has an error finding (a blocklist listing is one), 2 on bad input.
    """
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv")
    names = _read_domains(domains or [], file)
    lists = () if no_blocklists else _blocklists(blocklist, dqs_key)
    config = ResolverConfig(
        nameservers=tuple(nameserver or ()),
        timeout=timeout,
        tries=tries,
        concurrency=concurrency,
        authoritative=authoritative,
        authoritative_port=authoritative_port,
    )
    checker = HealthChecker(config, lists)
    err = Console(stderr=True)
    show_progress = len(names) > 1 and err.is_terminal

    async def go() -> list[HealthReport]:
        if not show_progress:
            return await checker.check_many(names)
        with Progress(
            TextColumn("checking"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as progress:
            task = progress.add_task("check", total=len(names))
            return await checker.check_many(names, on_result=lambda _: progress.advance(task))

    reports = aio.run(go())
    if as_json:
        sys.stdout.write(reports_to_json(reports))
    elif as_csv:
        sys.stdout.write(reports_to_csv(reports))
    else:
        print_reports(reports, Console())
    raise typer.Exit(1 if any(r.has_errors for r in reports) else 0)


@app.command("dns-server")
def dns_server(
    port: Annotated[int, typer.Option(help="UDP and TCP port on the host.")] = 5353,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    zone: Annotated[list[Path] | None, typer.Option(help="BIND zone file to serve (repeatable).")] = None,
) -> None:
    """Run the sandbox's authoritative DNS server on its own."""
    import threading

    from tenantcore.sandbox.dns_server import SandboxDnsServer, ZoneStore, load_zone_file

    store = ZoneStore()
    for path in zone or []:
        load_zone_file(store, path)
    server = SandboxDnsServer(store, host, port).start()
    Console(stderr=True).print(
        f"sandbox DNS on {server.address} (udp+tcp), zones: {', '.join(store.zones()) or 'none'}"
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


@app.command()
def emulator(
    port: Annotated[int, typer.Option(help="Port on the host.")] = 8001,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    dns: Annotated[
        list[str] | None, typer.Option(help="DNS server ip[:port] that verify and DKIM enable consult (repeatable).")
    ] = None,
    profile: Annotated[
        str, typer.Option(help="instant, or realistic: lags, throttling, pre-existing objects (see the README).")
    ] = "instant",
    accepted_lag: Annotated[
        float | None, typer.Option(help="Seconds Exchange lags behind Graph verification [the profile's].")
    ] = None,
    client_id: Annotated[str | None, typer.Option(help="Register this app id (with --secret).")] = None,
    secret: Annotated[str | None, typer.Option(help="The app's client secret.")] = None,
    tenant: Annotated[
        list[str] | None, typer.Option(help="Create a tenant of this name, consented (repeatable).")
    ] = None,
    control_token: Annotated[
        str | None,
        typer.Option(
            envvar="TENANTCORE_EMULATOR_TOKEN",
            help="What /_emulator takes in X-Emulator-Token [a new random one, printed].",
        ),
    ] = None,
) -> None:
    """Run the Microsoft 365 emulator on its own (login, Graph domains, Exchange DKIM).

    Point clients at it with `MicrosoftClients.create(config, emulator="http://HOST:PORT")`;
    drive it over HTTP under /_emulator (apps, tenants, consents, roles, domains, profile,
    faults, stats).
    """
    import uvicorn

    from tenantcore.emulator import EmulatorProfile, EmulatorState, create_app

    try:
        chosen = EmulatorProfile.named(profile)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--profile") from exc
    state = EmulatorState(profile=chosen, accepted_lag=accepted_lag)
    if client_id:
        state.add_app(client_id, secret=secret)
    err = Console(stderr=True)
    for name in tenant or []:
        created = state.create_tenant(name, consent_app=client_id)
        err.print(f"tenant {created.display_name}: id {created.id}, initial domain {created.initial_domain}")
    resolver = ResolverConfig(nameservers=tuple(dns or ()), timeout=2.0, tries=2)
    err.print(
        f"Microsoft 365 emulator ({chosen.name}) on http://{host}:{port}; DNS: {', '.join(dns or ['system resolvers'])}"
    )
    if not control_token:
        control_token = secrets.token_urlsafe(24)
        err.print(f"control endpoints (/_emulator): header X-Emulator-Token: {control_token}", soft_wrap=True)
    uvicorn.run(create_app(state, resolver, control_token), host=host, port=port, log_level="warning")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [TENANTCORE_HOST, 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [TENANTCORE_PORT, 8000].")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory [TENANTCORE_DATA_DIR, ./data].")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes serving the API on one port (more than 1 needs TENANTCORE_SANDBOX=false: "
            "the sandbox lives in one process).",
        ),
    ] = 1,
) -> None:
    """Run TenantCore: the API with the sandbox (Microsoft 365 emulator + DNS server) in-process.

    Migrations are applied on start. The first start creates an account and prints its keys.
    Every setting is a TENANTCORE_* environment variable (see the README).
    """
    import logging.config
    import os

    import uvicorn

    from tenantcore.app import announce, create_app
    from tenantcore.config import Settings
    from tenantcore.logs import json_log_config
    from tenantcore.metrics.exposition import prepare_multiprocess_dir
    from tenantcore.runtime import Runtime
    from tenantcore.server import bounded_protocol

    overrides = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items() if v is not None}
    settings = Settings(**overrides)
    if settings.log_format == "json":
        # Before the app is built: what it logs while being built is JSON too.
        logging.config.dictConfig(json_log_config())
    run: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "loop": "uvloop",
        "timeout_keep_alive": settings.keep_alive_timeout,
        "access_log": False,
        # JSON lines: uvicorn's loggers too, so the whole output is JSON. Text: uvicorn's default.
        **({"log_config": json_log_config()} if settings.log_format == "json" else {}),
    }
    if workers == 1:
        prepare_multiprocess_dir()  # only when PROMETHEUS_MULTIPROC_DIR is set
        # httptools with bounds on the time to send headers and body (slow clients).
        protocol = bounded_protocol(settings.header_timeout, settings.body_timeout)
        uvicorn.run(create_app(settings), http=protocol, **run)
        return
    if settings.sandbox:
        raise typer.BadParameter(
            "the sandbox (emulator and DNS server) lives in one process: run --workers with "
            "TENANTCORE_SANDBOX=false (live mode, ideally on PostgreSQL), or without --workers",
            param_hint="--workers",
        )

    async def prepare() -> Runtime:
        # Migrations and the first account once, here: N processes starting at once would race.
        async with Runtime.opened(settings, bootstrap=True) as runtime:
            return runtime

    announce(aio.run(prepare()))
    # /metrics sums every process's counters (files under the data dir unless the variable names one).
    prepare_multiprocess_dir(settings.data_dir / "prometheus")
    # The processes build their app from the environment (uvicorn imports the factory in each).
    os.environ.update({f"TENANTCORE_{k.upper()}": str(v) for k, v in overrides.items()})
    uvicorn.run(
        "tenantcore.app:create_app", factory=True, workers=workers, http="tenantcore.server:FromEnvironment", **run
    )


@app.command()
def worker(
    data_dir: Annotated[Path | None, typer.Option(help="Data directory [TENANTCORE_DATA_DIR, ./data].")] = None,
) -> None:
    """Run a reconciler worker on its own: re-check DNS on schedule and finish onboarding.

    Run any number of these on any machines against one PostgreSQL
    (TENANTCORE_DATABASE_URL); they claim disjoint batches and take over from dead ones.
    Live-mode domains only: sandbox domains are reconciled by the serving process.
    """
    import logging.config
    import signal

    from tenantcore.config import Settings
    from tenantcore.runtime import Runtime
    from tenantcore.worker.runner import Worker

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}), sandbox=False)
    if settings.log_format == "json":
        from tenantcore.logs import json_log_config

        logging.config.dictConfig(json_log_config())

    async def go() -> None:
        async with Runtime.opened(settings) as runtime:
            running = Worker(runtime)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, running.stop)
            started = f"worker {running.owner} on {settings.db_url.split('@')[-1]}"
            if settings.log_format == "json":
                logging.getLogger("tenantcore.worker").info("%s", started)
            else:
                Console(stderr=True).print(started)
            await running.run_forever()

    aio.run(go())


domains_app = typer.Typer(help="Domains of a tenant, through a running TenantCore's API.", no_args_is_help=True)
app.add_typer(domains_app, name="domains")

BULK_CHUNK = 100  # the most one POST …/domains/bulk takes


def _domain_lines(text: str) -> list[str]:
    """Names from a listing: one per line, or a CSV whose first column is the name. Blank
    lines and `#` comments are skipped, and so is a CSV header (a first row whose first column
    is not a domain name). Nothing else is judged here: the API says what it makes of each."""
    import csv

    names: list[str] = []
    first_row = True
    for row in csv.reader(text.splitlines()):
        cell = (row[0] if row else "").split("#", 1)[0].strip()
        if not cell:
            continue
        if first_row and len(row) > 1:
            first_row = False
            try:
                parse_domain(cell)
            except InvalidDomain:
                continue  # a header such as "domain,owner"
        first_row = False
        names.append(cell)
    return names


def _api_error(response: httpx.Response) -> str:
    """`HTTP 401 unauthorized: …` from the API's `{"detail": {"code", "message"}}`."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if isinstance(detail, dict) and "code" in detail:
        return f"HTTP {response.status_code} {detail['code']}: {detail.get('message', '')}"
    return f"HTTP {response.status_code}: {response.text[:300] or response.reason_phrase}"


@domains_app.command("add")
def domains_add(
    tenant: Annotated[str, typer.Option("--tenant", help="Microsoft 365 tenant id, as TenantCore lists it.")],
    file: Annotated[
        Path,
        typer.Option(
            "--file", "-f", help="One domain per line, or a CSV whose first column is the domain; - for stdin."
        ),
    ],
    key: Annotated[str, typer.Option("--key", envvar="TENANTCORE_API_KEY", help="API key.", show_default=False)],
    api: Annotated[
        str, typer.Option("--api", envvar="TENANTCORE_API_URL", help="TenantCore's base URL.")
    ] = "http://127.0.0.1:8000",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one request of up to 100 domains.")] = 300.0,
) -> None:
    """Add many domains to a tenant through the API, 100 per request.

    Prints one row per domain and a summary. Exits 0 when every domain was added, 1 when any
    failed, 2 when the API could not be reached or refused the request (a bad key, an unknown
    tenant): then its error code and message are printed.
    """
    import httpx
    from rich.table import Table

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}", param_hint="--file") from exc
    names = _domain_lines(text)
    if not names:
        raise typer.BadParameter("no domains in the file", param_hint="--file")
    out, err = Console(), Console(stderr=True)
    results: list[dict[str, Any]] = []
    problem: str | None = None
    url = f"/v1/tenants/{tenant}/domains/bulk"
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api.rstrip("/"), headers=headers, timeout=timeout) as client:
        for start in range(0, len(names), BULK_CHUNK):
            chunk = names[start : start + BULK_CHUNK]
            try:
                response = client.post(url, json={"domains": chunk})
            except httpx.HTTPError as exc:
                problem = f"could not reach {api}: {exc}"
                break
            if response.status_code != 200:
                problem = _api_error(response)
                break
            results.extend(response.json()["results"])

    if results:
        table = Table(title=f"tenant {tenant}")
        table.add_column("domain", overflow="fold")
        table.add_column("status")
        table.add_column("DNS provider")
        table.add_column("error", overflow="fold")
        for item in results:
            error = item.get("error") or {}
            ok = item["status"] == "added"
            table.add_row(
                str(item["domain"]),
                "[green]added[/]" if ok else "[red]failed[/]",
                str(item.get("dns_provider") or "-"),
                f"{error.get('code', '')}: {error.get('message', '')}" if error else "",
            )
        out.print(table)
    added = sum(1 for r in results if r["status"] == "added")
    failed = len(results) - added
    not_sent = len(names) - len(results)
    summary = f"{added} added, {failed} failed"
    if not_sent:
        summary += f", {not_sent} not sent"
    out.print(f"{summary} (of {len(names)})", highlight=False)
    if problem is not None:
        err.print(f"error: {problem}", markup=False, highlight=False)
        raise typer.Exit(2)
    raise typer.Exit(1 if failed else 0)


keys = typer.Typer(help="API keys.")
app.add_typer(keys, name="keys")


@keys.command("create")
def create_key(
    mode: Annotated[str, typer.Option(help="live or test")] = "test",
    account: Annotated[str | None, typer.Option(help="Account id (default: the first account).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory [TENANTCORE_DATA_DIR, ./data].")] = None,
) -> None:
    """Create another API key (shown once) for an account."""
    from tenantcore.accounts import repository, service
    from tenantcore.config import Settings
    from tenantcore.runtime import Runtime

    if mode not in ("live", "test"):
        raise typer.BadParameter("mode must be live or test")
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}), sandbox=False)

    async def go() -> str:
        # bootstrap=False: never create an account whose keys nobody sees
        async with Runtime.opened(settings) as runtime, runtime.transaction() as session:
            target = (
                await repository.get_account(session, account) if account else await repository.first_account(session)
            )
            if target is None:
                raise typer.BadParameter("no such account (run `tenantcore serve` once: the first start creates one)")
            return await service.create_key(session, runtime.secret, target.id, mode)

    key = aio.run(go())
    Console(stderr=True).print("New key (shown once, store it now):")
    print(key)


if __name__ == "__main__":  # pragma: no cover
    app()
