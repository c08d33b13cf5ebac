"""Transport trust for every txcoord server and client: TLS (optionally mutual) and the caller's credential.

Who may call what is ``sdk.rpc.authorization`` (one table, one interceptor); who a credential stands for is
``sdk.rpc.identities`` (a credentials file of identities with roles, or the single shared token, an admin).
A client sends its token to the txcoord services only, never to a participant.

Configuration comes from arguments or, by default, the environment, so every process of a deployment is set
up the same way: ``TXC_TLS_CA`` (CA bundle that signed the servers, and the clients under mutual TLS),
``TXC_TLS_CERT`` / ``TXC_TLS_KEY`` (this process's certificate and key: served by a server, presented by a
client under mutual TLS), ``TXC_TOKEN`` (this process's token: its identity's, or the shared admin token),
``TXC_CREDENTIALS`` (servers: the credentials file of every identity)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

import grpc

from sdk.errors import ConfigError
from sdk.rpc.certificate_files import ServerCertificateFiles, read_pem
from sdk.rpc.identities import Identities

TOKEN_ENV = "TXC_TOKEN"
CA_ENV = "TXC_TLS_CA"
CERT_ENV = "TXC_TLS_CERT"
KEY_ENV = "TXC_TLS_KEY"
CREDENTIALS_ENV = "TXC_CREDENTIALS"
SERVICE_NAMES_ENV = "TXC_TLS_SERVICE_NAMES"
AUTH_KEY = "authorization"
_BEARER = "Bearer "


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ClientSecurity:
    """How a client dials: TLS when ``ca`` is set (with ``cert``/``key`` presented for mutual TLS), and the
    token sent on protected calls."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    token: str | None = None
    # over TLS, a participant's certificate must name the service called (not just its address), so a registry
    # entry alone cannot send a service's calls to another host
    service_names: bool = False

    @classmethod
    def from_env(cls) -> ClientSecurity:
        """TXC_TLS_CA, TXC_TLS_CERT, TXC_TLS_KEY, TXC_TOKEN and TXC_TLS_SERVICE_NAMES (what every client uses unless
        given one)."""
        return cls(
            ca=_env(CA_ENV),
            cert=_env(CERT_ENV),
            key=_env(KEY_ENV),
            token=_env(TOKEN_ENV),
            service_names=_env(SERVICE_NAMES_ENV) == "1",
        )

    def credentials(self) -> grpc.ChannelCredentials | None:
        """Channel credentials, or None for a plaintext channel (no CA given)."""
        if self.ca is None:
            return None
        if (self.cert is None) != (self.key is None):
            raise ConfigError("--tls-cert/--tls-key: give both (a client certificate needs its key) or neither")
        return grpc.ssl_channel_credentials(
            root_certificates=read_pem(self.ca, "--tls-ca"),
            private_key=read_pem(self.key, "--tls-key"),
            certificate_chain=read_pem(self.cert, "--tls-cert"),
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The token as gRPC metadata (sent on protected calls only)."""
        return ((AUTH_KEY, _BEARER + self.token),) if self.token else ()


@dataclass(frozen=True)
class ServerSecurity:
    """How a server listens: TLS with ``cert``/``key`` (``ca`` + ``require_client_cert`` for mutual TLS),
    who may call (``credentials_file``: the identities file; ``token``: the single shared admin token), and
    ``insecure`` to allow plaintext on a non-loopback address."""

    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    require_client_cert: bool = False
    token: str | None = None
    insecure: bool = False
    credentials_file: str | None = None

    @classmethod
    def from_env(cls) -> ServerSecurity:
        return cls(
            cert=_env(CERT_ENV),
            key=_env(KEY_ENV),
            ca=_env(CA_ENV),
            token=_env(TOKEN_ENV),
            credentials_file=_env(CREDENTIALS_ENV),
        )

    @property
    def authenticates(self) -> bool:
        """Whether callers are identified at all (else nothing is checked: the loopback demo)."""
        return bool(self.token or self.credentials_file or self.require_client_cert)

    def identities(self) -> Identities:
        """Who the credentials stand for (a bad credentials file fails here)."""
        return Identities(self.credentials_file, self.token, any_certificate=self.require_client_cert)

    @property
    def tls(self) -> bool:
        return self.cert is not None

    def credentials(self) -> grpc.ServerCredentials | None:
        if (self.cert is None) != (self.key is None):
            raise ConfigError("--tls-cert/--tls-key: a server needs both its certificate and its key")
        if self.cert is None or self.key is None:
            if self.require_client_cert:
                raise ConfigError("--tls-client-auth: mutual TLS needs --tls-cert and --tls-key too")
            return None
        if self.require_client_cert and not self.ca:
            raise ConfigError("--tls-client-auth: needs --tls-ca, the CA that signs client certificates")
        # renewed files are served from the next connection on (sdk.rpc.certificate_files): no restart
        files = ServerCertificateFiles(self.cert, self.key, self.ca if self.require_client_cert else None)
        return grpc.dynamic_ssl_server_credentials(
            files.configuration, files.changed, require_client_authentication=self.require_client_cert
        )

    def check_listen(self, host: str, address: str, *, protects: bool) -> None:
        """Refuse plaintext (or unauthenticated writes) on an address other machines can reach."""
        if self.insecure or is_loopback(host):
            return
        if not self.tls:
            raise ConfigError(
                f"listen: {address} is not a loopback address; give --tls-cert/--tls-key (or pass --insecure)"
            )
        if protects and not self.authenticates:
            raise ConfigError(
                f"listen: {address} is not a loopback address; state-changing calls need "
                f"--credentials (or {CREDENTIALS_ENV}), --token (or {TOKEN_ENV}) or --tls-client-auth "
                "(or pass --insecure)"
            )
