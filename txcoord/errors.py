"""The coordinator's exception hierarchy: every error txcoord raises derives from CoordinatorError.

Each error says the gRPC status a service answers it with (``status``): the one error-to-status mapping of
every coordinator service (see ``txcoord.engine.answers``)."""

from __future__ import annotations

from typing import Any, ClassVar

import grpc

from sdk import errors as sdk_errors
from sdk.errors import TxcError


class CoordinatorError(TxcError):
    """Root of txcoord's errors; a subclass names its status: ``class Gone(CoordinatorError, status=NOT_FOUND)``."""

    status: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL

    def __init_subclass__(cls, status: grpc.StatusCode | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status


class ConfigError(CoordinatorError, sdk_errors.ConfigError):
    """A command-line option or setting is invalid (bad URL, bad address): the sdk's ConfigError, raised by the
    coordinator."""


class StoreError(CoordinatorError, status=grpc.StatusCode.UNAVAILABLE):
    """The coordinator store failed."""


class StoreUnavailable(StoreError):
    """The store's PostgreSQL cannot be reached."""


class SchemaOutOfDate(StoreError):
    """The store's schema is not at the migrations' head; ``txc db upgrade`` fixes it."""


class TransactionNotFound(CoordinatorError, status=grpc.StatusCode.NOT_FOUND):
    """No global transaction has this gid."""

    def __init__(self, gid: str) -> None:
        super().__init__(f"no global transaction {gid!r}: it was never begun here or its record was deleted")
        self.gid = gid


class InvalidState(CoordinatorError, status=grpc.StatusCode.FAILED_PRECONDITION):
    """The transaction's state does not allow the operation (register after commit, abort after commit...)."""

    def __init__(self, gid: str, state: str, operation: str, hint: str = "") -> None:
        message = f"cannot {operation} global transaction {gid!r}: it is {state}"
        super().__init__(f"{message}; {hint}" if hint else message)
        self.gid = gid
        self.state = state
        self.operation = operation


class TransactionTimedOut(CoordinatorError, status=grpc.StatusCode.ABORTED):
    """A commit arrived after the transaction's deadline: it was rolled back instead."""

    def __init__(self, gid: str) -> None:
        super().__init__(
            f"global transaction {gid!r} passed its timeout before commit and is rolled back; "
            "retry the business operation as a new transaction (or give it a longer timeout)"
        )
        self.gid = gid


class InvalidArgument(CoordinatorError, status=grpc.StatusCode.INVALID_ARGUMENT):
    """A request field is malformed; the message names the field."""


class BranchConflict(CoordinatorError, status=grpc.StatusCode.ALREADY_EXISTS):
    """A branch id is registered already with something else: a branch never changes once registered."""

    def __init__(self, gid: str, branch_id: str, field: str) -> None:
        super().__init__(
            f"branch {branch_id!r} of {gid!r} is already registered with a different {field}; a registered branch "
            "never changes (a retry must repeat it exactly; anything else needs a new branch id)"
        )
        self.field = field


class NotPermitted(CoordinatorError, status=grpc.StatusCode.PERMISSION_DENIED):
    """The caller's identity may not do this (another identity's transaction, a service it may not use)."""
