"""Saga errors of the coordinator, in txcoord's one hierarchy."""

from __future__ import annotations

import grpc

from txcoord.errors import CoordinatorError, InvalidArgument, InvalidState, TransactionNotFound


class SagaNotFound(TransactionNotFound):
    """No saga definition by that name (and version)."""

    def __init__(self, name: str, version: int = 0) -> None:
        CoordinatorError.__init__(
            self,
            f"no saga {name!r}" + (f" version {version}" if version else "") + " is registered; "
            "run `txc saga register FILE` first",
        )
        self.gid = name


class VersionConflict(InvalidState, status=grpc.StatusCode.ALREADY_EXISTS):
    """A saga version registered again with other content: versions never change once stored."""

    def __init__(self, name: str, version: int) -> None:
        CoordinatorError.__init__(
            self,
            f"saga {name!r} version {version} is already registered with different content; "
            "running instances keep the version they started with, so give the changed definition a new version",
        )
        self.gid = name
        self.state = "registered"
        self.operation = "register"


class LostOwnership(CoordinatorError):
    """Another coordinator took the saga over (this one's lease lapsed): stop driving it."""


__all__ = ["InvalidArgument", "LostOwnership", "SagaNotFound", "VersionConflict"]
