"""Transport trust for every txcoord server and client: TLS (optionally mutual) and a bearer token on the
calls that change who serves what (registry writes) or override the coordinator (admin calls).

One table, ``PROTECTED_METHODS``, says which calls need the token: the client sends it only on those (so a
participant never sees it), the server checks it only on those (read-only calls stay open). A server that
requires client certificates (mutual TLS) accepts a protected call from any client whose certificate the CA
signed: the handshake already proved who it is.

Configuration comes from arguments or, by default, the environment, so every process of a deployment is set
up the same way: ``TXC_TLS_CA`` (CA bundle that signed the servers, and the clients under mutual TLS),
``TXC_TLS_CERT`` / ``TXC_TLS_KEY`` (this process's certificate and key: served by a server, presented by a
client under mutual TLS), ``TXC_TOKEN`` (the shared admin/registry token)."""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from sdk.errors import ConfigError

TOKEN_ENV = "TXC_TOKEN"
CA_ENV = "TXC_TLS_CA"
CERT_ENV = "TXC_TLS_CERT"
KEY_ENV = "TXC_TLS_KEY"
AUTH_KEY = "authorization"
_BEARER = "Bearer "

PROTECTED_METHODS = frozenset(
    {
        "/txcoord.registry.v1.Registry/Register",
        "/txcoord.registry.v1.Registry/KeepAlive",
        "/txcoord.registry.v1.Registry/Deregister",
        "/txcoord.coordinator.v1.Coordinator/Abort",
        "/txcoord.coordinator.v1.Coordinator/Retry",
        "/txcoord.coordinator.v1.Coordinator/Resolve",
        "/txcoord.saga.v1.Sagas/RetrySaga",
        "/txcoord.saga.v1.Sagas/ResolveSaga",
    }
)


def _read(path: str | Path | None, field: str) -> bytes | None:
    if path is None or str(path) == "":
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {str(path)!r} ({exc.strerror or exc})") from exc


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

    @classmethod
    def from_env(cls) -> ClientSecurity:
        """TXC_TLS_CA, TXC_TLS_CERT, TXC_TLS_KEY and TXC_TOKEN (what every client uses unless given one)."""
        return cls(ca=_env(CA_ENV), cert=_env(CERT_ENV), key=_env(KEY_ENV), token=_env(TOKEN_ENV))

    def credentials(self) -> grpc.ChannelCredentials | None:
        """Channel credentials, or None for a plaintext channel (no CA given)."""
        if self.ca is None:
            return None
        if (self.cert is None) != (self.key is None):
            raise ConfigError("--tls-cert/--tls-key: give both (a client certificate needs its key) or neither")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca, "--tls-ca"),
            private_key=_read(self.key, "--tls-key"),
            certificate_chain=_read(self.cert, "--tls-cert"),
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The token as gRPC metadata (sent on protected calls only)."""
        return ((AUTH_KEY, _BEARER + self.token),) if self.token else ()


@dataclass(frozen=True)
class ServerSecurity:
    """How a server listens: TLS with ``cert``/``key`` (``ca`` + ``require_client_cert`` for mutual TLS),
    the token protected calls need, and ``insecure`` to allow plaintext on a non-loopback address."""

    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    require_client_cert: bool = False
    token: str | None = None
    insecure: bool = False

    @classmethod
    def from_env(cls) -> ServerSecurity:
        return cls(cert=_env(CERT_ENV), key=_env(KEY_ENV), ca=_env(CA_ENV), token=_env(TOKEN_ENV))

    @property
    def tls(self) -> bool:
        return self.cert is not None

    def credentials(self) -> grpc.ServerCredentials | None:
        if (self.cert is None) != (self.key is None):
            raise ConfigError("--tls-cert/--tls-key: a server needs both its certificate and its key")
        if self.cert is None:
            if self.require_client_cert:
                raise ConfigError("--tls-client-auth: mutual TLS needs --tls-cert and --tls-key too")
            return None
        ca = _read(self.ca, "--tls-ca") if self.require_client_cert else None
        if self.require_client_cert and ca is None:
            raise ConfigError("--tls-client-auth: needs --tls-ca, the CA that signs client certificates")
        pair = (_read(self.key, "--tls-key") or b"", _read(self.cert, "--tls-cert") or b"")
        return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=self.require_client_cert)

    def check_listen(self, host: str, address: str, *, protects: bool) -> None:
        """Refuse plaintext (or unauthenticated writes) on an address other machines can reach."""
        if self.insecure or is_loopback(host):
            return
        if not self.tls:
            raise ConfigError(
                f"listen: {address} is not a loopback address; give --tls-cert/--tls-key (or pass --insecure)"
            )
        if protects and not self.token and not self.require_client_cert:
            raise ConfigError(
                f"listen: {address} is not a loopback address; registry writes and admin calls need "
                f"--token (or {TOKEN_ENV}) or --tls-client-auth (or pass --insecure)"
            )


def token_matches(metadata: Any, token: str) -> bool | None:
    """True / False for a right / wrong bearer token, None when none was sent; compared in constant time."""
    for key, value in metadata or ():
        if key == AUTH_KEY and isinstance(value, str):
            given = value[len(_BEARER) :] if value.startswith(_BEARER) else value
            return hmac.compare_digest(given.encode(), token.encode())
    return None


def _denial(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as ``handler`` that refuses the call before any of its work runs."""

    async def deny(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            deny, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            deny, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            deny, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
    return grpc.stream_unary_rpc_method_handler(
        deny, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


class TokenServerInterceptor(grpc.aio.ServerInterceptor):
    """Checks the bearer token on protected calls; everything else passes untouched."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or method not in PROTECTED_METHODS:
            return handler
        verdict = token_matches(handler_call_details.invocation_metadata, self.token)  # type: ignore[attr-defined]
        if verdict is None:
            return _denial(
                handler,
                grpc.StatusCode.UNAUTHENTICATED,
                f"{method}: needs a token (set {TOKEN_ENV} or pass --token)",
            )
        if not verdict:
            return _denial(handler, grpc.StatusCode.PERMISSION_DENIED, f"{method}: the token given is not valid")
        return handler
