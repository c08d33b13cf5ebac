"""The sdk's one exception hierarchy: everything ``tx.call``, ``transaction()`` and ``start_saga`` raise
derives from :class:`TxcError`, in one of three families a caller tells apart::

    TxcError
    ├── BusinessError        the other side answered no; the same call gets the same answer
    │   ├── TryFailed          a try raised in its participant (insufficient funds, ...)
    │   ├── RollbackOnly       commit after a failed try (or without a try receipt): rolled back instead
    │   ├── BarrierRefused     the barrier refused a phase (its branch was cancelled already)
    │   └── Refused            any other refusal status: FAILED_PRECONDITION, ABORTED, INVALID_ARGUMENT,
    │                          NOT_FOUND, ALREADY_EXISTS, OUT_OF_RANGE (an unknown saga, a bad saga input)
    ├── InfrastructureError  no answer could be had: retry later or fix the deployment
    │   ├── TransportError     UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (retry is safe when idempotent)
    │   ├── RegistryError      the registry could not answer; NoEndpoints: nobody serves the service
    │   ├── ActionNotFound     the service has no such action (a name mismatch, an old deployment)
    │   └── ServiceFault       any other status: INTERNAL, UNKNOWN, UNAUTHENTICATED, PERMISSION_DENIED, ...
    └── UsageError           a mistake in the calling code or its configuration: fix the code, not the call
        ├── ConfigError, TccArgumentError, SagaDefinitionError
        └── DefinitionError    TccDefinitionError, SagaStepError: raised where the function is decorated

Every error that came from a gRPC status is also an :class:`RpcError` (``code``, ``details``, ``target``).
The coordinator's ``CoordinatorError`` derives from ``TxcError`` too."""

from __future__ import annotations

import grpc


class TxcError(Exception):
    """Root of every error raised by txcoord's sdk."""


class BusinessError(TxcError):
    """The peer answered with a refusal: retrying the same call gets the same answer."""


class InfrastructureError(TxcError):
    """No answer could be had (unreachable, timed out, nobody serves it, a fault on the far side): the
    business question is still open; retry later, or fix the deployment the message names."""


class UsageError(TxcError):
    """A mistake in the calling code or its configuration (a bad argument, a wrong decorator, a malformed
    address): no retry helps; the message names what to change."""


class DefinitionError(UsageError, TypeError):
    """A decorated function cannot be called as the protocol will call it (no context parameter, mismatched
    phases, not async, ...): raised where it is decorated or registered, never at call time."""


class ConfigError(UsageError, ValueError):
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


#: gRPC codes that mean "the peer looked at the request and said no"
REFUSAL_CODES = frozenset(
    {
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)


class TransportError(RpcError, InfrastructureError):
    """The peer could not be reached or did not answer (retryable for idempotent calls)."""


class Refused(RpcError, BusinessError):
    """The peer refused the request (see ``REFUSAL_CODES``); ``details`` says why."""


class ServiceFault(RpcError, InfrastructureError):
    """The peer failed or would not serve us: INTERNAL, UNKNOWN, UNAUTHENTICATED, PERMISSION_DENIED, ...;
    the details (and the peer's log) say which side to fix."""


def rpc_error(code: grpc.StatusCode, details: str, *, target: str = "") -> RpcError:
    """The error of the right family for a status (every ``RpcError`` a caller sees is built here)."""
    cls: type[RpcError]
    if code in TRANSPORT_CODES:
        cls = TransportError
    elif code in REFUSAL_CODES:
        cls = Refused
    else:
        cls = ServiceFault
    return cls(code, details, target=target)


class ActionNotFound(RpcError, InfrastructureError):
    """The service has no action of that name: it is not registered by the participant, or the name is wrong."""

    def __init__(self, service: str, action: str, *, target: str = "") -> None:
        self.service = service
        self.action = action
        super().__init__(
            grpc.StatusCode.UNIMPLEMENTED,
            f"service {service!r} has no action {action!r}; check the participant registers it",
            target=target,
        )


class RegistryError(InfrastructureError):
    """The service registry could not answer."""


class NoEndpoints(RegistryError):
    """No live endpoint is registered for a service."""

    def __init__(self, service: str) -> None:
        self.service = service
        super().__init__(f"no live endpoint registered for service {service!r}; is a participant for it running?")


def describe(exc: BaseException, limit: int = 500) -> str:
    """An error as a log record keeps it (the coordinator's timeline, a proxy's report): its text or, when it
    has none, its type; without the NUL or lone surrogates a peer's error text could carry (PostgreSQL text
    refuses them); at most ``limit`` characters."""
    text = str(exc) or type(exc).__name__
    text = text.replace("\x00", "\\0").encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."
