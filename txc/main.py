"""`txc`: the one front door for people. It only dispatches to each package's own CLI module."""

from __future__ import annotations

import os

import typer

from bench.cli import app as bench_app
from chaos.cli import app as chaos_app
from console.cli import console
from sdk.rpc.security import CA_ENV, CERT_ENV, KEY_ENV, TOKEN_ENV
from txc.call import call
from txc.demo.cli import demo
from txcoord.cli import register_commands

app = typer.Typer(
    name="txc",
    help="txcoord: distributed transactions (TCC, saga) with a PostgreSQL-backed coordinator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def trust(
    tls_ca: str | None = typer.Option(None, "--tls-ca", help="CA to verify servers with (dial TLS); env TXC_TLS_CA."),
    tls_cert: str | None = typer.Option(
        None, "--tls-cert", help="Client certificate for mutual TLS; env TXC_TLS_CERT."
    ),
    tls_key: str | None = typer.Option(None, "--tls-key", help="Key of --tls-cert; env TXC_TLS_KEY."),
    token: str | None = typer.Option(None, "--token", help="Token for registry writes and admin calls; env TXC_TOKEN."),
) -> None:
    """Client trust options for every subcommand. They are handed on through the environment, which every
    client (and server) of txcoord reads by default (sdk.rpc.security)."""
    for name, value in ((CA_ENV, tls_ca), (CERT_ENV, tls_cert), (KEY_ENV, tls_key), (TOKEN_ENV, token)):
        if value:
            os.environ[name] = value


app.command("call")(call)
register_commands(app)
app.command("demo")(demo)
app.command("console")(console)
app.add_typer(bench_app, name="bench")
app.add_typer(chaos_app, name="chaos")


def main() -> None:
    app()
