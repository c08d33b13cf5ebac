"""The sdk's one exception hierarchy: every error a user of the sdk can catch derives from ``TxcError``.

Two families a caller tells apart:

- :class:`TransportError` (an ``RpcError``): the call may not have reached its peer or its answer was lost
  (UNAVAILABLE, DEADLINE_EXCEEDED, a store outage on the far side); retrying it is safe when the call is
  idempotent, and the sdk does so for its own idempotent calls.
- :class:`BusinessError`: the peer answered and refused (a try that raised, a barrier refusal, an invalid
  argument); retrying the same call gets the same answer.

The coordinator's ``CoordinatorError`` derives from ``TxcError`` too."""

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


#: gRPC codes that mean "the call did not get a business answer": safe to retry an idempotent call
TRANSPORT_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


class TransportError(RpcError):
    """The peer could not be reached or did not answer (retryable for idempotent calls)."""


class BusinessError(TxcError):
    """The peer answered with a refusal: retrying the same call gets the same answer."""


def rpc_error(code: grpc.StatusCode, details: str, *, target: str = "") -> RpcError:
    """The right family for a status: :class:`TransportError` for transport codes, ``RpcError`` otherwise."""
    cls = TransportError if code in TRANSPORT_CODES else RpcError
    return cls(code, details, target=target)


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
