"""Transport security for every txcoord server and client: TLS (optionally mutual) and a shared token.

One :class:`Security` value describes a process's settings; by default it comes from the environment
(``TXC_TLS_CERT``, ``TXC_TLS_KEY``, ``TXC_TLS_CA``, ``TXC_MTLS=1``, ``TXC_TOKEN``, ``TXC_INSECURE=1``), so every
process of a deployment — coordinator, registry, participants, the ``txc`` CLI — is configured the same way;
the servers' ``--tls-*``/``--token``/``--insecure`` flags set the same values.

- A server with a certificate and key serves TLS; with ``mtls`` it also requires a client certificate signed
  by ``ca``. A client with a ``ca`` dials TLS and verifies the server against it (and presents its own
  certificate and key when it has them).
- A server with a token requires ``authorization: Bearer <token>`` on its *protected* methods (the registry's
  Register/KeepAlive/Deregister, the coordinator's Abort/Retry/Resolve); read-only calls stay open. A client
  with a token sends it on every call.
- A server that listens on a non-loopback address without TLS refuses to start unless ``insecure`` is set:
  plaintext is for the loopback demo and tests only."""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from sdk.errors import ConfigError

#: methods that change who serves what, or steer transactions: they need the token when one is set
PROTECTED_METHODS = frozenset(
    {
        "/txcoord.registry.v1.Registry/Register",
        "/txcoord.registry.v1.Registry/KeepAlive",
        "/txcoord.registry.v1.Registry/Deregister",
        "/txcoord.coordinator.v1.Coordinator/Abort",
        "/txcoord.coordinator.v1.Coordinator/Retry",
        "/txcoord.coordinator.v1.Coordinator/Resolve",
    }
)


def _read(path: str | None, field: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class Security:
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    mtls: bool = False
    token: str | None = None
    insecure: bool = False

    @classmethod
    def from_env(cls) -> Security:
        env = os.environ
        return cls(
            cert=env.get("TXC_TLS_CERT") or None,
            key=env.get("TXC_TLS_KEY") or None,
            ca=env.get("TXC_TLS_CA") or None,
            mtls=env.get("TXC_MTLS") == "1",
            token=env.get("TXC_TOKEN") or None,
            insecure=env.get("TXC_INSECURE") == "1",
        )

    def export(self) -> None:
        """Make these the process's settings (its own clients and servers read the environment)."""
        for name, value in (
            ("TXC_TLS_CERT", self.cert),
            ("TXC_TLS_KEY", self.key),
            ("TXC_TLS_CA", self.ca),
            ("TXC_MTLS", "1" if self.mtls else None),
            ("TXC_TOKEN", self.token),
            ("TXC_INSECURE", "1" if self.insecure else None),
        ):
            if value:
                os.environ[name] = value

    @property
    def serves_tls(self) -> bool:
        return bool(self.cert and self.key)

    def server_credentials(self) -> grpc.ServerCredentials | None:
        if not (self.cert or self.key):
            return None
        if not (self.cert and self.key):
            raise ConfigError("--tls-cert and --tls-key: give both or neither")
        if self.mtls and not self.ca:
            raise ConfigError("--tls-ca: mutual TLS needs the CA that signs client certificates")
        pair = (_read(self.key, "--tls-key") or b"", _read(self.cert, "--tls-cert") or b"")
        return grpc.ssl_server_credentials(
            [pair], root_certificates=_read(self.ca, "--tls-ca") if self.mtls else None, require_client_auth=self.mtls
        )

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        if not self.ca:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca, "--tls-ca"),
            private_key=_read(self.key, "--tls-key"),
            certificate_chain=_read(self.cert, "--tls-cert"),
        )

    def check_listen(self, host: str) -> None:
        """Refuse plaintext on a non-loopback address unless ``insecure``."""
        if self.serves_tls or self.insecure or is_loopback(host):
            return
        raise ConfigError(
            f"listen: {host} is not a loopback address; serve TLS (--tls-cert/--tls-key) or pass --insecure"
        )


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenClientInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Adds ``authorization: Bearer <token>`` to every call."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self._header)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)

    async def intercept_stream_stream(self, continuation: Any, details: Any, request_iterator: Any) -> Any:
        return await continuation(self._details(details), request_iterator)


class TokenServerInterceptor(grpc.aio.ServerInterceptor):
    """Refuses a protected method without the right token (UNAUTHENTICATED), before any handler runs."""

    def __init__(self, token: str, protected: Iterable[str] = PROTECTED_METHODS) -> None:
        self._expected = f"Bearer {token}".encode()
        self._protected = frozenset(protected)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if details.method not in self._protected or handler is None:
            return handler
        given = dict(details.invocation_metadata or ()).get("authorization", "")
        given_bytes = given.encode() if isinstance(given, str) else bytes(given)
        if hmac.compare_digest(given_bytes, self._expected):
            return handler
        return _refusal(handler, details.method)


def _refusal(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    message = f"{method.rsplit('/', 1)[-1]}: a valid token is required (authorization: Bearer ...)"

    async def unary(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def streaming(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - makes this an async generator, as a streaming handler must be

    des, ser = handler.request_deserializer, handler.response_serializer
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(streaming, des, ser)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary, des, ser)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(streaming, des, ser)
    return grpc.unary_unary_rpc_method_handler(unary, des, ser)
