"""`txc console`: serve the web console beside a coordinator."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import typer

from console.server import Listen, serve
from console.settings import ConsoleSettings
from sdk.errors import ConfigError
from sdk.rpc import ClientSecurity
from sdk.rpc.security import CA_ENV, TOKEN_ENV


def console(
    listen: str = typer.Option("127.0.0.1:7080", help="HOST:PORT to serve the console on."),
    coordinator: list[str] = typer.Option(
        [os.environ.get("TXC_COORDINATOR", "127.0.0.1:7070")],
        "--coordinator",
        "-c",
        help="Coordinator HOST:PORT (repeat for several: the first serves the pages, each is shown with its health).",
    ),
    token: str | None = typer.Option(
        None, "--token", envvar=TOKEN_ENV, help="The admin token: sent on admin calls, and what a person logs in with."
    ),
    chaos_reports: Path | None = typer.Option(None, "--chaos-reports", help="A folder of chaos report.html files."),
    tracing_url: str | None = typer.Option(
        None, "--tracing-url", help="A tracing UI's page of one trace, with {trace_id} in it (http or https)."
    ),
    warmup: float = typer.Option(
        0.0,
        "--warmup",
        min=0.0,
        help="Seconds of warm-up your callers' balancers use (ServiceClient(warmup=...)): the registry page shows "
        "each endpoint's weight under it, counted from its registration. 0: no warm-up, every weight 1.",
    ),
    tls_cert: str | None = typer.Option(None, "--tls-cert", help="PEM certificate to serve HTTPS with."),
    tls_key: str | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    tls_ca: str | None = typer.Option(None, "--tls-ca", envvar=CA_ENV, help="CA of the coordinator's TLS (dial TLS)."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow plain HTTP / no token on a non-loopback address (pages readable by anyone)."
    ),
) -> None:
    """Serve the web console: transactions, sagas, registry and chaos reports; retry, abort and resolve
    transactions, retry and resolve sagas waiting for a person."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if tracing_url is not None and not tracing_url.startswith(("http://", "https://")):
        typer.echo(f"txc: --tracing-url: expected an http:// or https:// URL, got {tracing_url!r}", err=True)
        raise typer.Exit(2)
    base = ClientSecurity.from_env()
    settings = ConsoleSettings(
        coordinators=tuple(coordinator),
        token=token,
        chaos_reports=chaos_reports,
        tracing_url=tracing_url,
        warmup=warmup,
        client_security=ClientSecurity(ca=tls_ca or base.ca, cert=base.cert, key=base.key, token=token),
    )
    listening = Listen(listen, tls_cert, tls_key, insecure)
    try:
        asyncio.run(serve(listening, settings, lambda url: typer.echo(f"console: {url}", err=False)))
    except ConfigError as exc:
        typer.echo(f"txc: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
