"""What the engine needs of a store, whatever the mode: a transaction's kind, its timeline, and ownership of
transactions by lease. The TCC store (``txcoord.tcc.store_protocol.TccStore``) and the saga store
(``txcoord.saga.store.SagaStore``) both provide it; ``txcoord.engine.leases.PgLeases`` is its one PostgreSQL
implementation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from txcoord.model import Event


class Store(Protocol):
    async def kind(self, gid: str) -> str | None:
        """What ``gid`` is (TCC, XA, SAGA), or None when there is no such transaction."""

    async def events(self, gid: str, limit: int = 200) -> list[Event]:
        """The newest ``limit`` events of ``gid``, oldest first."""

    async def add_event(self, gid: str, branch_id: str | None, event: str, detail: str | None) -> None:
        """One entry of ``gid``'s timeline (``branch_id``: a TCC branch or a saga step; None: the transaction)."""

    async def claim(
        self, owner: str, lease_s: float, limit: int, exclude: Sequence[str]
    ) -> list[tuple[str, str | None]]:
        """Claim transactions of this mode that nobody drives (lease expired, or held by ``owner`` before a
        restart), except ``exclude``: (gid, previous owner) pairs."""

    async def renew(self, owner: str, lease_s: float, gids: Sequence[str]) -> list[str]:
        """Extend the leases ``owner`` still holds; the gids it still owns."""
