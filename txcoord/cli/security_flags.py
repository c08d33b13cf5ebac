"""The servers' transport-security flags (``--tls-cert/--tls-key/--tls-ca/--mtls/--token/--insecure``), shared by
`txc coordinator` and `txc registry`. They override the ``TXC_*`` environment (see ``sdk.rpc.security``) and are
exported to it, so the process's own clients (phase-2 delivery, registry leases) use the same settings."""

from __future__ import annotations

import typer

from sdk.errors import ConfigError
from sdk.rpc.address import parse_address
from sdk.rpc.security import Security
from txcoord.cli.common import fail

TlsCert = typer.Option(None, "--tls-cert", help="PEM certificate chain: serve TLS (with --tls-key).")
TlsKey = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert.")
TlsCa = typer.Option(None, "--tls-ca", help="PEM CA: verify the servers this process dials (and clients with --mtls).")
Mtls = typer.Option(False, "--mtls", help="Require client certificates signed by --tls-ca.")
Token = typer.Option(
    None, "--token", envvar="TXC_TOKEN", help="Shared token required for Register/KeepAlive and admin calls."
)
Insecure = typer.Option(False, "--insecure", help="Allow plaintext on a non-loopback address.")


def apply(cert: str | None, key: str | None, ca: str | None, mtls: bool, token: str | None, insecure: bool) -> Security:
    env = Security.from_env()
    security = Security(
        cert=cert or env.cert,
        key=key or env.key,
        ca=ca or env.ca,
        mtls=mtls or env.mtls,
        token=token or env.token,
        insecure=insecure or env.insecure,
    )
    security.export()
    return security


def check(security: Security, listen: str) -> None:
    """Exit with a clear message (no traceback) when the settings cannot serve ``listen``."""
    try:
        security.check_listen(parse_address(listen, field="--listen")[0])
        security.server_credentials()
        security.channel_credentials()
    except (ConfigError, ValueError) as exc:
        fail(str(exc))
