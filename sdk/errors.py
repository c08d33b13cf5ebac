"""The sdk's one exception hierarchy: every error a user of the sdk can catch derives from ``TxcError``."""

from __future__ import annotations

import grpc


class TxcError(Exception):
    """Root of every error raised by txcoord's sdk."""


class ConfigError(TxcError, ValueError):
    """A value given by the user (address, service name, TTL, ...) is malformed; the message names the field."""


class RpcError(TxcError):
    """A remote call failed; ``code`` is the gRPC status code and ``details`` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str, *, target: str = "") -> None:
        self.code = code
        self.details = details
        self.target = target
        where = f" ({target})" if target else ""
        super().__init__(f"{code.name}{where}: {details}")


class ActionNotFound(RpcError):
    """The service has no action of that name: it is not registered by the participant, or the name is wrong."""

    def __init__(self, service: str, action: str, *, target: str = "") -> None:
        self.service = service
        self.action = action
        super().__init__(
            grpc.StatusCode.UNIMPLEMENTED,
            f"service {service!r} has no action {action!r}; check the participant registers it",
            target=target,
        )


class RegistryError(TxcError):
    """The service registry could not answer."""


class NoEndpoints(RegistryError):
    """No live endpoint is registered for a service."""

    def __init__(self, service: str) -> None:
        self.service = service
        super().__init__(f"no live endpoint registered for service {service!r}; is a participant for it running?")
