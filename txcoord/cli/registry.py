"""`txc registry`: run a registry server, or list what one knows (`txc registry ls`)."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from sdk.observability import setup_tracing
from sdk.registry import RegistryClient
from sdk.rpc import RpcServer, ServerSecurity
from txcoord import metrics
from txcoord.cli.common import (
    CREDENTIALS,
    DEFAULT_REGISTRY,
    INSECURE,
    LOG_FORMAT,
    METRICS_LISTEN,
    TLS_CA,
    TLS_CERT,
    TLS_CLIENT_AUTH,
    TLS_KEY,
    TOKEN,
    print_json,
    run,
    server_security,
    setup_logging,
)
from txcoord.registry import RegistryServer, store_from_url

app = typer.Typer(help="Service registry: run a server, or list services and endpoints.")


async def _serve(listen: str, store_url: str | None, security: ServerSecurity, metrics_listen: str | None) -> None:
    registry = RegistryServer(store_from_url(store_url))
    # before the gRPC server is made: its metrics and tracing interceptors are installed only when asked for
    setup_tracing("txc-registry")
    endpoint = metrics.serve(metrics_listen) if metrics_listen is not None else None
    unwatch = metrics.watch(registry_list=registry.store.list_all) if endpoint is not None else None
    server = RpcServer(listen, name="registry", security=security)
    registry.attach(server)
    await registry.open()
    try:
        await server.start()
        typer.echo(f"registry serving on {server.listening} (store: {store_url or 'memory'})", err=True)
        await server.serve_until_signal()
    finally:
        await registry.close()
        if unwatch is not None:
            unwatch()


@app.callback(invoke_without_command=True)
def registry(
    ctx: typer.Context,
    listen: str = typer.Option("127.0.0.1:7070", help="HOST:PORT to serve the Registry gRPC service on."),
    store: str | None = typer.Option(None, help="'memory' (default) or a postgresql:// URL shared by servers."),
    tls_cert: str | None = TLS_CERT,
    tls_key: str | None = TLS_KEY,
    tls_ca: str | None = TLS_CA,
    tls_client_auth: bool = TLS_CLIENT_AUTH,
    token: str | None = TOKEN,
    credentials: str | None = CREDENTIALS,
    insecure: bool = INSECURE,
    metrics_listen: str | None = METRICS_LISTEN,
    log_format: str | None = LOG_FORMAT,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run a registry server (`txc registry --listen HOST:PORT [--store URL]`)."""
    if ctx.invoked_subcommand is not None:
        return
    security, _client = server_security(
        listen,
        cert=tls_cert,
        key=tls_key,
        ca=tls_ca,
        client_auth=tls_client_auth,
        token=token,
        credentials=credentials,
        insecure=insecure,
    )
    setup_logging(verbose, log_format)
    run(_serve(listen, store, security, metrics_listen))


async def _list(address: str) -> list[dict[str, object]]:
    client = RegistryClient(address)
    try:
        return [ep.as_dict() for ep in await client.list_all()]
    finally:
        await client.close(deregister=False)


@app.command("ls")
def ls(
    registry_address: str = typer.Option(DEFAULT_REGISTRY, "--registry", help="Registry HOST:PORT."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List registered services and their endpoints."""
    endpoints = run(_list(registry_address))
    if json_output:
        print_json(endpoints)
        return
    table = Table(title=f"registry {registry_address}")
    for column in ("service", "address", "lease", "expires in"):
        table.add_column(column)
    now = time.time()
    for ep in endpoints:
        expires = float(ep["expires_at"])  # type: ignore[arg-type]
        table.add_row(str(ep["service"]), str(ep["address"]), str(ep["lease_id"])[:12], f"{expires - now:.1f}s")
    Console().print(table)
