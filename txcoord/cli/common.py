"""What every `txc` command shares: async entry, one-line errors (no traceback), logging, JSON output."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer

from sdk import observability
from sdk.errors import ConfigError, TxcError
from sdk.observability import LOG_FORMAT_ENV
from sdk.rpc import ClientSecurity, ServerSecurity, parse_address
from sdk.rpc.security import CA_ENV, CERT_ENV, CREDENTIALS_ENV, KEY_ENV, TOKEN_ENV
from txcoord.errors import CoordinatorError

T = TypeVar("T")
COORDINATOR_ENV = "TXC_COORDINATOR"
# a coordinator hosts the registry unless one is run apart: TXC_COORDINATOR alone is enough for every command
DEFAULT_REGISTRY = os.environ.get("TXC_REGISTRY") or os.environ.get(COORDINATOR_ENV) or "127.0.0.1:7070"
COORDINATOR = typer.Option(
    "127.0.0.1:7070", "--coordinator", "-c", envvar=COORDINATOR_ENV, help="Coordinator HOST:PORT (env TXC_COORDINATOR)."
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``txc: message`` on one line to stderr and exit with ``code`` (2: bad input or configuration)."""
    typer.echo(f"txc: {message}", err=True)
    raise typer.Exit(code)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on a fresh event loop; txcoord and sdk errors become one line on stderr and exit 2."""
    try:
        return asyncio.run(main)
    except (CoordinatorError, TxcError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def setup_logging(verbose: bool = False, log_format: str | None = None) -> None:
    """Log to stderr as text, or as one JSON object per line (``--log-format json`` / ``TXC_LOG_FORMAT``)."""
    try:
        observability.setup_logging(logging.DEBUG if verbose else logging.INFO, log_format)
    except ConfigError as exc:
        fail(str(exc))


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


# Server trust options, shared by `txc coordinator` and `txc registry` (each also read from the environment).
TLS_CERT = typer.Option(None, "--tls-cert", envvar=CERT_ENV, help="PEM certificate to serve TLS with.")
TLS_KEY = typer.Option(None, "--tls-key", envvar=KEY_ENV, help="PEM private key of --tls-cert.")
TLS_CA = typer.Option(
    None, "--tls-ca", envvar=CA_ENV, help="PEM CA bundle: verifies servers this process dials, and clients under mTLS."
)
TLS_CLIENT_AUTH = typer.Option(
    False, "--tls-client-auth", help="Mutual TLS: require a client certificate signed by --tls-ca."
)
TOKEN = typer.Option(
    None, "--token", envvar=TOKEN_ENV, help="The single shared token: an admin identity (env: TXC_TOKEN)."
)
CREDENTIALS = typer.Option(
    None,
    "--credentials",
    envvar=CREDENTIALS_ENV,
    help="TOML file of identities (tokens or certificate names, roles); re-read when it changes.",
)
LOG_FORMAT = typer.Option(
    None, "--log-format", help=f"Log lines as 'text' or 'json' (one object per line); env: {LOG_FORMAT_ENV}."
)
METRICS_LISTEN = typer.Option(
    None, "--metrics-listen", help="HOST:PORT to serve Prometheus metrics on (/metrics); default: no metrics."
)
INSECURE = typer.Option(False, "--insecure", help="Allow plaintext / no token on a non-loopback --listen address.")


def server_security(
    listen: str,
    *,
    cert: str | None,
    key: str | None,
    ca: str | None,
    client_auth: bool,
    token: str | None,
    insecure: bool,
    credentials: str | None = None,
    dials: bool = False,
    service_names: bool = False,
    http_listen: str | None = None,
) -> tuple[ServerSecurity, ClientSecurity]:
    """The server's trust settings (checked now: exit 2 with one line if they do not hold) and the matching
    client settings for the calls this process makes itself (phase 2, saga steps, the registry). ``http_listen``
    (the REST API's listener, same TLS and identities) is held to the same rule as ``listen``."""
    security = ServerSecurity(
        cert=cert,
        key=key,
        ca=ca,
        require_client_cert=client_auth,
        token=token,
        insecure=insecure,
        credentials_file=credentials,
    )
    try:
        host, _port = parse_address(listen, field="--listen")
        security.credentials()
        security.identities()  # a bad credentials file fails here, with one line
        security.check_listen(host, listen, protects=True)
    except ValueError as exc:
        fail(str(exc).replace("listen: ", "--listen ", 1))
    if http_listen is not None:
        try:
            host, _port = parse_address(http_listen, field="--http-listen")
            security.check_listen(host, http_listen, protects=True)
        except ValueError as exc:
            fail(str(exc).replace("listen: ", "--http-listen ", 1))
    if dials and cert and not ca:
        # It dials participants and its own registry over TLS: it must know which CA to trust.
        fail("--tls-ca: a coordinator serving TLS needs the CA that signed its participants' (and its own) certificate")
    # As a client, present our own certificate (mTLS peers need one) and trust the same CA.
    if service_names and not ca:
        fail("--tls-service-names: needs --tls-ca (it checks the certificates of the participants it dials)")
    client = ClientSecurity(
        ca=ca, cert=cert if ca else None, key=key if ca else None, token=token, service_names=service_names
    )
    return security, client


def as_dict(info: Any) -> dict[str, Any]:
    """A protobuf message as a plain dict (for --json output)."""
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(info, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
